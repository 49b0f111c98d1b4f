"""The neutral shape every trace source is read into: :class:`Span` and :class:`Annotation`.

OTLP, Phoenix and Langfuse each spell a span differently (typed protobuf values, nested JSON,
camelCase observations), but all of them carry the same OpenInference attributes. Readers
turn their records into spans with *flat* attributes (``retrieval.documents.0.document.id``),
so one mapper (:mod:`flywheel.traces.openinference`) serves every route.

``line`` is where the record sits in its source (a file line, or the position in a request),
so a bad span is reported as ``file:line: problem; fix`` like every other importer; ``source``
names the file when one import reads several (spans in one, annotations in another).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flywheel.store.records import RecordError


@dataclass(frozen=True)
class Span:
    """One span: ids, its OpenInference kind (``RETRIEVER``, ``LLM``...) and flat attributes."""

    span_id: str
    trace_id: str
    name: str
    kind: str
    start: datetime
    attributes: Mapping[str, Any] = field(default_factory=dict)
    parent_id: str | None = None
    line: int = 1
    source: str = ""


@dataclass(frozen=True)
class Annotation:
    """A label someone (``HUMAN``), a model (``LLM``) or code (``CODE``) put on a span, or on
    one of a retriever span's documents (``document_position``, 0-based, or ``document_id``).
    """

    span_id: str | None
    trace_id: str | None
    name: str
    label: str | None
    score: float | None
    annotator_kind: str = "HUMAN"
    document_position: int | None = None
    document_id: str | None = None
    annotation_id: str | None = None
    user_id: str | None = None
    created_at: datetime | None = None
    line: int = 1
    source: str = ""


#: Where an item came from: ``(source, line)``.
Origin = tuple[str, int]


@dataclass
class TraceBatch:
    """What a reader got out of one source: spans and annotations, in source order."""

    spans: list[Span] = field(default_factory=list)
    annotations: list[Annotation] = field(default_factory=list)

    def extend(self, other: TraceBatch) -> TraceBatch:
        self.spans.extend(other.spans)
        self.annotations.extend(other.annotations)
        return self


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested attributes to dotted keys: ``{"input": {"value": "q"}}`` -> ``{"input.value":
    "q"}``; lists of objects get their index (``retrieval.documents.0.document.id``), lists of
    plain values stay lists."""
    out: dict[str, Any] = {}
    if isinstance(value, Mapping):
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, list | tuple) and any(isinstance(item, Mapping) for item in value):
        for index, item in enumerate(value):
            out.update(flatten(item, f"{prefix}.{index}"))
    elif prefix:
        out[prefix] = list(value) if isinstance(value, tuple) else value
    return out


def parse_time(value: Any, name: str) -> datetime:
    """ISO text (``Z``, offsets, a space instead of ``T``), a datetime, or epoch seconds,
    milliseconds or nanoseconds (told apart by size) -> an aware UTC datetime."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
        if seconds > 1e17:
            seconds /= 1e9
        elif seconds > 1e11:
            seconds /= 1e3
        return datetime.fromtimestamp(seconds, UTC)
    if isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    raise RecordError(
        f"{value!r} is not a time" if value not in (None, "") else "missing",
        "write ISO 8601 (2024-05-01T12:00:00Z) or epoch nanoseconds",
        name,
    )


def text_of(value: Any) -> str | None:
    """A non-empty string, or None; numbers and ids become their text."""
    if value is None or isinstance(value, bool | dict | list):
        return None
    text = str(value).strip()
    return text or None


def string_list(value: Any, name: str) -> list[str]:
    """A list of ids given as a list, or as JSON text of a list (OTLP string attributes)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            value = [value]
    if not isinstance(value, list | tuple):
        raise RecordError(
            f"expected a list of ids, got {type(value).__name__}", "write a list of strings", name
        )
    return [str(item) for item in value if text_of(item) is not None]


def required(raw: Mapping[str, Any], names: tuple[str, ...], fix: str) -> str:
    """The first non-empty text among ``names``, or a RecordError naming the first."""
    for name in names:
        if (text := text_of(raw.get(name))) is not None:
            return text
    raise RecordError("missing", fix, names[0])
