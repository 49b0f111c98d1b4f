"""``flywheel.Logger``: log what a live RAG app showed and what its users did.

::

    log = flywheel.Logger("http://127.0.0.1:8000", token=os.environ["FLYWHEEL_TOKEN"])
    # or Logger("flywheel.db") / Logger(store): straight into a store, no server
    log.log_retrieval(session, qid, [("doc-7", 12.1), ("doc-2", 9.8)], "bm25", query=text)
    log.log_citations(session, qid, ["doc-7"])
    log.log_feedback(session, qid, True)          # on the answer; chunk_id= for one document
    log.close()                                   # or: with flywheel.Logger(...) as log:

Each ``log_*`` call stamps the event with its own ``event_id`` and ``timestamp`` and buffers
it; batches go out when ``batch_size`` events are waiting, every ``flush_interval`` seconds
(a background thread), on :meth:`Logger.flush` and on :meth:`Logger.close` (also at exit).
A failed send is retried with the *same* records, so a retry after a lost response stores
nothing twice. Logging never blocks the app on the network unless the buffer is full.

Nothing is lost in silence. A refused batch is split until only its bad events are left out
(:mod:`flywheel.sdk.delivery`); those are appended to a local spool file
(:mod:`flywheel.sdk.spool`), handed to ``on_refused`` and logged as a warning, and
:meth:`Logger.close` returns a :class:`LoggerReport` counting them. ``log()`` raises only for an
event it did not keep (the buffer is full and the target unreachable), so an app that retries
on that error never stores an event twice.
"""

from __future__ import annotations

import atexit
import logging
import threading
import uuid
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flywheel.errors import ConfigError
from flywheel.sdk.delivery import Outcome, PartialDelivery, Refusal, deliver
from flywheel.sdk.spool import Spool, default_spool
from flywheel.sdk.transport import (
    CaptureError,
    HTTPTransport,
    StoreTransport,
    TransientError,
    Transport,
)

if TYPE_CHECKING:
    from flywheel.store import Store

log = logging.getLogger(__name__)

#: ``{chunk_id: score}``, or ``[(chunk_id, score), ...]`` best first.
Results = Mapping[str, float] | Sequence[tuple[str, float]]

_open: weakref.WeakSet[Logger] = weakref.WeakSet()
_atexit_registered = False


def _close_all() -> None:
    for logger in list(_open):
        logger.close(raise_errors=False)


def _transport(target: Any, token: str | None, options: dict[str, Any]) -> Transport:
    if isinstance(target, str) and target.startswith(("http://", "https://")):
        return HTTPTransport(target, token=token, **options)
    if options or token is not None:
        given = ", ".join([*options, *(["token"] if token is not None else [])])
        raise ConfigError(f"{given}: only for logging to a server URL (http://...)")
    if isinstance(target, str | Path):
        from flywheel.store import Store  # SQLAlchemy loads only when a store is used

        return StoreTransport(Store(str(target)), owned=True)
    if hasattr(target, "log_events"):
        return StoreTransport(target)
    if hasattr(target, "send"):
        return target
    raise ConfigError(
        f"cannot log to {target!r}; give a server URL (http://...), a store path or URL, "
        "or a flywheel.store.Store"
    )


@dataclass(frozen=True)
class LoggerReport:
    """What a Logger did: events stored, refused (in ``spool``), and still unsent."""

    sent: int
    refused: int
    pending: int
    spool: str | None

    def summary(self) -> str:
        text = f"{self.sent} events stored, {self.refused} refused"
        if self.refused and self.spool:
            text += f" (kept in {self.spool})"
        if self.pending:
            text += f", {self.pending} not delivered"
        return text


class BufferFullError(TransientError):
    """The buffer is full and the target unreachable: this event was *not* kept."""


_DEFAULT = object()


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _event_id() -> str:
    return uuid.uuid4().hex


