"""Fill an experiment's unjudged holes with LLM grades, and say so wherever figures appear.

Benchmark qrels were pooled from past systems: a new system that retrieves a relevant document
nobody judged is scored as if that document were irrelevant. LLM grades (label source ``llm``,
written by ``flywheel judge run``) can fill those holes, but they are not a person's labels.
So an experiment that fills them (``fill_unjudged = "llm"`` in its spec) keeps the human-only
figures next to the filled ones, and every report carries :meth:`LabelFill.note`: how many
pairs an LLM graded and that the metrics include them.

Only retrieved pairs are filled (a hole matters only where some variant ranked the document),
only for the split's evaluation queries, and never over a grade the dataset already has.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flywheel.data.types import Qrels, Run
from flywheel.errors import NotFoundError
from flywheel.judging.agreement import fill_unjudged


@dataclass(frozen=True)
class LabelFill:
    """Which pairs a label source filled; ``pairs`` is ``{qid: {doc_id: grade}}``, only those.

    The filled grades are kept in the stored run, so the run still says what it was scored on
    after the store's LLM grades are replaced by a later ``flywheel judge run``.
    """

    source: str
    pairs: Qrels = field(default_factory=dict)
    available: int = 0  # grades of this source on the evaluation queries, filled or not

    @property
    def filled(self) -> int:
        return sum(len(grades) for grades in self.pairs.values())

    @property
    def relevant(self) -> int:
        return sum(1 for grades in self.pairs.values() for g in grades.values() if g > 0)

    def note(self) -> str:
        """The line every report prints, so nobody mistakes these metrics for human-only ones."""
        return (
            f"{self.filled} retrieved pairs no person judged were graded by an LLM "
            f"({self.relevant} relevant, {len(self.pairs)} queries); metrics include LLM "
            f"labels (source {self.source}); human-only figures are shown alongside"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "filled_pairs": self.filled,
            "relevant_pairs": self.relevant,
            "available": self.available,
            "pairs": {q: dict(g) for q, g in self.pairs.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LabelFill:
        return cls(
            source=str(data["source"]),
            pairs={q: {d: int(g) for d, g in gs.items()} for q, gs in data["pairs"].items()},
            available=int(data.get("available", 0)),
        )


def stored_grades(
    store: Any,
    qrels: Qrels,
    *,
    source: str,
    where: str = "<spec>",
    fix: str = "",
) -> Qrels:
    """Grades of ``source`` in ``store`` for the queries of ``qrels`` (resolved per pair).

    Fails before any retrieval when there are none: filling from nothing would print figures
    marked "include LLM labels" that include none.
    """
    grades = store.qrels(sources=[source])
    found = {qid: dict(g) for qid, g in grades.items() if qid in qrels and g}
    if not found:
        elsewhere = sum(len(g) for g in grades.values())
        detail = (
            f"its {elsewhere} {source} grades are all for other queries"
            if elsewhere
            else f"it has no {source} grades at all"
        )
        raise NotFoundError(
            f"{where}: field 'fill_unjudged': no grades of label source '{source}' for the "
            f"{len(qrels)} evaluation queries in the store {store!r} ({detail}); {fix}"
        )
    return found


def apply_fill(
    qrels: Qrels, grades: Qrels, runs: Mapping[str, Run], *, source: str
) -> tuple[Qrels, LabelFill]:
    """``qrels`` plus ``grades`` for retrieved pairs ``qrels`` lacks; inputs are not changed."""
    filled = fill_unjudged(qrels, grades, runs)
    pairs: Qrels = {}
    for qid, doc_id in sorted(filled.filled):
        pairs.setdefault(qid, {})[doc_id] = filled.qrels[qid][doc_id]
    available = sum(len(g) for q, g in grades.items() if q in qrels)
    return filled.qrels, LabelFill(source, pairs, available)
