"""Traces an app already records, as this project's events: OpenTelemetry spans following the
OpenInference conventions (over OTLP, or exported by Phoenix or Langfuse) and the annotations
or scores people and models gave them. See docs/integrations.md.

``ingest_trace_files`` is what ``flywheel ingest traces`` runs; the server's ``POST
/v1/traces`` goes through :func:`map_batch` and :func:`store_capture` the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from flywheel.store import Store
from flywheel.traces.files import TraceFormat, read_trace_file
from flywheel.traces.openinference import CITATIONS, TraceCapture, map_batch, polarity
from flywheel.traces.spans import Annotation, Span, TraceBatch
from flywheel.traces.write import MissingDocs, TraceReport, store_capture

__all__ = [
    "CITATIONS",
    "Annotation",
    "MissingDocs",
    "Span",
    "TraceBatch",
    "TraceCapture",
    "TraceFormat",
    "TraceReport",
    "ingest_trace_files",
    "map_batch",
    "polarity",
    "read_trace_file",
    "store_capture",
]


def ingest_trace_files(
    store: Store,
    paths: Sequence[str | Path],
    *,
    trace_format: str = TraceFormat.AUTO,
    missing_docs: MissingDocs | str = MissingDocs.REPORT,
) -> TraceReport:
    """Read every file (spans in one, their annotations in another is fine), map them
    together and store the result in one transaction: a bad record anywhere writes nothing,
    and importing the same files again adds nothing."""
    batch = TraceBatch()
    for path in paths:
        one = read_trace_file(path, trace_format)
        batch.spans.extend(_with_source(one.spans, str(path)))
        batch.annotations.extend(_with_source(one.annotations, str(path)))
    capture = map_batch(batch, source=str(paths[0]) if paths else "")
    return store_capture(store, capture, missing_docs=missing_docs)


def _with_source(items: list, source: str) -> list:
    return [replace(item, source=source) for item in items]
