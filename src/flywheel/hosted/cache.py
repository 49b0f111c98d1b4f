"""Every hosted response, kept in SQLite: a killed run resumes, a second run costs nothing.

One file, ``<cache_dir>/hosted/responses.sqlite`` (``$FLYWHEEL_CACHE``), keyed by (provider,
endpoint, model, hash of the request). Each response is committed the moment it arrives, so a
run killed half-way keeps everything it paid for; the next run sends only what is missing. The
usage and latency of the original call are stored with it, so a replayed answer still says what
it cost and how long the provider took (for the experiment tables' cost and latency columns).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flywheel import settings
from flywheel._internal.hashing import text_hash
from flywheel.hosted.prices import Usage

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    provider TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    model TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    kind TEXT NOT NULL,
    response TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    search_units REAL NOT NULL,
    latency_s REAL NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (provider, endpoint, model, request_hash)
)
"""


def request_hash(kind: str, payload: Mapping[str, Any]) -> str:
    """Stable hash of what was asked (canonical JSON), the cache key's last part."""
    return text_hash(json.dumps({"kind": kind, **payload}, sort_keys=True, ensure_ascii=False))


class CachedResponse:
    __slots__ = ("latency_s", "result", "usage")

    def __init__(self, result: dict[str, Any], usage: Usage, latency_s: float) -> None:
        self.result = result
        self.usage = usage
        self.latency_s = latency_s


class ResponseCache:
    """Thread-safe get/put of hosted responses in one SQLite file (WAL, one commit per put)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else settings.cache_dir() / "hosted" / "responses.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(_SCHEMA)
        self._conn.commit()

    def get(self, provider: str, endpoint: str, model: str, key: str) -> CachedResponse | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT response, input_tokens, output_tokens, search_units, latency_s "
                "FROM responses WHERE provider=? AND endpoint=? AND model=? AND request_hash=?",
                (provider, endpoint, model, key),
            ).fetchone()
        if row is None:
            return None
        return CachedResponse(json.loads(row[0]), Usage(row[1], row[2], row[3]), row[4])

    def __contains__(self, item: tuple[str, str, str, str]) -> bool:
        with self._lock:
            return (
                self._conn.execute(
                    "SELECT 1 FROM responses WHERE provider=? AND endpoint=? AND model=? "
                    "AND request_hash=?",
                    item,
                ).fetchone()
                is not None
            )

    def put(
        self,
        provider: str,
        endpoint: str,
        model: str,
        key: str,
        *,
        kind: str,
        result: dict[str, Any],
        usage: Usage,
        latency_s: float,
    ) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO responses VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    provider,
                    endpoint,
                    model,
                    key,
                    kind,
                    json.dumps(result, ensure_ascii=False),
                    usage.input_tokens,
                    usage.output_tokens,
                    usage.search_units,
                    latency_s,
                    datetime.now(UTC).isoformat(),
                ),
            )
            self._conn.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
