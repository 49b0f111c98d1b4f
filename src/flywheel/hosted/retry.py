"""When to retry a hosted call, and how long to wait.

Both official clients can retry on their own (``openai``'s ``max_retries``, ``cohere``'s
``request_options["max_retries"]``), each with its own caps and no count a caller can read.
The toolkit turns theirs off (0) and retries here instead, so both providers follow one policy,
every retry is counted in the run's usage, and tests can prove it: 429 and 5xx, timeouts,
dropped connections and garbled bodies are retried with exponential backoff and full jitter;
a ``Retry-After`` (or ``retry-after-ms``) header, when the server sends one, is honoured as the
wait (capped at ``max_delay``). Anything else (a bad key, an unknown model) is not retried.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class FailureKind(StrEnum):
    """How a failed call is handled."""

    RETRY = "retry"  # transient: try again after a wait
    ITEM = "item"  # this request is bad (too long, refused): record it, carry on with the rest
    FATAL = "fatal"  # every request would fail the same way (bad key): stop the run


@dataclass(frozen=True, slots=True)
class Failure:
    kind: FailureKind
    message: str
    status: int | None = None
    retry_after: float | None = None


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    if not headers:
        return None
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    if (ms := lower.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = lower.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            return None
        return max(0.0, email.utils.mktime_tz(parsed) - time.time())


@dataclass
class RetryPolicy:
    """``max_retries`` extra attempts; waits ``base_delay * 2**attempt`` with full jitter."""

    max_retries: int = 5
    base_delay: float = 0.5
    max_delay: float = 60.0
    seed: int | None = None
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """The wait before retry number ``attempt`` (0-based)."""
        if retry_after is not None:
            return min(retry_after, self.max_delay)
        ceiling = min(self.max_delay, self.base_delay * (2**attempt))
        return self._rng.uniform(0, ceiling)
