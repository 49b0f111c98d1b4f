"""The one way the server writes events: validated, committed before the response is sent,
and group-committed.

Each request's events are one unit, stored all or nothing. Requests that arrive while a
commit is running wait for it, and the next writer (the "leader") then stores all of them in
one transaction: a lone request is written at once, and under load one commit serves many
requests, which is what makes single-event requests fast on SQLite (one writer at a time, and a
commit costs more than the insert). If any request in a group is bad, the group is rolled back
and its requests are written one by one, so only the bad one fails. Nobody is answered before
the transaction holding their events has committed.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError, OperationalError

from flywheel.data.events import Event
from flywheel.errors import DataFormatError
from flywheel.server.errors import ApiError
from flywheel.store import Store
from flywheel.store.live import RecordsError, log_event_groups, records_to_events

#: The ``source`` the store names in its errors for the live queries of a write.
_QUERIES_SOURCE = "log_events(): queries"
#: A leader takes at most this many events into one transaction.
MAX_GROUP_EVENTS = 5000


@dataclass(frozen=True)
class Stored:
    added: int
    unchanged: int
    event_ids: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"added": self.added, "unchanged": self.unchanged, "event_ids": self.event_ids}


@dataclass(eq=False)
class _Job:
    events: list[Event]
    queries: Mapping[str, str]
    done: bool = False
    counts: tuple[int, int] = (0, 0)
    error: BaseException | None = None
    size: int = field(init=False)

    def __post_init__(self) -> None:
        self.size = max(1, len(self.events))


class EventWriter:
    """``write(records)`` validates wire records and stores them all or none."""

    def __init__(self, store: Store, *, field_prefix: str = "events") -> None:
        self.store = store
        self.field_prefix = field_prefix
        self._cv = threading.Condition()
        self._pending: list[_Job] = []
        self._leading = False
        self.commits = 0  # transactions written (a group counts once); for tests and stats

    def _where(self, index: int, field: str | None, many: bool) -> str:
        inner = field or "event"
        return f"{self.field_prefix}[{index}].{inner}" if many else inner

    def write(
        self,
        records: Sequence[Mapping[str, Any]],
        *,
        batch: bool = True,
        now: datetime | None = None,
    ) -> Stored:
        """Store ``records``; raises :class:`ApiError` (422) naming the record and field
        (``events[2].rank`` for a ``batch``, ``rank`` for a single event)."""
        try:
            events, queries = records_to_events(records, now=now)
        except RecordsError as exc:
            raise ApiError(
                422,
                f"{exc.error.problem}; {exc.error.fix}",
                self._where(exc.index, exc.error.field, batch),
            ) from None
        return self.write_events(events, queries=queries, many=batch)

    def write_events(
        self, events: list[Event], *, queries: Mapping[str, str] | None = None, many: bool = True
    ) -> Stored:
        """Store validated events (every one must carry its ``event_id``)."""
        job = _Job(list(events), dict(queries or {}))
        self._run(job)
        if isinstance(job.error, DataFormatError):
            raise self._refusal(job.error, many) from None
        if job.error is not None:
            raise job.error
        added, unchanged = job.counts
        return Stored(added, unchanged, [str(e.event_id) for e in events])

    def _refusal(self, exc: DataFormatError, many: bool) -> ApiError:
        if exc.path == _QUERIES_SOURCE:
            return ApiError(422, f"{exc.problem}; {exc.fix}", "query")
        index = (exc.line or 1) - 1
        if exc.field is None and "already stored" in exc.problem:  # the id, not a field
            return ApiError(
                409,
                f"event {exc.problem}; a retry must resend the event unchanged (same "
                "timestamp), and a new event needs a new event_id",
                self._where(index, "event_id", many),
            )
        field = exc.field or ("event_id" if "already" in exc.problem else None)
        return ApiError(422, f"{exc.problem}; {exc.fix}", self._where(index, field, many))

    # --- group commit ----------------------------------------------------------------------

    def _run(self, job: _Job) -> None:
        """Queue ``job``; lead a commit when nobody else is, else wait to be written."""
        with self._cv:
            self._pending.append(job)
            while not job.done:
                if self._leading:
                    self._cv.wait()
                    continue
                self._leading = True
                group = self._take()
                self._cv.release()
                try:
                    self._write(group)
                finally:
                    self._cv.acquire()
                    self._leading = False
                    self._cv.notify_all()

    def _take(self) -> list[_Job]:
        group, total = [], 0
        while self._pending and (not group or total + self._pending[0].size <= MAX_GROUP_EVENTS):
            job = self._pending.pop(0)
            group.append(job)
            total += job.size
        return group

    def _write(self, group: list[_Job]) -> None:
        """Write ``group`` in one transaction, or one by one if that fails; never raises."""
        try:
            if len(group) > 1:
                try:
                    counts = log_event_groups(
                        self.store.engine, [(job.events, job.queries) for job in group]
                    )
                    self.commits += 1
                    for job, job_counts in zip(group, counts, strict=True):
                        job.counts = job_counts
                    return
                except (DataFormatError, IntegrityError, OperationalError):
                    pass  # some request is bad (or raced): write them one by one
            for job in group:
                try:
                    report = self.store.log_events(job.events, queries=job.queries)
                    self.commits += 1
                    job.counts = (report.added, report.unchanged + report.duplicates)
                except Exception as exc:  # handed to the request's own thread
                    job.error = exc
        except BaseException as exc:  # e.g. KeyboardInterrupt: nobody may wait forever
            for job in group:
                job.error = job.error or exc
            raise
        finally:
            for job in group:
                job.done = True
