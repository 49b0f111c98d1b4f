"""``POST /feedback/...``: one event of one kind, without spelling out ``kind``.

Each shortcut takes the kind's model from :mod:`flywheel.server.schemas` (so the same
validation as ``POST /events``), and ``/feedback/compare`` turns a side-by-side vote into
pairwise preferences (:mod:`flywheel.server.compare`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from flywheel.data.events import EventKind, RetrievalEvent
from flywheel.server.auth import Authorized
from flywheel.server.compare import preference_events
from flywheel.server.errors import ApiError
from flywheel.server.schemas import EVENT_MODELS, CompareVote, EventIn, StoredResponse

router = APIRouter(prefix="/feedback", tags=["feedback"], dependencies=[Authorized])

#: path -> (kind, what it records)
SHORTCUTS: dict[str, tuple[EventKind, str]] = {
    "answer": (EventKind.ANSWER_FEEDBACK, "Thumbs up/down on the whole answer or result list"),
    "document": (EventKind.DOCUMENT_FEEDBACK, "Thumbs up/down on one result"),
    "click": (EventKind.CLICK, "The user opened a result"),
    "dwell": (EventKind.DWELL, "Time spent on an opened result (ms)"),
    "more-like-this": (EventKind.MORE_LIKE_THIS, "The user asked for more like a result"),
    "preference": (EventKind.PREFERENCE, "One chunk judged better than another"),
    "citation": (EventKind.CITATION, "Chunks a generated answer cited"),
}


def _shortcut(model: type[EventIn]) -> object:
    async def endpoint(request: Request, event: EventIn) -> StoredResponse:
        writer = request.app.state.writer
        stored = await run_in_threadpool(writer.write, [event.to_record()], batch=False)
        return StoredResponse(**stored.to_dict())

    # FastAPI reads the body model from the annotation; set it to this kind's model.
    endpoint.__annotations__ = {"request": Request, "event": model, "return": StoredResponse}
    return endpoint


for path, (kind, summary) in SHORTCUTS.items():
    router.add_api_route(
        f"/{path}",
        _shortcut(EVENT_MODELS[kind]),  # type: ignore[arg-type]
        methods=["POST"],
        response_model=StoredResponse,
        summary=summary,
        name=f"feedback_{kind}",
    )


@router.post("/compare", response_model=StoredResponse, summary="Vote in the side-by-side mode")
def compare_vote(request: Request, vote: CompareVote) -> StoredResponse:
    """The results of retrieval event ``winner`` were better than ``loser``'s (both logged by
    ``GET /compare`` for this session and query): stored as pairwise preferences. A retried
    vote is stored once."""
    if vote.winner == vote.loser:
        raise ApiError(422, "winner and loser are the same retrieval event", "loser")
    logged = request.app.state.store.events(qid=vote.qid, session_id=vote.session_id)
    shown = {e.event_id: e for e in logged if isinstance(e, RetrievalEvent)}
    for field, event_id in (("winner", vote.winner), ("loser", vote.loser)):
        if event_id not in shown:
            raise ApiError(
                422,
                f"no retrieval event '{event_id}' for query '{vote.qid}' in this session; "
                "vote with the event_ids GET /compare returned",
                field,
            )
    events = preference_events(
        session_id=vote.session_id,
        qid=vote.qid,
        winner_event=vote.winner,
        loser_event=vote.loser,
        winner=[cid for cid, _, _ in shown[vote.winner].results],
        loser=[cid for cid, _, _ in shown[vote.loser].results],
        user_id=vote.user_id,
    )
    stored_ids = {e.event_id for e in logged}
    new = [e for e in events if e.event_id not in stored_ids]
    added = request.app.state.writer.write_events(new).added if new else 0
    return StoredResponse(
        added=added,
        unchanged=len(events) - added,
        event_ids=[str(e.event_id) for e in events],
    )
