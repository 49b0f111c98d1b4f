"""Trace export files -> a :class:`~flywheel.traces.spans.TraceBatch`.

Files are JSONL (one record a line), Parquet (one a row) or JSON (one object, or an array of
them); line numbers are the file's lines (Parquet: rows), so every problem reads
``file:line: problem; fix``. The format is a registry, found from the first record unless
given: ``otlp`` (``resourceSpans``), ``phoenix`` (``context.span_id``, annotations with
``span_id``) or ``langfuse`` (``traceId`` with ``type``, ``dataType`` or ``observations``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from flywheel.errors import DataFormatError, UnknownComponentError
from flywheel.store.readers import read_records
from flywheel.traces import langfuse, phoenix
from flywheel.traces.otlp import read_otlp
from flywheel.traces.spans import TraceBatch

Records = list[tuple[int, Mapping[str, Any]]]


class TraceFormat(StrEnum):
    AUTO = "auto"
    OTLP = "otlp"
    PHOENIX = "phoenix"
    LANGFUSE = "langfuse"


#: format -> reader of ``(line, record)`` pairs
READERS: dict[str, Callable[..., TraceBatch]] = {
    TraceFormat.OTLP: read_otlp,
    TraceFormat.PHOENIX: phoenix.read_phoenix,
    TraceFormat.LANGFUSE: langfuse.read_langfuse,
}
#: format -> does this first record look like it?
DETECTORS: dict[str, Callable[[Mapping[str, Any]], bool]] = {
    TraceFormat.OTLP: lambda raw: "resourceSpans" in raw or "resource_spans" in raw,
    TraceFormat.PHOENIX: lambda raw: phoenix.is_span(raw) or phoenix.is_annotation(raw),
    TraceFormat.LANGFUSE: lambda raw: (
        langfuse.is_trace(raw) or langfuse.is_observation(raw) or langfuse.is_score(raw)
    ),
}


def _json_file(path: Path) -> Iterator[tuple[int, Any]]:
    """The top-level object (line 1), or each array item with the line it starts on."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DataFormatError(path, None, "not UTF-8 text", "re-encode the file as UTF-8") from None
    decoder = json.JSONDecoder()
    start = len(text) - len(text.lstrip())
    try:
        if not text[start:].startswith("["):
            value, _ = decoder.raw_decode(text, start)
            yield text.count("\n", 0, start) + 1, value
            return
        position = start + 1
        while True:
            while position < len(text) and text[position] in " \t\r\n,":
                position += 1
            if position >= len(text) or text[position] == "]":
                return
            value, end = decoder.raw_decode(text, position)
            yield text.count("\n", 0, position) + 1, value
            position = end
    except json.JSONDecodeError as exc:
        raise DataFormatError(
            path, exc.lineno, f"not valid JSON ({exc.msg})", "export the file again"
        ) from None


def read_file_records(path: str | Path) -> Records:
    """``(line, record)`` for every record of ``path``; a bad line fails the file."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, None, "file not found", "check the path")
    if path.suffix.lower() == ".json":
        items = list(_json_file(path))
    else:
        items = []
        for raw in read_records(path):
            if raw.error is not None:
                raise DataFormatError(path, raw.line, raw.error.problem, raw.error.fix)
            items.append((raw.line, raw.fields))
    for line, item in items:
        if not isinstance(item, Mapping):
            raise DataFormatError(
                path, line, f"a JSON {type(item).__name__}, not an object",
                "export spans as JSON objects",
            )  # fmt: skip
    return items


def detect(records: Records, path: str | Path) -> str:
    for name, looks_like in DETECTORS.items():
        if records and looks_like(records[0][1]):
            return name
    line = records[0][0] if records else None
    raise DataFormatError(
        path, line, "cannot tell the trace format",
        f"pass --format ({', '.join(f for f in READERS)}); see docs/integrations.md",
    )  # fmt: skip


def read_trace_file(path: str | Path, trace_format: str = TraceFormat.AUTO) -> TraceBatch:
    """The spans and annotations of one export file."""
    if trace_format not in (*READERS, TraceFormat.AUTO):
        raise UnknownComponentError("trace format", trace_format, [*READERS, "auto"])
    records = read_file_records(path)
    if not records:
        return TraceBatch()
    name = detect(records, path) if trace_format == TraceFormat.AUTO else trace_format
    return READERS[name](records, source=str(path))