class Logger:
    """Buffered, retrying event logger for a store (path, URL or ``Store``) or a server URL.

    ``token`` defaults to nothing (pass ``os.environ["FLYWHEEL_TOKEN"]``). ``flush_interval``
    ``None`` turns the background thread off: batches then go out only when ``batch_size``
    is reached and on ``flush()``/``close()``. ``timeout``, ``max_retries`` and ``backoff``
    tune the HTTP transport.

    ``spool`` is the file refused events are appended to (default: ``$FLYWHEEL_SPOOL`` or
    ``./flywheel-refused-events.jsonl``, created only when needed; ``None`` keeps them in
    memory only); ``on_refused`` is called with each group of :class:`Refusal`.
    """

    def __init__(
        self,
        target: str | Path | Store | Transport,
        *,
        token: str | None = None,
        batch_size: int = 100,
        flush_interval: float | None = 1.0,
        max_buffer: int = 10_000,
        user_id: str | None = None,
        spool: str | Path | None = _DEFAULT,  # type: ignore[assignment]
        on_refused: Callable[[list[Refusal]], None] | None = None,
        **http_options: Any,
    ) -> None:
        global _atexit_registered
        if batch_size < 1 or max_buffer < batch_size:
            raise ConfigError("batch_size must be >= 1 and max_buffer >= batch_size")
        self.transport = _transport(target, token, http_options)
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_buffer = max_buffer
        self.user_id = user_id
        #: Events the target acknowledged as stored (exact: counted per acknowledged send).
        self.sent = 0
        #: Events refused for good, each with its reason; their neighbours were still sent.
        self.rejected: list[Refusal] = []
        self.spool = Spool(default_spool() if spool is _DEFAULT else spool) if spool else None
        self.on_refused = on_refused
        self._buffer: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        _open.add(self)
        if not _atexit_registered:
            atexit.register(_close_all)
            _atexit_registered = True

    # --- the events ----------------------------------------------------------------------

    def log(self, kind: str, session_id: str, qid: str, **fields: Any) -> str:
        """Log one event of ``kind`` with its fields; returns its ``event_id``."""
        if self._closed:
            raise CaptureError("this Logger is closed; create a new one")
        record: dict[str, Any] = {
            "kind": str(kind),
            "event_id": fields.pop("event_id", None) or _event_id(),
            "session_id": session_id,
            "qid": qid,
            "timestamp": _timestamp(fields.pop("timestamp", None)),
        }
        user = fields.pop("user_id", None) or self.user_id
        if user is not None:
            record["user_id"] = user
        record.update({k: v for k, v in fields.items() if v is not None})
        if self.pending >= self.max_buffer:
            self._make_room()
        with self._lock:
            self._buffer.append(record)
            waiting = len(self._buffer)
        if waiting >= self.batch_size and self.flush_interval is None:
            self._flush_quietly()  # the event is kept: a failure here is not the caller's
        elif waiting >= self.batch_size:
            self._wake.set()
        self._ensure_thread()
        return record["event_id"]

    def _make_room(self) -> None:
        """Flush in the caller's thread; raise *before* keeping the event if that fails."""
        try:
            self.flush()
        except TransientError as exc:
            if self.pending >= self.max_buffer:
                raise BufferFullError(
                    f"{self.pending} events are waiting and the target is unreachable "
                    f"({exc}); this event was not logged"
                ) from None

    def log_retrieval(
        self,
        session_id: str,
        qid: str,
        results: Results,
        retriever: str = "",
        *,
        query: str | None = None,
        **header: Any,
    ) -> str:
        """What the app showed; with ``query`` (its text) a new ``qid`` is stored as a live
        query."""
        ranked = (
            sorted(results.items(), key=lambda kv: -kv[1])
            if isinstance(results, Mapping)
            else list(results)
        )
        rows = [[str(cid), rank, float(score)] for rank, (cid, score) in enumerate(ranked, 1)]
        return self.log(
            "retrieval", session_id, qid, results=rows, retriever=retriever, query=query, **header
        )

    def log_citations(
        self, session_id: str, qid: str, chunk_ids: Iterable[str], **header: Any
    ) -> str:
        """The chunks the generated answer cited."""
        return self.log(
            "citation", session_id, qid, chunk_ids=[str(c) for c in chunk_ids], **header
        )

    def log_feedback(
        self,
        session_id: str,
        qid: str,
        positive: bool,
        *,
        chunk_id: str | None = None,
        comment: str = "",
        **header: Any,
    ) -> str:
        """Thumbs up/down: on one chunk when ``chunk_id`` is given, else on the answer."""
        if chunk_id is not None:
            return self.log(
                "document_feedback", session_id, qid, chunk_id=chunk_id, positive=positive, **header
            )
        return self.log(
            "answer_feedback", session_id, qid, positive=positive, comment=comment, **header
        )

    def log_click(self, session_id: str, qid: str, chunk_id: str, rank: int, **header: Any) -> str:
        return self.log("click", session_id, qid, chunk_id=chunk_id, rank=rank, **header)

    def log_dwell(
        self, session_id: str, qid: str, chunk_id: str, dwell_ms: int, **header: Any
    ) -> str:
        """Time spent on an opened chunk, in milliseconds."""
        return self.log(
            "dwell", session_id, qid, chunk_id=chunk_id, dwell_ms=int(dwell_ms), **header
        )

    def log_reformulation(self, session_id: str, qid: str, previous_qid: str, **header: Any) -> str:
        """The user rewrote ``previous_qid`` into ``qid`` (log ``qid``'s retrieval first)."""
        return self.log("reformulation", session_id, qid, previous_qid=previous_qid, **header)

    def log_more_like_this(self, session_id: str, qid: str, chunk_id: str, **header: Any) -> str:
        return self.log("more_like_this", session_id, qid, chunk_id=chunk_id, **header)

    def log_preference(
        self, session_id: str, qid: str, winner: str, loser: str, **header: Any
    ) -> str:
        """``winner`` judged better than ``loser`` for the query."""
        return self.log("preference", session_id, qid, winner=winner, loser=loser, **header)

    # --- sending ---------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Events logged but not yet stored."""
        with self._lock:
            return len(self._buffer)

    def flush(self) -> int:
        """Send everything buffered, oldest first, in batches; returns how many were stored.

        A refused batch is split so only its bad events are set aside (see
        :attr:`rejected`, the spool file and ``on_refused``); this never raises for them.
        Raises :class:`TransientError` when the target stays unreachable: the events not yet
        settled stay buffered for the next flush.
        """
        stored = 0
        with self._send_lock:
            while True:
                with self._lock:
                    batch = self._buffer[: self.batch_size]
                if not batch:
                    break
                try:
                    outcome = deliver(self.transport, batch)
                except PartialDelivery as exc:
                    stored += self._settle(exc.outcome)
                    raise TransientError(str(exc)) from None
                stored += self._settle(outcome)
        return stored

    def _settle(self, outcome: Outcome) -> int:
        """Drop stored and refused records from the buffer; count, spool and report."""
        done = {id(record) for record in outcome.stored}
        done.update(id(r.record) for r in outcome.refused)
        with self._lock:
            self._buffer = [record for record in self._buffer if id(record) not in done]
            self.sent += len(outcome.stored)
            self.rejected.extend(outcome.refused)
        if outcome.refused:
            self._report_refused(outcome.refused)
        return len(outcome.stored)

    def _report_refused(self, refused: list[Refusal]) -> None:
        where = "memory only (spool=None)"
        if self.spool is not None:
            try:
                self.spool.write(refused)
                where = str(self.spool.path)
            except OSError as exc:
                where = f"memory only (cannot write {self.spool.path}: {exc})"
        log.warning(
            "%d events refused and set aside in %s; first: %s",
            len(refused),
            where,
            refused[0].reason,
        )
        if self.on_refused is not None:
            try:
                self.on_refused(list(refused))
            except Exception:  # the app's callback must not break logging
                log.exception("on_refused callback failed")

    def _flush_quietly(self) -> None:
        try:
            self.flush()
        except TransientError as exc:
            log.warning("%s", exc)

    def report(self) -> LoggerReport:
        return LoggerReport(
            sent=self.sent,
            refused=len(self.rejected),
            pending=self.pending,
            spool=str(self.spool.path) if self.spool and self.rejected else None,
        )

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            if self.pending:
                self._flush_quietly()

    def _ensure_thread(self) -> None:
        if self.flush_interval is None or self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="flywheel-logger", daemon=True
                )
                self._thread.start()

    def close(self, *, raise_errors: bool = True) -> LoggerReport:
        """Send what is buffered, stop the background thread and say what happened.

        Events still unsent because the target is unreachable are written to the spool too
        (so they survive the process) and, with ``raise_errors``, a :class:`TransientError`
        is raised after that.
        """
        if self._closed:
            return self.report()
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        failure: TransientError | None = None
        try:
            self.flush()
        except TransientError as exc:
            failure = exc
        finally:
            self.transport.close()
            _open.discard(self)
        report = self.report()
        if failure is not None:
            with self._lock:
                unsent, self._buffer = self._buffer, []
            kept = "in memory only"
            if self.spool is not None and unsent:
                reason = f"not delivered before close: {failure}"
                try:
                    self.spool.write(Refusal(record, reason) for record in unsent)
                    kept = f"in {self.spool.path}"
                except OSError as exc:
                    kept = f"nowhere (cannot write {self.spool.path}: {exc})"
            log.error("%d events could not be logged before close; kept %s", len(unsent), kept)
            if raise_errors:
                raise TransientError(
                    f"{len(unsent)} events could not be delivered ({failure}); kept {kept}"
                ) from None
        elif report.refused:
            log.warning("Logger closed: %s", report.summary())
        return report

    def __enter__(self) -> Logger:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _timestamp(value: Any) -> str:
    if value is None:
        return _now()
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    return str(value)
