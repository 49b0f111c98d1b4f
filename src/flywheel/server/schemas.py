"""The HTTP API's request and response models. The event models live in
:mod:`flywheel.data.validation`, shared with the importers, the SDK and the store's API.

The event models mirror the dataclasses of :mod:`flywheel.data.events` field for field (a
test checks it), and are strict where a live log must be: unknown fields are refused, booleans
must be ``true``/``false`` and ranks whole numbers, so a client bug shows up as a 422 naming
the field instead of as quietly wrong training data. ``kind`` has a default, so the
``/feedback/...`` shortcuts take the same models without it.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, StrictStr, StringConstraints, Tag

from flywheel.data.validation import (
    EVENT_MODELS,
    MAX_BATCH,
    MAX_RESULTS,
    AnswerFeedbackIn,
    AnyEvent,
    CitationIn,
    ClickIn,
    DocumentFeedbackIn,
    DwellIn,
    EventId,
    EventIn,
    Id,
    MoreLikeThisIn,
    PreferenceIn,
    ReformulationIn,
    ResultIn,
    RetrievalIn,
)

__all__ = [
    "EVENT_MODELS",
    "MAX_BATCH",
    "MAX_RESULTS",
    "AnswerFeedbackIn",
    "AnyEvent",
    "CitationIn",
    "ClickIn",
    "DocumentFeedbackIn",
    "DwellIn",
    "EventBatch",
    "EventIn",
    "EventsBody",
    "MoreLikeThisIn",
    "PreferenceIn",
    "ReformulationIn",
    "ResultIn",
    "RetrievalIn",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EventBatch(_Strict):
    """Several events, stored all or nothing."""

    events: list[AnyEvent] = Field(min_length=1, max_length=MAX_BATCH)


def _body_tag(value: Any) -> str:
    if isinstance(value, EventBatch):
        return "batch"
    return "batch" if isinstance(value, dict) and "events" in value else "event"


EventsBody = Annotated[
    Annotated[EventBatch, Tag("batch")] | Annotated[AnyEvent, Tag("event")],
    Discriminator(_body_tag),
]


# --- responses and the page's own requests ------------------------------------------------


class StoredResponse(BaseModel):
    """What a write did: new events, events already stored (a retry), and every id."""

    added: int
    unchanged: int
    event_ids: list[str]


class SearchResult(BaseModel):
    rank: int
    chunk_id: str
    title: str
    snippet: str
    highlights: list[tuple[int, int]] = Field(
        description="[start, end) character offsets of query words in the snippet"
    )
    score: float


class SearchResponse(BaseModel):
    qid: str
    query: str
    session_id: str
    retriever: str
    event_id: str = Field(description="The logged retrieval event")
    results: list[SearchResult]


class CompareSide(BaseModel):
    retriever: str
    event_id: str
    results: list[SearchResult]


class CompareResponse(BaseModel):
    qid: str
    query: str
    session_id: str
    sides: list[CompareSide] = Field(description="Two sides, in random order")


class CompareVote(_Strict):
    """The user found the results of retrieval event ``winner`` better than ``loser``'s."""

    session_id: Id
    qid: Id
    winner: EventId
    loser: EventId
    user_id: Id | None = None


class DocumentOut(BaseModel):
    chunk_id: str
    title: str
    text: str


class SimilarResponse(BaseModel):
    chunk_id: str
    results: list[SearchResult]


class ServerInfo(BaseModel):
    retrievers: list[str]
    compare: bool = Field(description="Two or more retrievers: the side-by-side mode is on")
    auth: bool = Field(description="Writes need the bearer token (or the page's login)")
    k: int
    version: str


class Login(_Strict):
    token: Annotated[StrictStr, StringConstraints(min_length=1, max_length=1000)]
