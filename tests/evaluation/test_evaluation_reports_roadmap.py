"""HTML reports (one self-contained file) and the roadmap ranking."""

from __future__ import annotations

from pathlib import Path

import pytest

from flywheel.errors import ConfigError
from flywheel.evaluation import compare
from flywheel.reports import Report, write_report
from flywheel.roadmap import Candidate, Quadrant, load_candidates, measured_gain, rank

QRELS = {f"q{i}": {"good": 1} for i in range(8)}
RUNS = {
    "base": {f"q{i}": {"good": 1.0, "bad": 2.0} for i in range(8)},
    "new": {f"q{i}": {"good": 2.0, "bad": 1.0} for i in range(8)},
}


def test_comparison_report_is_one_self_contained_file(tmp_path: Path) -> None:
    comparison = compare(
        QRELS, RUNS, metrics=["mrr@10", "recall@1", "recall@2"], baseline="base", n_resamples=200
    )
    from flywheel.data.types import Document

    corpus = {"good": Document("good", "text", title="The Good Doc")}
    path = write_report(
        comparison,
        tmp_path / "r.html",
        title="T",
        queries={"q0": "first query"},
        corpus=corpus,
        runs=RUNS,
    )
    page = path.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<title>T</title>" in page
    assert page.count("data:image/png;base64,") == 2  # recall curve + win/loss
    assert "first query" in page and "good: The Good Doc" in page
    assert 'src="http' not in page and "<script" not in page
    assert list(tmp_path.iterdir()) == [path]  # atomic write leaves no temp file


def test_report_sections_can_be_added_by_other_stages(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2], [3, 4])
    report = Report("Loop").add_section("Training", "<p>3 epochs</p>").add_figure("Loss", fig)
    report.add_table("Numbers", ["a", "b"], [[1, "<x>"]])
    page = report.write(tmp_path / "loop.html").read_text()
    assert "<h2>Training</h2><p>3 epochs</p>" in page and "&lt;x&gt;" in page
    assert "data:image/png;base64," in page


def cands() -> list[Candidate]:
    return [
        Candidate(name="finetune", impact=0.10, effort=10, risk="medium", dependencies=["data"]),
        Candidate(name="data", impact=0.01, effort=3),
        Candidate(name="hybrid", impact=0.05, effort=1),
        Candidate(name="rerank", impact=0.04, effort=8, risk=0.5),
    ]


def test_rank_quick_wins_first_and_dependencies_respected() -> None:
    ranked = rank(cands())
    names = [r.candidate.name for r in ranked]
    # scores: hybrid 0.05, finetune 0.007 (blocked by data), data 0.0033, rerank 0.0025
    assert names == ["hybrid", "data", "finetune", "rerank"]
    assert names.index("data") < names.index("finetune")
    assert ranked[0].quadrant is Quadrant.QUICK_WIN
    assert {r.candidate.name: r.quadrant for r in ranked}["finetune"] is Quadrant.BIG_BET
    assert ranked[0].to_dict()["position"] == 1


def test_measured_impact_replaces_estimate() -> None:
    results = {"comparison": {"outcomes": {"v": {"ndcg@10": {"relative_change": 0.5}}}}}
    gain = measured_gain(results, {"success": {"metric": "ndcg@10"}})
    assert gain == 0.5
    items = cands()
    items[3] = items[3].model_copy(update={"measured_impact": gain})
    assert [r.candidate.name for r in rank(items)][
        0
    ] == "rerank"  # measured 0.5 / 8 = 0.0625 beats hybrid 0.05


def test_rank_errors() -> None:
    with pytest.raises(ConfigError, match="unknown 'nope'"):
        rank([Candidate(name="a", impact=1, effort=1, dependencies=["nope"])])
    with pytest.raises(ConfigError, match="cycle"):
        rank(
            [
                Candidate(name="a", impact=1, effort=1, dependencies=["b"]),
                Candidate(name="b", impact=1, effort=1, dependencies=["a"]),
            ]
        )


def test_load_toml_and_yaml(tmp_path: Path) -> None:
    toml = tmp_path / "r.toml"
    toml.write_text('[[candidates]]\nname = "a"\nimpact = 0.1\neffort = 2\nrisk = "high"\n')
    assert load_candidates(toml)[0].risk == 0.6
    yml = tmp_path / "r.yaml"
    yml.write_text("candidates:\n  - {name: a, impact: 0.1, effort: 2}\n")
    assert load_candidates(yml)[0].name == "a"
    bad = tmp_path / "bad.toml"
    bad.write_text('[[candidates]]\nname = "a"\nimpact = 0.1\neffort = 0\n')
    with pytest.raises(ConfigError, match=r"candidates\[0\].effort"):
        load_candidates(bad)
