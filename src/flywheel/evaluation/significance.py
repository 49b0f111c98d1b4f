"""Paired significance tests, bootstrap confidence intervals and Holm's correction.

Inputs are per-query scores ``{qid: value}``; paired tests align two systems on the queries both
scored (sorted by qid), because a test on unpaired means throws away the strongest signal in IR
evaluation: the same query is easy or hard for every system.

Conventions follow scipy so results can be checked against it: ``permutation_test`` is Fisher's
randomisation test (random sign flips of the per-query differences, exact enumeration when
``2**n <= n_resamples``), two-sided as scipy computes it (twice the smaller tail, capped at 1) with
the ``+1`` correction for random resamples; ``bootstrap_ci`` is the percentile interval of the mean.
When every paired difference is 0 the tests return ``p = 1.0`` (scipy returns NaN for the t-test).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from flywheel.errors import ConfigError, UnknownComponentError

_BATCH = 1000  # resamples per vectorised batch: bounds memory at 10,000+ queries


class SignificanceTest(StrEnum):
    """The paired tests ``compare`` and experiments can run."""

    PERMUTATION = "permutation"
    T_TEST = "t-test"
    BOOTSTRAP = "bootstrap"


@dataclass(frozen=True, slots=True)
class TestResult:
    """Outcome of a paired test: mean difference ``a - b``, statistic, p-value."""

    __test__ = False  # not a pytest class

    mean_difference: float
    statistic: float
    p_value: float
    n: int


Scores = Mapping[str, float]


def paired_values(a: Scores, b: Scores) -> tuple[np.ndarray, np.ndarray]:
    """Values of ``a`` and ``b`` on their common qids, in sorted qid order."""
    common = sorted(set(a) & set(b))
    if not common:
        raise ConfigError(
            "the two systems share no query ids; evaluate them on the same qrels before comparing"
        )
    return (
        np.fromiter((a[q] for q in common), dtype=np.float64, count=len(common)),
        np.fromiter((b[q] for q in common), dtype=np.float64, count=len(common)),
    )


def paired_t_test(a: Scores, b: Scores) -> TestResult:
    """Student's paired t-test, two-sided (equals ``scipy.stats.ttest_rel``)."""
    from scipy import stats

    x, y = paired_values(a, b)
    d = x - y
    n = d.size
    mean = float(d.mean())
    sd = float(d.std(ddof=1)) if n > 1 else 0.0
    if sd == 0.0:
        return TestResult(
            mean, 0.0 if mean == 0 else math.copysign(math.inf, mean), 1.0 if mean == 0 else 0.0, n
        )
    t = mean / (sd / math.sqrt(n))
    p = float(2 * stats.t.sf(abs(t), df=n - 1))
    return TestResult(mean, t, min(p, 1.0), n)


def _two_sided(null: np.ndarray, observed: float, exact: bool) -> float:
    gamma = abs(1e-14 * observed) if observed else 1e-14  # scipy's tolerance for float ties
    adjust = 0 if exact else 1
    less = (np.count_nonzero(null <= observed + gamma) + adjust) / (null.size + adjust)
    greater = (np.count_nonzero(null >= observed - gamma) + adjust) / (null.size + adjust)
    return float(min(1.0, 2 * min(less, greater)))


def permutation_test(
    a: Scores, b: Scores, *, n_resamples: int = 10_000, seed: int = 0
) -> TestResult:
    """Fisher's randomisation test on the mean paired difference, two-sided.

    Matches ``scipy.stats.permutation_test(..., permutation_type='samples')`` with the statistic
    ``mean(x - y)``: exactly when all ``2**n`` sign flips fit in ``n_resamples``, else up to the
    randomness of the resamples.
    """
    x, y = paired_values(a, b)
    d = x - y
    n = d.size
    observed = float(d.mean())
    if not np.any(d):
        return TestResult(0.0, 0.0, 1.0, n)
    exact = 2**n <= n_resamples
    if exact:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
        null = signs @ d / n
    else:
        rng = np.random.default_rng(seed)
        parts = []
        for start in range(0, n_resamples, _BATCH):
            size = min(_BATCH, n_resamples - start)
            signs = rng.choice((-1.0, 1.0), size=(size, n))
            parts.append(signs @ d / n)
        null = np.concatenate(parts)
    return TestResult(observed, observed, _two_sided(null, observed, exact), n)


def _bootstrap_means(values: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    parts = []
    for start in range(0, n_resamples, _BATCH):
        size = min(_BATCH, n_resamples - start)
        index = rng.integers(0, values.size, size=(size, values.size))
        parts.append(values[index].mean(axis=1))
    return np.concatenate(parts)


def bootstrap_test(a: Scores, b: Scores, *, n_resamples: int = 10_000, seed: int = 0) -> TestResult:
    """Paired bootstrap test (Sakai 2006): resample the differences, shifted to mean 0, two-sided.

    The p-value is the share of resampled mean differences at least as far from 0 as the observed
    one, with the ``+1`` correction.
    """
    x, y = paired_values(a, b)
    d = x - y
    observed = float(d.mean())
    if not np.any(d):
        return TestResult(0.0, 0.0, 1.0, d.size)
    null = _bootstrap_means(d - observed, n_resamples, seed)
    extreme = np.count_nonzero(np.abs(null) >= abs(observed) - 1e-14)
    return TestResult(observed, observed, float((extreme + 1) / (n_resamples + 1)), d.size)


def bootstrap_ci(
    values: Scores | np.ndarray | list[float],
    *,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (scipy.stats.bootstrap, 'percentile')."""
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be between 0 and 1, got {confidence}; e.g. 0.95")
    array = np.asarray(
        list(values.values()) if isinstance(values, Mapping) else values, dtype=np.float64
    )
    if array.size == 0:
        raise ConfigError("no values to bootstrap; evaluate at least one query")
    if np.all(array == array[0]):
        return float(array[0]), float(array[0])
    means = _bootstrap_means(array, n_resamples, seed)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def holm(pvalues: Mapping[str, float]) -> dict[str, float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1), same keys."""
    items = sorted(pvalues.items(), key=lambda kv: kv[1])
    m = len(items)
    adjusted: dict[str, float] = {}
    running = 0.0
    for i, (name, p) in enumerate(items):
        running = max(running, min(1.0, (m - i) * p))
        adjusted[name] = running
    return {name: adjusted[name] for name in pvalues}


_TESTS = {
    SignificanceTest.PERMUTATION: permutation_test,
    SignificanceTest.BOOTSTRAP: bootstrap_test,
}


def run_test(
    test: str, a: Scores, b: Scores, *, n_resamples: int = 10_000, seed: int = 0
) -> TestResult:
    """Run the named paired test (``permutation``, ``t-test`` or ``bootstrap``)."""
    try:
        kind = SignificanceTest(test)
    except ValueError:
        raise UnknownComponentError(
            "significance test", test, [t.value for t in SignificanceTest]
        ) from None
    if kind is SignificanceTest.T_TEST:
        return paired_t_test(a, b)
    return _TESTS[kind](a, b, n_resamples=n_resamples, seed=seed)
