"""How far LLM labels can be trusted: agreement with people, pair by pair and system by system.

* :func:`label_agreement` - on the pairs both a person and the LLM graded: weighted Cohen's
  kappa (scikit-learn's ``cohen_kappa_score``; quadratic weights by default, so 3 vs 0 costs
  more than 3 vs 2), exact agreement, and the confusion matrix (rows human, columns LLM).
* :func:`flywheel.evaluation.agreement.ranking_agreement` (it scores runs, so it lives with
  evaluation) - system orderings under human and LLM labels, compared with Kendall's tau.
* :func:`fill_unjudged` - evaluation qrels whose holes (retrieved pairs no person judged) are
  filled with LLM grades, and which pairs were filled, so a report can say so. An LLM grade
  means what it means in training data (:mod:`flywheel.judging.labels`): below the
  threshold (default 2) it fills the hole as 0, judged not relevant; at or above it, as
  relevant on the qrels' own scale (see :mod:`flywheel.evaluation.label_fill` for why).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flywheel.data.types import Qrels, Run
from flywheel.errors import ConfigError
from flywheel.judging.labels import DEFAULT_MIN_RELEVANT, LLMGrade, LLMLabels


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
class FilledQrels:
    """Qrels with holes filled; ``filled`` names the pairs, the rest says how grades were read.

    ``max_grade`` is the top grade of the qrels the fills went into (1: binary), the scale the
    LLM's relevant grades were put on; ``below_threshold`` counts filled pairs the LLM graded
    above 0 but below ``min_relevant`` (filled as 0: "related" is not relevant).
    """

    qrels: Qrels
    filled: set[tuple[str, str]] = field(default_factory=set)
    min_relevant: int = DEFAULT_MIN_RELEVANT
    max_grade: int = 1
    below_threshold: int = 0

    def note(self) -> str:
        if not self.filled:
            return ""
        return (
            f"{len(self.filled)} retrieved pairs no person judged were graded by an LLM "
            f"(label source llm) and count in these metrics; "
            f"{threshold_note(self.min_relevant, self.max_grade, self.below_threshold)}"
        )


def threshold_note(min_relevant: int, max_grade: int, below_threshold: int) -> str:
    """How filled LLM grades were read, e.g. "LLM grades >= 2 count as relevant (filled on the
    qrels' 0-1 scale); 3 filled pairs graded 1 count as not relevant"."""
    note = (
        f"LLM grades >= {min_relevant} count as relevant (filled on the qrels' 0-{max_grade} scale)"
    )
    if below_threshold:
        graded = "1" if min_relevant == 2 else f"1-{min_relevant - 1}"
        pairs, count = ("pair", "counts") if below_threshold == 1 else ("pairs", "count")
        note += f"; {below_threshold} filled {pairs} graded {graded} {count} as not relevant"
    return note


def _as_labels(llm: LLMLabels | Qrels, min_relevant: int | None, scale: int) -> LLMLabels:
    if isinstance(llm, LLMLabels):
        return llm if min_relevant is None else LLMLabels(llm.grades, min_relevant)
    grades = {
        qid: {target: LLMGrade(int(grade), scale) for target, grade in targets.items()}
        for qid, targets in llm.items()
    }
    return LLMLabels(grades, DEFAULT_MIN_RELEVANT if min_relevant is None else min_relevant)


def fill_unjudged(
    qrels: Qrels,
    llm: LLMLabels | Qrels,
    runs: Mapping[str, Run] | None = None,
    *,
    min_relevant: int | None = None,
    scale: int = 3,
) -> FilledQrels:
    """``qrels`` plus LLM grades for pairs it lacks (only pairs in ``runs``, when given).

    ``llm`` is :class:`~flywheel.judging.labels.LLMLabels` (each grade with its scale, as
    the store keeps them) or plain grades on 0-``scale``. A grade below ``min_relevant``
    (default: the labels' own, else :data:`~flywheel.judging.labels.DEFAULT_MIN_RELEVANT`)
    fills as 0; one at or above it as it is when ``qrels`` use the same scale (TREC's 0-3),
    else as its 0-5 training grade clipped to the top grade of ``qrels`` (so 1 on binary
    qrels). Only queries in ``qrels`` are filled; inputs are not changed.
    """
    labels = _as_labels(llm, min_relevant, scale)
    wanted = None
    if runs is not None:
        wanted = {(q, d) for run in runs.values() for q, docs in run.items() for d in docs}
    top = max((int(g) for grades in qrels.values() for g in grades.values()), default=1)
    top = max(top, 1)
    out = {q: dict(g) for q, g in qrels.items()}
    filled: set[tuple[str, str]] = set()
    below = 0
    for qid, grades in labels.grades.items():
        if qid not in qrels:
            continue  # a query nobody judged is not an evaluation query
        for target, label in grades.items():
            if target in out[qid] or (wanted is not None and (qid, target) not in wanted):
                continue
            if labels.is_relevant(qid, target):  # the qrels' own scale: as given, else mapped
                same = label.scale == top
                out[qid][target] = label.grade if same else min(label.training_grade, top)
            else:
                out[qid][target] = 0  # judged, not relevant: "related" (a 1) included
                below += int(label.grade > 0)
            filled.add((qid, target))
    return FilledQrels(out, filled, labels.min_relevant, top, below)
