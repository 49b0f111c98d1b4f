"""A synthetic question and what became of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flywheel._internal.hashing import text_hash


@dataclass
class SyntheticPair:
    """A generated ``question`` for ``doc_id``; ``positive`` is the text to train it against.

    For the LLM generator the positive is the source passage; for the inverse cloze task it is
    the passage *without* the sentence that became the question (training on a passage that
    still holds the question verbatim teaches copying, not retrieval).
    """

    question: str
    doc_id: str
    positive: str
    generator: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def qid(self) -> str:
        return f"syn-{self.generator}-{text_hash(self.doc_id + '|' + self.question)[:12]}"


@dataclass
class Rejection:
    """A pair a filter threw away, and why (stored in ``synthetic_rejections``)."""

    pair: SyntheticPair
    reason: str  # the filter's name
    detail: str

    def to_row(self) -> dict[str, Any]:
        return {
            "text": self.pair.question,
            "doc_id": self.pair.doc_id,
            "generator": self.pair.generator,
            "reason": self.reason,
            "detail": self.detail,
        }
