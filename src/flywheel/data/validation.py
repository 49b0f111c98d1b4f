"""The one validation model for everything that comes in: files, the HTTP API, the SDK and the
store's Python API all check events against these Pydantic models, and every record kind's
text against the same rules, so a record is accepted or refused the same way at every door.

Why one model: when the importers and the API each had their own checks, event files stored
rank 0, negative dwell times, a NaN score or a preference whose winner was its loser, all of
which the API refused, and those records then became wrong training labels.

The bounds, shared by every door:

* ids are strings of 1-256 characters; text never holds a NUL character or a lone surrogate
  (PostgreSQL refuses the first, UTF-8 cannot encode the second);
* ranks are whole numbers from 1 to :data:`MAX_RANK`; ``dwell_ms`` from 0 to one day; scores
  finite numbers; a preference's winner differs from its loser;
* timestamps (ISO 8601 or epoch seconds) lie between :data:`MIN_TIME` and :data:`MAX_TIME`;
* structured values (document metadata) hold no NaN or infinity.

A CSV/TSV cell is always text, so a delimited file's cells are first decoded
(:func:`decode_cells`: ``"3"`` to 3, ``"true"`` to True, JSON text to a list); JSON lines,
Parquet rows and API bodies already carry types and are validated as they are.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
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
    field_validator,
    model_validator,
)

from flywheel.data.events import (
    EVENT_CLASSES,
    AnswerFeedbackEvent,
    CitationEvent,
    ClickEvent,
    DocumentFeedbackEvent,
    DwellEvent,
    Event,
    EventKind,
    MoreLikeThisEvent,
    PreferenceEvent,
    ReformulationEvent,
    RetrievalEvent,
)

#: At most this many events in one request; larger logs are sent in several batches.
MAX_BATCH = 1000
#: At most this many results in one retrieval event.
MAX_RESULTS = 1000
#: The largest rank an event may name.
MAX_RANK = 100_000
#: The longest dwell time, in milliseconds (one day).
MAX_DWELL_MS = 86_400_000
#: Timestamps must fall in [MIN_TIME, MAX_TIME): older or later ones are typos or unit mistakes.
MIN_TIME = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(2100, 1, 1, tzinfo=UTC)
#: Structured values nest at most this deep (a 100k-deep JSON array is an attack, not data).
MAX_DEPTH = 32

_SURROGATE = re.compile("[\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or ``None`` when it can."""
    if "\x00" in value:
        return "contains a NUL character (\\x00), which no database stores in text"
    if _SURROGATE.search(value):
        return "contains a lone surrogate (e.g. \\ud800), which is not valid Unicode"
    return None


def _check_text(value: str) -> str:
    if problem := text_problem(value):
        raise ValueError(problem)
    return value


def value_problem(value: Any, depth: int = 0) -> str | None:
    """Why a structured value (metadata, a raw record) cannot be stored, or ``None``."""
    if depth > MAX_DEPTH:
        return f"nested more than {MAX_DEPTH} levels deep"
    if isinstance(value, float) and not math.isfinite(value):
        return f"holds {value!r}, which JSON and the store cannot keep; write a finite number"
    if isinstance(value, str):
        return text_problem(value)
    if isinstance(value, Mapping):
        for key, item in value.items():
            if problem := value_problem(str(key), depth + 1) or value_problem(item, depth + 1):
                return problem
    elif isinstance(value, list | tuple):
        for item in value:
            if problem := value_problem(item, depth + 1):
                return problem
    return None


def _check_time(moment: datetime) -> datetime:
    """Bounds checked on the calendar year first, so converting to UTC cannot overflow."""
    if not MIN_TIME.year <= moment.year < MAX_TIME.year:
        raise ValueError(f"year {moment.year} is outside {MIN_TIME.year}-{MAX_TIME.year - 1}")
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if not MIN_TIME <= moment < MAX_TIME:
        raise ValueError(f"{moment.isoformat()} is outside {MIN_TIME.year}-{MAX_TIME.year - 1}")
    return moment


