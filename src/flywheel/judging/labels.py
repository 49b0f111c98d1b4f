"""LLM relevance grades as training labels: which make positives, which are never negatives.

``flywheel judge run`` stores an LLM's grades as label source ``llm``, on the rubric's own scale
(TREC's 0-3, as UMBRELA grades, or 0-5) with that scale recorded. The training-set builders
(:func:`flywheel.datasets.build.build_dataset`) use them like this:

* **Positives: grade >= 2 on either scale** (``min_relevant``). Both shipped rubrics put "the
  passage holds (some of) the answer" at 2 and "related to the query but does not answer it"
  at 1; TREC's RAG track counts >= 2 as relevant on 0-3. So an LLM's 1 is *not* a positive,
  unlike a benchmark's or a person's 1 (their grades keep their own convention: > 0 counts).
* **Never a negative.** A document the LLM graded relevant is a positive, so mining never
  picks it; one it graded 1 ("related") is neither: it is kept out of mining (``exclude``),
  because a passage on the query's topic is the likeliest false negative and dropping one
  candidate costs little. A grade of 0 leaves the document eligible as a negative.
* **Graded pairs** (re-rankers) carry the LLM's grade mapped onto the 0-5 training scale:
  0-3 grades by :data:`TO_TRAINING` ``(0, 1, 3, 5)``, 0-5 grades as they are. Not linearly:
  a linear map would make "related" a 2, which on 0-5 means "a small piece of the answer".
* **Precedence** is the store's (human > benchmark > llm > derived): only pairs whose resolved
  grade is the LLM's are LLM labels (:meth:`LLMLabels.from_store`), so a person's 0 beats an
  LLM's 3 and that document stays eligible as a negative. An LLM label does outrank a
  ``derived`` grade (a synthetic question's source document) and an event label.
* **Scope.** LLM labels apply to the training queries of the split being built; they add no
  queries (a query only an LLM graded belongs to no split) and never touch evaluation queries.

An LLM grade stored without a scale (before migration 0005, or added by hand) is read as 0-3,
``flywheel judge``'s default, unless it is above 3.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flywheel.data.types import Qrels
from flywheel.errors import ConfigError

#: The source name LLM judgments carry in the store.
LLM_SOURCE = "llm"
#: The lowest LLM grade that makes a positive, on both shipped rubrics (0-3 and 0-5).
DEFAULT_MIN_RELEVANT = 2
#: An LLM grade on its rubric's scale (the key) -> the grade on the 0-5 training scale.
TO_TRAINING: dict[int, tuple[int, ...]] = {3: (0, 1, 3, 5), 5: (0, 1, 2, 3, 4, 5)}


@dataclass(frozen=True, slots=True)
class LLMGrade:
    """One LLM grade and the top of the scale it was given on (3 or 5)."""

    grade: int
    scale: int = 3

    def __post_init__(self) -> None:
        if self.scale not in TO_TRAINING:
            raise ConfigError(
                f"LLM grades are on 0-3 or 0-5, got a scale of 0-{self.scale}; re-grade with "
                "flywheel judge run --scale 3 (or 5)"
            )
        if not 0 <= self.grade <= self.scale:
            raise ConfigError(f"LLM grade {self.grade} is outside its scale 0-{self.scale}")

    @property
    def training_grade(self) -> int:
        """The grade on the 0-5 scale graded pairs use (see :data:`TO_TRAINING`)."""
        return TO_TRAINING[self.scale][self.grade]


def _stored_scale(grade: int, scale: int | None) -> int:
    if scale is not None:
        return scale
    return 3 if grade <= 3 else 5


@dataclass
class LLMLabels:
    """LLM grades ``{qid: {doc_id: LLMGrade}}`` and the grade that makes a positive."""

    grades: dict[str, dict[str, LLMGrade]] = field(default_factory=dict)
    min_relevant: int = DEFAULT_MIN_RELEVANT

    def __post_init__(self) -> None:
        if not 1 <= self.min_relevant <= 5:
            raise ConfigError(
                f"the LLM grade that makes a positive must be 1-5, got {self.min_relevant}; "
                f"{DEFAULT_MIN_RELEVANT} is TREC's (a 1 is 'related but does not answer')"
            )

    @classmethod
    def from_resolved(
        cls, resolved: Mapping[str, Mapping[str, Any]], *, min_relevant: int = DEFAULT_MIN_RELEVANT
    ) -> LLMLabels:
        """From :meth:`flywheel.store.Store.resolved_qrels`: the pairs whose grade is the LLM's."""
        grades: dict[str, dict[str, LLMGrade]] = {}
        for qid, targets in resolved.items():
            for doc_id, label in targets.items():
                if label.source == LLM_SOURCE:
                    scale = _stored_scale(label.grade, label.scale)
                    grades.setdefault(qid, {})[doc_id] = LLMGrade(label.grade, scale)
        return cls(grades, min_relevant)

    @classmethod
    def from_store(
        cls,
        store: Any,
        *,
        sources: Iterable[str] | None = None,
        min_relevant: int = DEFAULT_MIN_RELEVANT,
    ) -> LLMLabels:
        """The store's LLM grades that win their pair among ``sources`` (default: all), from
        every split (``flywheel judge`` stores them without one)."""
        sources = None if sources is None else [str(s) for s in sources]
        if sources is not None and LLM_SOURCE not in sources:
            return cls({}, min_relevant)
        return cls.from_resolved(store.resolved_qrels(sources=sources), min_relevant=min_relevant)

    def for_queries(self, qids: Iterable[str]) -> LLMLabels:
        """Only the grades of ``qids`` (the training queries)."""
        return LLMLabels(
            {q: dict(self.grades[q]) for q in qids if q in self.grades}, self.min_relevant
        )

    def is_relevant(self, qid: str, doc_id: str) -> bool:
        label = self.grades.get(qid, {}).get(doc_id)
        return label is not None and label.grade >= self.min_relevant

    def relevant(self) -> Qrels:
        """Pairs graded ``min_relevant`` or more (positives), with their grade."""
        out: Qrels = {}
        for qid, docs in self.grades.items():
            for doc_id, label in docs.items():
                if label.grade >= self.min_relevant:
                    out.setdefault(qid, {})[doc_id] = label.grade
        return out

    def related(self) -> dict[str, set[str]]:
        """Pairs graded above 0 but below ``min_relevant``: neither positives nor negatives."""
        out: dict[str, set[str]] = {}
        for qid, docs in self.grades.items():
            for doc_id, label in docs.items():
                if 0 < label.grade < self.min_relevant:
                    out.setdefault(qid, set()).add(doc_id)
        return out

    def training_grades(self) -> Qrels:
        """Every pair's grade on the 0-5 training scale (graded pairs)."""
        return {
            qid: {doc_id: label.training_grade for doc_id, label in docs.items()}
            for qid, docs in self.grades.items()
        }

    def apply(self, qrels: Qrels) -> Qrels:
        """``qrels`` with these labels in charge of their pairs: a relevant grade is set (a
        positive), any other removes the pair (an LLM's 1 or 0 is not a positive). Pass only
        pairs the LLM's grade should decide (:meth:`from_store` keeps exactly those)."""
        merged = {qid: dict(docs) for qid, docs in qrels.items()}
        for qid, docs in self.grades.items():
            for doc_id, label in docs.items():
                if label.grade >= self.min_relevant:
                    merged.setdefault(qid, {})[doc_id] = label.grade
                elif doc_id in merged.get(qid, {}):
                    del merged[qid][doc_id]
        return merged

    def __len__(self) -> int:
        return sum(len(docs) for docs in self.grades.values())

    def to_dict(self) -> dict[str, Any]:
        """What the dataset card records: counts by grade and scale, and the threshold."""
        by_grade: Counter[str] = Counter()
        for docs in self.grades.values():
            for label in docs.values():
                by_grade[f"{label.grade} of 0-{label.scale}"] += 1
        return {
            "pairs": len(self),
            "queries": len(self.grades),
            "min_relevant": self.min_relevant,
            "positives": sum(len(d) for d in self.relevant().values()),
            "related_kept_out_of_negatives": sum(len(d) for d in self.related().values()),
            "not_relevant": sum(
                1 for docs in self.grades.values() for label in docs.values() if label.grade == 0
            ),
            "by_grade": dict(sorted(by_grade.items())),
        }
