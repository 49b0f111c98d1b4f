"""Where the :class:`~flywheel.sdk.logger.Logger` sends its batches: a store, or a server.

Both take a list of wire records (the ``POST /events`` format, each with its own
``event_id``) and either store all of them or raise. A :class:`TransientError` (server down,
timeout, 5xx, database busy) means "try again with the same records"; because every record
keeps its ``event_id`` and ``timestamp``, a resend after a lost response stores nothing twice.
A :class:`RejectedError` (a bad record, a wrong token) will not get better by retrying.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from flywheel.errors import FlywheelError, MissingDependencyError

if TYPE_CHECKING:
    from flywheel.store import Store

log = logging.getLogger(__name__)

Record = Mapping[str, Any]


class CaptureError(FlywheelError):
    """Events could not be logged."""


class TransientError(CaptureError):
    """Sending failed in a way a retry may fix; the records are kept for the next try."""


class RejectedError(CaptureError):
    """The store or server refused the records (bad record, wrong token); retrying won't help.

    ``index`` is the position of the bad record in the batch when the refusal names it;
    ``whole_batch`` is true when the refusal is about the sender, not the records (a wrong
    token), so splitting the batch would not help.
    """

    def __init__(self, message: str, *, index: int | None = None, whole_batch: bool = False):
        super().__init__(message)
        self.index = index
        self.whole_batch = whole_batch


class Transport(Protocol):
    def send(self, records: Sequence[Record]) -> None: ...

    def close(self) -> None: ...


class StoreTransport:
    """Straight into a :class:`~flywheel.store.Store` (one transaction per batch)."""

    def __init__(self, store: Store, *, owned: bool = False) -> None:
        self.store = store
        self.owned = owned

    def send(self, records: Sequence[Record]) -> None:
        from sqlalchemy.exc import OperationalError

        from flywheel.errors import DataFormatError
        from flywheel.store.live import RecordsError, records_to_events

        try:
            events, queries = records_to_events(records)
            self.store.log_events(events, queries=queries)
        except RecordsError as exc:
            raise RejectedError(str(exc), index=exc.index) from None
        except DataFormatError as exc:  # line n of "log_events()" is the n-th event
            index = (exc.line - 1) if exc.path == "log_events()" and exc.line else None
            raise RejectedError(str(exc), index=index) from None
        except OperationalError as exc:  # e.g. "database is locked" past the busy timeout
            raise TransientError(f"the store is busy: {exc.orig}") from None

    def close(self) -> None:
        if self.owned:
            self.store.close()


#: Statuses worth a retry: the request may not have been processed (or was, and the
#: response was lost; the event ids make the resend harmless).
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
#: Refusals about the sender, not the records: splitting the batch cannot help.
SENDER_STATUSES = frozenset({401, 403})
_FIELD_INDEX = re.compile(r"^events\[(\d+)\]")


class HTTPTransport:
    """``POST {url}/events`` with a bearer token, retrying transient failures with
    exponential backoff and jitter (``backoff * 2**attempt``, capped at ``max_backoff``)."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        max_retries: int = 5,
        backoff: float = 0.2,
        max_backoff: float = 5.0,
        client: Any = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        try:
            import httpx
        except ImportError:  # pragma: no cover - httpx ships with the server and dev extras
            raise MissingDependencyError("httpx", "server") from None
        self._httpx = httpx
        self.url = url.rstrip("/") + "/events"
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = client or httpx.Client(timeout=timeout, headers=headers)
        if client is not None and token:
            self.client.headers.update(headers)

    def _bad_index(self, response: Any) -> int | None:
        """The index of the record the server's 4xx names (``events[7].rank``), if any."""
        try:
            body = response.json()
        except ValueError:
            return None
        if not isinstance(body, dict):
            return None
        fields = [body.get("field")]
        if isinstance(body.get("detail"), list):
            fields += [d.get("field") for d in body["detail"] if isinstance(d, dict)]
        for name in fields:
            if isinstance(name, str) and (match := _FIELD_INDEX.match(name)):
                return int(match.group(1))
        return None

    def _refusal(self, response: Any) -> str:
        try:
            body = response.json()
        except json.JSONDecodeError:
            return f"HTTP {response.status_code}: {response.text[:300]}"
        detail = body.get("message") or body.get("detail") if isinstance(body, dict) else body
        return f"HTTP {response.status_code}: {detail}"

    def send(self, records: Sequence[Record]) -> None:
        body = {"events": list(records)}
        last = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
                self._sleep(delay * (0.5 + random.random() / 2))
            try:
                response = self.client.post(self.url, json=body)
            except self._httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
                log.info("send to %s failed (%s); retry %d", self.url, last, attempt + 1)
                continue
            if response.status_code == 200:
                return
            if response.status_code in RETRY_STATUSES:
                last = self._refusal(response)
                continue
            raise RejectedError(
                f"{self.url} refused {len(records)} events: {self._refusal(response)}",
                index=self._bad_index(response),
                whole_batch=response.status_code in SENDER_STATUSES,
            )
        raise TransientError(
            f"could not reach {self.url} after {self.max_retries + 1} tries ({last}); "
            "the events stay buffered for the next flush"
        )

    def close(self) -> None:
        self.client.close()
