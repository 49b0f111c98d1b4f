"""Compare two stored experiment runs only where they measured the same thing.

Two runs scored on different corpora rank against different documents: a paired test between
them measures the corpus, not the systems, so :func:`compare_runs` refuses. Two runs on the same
corpus but different query sets are compared on the queries they share, with a warning that says
how many each run had; sharing none is refused. Runs stored before the corpus fingerprint was
recorded fall back to the spec's dataset and split.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flywheel.errors import ConfigError
from flywheel.evaluation.compare import Comparison, compare
from flywheel.evaluation.evaluate import EvaluationResult

if TYPE_CHECKING:
    from flywheel.evaluation.experiment import ExperimentResult


@dataclass
class RunComparison:
    """Both runs' systems (``A:name``, ``B:name``) on their shared metrics and queries."""

    comparison: Comparison
    warnings: list[str] = field(default_factory=list)
    common_queries: int = 0


def _restrict(result: EvaluationResult, qids: list[str]) -> EvaluationResult:
    per_query = {m: {q: v[q] for q in qids} for m, v in result.per_query.items()}
    mean = {m: (sum(v.values()) / len(v) if v else 0.0) for m, v in per_query.items()}
    return EvaluationResult(mean=mean, per_query=per_query, metrics=list(result.metrics))


def _corpus_key(result: ExperimentResult) -> tuple[str, str]:
    """What identifies the corpus a run ranked: its fingerprint, else the spec's dataset."""
    if result.corpus.get("fingerprint"):
        return "fingerprint", f"{result.corpus['fingerprint']} ({result.corpus.get('docs')} docs)"
    return "dataset", result.spec.dataset


def compare_runs(
    a: ExperimentResult, b: ExperimentResult, *, names: tuple[str, str] = ("A", "B")
) -> RunComparison:
    """Pair ``b``'s systems with ``a``'s on the corpus and queries both scored.

    Raises :class:`ConfigError` when the corpora differ, when no metric or no query is shared.
    """
    key_a, key_b = _corpus_key(a), _corpus_key(b)
    if key_a[0] == key_b[0] and key_a[1] != key_b[1]:
        raise ConfigError(
            f"runs {names[0]} and {names[1]} ranked different corpora ({key_a[0]} "
            f"{key_a[1]} vs {key_b[1]}); a paired comparison across corpora measures the corpus, "
            "not the systems; rerun both variants in one experiment spec on the same dataset"
        )
    metrics = [m for m in a.comparison.metrics if m in b.comparison.metrics]
    if not metrics:
        raise ConfigError(f"runs {names[0]} and {names[1]} share no metric; nothing to compare")
    qids_a = a.comparison.results[a.comparison.baseline].qids
    qids_b = set(b.comparison.results[b.comparison.baseline].qids)
    common = [q for q in qids_a if q in qids_b]
    if not common:
        raise ConfigError(
            f"runs {names[0]} and {names[1]} share no query ({len(qids_a)} vs {len(qids_b)} "
            "queries); compare runs of the same dataset and split"
        )
    warnings = []
    if key_a[0] != key_b[0] and a.spec.dataset != b.spec.dataset:
        warnings.append(
            f"{names[0]} ran on dataset '{a.spec.dataset}' and {names[1]} on "
            f"'{b.spec.dataset}'; check they are the same corpus"
        )
    if len(common) != len(qids_a) or len(common) != len(qids_b):
        warnings.append(
            f"the runs scored different query sets ({names[0]}: {len(qids_a)}, "
            f"{names[1]}: {len(qids_b)}); compared on the {len(common)} queries both scored"
        )
    results = {f"{names[0]}:{s}": _restrict(r, common) for s, r in a.comparison.results.items()}
    results |= {f"{names[1]}:{s}": _restrict(r, common) for s, r in b.comparison.results.items()}
    comparison = compare(
        {},
        results,
        metrics=metrics,
        baseline=f"{names[0]}:{a.comparison.baseline}",
        test=a.spec.test.value,
        alpha=a.spec.alpha,
    )
    return RunComparison(comparison, warnings, len(common))
