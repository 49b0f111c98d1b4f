"""Where refused events go: a local JSON-lines file, so nothing the app logged is lost unseen.

Each line is ``{"error": ..., "record": {...}, "refused_at": ...}`` (the importers' rejects
format, with the wire record): fix the records and send them again, or load them with
``flywheel ingest events`` after removing the ``error`` wrapper. Lines are appended and
flushed to disk as soon as events are refused, so a crash right after loses nothing.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from flywheel.sdk.delivery import Refusal

#: The spool a Logger writes when none is given: ``$FLYWHEEL_SPOOL``, else this file in the
#: working folder (created only when an event is refused).
DEFAULT_SPOOL = "flywheel-refused-events.jsonl"


def default_spool() -> Path:
    return Path(os.environ.get("FLYWHEEL_SPOOL") or DEFAULT_SPOOL)


class Spool:
    """Appends refusals to ``path``, one JSON line each, thread-safe."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def write(self, refusals: Iterable[Refusal]) -> int:
        moment = datetime.now(UTC).isoformat()
        lines = [
            json.dumps(
                {"error": r.reason, "record": r.record, "refused_at": moment},
                ensure_ascii=False,
                default=str,
            )
            for r in refusals
        ]
        if not lines:
            return 0
        data = ("\n".join(lines) + "\n").encode("utf-8", "backslashreplace")
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        return len(lines)


def read_spool(path: str | Path) -> list[dict]:
    """The refusals written to ``path`` (for tests and for resending)."""
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
