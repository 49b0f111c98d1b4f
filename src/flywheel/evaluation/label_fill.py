"""Fill an experiment's unjudged holes with LLM grades, and say so wherever figures appear.

Benchmark qrels were pooled from past systems: a new system that retrieves a relevant document
nobody judged is scored as if that document were irrelevant. LLM grades (label source ``llm``,
written by ``flywheel judge run``) can fill those holes, but they are not a person's labels.
So an experiment that fills them (``fill_unjudged = "llm"`` in its spec) keeps the human-only
figures next to the filled ones, and every report carries :meth:`LabelFill.note`: how many
pairs an LLM graded, how its grades were read, and that the metrics include them.

Only retrieved pairs are filled (a hole matters only where some variant ranked the document),
only for the split's evaluation queries, and never over a grade the dataset already has.

**What a filled LLM grade means** is what it means in training data
(:mod:`flywheel.judging.labels`, one rule, applied by
:func:`flywheel.judging.fill_unjudged`):

* **Below the threshold** (``llm_min_grade`` in the spec, default 2, the same constant
  ``flywheel dataset build --llm-min-grade`` uses) the hole is filled as **0**: judged, not
  relevant. An LLM's 1 is "related but does not answer"; training never makes it a positive,
  TREC's RAG track does not count it as relevant, so recall, MRR and MAP must not either. It
  is still *judged* (the honest TREC treatment of a graded non-relevant document), so it is
  recorded, not left as a hole.
* **At or above it** the hole is filled as relevant **on the dataset's own scale**: 1 when the
  split's qrels are binary (their top grade is 1); the grade as given when they use the LLM's
  own scale (TREC-style 0-3 qrels and a 0-3 rubric); else the grade's 0-5 training value
  (0-3 grades map as 0/1/3/5, 0-5 grades as they are) clipped to the split's top grade. Why:
  a filled pair must weigh like the dataset's own relevant documents, or nDCG would rate a
  system by how often it finds LLM-graded documents (a raw 3 is three times a benchmark's
  binary 1) rather than relevant ones; and a filled grade above the dataset's top would raise
  the ideal DCG past anything its own labels can reach.

The threshold, the fill scale and how many filled pairs fell below the threshold are kept in
the note and in the stored run (:meth:`LabelFill.to_dict`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flywheel.data.types import Qrels, Run
from flywheel.errors import NotFoundError
from flywheel.judging.agreement import fill_unjudged, threshold_note
from flywheel.judging.labels import DEFAULT_MIN_RELEVANT, LLMLabels


@dataclass(frozen=True)
class LabelFill:
    """Which pairs a label source filled; ``pairs`` is ``{qid: {doc_id: grade}}``, only those,
    with the grade they were scored on (after the threshold and the scale, not the raw grade).

    The filled grades are kept in the stored run, so the run still says what it was scored on
    after the store's LLM grades are replaced by a later ``flywheel judge run``.
    ``min_relevant`` and ``max_grade`` are None only for runs stored before LLM grades were
    read through the threshold (those runs used the raw grades).
    """

    source: str
    pairs: Qrels = field(default_factory=dict)
    available: int = 0  # grades of this source on the evaluation queries, filled or not
    min_relevant: int | None = DEFAULT_MIN_RELEVANT  # the lowest LLM grade that counts
    max_grade: int | None = 1  # the top grade of the split's qrels: the scale fills go on
    below_threshold: int = 0  # filled pairs graded 1 to min_relevant - 1, filled as 0

    @property
    def filled(self) -> int:
        return sum(len(grades) for grades in self.pairs.values())

    @property
    def relevant(self) -> int:
        return sum(1 for grades in self.pairs.values() for g in grades.values() if g > 0)

    def note(self) -> str:
        """The line every report prints, so nobody mistakes these metrics for human-only ones."""
        reading = ""
        if self.min_relevant is not None and self.max_grade is not None:
            reading = f"{threshold_note(self.min_relevant, self.max_grade, self.below_threshold)}; "
        return (
            f"{self.filled} retrieved pairs no person judged were graded by an LLM "
            f"({self.relevant} relevant, {len(self.pairs)} queries); {reading}metrics include "
            f"LLM labels (source {self.source}); human-only figures are shown alongside"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "filled_pairs": self.filled,
            "relevant_pairs": self.relevant,
            "available": self.available,
            "min_relevant": self.min_relevant,
            "max_grade": self.max_grade,
            "below_threshold": self.below_threshold,
            "pairs": {q: dict(g) for q, g in self.pairs.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LabelFill:
        def optional(key: str) -> int | None:
            return None if data.get(key) is None else int(data[key])

        return cls(
            source=str(data["source"]),
            pairs={q: {d: int(g) for d, g in gs.items()} for q, gs in data["pairs"].items()},
            available=int(data.get("available", 0)),
            min_relevant=optional("min_relevant"),
            max_grade=optional("max_grade"),
            below_threshold=int(data.get("below_threshold", 0)),
        )


def stored_grades(
    store: Any,
    qrels: Qrels,
    *,
    source: str,
    min_relevant: int = DEFAULT_MIN_RELEVANT,
    where: str = "<spec>",
    fix: str = "",
) -> LLMLabels:
    """Grades of ``source`` in ``store`` for the queries of ``qrels`` (resolved per pair), each
    with the scale it was given on, and ``min_relevant`` as the threshold.

    Fails before any retrieval when there are none: filling from nothing would print figures
    marked "include LLM labels" that include none.
    """
    labels = LLMLabels.from_store(store, sources=[source], min_relevant=min_relevant)
    found = labels.for_queries(qrels)
    if not len(found):
        elsewhere = len(labels)
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
    qrels: Qrels, grades: LLMLabels, runs: Mapping[str, Run], *, source: str
) -> tuple[Qrels, LabelFill]:
    """``qrels`` plus ``grades`` for retrieved pairs ``qrels`` lacks, read as
    :func:`flywheel.judging.fill_unjudged` reads them; inputs are not changed."""
    filled = fill_unjudged(qrels, grades, runs)
    pairs: Qrels = {}
    for qid, doc_id in sorted(filled.filled):
        pairs.setdefault(qid, {})[doc_id] = filled.qrels[qid][doc_id]
    available = len(grades.for_queries(qrels))
    fill = LabelFill(
        source,
        pairs,
        available,
        min_relevant=filled.min_relevant,
        max_grade=filled.max_grade,
        below_threshold=filled.below_threshold,
    )
    return filled.qrels, fill
