"""Interaction events as plain records: the contract between the store (which logs them) and the
training-data builders (which turn them into labels). One class per kind, all sharing a header.

Every event carries ``session_id``, optional ``user_id``, a ``timestamp`` and the ``qid`` of the
query it belongs to. ``chunk_id`` names a document or a chunk (documents are their own chunk
until a chunking strategy is applied).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum


class EventKind(StrEnum):
    RETRIEVAL = "retrieval"
    CITATION = "citation"
    ANSWER_FEEDBACK = "answer_feedback"
    DOCUMENT_FEEDBACK = "document_feedback"
    CLICK = "click"
    DWELL = "dwell"
    REFORMULATION = "reformulation"
    MORE_LIKE_THIS = "more_like_this"
    PREFERENCE = "preference"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True)
class Event:
    session_id: str
    qid: str
    user_id: str | None = None
    timestamp: datetime = field(default_factory=_now)
    event_id: str | None = None

    kind: EventKind = field(init=False, default=EventKind.RETRIEVAL)


@dataclass(frozen=True, kw_only=True)
class RetrievalEvent(Event):
    """What the app showed: ``results`` is [(chunk_id, rank, score)], rank 1 = top."""

    results: tuple[tuple[str, int, float], ...]
    retriever: str = ""
    kind: EventKind = field(init=False, default=EventKind.RETRIEVAL)


@dataclass(frozen=True, kw_only=True)
class CitationEvent(Event):
    """Chunks the generated answer cited."""

    chunk_ids: tuple[str, ...]
    kind: EventKind = field(init=False, default=EventKind.CITATION)


@dataclass(frozen=True, kw_only=True)
class AnswerFeedbackEvent(Event):
    """Thumbs up (``True``) or down (``False``) on the whole answer."""

    positive: bool
    comment: str = ""
    kind: EventKind = field(init=False, default=EventKind.ANSWER_FEEDBACK)


@dataclass(frozen=True, kw_only=True)
class DocumentFeedbackEvent(Event):
    """Thumbs up or down on one retrieved chunk."""

    chunk_id: str
    positive: bool
    kind: EventKind = field(init=False, default=EventKind.DOCUMENT_FEEDBACK)


@dataclass(frozen=True, kw_only=True)
class ClickEvent(Event):
    chunk_id: str
    rank: int
    kind: EventKind = field(init=False, default=EventKind.CLICK)


@dataclass(frozen=True, kw_only=True)
class DwellEvent(Event):
    chunk_id: str
    dwell_ms: int
    kind: EventKind = field(init=False, default=EventKind.DWELL)


@dataclass(frozen=True, kw_only=True)
class ReformulationEvent(Event):
    """The user rewrote ``previous_qid`` into ``qid``."""

    previous_qid: str
    kind: EventKind = field(init=False, default=EventKind.REFORMULATION)


@dataclass(frozen=True, kw_only=True)
class MoreLikeThisEvent(Event):
    chunk_id: str
    kind: EventKind = field(init=False, default=EventKind.MORE_LIKE_THIS)


@dataclass(frozen=True, kw_only=True)
class PreferenceEvent(Event):
    """Pairwise preference: ``winner`` judged better than ``loser`` for the query."""

    winner: str
    loser: str
    kind: EventKind = field(init=False, default=EventKind.PREFERENCE)


EVENT_CLASSES: dict[EventKind, type[Event]] = {
    EventKind.RETRIEVAL: RetrievalEvent,
    EventKind.CITATION: CitationEvent,
    EventKind.ANSWER_FEEDBACK: AnswerFeedbackEvent,
    EventKind.DOCUMENT_FEEDBACK: DocumentFeedbackEvent,
    EventKind.CLICK: ClickEvent,
    EventKind.DWELL: DwellEvent,
    EventKind.REFORMULATION: ReformulationEvent,
    EventKind.MORE_LIKE_THIS: MoreLikeThisEvent,
    EventKind.PREFERENCE: PreferenceEvent,
}
