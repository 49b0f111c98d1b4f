"""``POST /events``: one event, or ``{"events": [...]}`` stored all or nothing."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request
from starlette.concurrency import run_in_threadpool

from flywheel.server.auth import Authorized
from flywheel.server.schemas import EventBatch, EventsBody, StoredResponse

router = APIRouter(tags=["events"], dependencies=[Authorized])


@router.post(
    "/events",
    response_model=StoredResponse,
    summary="Log one event or a batch",
    responses={
        401: {"description": "Missing or wrong bearer token"},
        409: {"description": "An event_id is already stored with different content"},
        413: {"description": "The body is over the size limit"},
        422: {"description": "A bad event; `field` names it, e.g. events[2].rank"},
    },
)
async def post_events(request: Request, body: Annotated[EventsBody, Body()]) -> StoredResponse:
    """Validate every event, then store them in one transaction, committed before this
    returns. Retrying with the same ``event_id`` (and content) stores nothing twice: the
    response counts it as ``unchanged``."""
    batch = isinstance(body, EventBatch)
    events = body.events if batch else [body]
    records = [e.to_record() for e in events]
    # the only blocking step runs in a worker thread; the rest stays on the event loop
    stored = await run_in_threadpool(request.app.state.writer.write, records, batch=batch)
    return StoredResponse(**stored.to_dict())
