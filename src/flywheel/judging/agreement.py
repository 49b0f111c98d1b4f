"""How far LLM labels can be trusted: agreement with people, pair by pair and system by system.

* :func:`label_agreement` - on the pairs both a person and the LLM graded: weighted Cohen's
  kappa (scikit-learn's ``cohen_kappa_score``; quadratic weights by default, so 3 vs 0 costs
  more than 3 vs 2), exact agreement, and the confusion matrix (rows human, columns LLM).
* :func:`ranking_agreement` - score several systems' runs under human labels and under LLM
  labels, and compare the two orderings with Kendall's tau (``scipy.stats.kendalltau``): the
  test the TREC 2024 RAG track used to validate UMBRELA. High tau means the LLM labels pick
  the same winner even where individual grades differ.
* :func:`fill_unjudged` - evaluation qrels whose holes (retrieved pairs no person judged) are
  filled with LLM grades, and which pairs were filled, so a report can say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flywheel.data.types import Qrels, Run
from flywheel.errors import ConfigError


@dataclass
class LabelAgreement:
    pairs: int
    kappa: float
    weights: str | None
    exact: float
    labels: list[int]
    confusion: list[list[int]]  # rows: human grade, columns: LLM grade

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def label_agreement(
    human: Qrels, llm: Qrels, *, weights: str | None = "quadratic", scale: int = 3
) -> LabelAgreement:
    """Agreement on the pairs graded by both; grades above ``scale`` are capped to it."""
    from sklearn.metrics import cohen_kappa_score, confusion_matrix

    if weights not in (None, "linear", "quadratic"):
        raise ConfigError(f"weights must be linear, quadratic or none, got {weights!r}")
    a, b = [], []
    for qid, grades in human.items():
        for target, grade in grades.items():
            if target in llm.get(qid, {}):
                a.append(min(int(grade), scale))
                b.append(min(int(llm[qid][target]), scale))
    if len(a) < 2:
        raise ConfigError(
            f"only {len(a)} pairs have both a human and an LLM grade; judge pairs that people "
            "graded (e.g. flywheel judge run --from topk --split test) before measuring agreement"
        )
    labels = list(range(scale + 1))
    kappa = cohen_kappa_score(a, b, labels=labels, weights=weights)
    matrix = confusion_matrix(a, b, labels=labels)
    return LabelAgreement(
        pairs=len(a),
        kappa=float(kappa),
        weights=weights,
        exact=sum(x == y for x, y in zip(a, b, strict=True)) / len(a),
        labels=labels,
        confusion=matrix.tolist(),
    )


@dataclass
class RankingAgreement:
    metric: str
    human: dict[str, float]
    llm: dict[str, float]
    tau: float
    p_value: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def ranking_agreement(
    runs: Mapping[str, Run], human: Qrels, llm: Qrels, *, metric: str = "ndcg@10"
) -> RankingAgreement:
    """Kendall's tau between system orderings under human and under LLM labels."""
    from scipy.stats import kendalltau

    from flywheel.evaluation import evaluate

    if len(runs) < 3:
        raise ConfigError("rank at least three systems to compare orderings (Kendall's tau)")
    shared = {q for q in human if q in llm}
    if not shared:
        raise ConfigError("no query has both human and LLM labels")
    h = {
        n: evaluate({q: human[q] for q in shared}, r, [metric]).mean[metric]
        for n, r in runs.items()
    }
    m = {
        n: evaluate({q: llm[q] for q in shared}, r, [metric]).mean[metric] for n, r in runs.items()
    }
    names = list(runs)
    tau, p = kendalltau([h[n] for n in names], [m[n] for n in names])
    return RankingAgreement(metric, h, m, float(tau), float(p))


@dataclass
class FilledQrels:
    qrels: Qrels
    filled: set[tuple[str, str]] = field(default_factory=set)

    def note(self) -> str:
        if not self.filled:
            return ""
        return (
            f"{len(self.filled)} retrieved pairs no person judged were graded by an LLM "
            "(label source llm) and count in these metrics"
        )


def fill_unjudged(qrels: Qrels, llm: Qrels, runs: Mapping[str, Run] | None = None) -> FilledQrels:
    """``qrels`` plus LLM grades for pairs it lacks (only pairs in ``runs``, when given)."""
    wanted = None
    if runs is not None:
        wanted = {(q, d) for run in runs.values() for q, docs in run.items() for d in docs}
    out = {q: dict(g) for q, g in qrels.items()}
    filled: set[tuple[str, str]] = set()
    for qid, grades in llm.items():
        if qid not in qrels:
            continue  # a query nobody judged is not an evaluation query
        for target, grade in grades.items():
            if target in out[qid] or (wanted is not None and (qid, target) not in wanted):
                continue
            out[qid][target] = grade
            filled.add((qid, target))
    return FilledQrels(out, filled)
