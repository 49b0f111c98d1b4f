"""``GET /search``, ``GET /compare``, ``GET /similar/...`` and ``GET /documents/...``.

A search is a write: what the user was shown is logged as a retrieval event (with the query
stored as a ``live`` query and, when the page says which query came before in the session, a
reformulation event) before the results are returned.
"""

from __future__ import annotations

import random
from typing import Annotated

from fastapi import APIRouter, Query, Request

from flywheel.data.events import Event, ReformulationEvent, RetrievalEvent
from flywheel.server.auth import Authorized
from flywheel.server.engine import SearchEngine
from flywheel.server.errors import ApiError
from flywheel.server.schemas import (
    CompareResponse,
    CompareSide,
    DocumentOut,
    SearchResponse,
    SearchResult,
    SimilarResponse,
)
from flywheel.server.snippets import make_snippet
from flywheel.server.writer import EventWriter
from flywheel.store.live import live_qid, new_event_id, normalize_query

router = APIRouter(tags=["search"], dependencies=[Authorized])

QueryText = Annotated[str, Query(min_length=1, max_length=2000, description="The query")]
K = Annotated[int | None, Query(ge=1, le=100, description="Results (default: server's k)")]
OptionalId = Annotated[str | None, Query(min_length=1, max_length=256)]


def results_for(
    engine: SearchEngine, found: list[tuple[str, float]], query: str
) -> list[SearchResult]:
    out = []
    for rank, (chunk_id, score) in enumerate(found, start=1):
        doc = engine.document(chunk_id)
        snippet, spans = make_snippet(doc.text or doc.title, query)
        out.append(
            SearchResult(
                rank=rank,
                chunk_id=chunk_id,
                title=doc.title or chunk_id,
                snippet=snippet,
                highlights=spans,
                score=float(score),
            )
        )
    return out


def _retrieval(
    session: str, qid: str, user: str | None, name: str, found: list[tuple[str, float]]
) -> RetrievalEvent:
    return RetrievalEvent(
        event_id=new_event_id(),
        session_id=session,
        qid=qid,
        user_id=user,
        retriever=name,
        results=tuple((cid, rank, float(s)) for rank, (cid, s) in enumerate(found, start=1)),
    )


def _log(
    writer: EventWriter,
    events: list[Event],
    *,
    qid: str,
    text: str,
    session: str,
    previous_qid: str | None,
    user: str | None,
) -> None:
    """Store the retrieval events (and the reformulation) with the live query, or refuse."""
    if previous_qid and previous_qid != qid:
        events.append(
            ReformulationEvent(
                event_id=new_event_id(),
                session_id=session,
                qid=qid,
                user_id=user,
                previous_qid=previous_qid,
            )
        )
    try:
        writer.write_events(events, queries={qid: text})
    except ApiError as exc:
        field = "previous_qid" if previous_qid and "unknown query" in str(exc) else exc.field
        raise ApiError(exc.status, str(exc), field) from None


def _query(q: str) -> str:
    text = normalize_query(q)
    if not text:
        raise ApiError(422, "the query is blank; type some words", "q")
    return text


@router.get("/search", response_model=SearchResponse, summary="Search and log what was shown")
def search(
    request: Request,
    q: QueryText,
    k: K = None,
    session_id: OptionalId = None,
    user_id: OptionalId = None,
    previous_qid: Annotated[
        str | None, Query(max_length=256, description="The session's previous query")
    ] = None,
    retriever: Annotated[str | None, Query(description="A configured retriever")] = None,
) -> SearchResponse:
    state = request.app.state
    text = _query(q)
    session, qid = session_id or new_event_id(), live_qid(text)
    name = retriever or state.engine.default
    found = state.engine.search(text, k or state.k, name)
    event = _retrieval(session, qid, user_id, name, found)
    _log(
        state.writer, [event], qid=qid, text=text, session=session,
        previous_qid=previous_qid, user=user_id,
    )  # fmt: skip
    return SearchResponse(
        qid=qid,
        query=text,
        session_id=session,
        retriever=name,
        event_id=str(event.event_id),
        results=results_for(state.engine, found, text),
    )


@router.get("/compare", response_model=CompareResponse, summary="Two retrievers side by side")
def compare(
    request: Request,
    q: QueryText,
    k: K = None,
    session_id: OptionalId = None,
    user_id: OptionalId = None,
    previous_qid: Annotated[str | None, Query(max_length=256)] = None,
    a: Annotated[str | None, Query(description="First retriever (default: the first)")] = None,
    b: Annotated[str | None, Query(description="Second retriever (default: the second)")] = None,
) -> CompareResponse:
    """Both result lists, in random left/right order so position does not pick the winner;
    both are logged as retrieval events. Vote with ``POST /feedback/compare``."""
    state = request.app.state
    engine: SearchEngine = state.engine
    if len(engine.names) < 2:
        raise ApiError(
            400,
            "compare mode needs two retrievers; start the server with two --retriever options",
        )
    names = [a or engine.names[0], b or engine.names[1]]
    if names[0] == names[1]:
        raise ApiError(422, "pick two different retrievers", "b")
    text = _query(q)
    session, qid = session_id or new_event_id(), live_qid(text)
    found = [engine.search(text, k or state.k, name) for name in names]
    events = [_retrieval(session, qid, user_id, n, f) for n, f in zip(names, found, strict=True)]
    _log(
        state.writer, list(events), qid=qid, text=text, session=session,
        previous_qid=previous_qid, user=user_id,
    )  # fmt: skip
    sides = [
        CompareSide(retriever=n, event_id=str(e.event_id), results=results_for(engine, f, text))
        for n, e, f in zip(names, events, found, strict=True)
    ]
    random.shuffle(sides)
    return CompareResponse(qid=qid, query=text, session_id=session, sides=sides)


@router.get("/similar/{chunk_id:path}", response_model=SimilarResponse, summary="More like this")
def similar(
    request: Request, chunk_id: str, k: Annotated[int, Query(ge=1, le=50)] = 5
) -> SimilarResponse:
    """Documents like this one (read only: log the click on "more like this" with
    ``POST /feedback/more-like-this``)."""
    engine: SearchEngine = request.app.state.engine
    doc = engine.document(chunk_id)
    found = engine.similar(chunk_id, k)
    return SimilarResponse(chunk_id=chunk_id, results=results_for(engine, found, doc.title))


@router.get("/documents/{chunk_id:path}", response_model=DocumentOut, summary="One document")
def document(request: Request, chunk_id: str) -> DocumentOut:
    doc = request.app.state.engine.document(chunk_id)
    return DocumentOut(chunk_id=chunk_id, title=doc.title, text=doc.text)
