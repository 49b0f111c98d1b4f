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
"""

from __future__ import annotations

import atexit
import logging
import threading
import uuid
import weakref
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flywheel.errors import ConfigError
from flywheel.sdk.transport import (
    CaptureError,
    HTTPTransport,
    RejectedError,
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
        self.sent = 0
        #: Batches refused for good: ``(records, error)``. Nothing in them was stored.
        self.rejected: list[tuple[list[dict[str, Any]], RejectedError]] = []
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
        with self._lock:
            self._buffer.append(record)
            waiting = len(self._buffer)
        if waiting >= self.max_buffer or (
            waiting >= self.batch_size and self.flush_interval is None
        ):
            self.flush()
        elif waiting >= self.batch_size:
            self._wake.set()
        self._ensure_thread()
        return record["event_id"]

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

        Raises :class:`TransientError` when the target stays unreachable (the events stay
        buffered) and :class:`RejectedError` when a batch is refused (that batch is moved to
        :attr:`rejected`; the rest are still sent).
        """
        stored = 0
        refused: RejectedError | None = None
        with self._send_lock:
            while True:
                with self._lock:
                    batch = self._buffer[: self.batch_size]
                if not batch:
                    break
                try:
                    self.transport.send(batch)  # TransientError: the batch stays buffered
                    stored += len(batch)
                except RejectedError as exc:
                    log.warning("%d events refused: %s", len(batch), exc)
                    self.rejected.append((batch, exc))
                    refused = exc
                with self._lock:
                    del self._buffer[: len(batch)]
        self.sent += stored
        if refused is not None:
            raise refused
        return stored

    def _flush_quietly(self) -> None:
        try:
            self.flush()
        except TransientError as exc:
            log.warning("%s", exc)
        except RejectedError:
            pass  # logged and kept in self.rejected by flush()

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

    def close(self, *, raise_errors: bool = True) -> None:
        """Send what is buffered and stop the background thread."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        try:
            self.flush()
        except CaptureError:
            if raise_errors:
                raise
            log.error("%d events could not be logged before exit", self.pending)
        finally:
            self.transport.close()
            _open.discard(self)

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
