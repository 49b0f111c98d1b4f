"""compare(): per-query scores, CIs, paired tests with Holm, win/tie/loss, rendering."""

from __future__ import annotations

import copy

import pytest

from flywheel.errors import ConfigError, UnknownComponentError
from flywheel.evaluation import compare
from flywheel.evaluation.compare import Comparison

QRELS = {f"q{i}": {"good": 1} for i in range(20)}
BASE = {f"q{i}": {"good": 1.0, "bad": 2.0} for i in range(20)}  # good at rank 2 everywhere
BETTER = {f"q{i}": {"good": 2.0, "bad": 1.0} for i in range(20)}  # rank 1 everywhere
MIXED = {f"q{i}": ({"good": 2.0, "bad": 1.0} if i < 5 else {"bad": 1.0}) for i in range(20)}


def make() -> Comparison:
    return compare(
        QRELS,
        {"base": BASE, "better": BETTER, "mixed": MIXED},
        metrics=["mrr@10", "recall@1"],
        baseline="base",
        n_resamples=2000,
    )


def test_numbers_by_hand() -> None:
    c = make()
    assert c.mean("base", "mrr@10") == pytest.approx(0.5)
    assert c.mean("better", "mrr@10") == pytest.approx(1.0)
    better = c.outcomes["better"]["mrr@10"]
    assert (better.wins, better.ties, better.losses) == (20, 0, 0)
    assert better.relative_change == pytest.approx(1.0)
    mixed = c.outcomes["mixed"]["mrr@10"]  # 5 queries 0.5 -> 1, 15 queries 0.5 -> 0
    assert (mixed.wins, mixed.ties, mixed.losses) == (5, 0, 15)
    assert mixed.delta == pytest.approx((5 * 0.5 - 15 * 0.5) / 20)
    # Holm with two variants: the smaller raw p-value is doubled
    raw = sorted([better.p_value_raw, mixed.p_value_raw])
    assert min(better.p_value, mixed.p_value) == pytest.approx(min(1.0, 2 * raw[0]))
    assert better.significant and better.p_value < 0.05
    low, high = c.ci["base"]["mrr@10"]
    assert low == high == 0.5  # every query scores 0.5: no spread


def test_inputs_not_mutated_and_round_trip() -> None:
    runs = {"base": copy.deepcopy(BASE), "better": copy.deepcopy(BETTER)}
    c = compare(QRELS, runs, metrics=["ndcg@10"], baseline="base", n_resamples=500)
    assert runs == {"base": BASE, "better": BETTER}
    again = Comparison.from_dict(c.to_dict())
    assert again.to_dict() == c.to_dict()


def test_renderings_mention_every_system() -> None:
    c = make()
    md, page = c.to_markdown(), c.to_html()
    for name in ("base (baseline)", "better", "mixed"):
        assert name in md and name in page
    assert "Holm-corrected" in md and "W/T/L 20/0/0" in md
    assert c.rich_table().row_count == 3


@pytest.mark.parametrize("test", ["t-test", "bootstrap"])
def test_other_tests(test: str) -> None:
    c = compare(
        QRELS,
        {"base": BASE, "better": BETTER},
        metrics=["mrr@10"],
        baseline="base",
        test=test,
        n_resamples=500,
    )
    assert c.outcomes["better"]["mrr@10"].p_value < 0.05 and c.test == test


def test_errors() -> None:
    with pytest.raises(ConfigError):
        compare(QRELS, {"a": BASE}, metrics=["mrr@10"], baseline="nope")
    with pytest.raises(UnknownComponentError):
        compare(QRELS, {"a": BASE, "b": BETTER}, metrics=["mrr@10"], baseline="a", test="wilcoxon")
