"""The HTTP API's request and response models: one Pydantic model per event kind.

The event models mirror the dataclasses of :mod:`flywheel.data.events` field for field (a
test checks it), and are strict where a live log must be: unknown fields are refused, booleans
must be ``true``/``false`` and ranks whole numbers, so a client bug shows up as a 422 naming
the field instead of as quietly wrong training data. ``kind`` has a default, so the
``/feedback/...`` shortcuts take the same models without it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    FiniteFloat,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
    Tag,
    model_validator,
)

from flywheel.data.events import EventKind

#: At most this many events in one request; larger logs are sent in several batches.
MAX_BATCH = 1000
#: At most this many results in one retrieval event.
MAX_RESULTS = 1000

Id = Annotated[StrictStr, StringConstraints(min_length=1, max_length=256)]
EventId = Annotated[StrictStr, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")]
Rank = Annotated[StrictInt, Field(ge=1, le=100_000)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResultIn(_Strict):
    """One shown result (the list form ``[chunk_id, rank, score]`` is accepted too)."""

    chunk_id: Id
    rank: Rank
    score: FiniteFloat = 0.0


def _result_tag(value: Any) -> str:
    return "list" if isinstance(value, list | tuple) else "object"


ResultItem = Annotated[
    Annotated[ResultIn, Tag("object")] | Annotated[tuple[Id, Rank, FiniteFloat], Tag("list")],
    Discriminator(_result_tag),
]


class EventIn(_Strict):
    """The header every event shares. Send your own ``event_id`` so a retry is stored once;
    without one the id is a hash of the event (then also send ``timestamp``, or a retry made
    a moment later is a different event)."""

    event_id: EventId | None = None
    session_id: Id
    qid: Id
    user_id: Id | None = None
    timestamp: datetime | None = Field(
        None, description="ISO 8601 or epoch seconds; default: when the server receives it"
    )

    def to_record(self) -> dict[str, Any]:
        """The wire record for :func:`flywheel.store.live.records_to_events`."""
        return self.model_dump(exclude_none=True)


class RetrievalIn(EventIn):
    kind: Literal["retrieval"] = "retrieval"
    results: list[ResultItem] = Field(max_length=MAX_RESULTS)
    retriever: Annotated[StrictStr, StringConstraints(max_length=200)] = ""
    query: Annotated[StrictStr, StringConstraints(min_length=1, max_length=2000)] | None = Field(
        None, description="The query's text; an unknown qid is then stored as a live query"
    )


class CitationIn(EventIn):
    kind: Literal["citation"] = "citation"
    chunk_ids: list[Id] = Field(min_length=1, max_length=MAX_RESULTS)


class AnswerFeedbackIn(EventIn):
    kind: Literal["answer_feedback"] = "answer_feedback"
    positive: StrictBool
    comment: Annotated[StrictStr, StringConstraints(max_length=4000)] = ""


class DocumentFeedbackIn(EventIn):
    kind: Literal["document_feedback"] = "document_feedback"
    chunk_id: Id
    positive: StrictBool


class ClickIn(EventIn):
    kind: Literal["click"] = "click"
    chunk_id: Id
    rank: Rank


class DwellIn(EventIn):
    kind: Literal["dwell"] = "dwell"
    chunk_id: Id
    dwell_ms: Annotated[StrictInt, Field(ge=0, le=86_400_000)]


class ReformulationIn(EventIn):
    kind: Literal["reformulation"] = "reformulation"
    previous_qid: Id


class MoreLikeThisIn(EventIn):
    kind: Literal["more_like_this"] = "more_like_this"
    chunk_id: Id


class PreferenceIn(EventIn):
    kind: Literal["preference"] = "preference"
    winner: Id
    loser: Id

    @model_validator(mode="after")
    def _different(self) -> PreferenceIn:
        if self.winner == self.loser:
            raise ValueError("winner and loser are the same chunk; a preference needs two")
        return self


#: Event kind -> its model; the API and the mirror test read this table.
EVENT_MODELS: dict[EventKind, type[EventIn]] = {
    EventKind.RETRIEVAL: RetrievalIn,
    EventKind.CITATION: CitationIn,
    EventKind.ANSWER_FEEDBACK: AnswerFeedbackIn,
    EventKind.DOCUMENT_FEEDBACK: DocumentFeedbackIn,
    EventKind.CLICK: ClickIn,
    EventKind.DWELL: DwellIn,
    EventKind.REFORMULATION: ReformulationIn,
    EventKind.MORE_LIKE_THIS: MoreLikeThisIn,
    EventKind.PREFERENCE: PreferenceIn,
}

AnyEvent = Annotated[
    RetrievalIn
    | CitationIn
    | AnswerFeedbackIn
    | DocumentFeedbackIn
    | ClickIn
    | DwellIn
    | ReformulationIn
    | MoreLikeThisIn
    | PreferenceIn,
    Field(discriminator="kind"),
]


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
