"""Significance tests against scipy on known data, and Holm by hand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from flywheel.errors import ConfigError, UnknownComponentError
from flywheel.evaluation.significance import (
    bootstrap_ci,
    bootstrap_test,
    holm,
    paired_t_test,
    permutation_test,
    run_test,
)

rng = np.random.default_rng(42)
X = rng.random(60)
Y = X - 0.05 + rng.normal(0, 0.1, 60)
A = {f"q{i}": float(v) for i, v in enumerate(X)}
B = {f"q{i}": float(v) for i, v in enumerate(Y)}


def test_paired_t_test_equals_scipy() -> None:
    ours = paired_t_test(A, B)
    theirs = stats.ttest_rel(X, Y)
    assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-10)
    assert ours.statistic == pytest.approx(theirs.statistic, rel=1e-10)
    assert ours.n == 60


def test_paired_tests_align_on_common_qids_only() -> None:
    a = {"q1": 1.0, "q2": 0.5, "q3": 0.0, "extra": 9.0}
    b = {"q3": 0.5, "q2": 0.25, "q1": 0.5}
    assert paired_t_test(a, b).n == 3
    assert paired_t_test(a, b).mean_difference == pytest.approx((0.5 + 0.25 - 0.5) / 3)


def test_permutation_test_exact_equals_scipy() -> None:
    x, y = X[:10], Y[:10]  # 2**10 = 1024 sign flips: both enumerate them all
    a = {f"q{i}": float(v) for i, v in enumerate(x)}
    b = {f"q{i}": float(v) for i, v in enumerate(y)}
    ours = permutation_test(a, b, n_resamples=10_000)
    theirs = stats.permutation_test(
        (x, y),
        lambda u, v, axis: np.mean(u - v, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=10_000,
    )
    assert ours.p_value == pytest.approx(theirs.pvalue, abs=1e-12)


def test_permutation_test_random_close_to_scipy_and_seeded() -> None:
    ours = permutation_test(A, B, n_resamples=20_000, seed=1)
    theirs = stats.permutation_test(
        (X, Y),
        lambda u, v, axis: np.mean(u - v, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=20_000,
        rng=np.random.default_rng(3),
    )
    assert ours.p_value == pytest.approx(theirs.pvalue, abs=0.01)
    assert permutation_test(A, B, seed=5).p_value == permutation_test(A, B, seed=5).p_value


def test_identical_systems_give_p_one() -> None:
    for fn in (paired_t_test, permutation_test, bootstrap_test):
        assert fn(A, dict(A)).p_value == 1.0


def test_bootstrap_ci_close_to_scipy_percentile() -> None:
    low, high = bootstrap_ci(A, n_resamples=20_000)
    ref = stats.bootstrap(
        (X,), np.mean, method="percentile", n_resamples=20_000, rng=np.random.default_rng(0)
    ).confidence_interval
    assert low == pytest.approx(ref.low, abs=0.01)
    assert high == pytest.approx(ref.high, abs=0.01)
    assert low < X.mean() < high


def test_bootstrap_test_agrees_with_t_test_on_clear_and_null_effects() -> None:
    clear = bootstrap_test(A, B)
    assert clear.p_value < 0.01 and paired_t_test(A, B).p_value < 0.01
    noise = {k: v + float(rng.normal(0, 0.1)) for k, v in A.items()}
    assert bootstrap_test(A, noise).p_value == pytest.approx(
        paired_t_test(A, noise).p_value, abs=0.1
    )


def test_holm_by_hand() -> None:
    adjusted = holm({"a": 0.01, "b": 0.04, "c": 0.03})
    # sorted: a 0.01*3=0.03, c 0.03*2=0.06, b max(0.06, 0.04*1)=0.06
    assert adjusted == pytest.approx({"a": 0.03, "c": 0.06, "b": 0.06})
    assert list(adjusted) == ["a", "b", "c"]
    assert holm({"x": 0.6, "y": 0.7}) == {"x": 1.0, "y": 1.0}


def test_errors() -> None:
    with pytest.raises(ConfigError):
        paired_t_test({"a": 1.0}, {"b": 1.0})
    with pytest.raises(UnknownComponentError):
        run_test("wilcoxon", A, B)
    with pytest.raises(ConfigError):
        bootstrap_ci([0.1, 0.2], confidence=95)