Text = Annotated[StrictStr, AfterValidator(_check_text)]
Id = Annotated[Text, StringConstraints(min_length=1, max_length=256)]
EventId = Annotated[StrictStr, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")]
Rank = Annotated[StrictInt, Field(ge=1, le=MAX_RANK)]
Timestamp = Annotated[datetime, AfterValidator(_check_time)]


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


def _result_shapes(value: Any) -> Any:
    """The short forms files have always taken: ``[chunk_id, score]`` (rank = position) and
    ``{"doc_id": ...}`` / an object without ``rank``."""
    if not isinstance(value, list):
        return value
    out = []
    for position, item in enumerate(value, start=1):
        if isinstance(item, list | tuple) and len(item) == 2:
            item = [item[0], position, item[1]]
        elif isinstance(item, Mapping):
            item = dict(item)
            if "chunk_id" not in item and "doc_id" in item:
                item["chunk_id"] = item.pop("doc_id")
            item.setdefault("rank", position)
        out.append(item)
    return out


class EventIn(_Strict):
    """The header every event shares. Send your own ``event_id`` so a retry is stored once;
    without one the id is a hash of the event (then also send ``timestamp``, or a retry made
    a moment later is a different event)."""

    event_id: EventId | None = None
    session_id: Id
    qid: Id
    user_id: Id | None = None
    timestamp: Timestamp | None = Field(
        None,
        description=f"ISO 8601 or epoch seconds, {MIN_TIME.year}-{MAX_TIME.year - 1}; "
        "default: when the server receives it",
    )

    def to_record(self) -> dict[str, Any]:
        """The wire record for :func:`flywheel.store.live.records_to_events`."""
        return self.model_dump(exclude_none=True)


class RetrievalIn(EventIn):
    kind: Literal["retrieval"] = "retrieval"
    results: list[ResultItem] = Field(max_length=MAX_RESULTS)
    retriever: Annotated[Text, StringConstraints(max_length=200)] = ""
    query: Annotated[Text, StringConstraints(min_length=1, max_length=2000)] | None = Field(
        None, description="The query's text; an unknown qid is then stored as a live query"
    )

    @field_validator("results", mode="before")
    @classmethod
    def _shapes(cls, value: Any) -> Any:
        return _result_shapes(value)


class CitationIn(EventIn):
    kind: Literal["citation"] = "citation"
    chunk_ids: list[Id] = Field(min_length=1, max_length=MAX_RESULTS)


class AnswerFeedbackIn(EventIn):
    kind: Literal["answer_feedback"] = "answer_feedback"
    positive: StrictBool
    comment: Annotated[Text, StringConstraints(max_length=4000)] = ""


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
    dwell_ms: Annotated[StrictInt, Field(ge=0, le=MAX_DWELL_MS)]


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


#: Event kind -> its model; the API, the importers and the mirror test read this table.
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


def to_event(model: EventIn, *, event_id: str | None = None) -> Event:
    """The dataclass of :mod:`flywheel.data.events` for a validated model (``timestamp`` must
    be set: the caller decides what a missing one means)."""
    fields = model.model_dump(exclude={"kind", "query", "event_id"}, exclude_none=True)
    if isinstance(model, RetrievalIn):
        fields["results"] = tuple(
            (r.chunk_id, r.rank, r.score) if isinstance(r, ResultIn) else tuple(r)
            for r in model.results
        )
    if isinstance(model, CitationIn):
        fields["chunk_ids"] = tuple(model.chunk_ids)
    cls = EVENT_CLASSES[EventKind(model.kind)]
    return cls(event_id=event_id or model.event_id, **fields)


def event_to_record(event: Event) -> dict[str, Any]:
    """The wire record of an event dataclass, so the store's Python API validates it with the
    same model as the other doors."""
    record: dict[str, Any] = {
        "kind": str(event.kind),
        "session_id": event.session_id,
        "qid": event.qid,
        "timestamp": event.timestamp,
    }
    if event.event_id is not None:
        record["event_id"] = event.event_id
    if event.user_id is not None:
        record["user_id"] = event.user_id
    for name in _PAYLOAD[type(event)]:
        value = getattr(event, name)
        if isinstance(value, tuple):
            value = [list(v) if isinstance(v, tuple) else v for v in value]
        record[name] = value
    return record


_PAYLOAD: dict[type[Event], tuple[str, ...]] = {
    RetrievalEvent: ("results", "retriever"),
    CitationEvent: ("chunk_ids",),
    AnswerFeedbackEvent: ("positive", "comment"),
    DocumentFeedbackEvent: ("chunk_id", "positive"),
    ClickEvent: ("chunk_id", "rank"),
    DwellEvent: ("chunk_id", "dwell_ms"),
    ReformulationEvent: ("previous_qid",),
    MoreLikeThisEvent: ("chunk_id",),
    PreferenceEvent: ("winner", "loser"),
}

# --- delimited files: text cells to typed values --------------------------------------------

_INTEGER = re.compile(r"^[+-]?[0-9]{1,18}$")  # ASCII digits only: "²" and "--5" stay text


def _cell_int(text: str) -> Any:
    return int(text) if _INTEGER.match(text.strip()) else text


def _cell_bool(text: str) -> Any:
    lowered = text.strip().lower()
    return {"true": True, "false": False}.get(lowered, text)


def _cell_json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # left as text: the model says what is wrong
        return text


#: Event fields whose CSV/TSV cells carry a non-text value, and how to decode them.
CELL_DECODERS = {
    "rank": _cell_int,
    "dwell_ms": _cell_int,
    "positive": _cell_bool,
    "results": _cell_json,
    "chunk_ids": _cell_json,
}


def decode_cells(cells: Mapping[str, Any]) -> dict[str, Any]:
    """A CSV/TSV row as typed values: empty cells dropped (a column another kind needs)."""
    out: dict[str, Any] = {}
    for name, value in cells.items():
        if value is None or value == "":
            continue
        decode = CELL_DECODERS.get(name)
        out[name] = decode(value) if decode and isinstance(value, str) else value
    return out
