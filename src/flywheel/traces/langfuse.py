"""Langfuse exports -> spans and annotations.

Accepted records (field names in the public API's camelCase or the blob export's snake_case):

* a trace as the UI's "Download JSON" writes it (``trace-<id>.json``: the trace with its
  ``observations`` and ``scores``), or a session download (``traces: [...]``);
* observations (table or blob export, ``observations_v2`` rows carry ``session_id`` and
  ``user_id`` themselves) and scores, one per line or array item;
* legacy trace rows (``id``, ``session_id``, ``user_id``), which give their observations a
  session and user.

An observation becomes a span: ``type`` RETRIEVER/GENERATION/EMBEDDING becomes OpenInference's
RETRIEVER/LLM/EMBEDDING; its ``input`` (a string, or an object with ``query``/``input``) is the
query; its ``output`` is the documents, each an object with an id (``id``, ``doc_id``, or
``metadata.doc_id``/``chunk_id``/``id``, as LangChain's Documents carry it), ``score`` and
``page_content``/``content``. OpenInference attributes that Langfuse keeps in
``metadata.attributes`` (traces sent to it over OTLP) are read as they are. ``metadata.
citations`` (or ``flywheel.citations``) lists what the answer cited.

A score becomes an annotation: ``source`` EVAL is a model's, ANNOTATION and API a person's;
BOOLEAN and NUMERIC values and CATEGORICAL ``stringValue`` labels are read by
:func:`~flywheel.traces.openinference.polarity`; ``metadata.document_position`` or
``metadata.doc_id`` aims it at one retrieved document.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from flywheel.errors import DataFormatError
from flywheel.store.records import RecordError
from flywheel.traces.openinference import CITATIONS
from flywheel.traces.spans import Annotation, Span, TraceBatch, flatten, parse_time, text_of

_KINDS = {"RETRIEVER": "RETRIEVER", "GENERATION": "LLM", "EMBEDDING": "EMBEDDING"}
_SCORE_SOURCES = {"EVAL": "LLM", "ANNOTATION": "HUMAN", "API": "HUMAN"}
_QUERY_KEYS = ("query", "input", "question", "query_str")


def _get(raw: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        value = raw.get(name)
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            return value
    return None


def _json(value: Any) -> Any:
    """Exports carry input, output and metadata as JSON text; the API as JSON."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def is_trace(raw: Mapping[str, Any]) -> bool:
    return "observations" in raw or "scores" in raw or "traces" in raw


def is_score(raw: Mapping[str, Any]) -> bool:
    return _get(raw, "dataType", "data_type") is not None or (
        "value" in raw and _get(raw, "traceId", "trace_id") is not None and "type" not in raw
    )


def is_observation(raw: Mapping[str, Any]) -> bool:
    return "type" in raw and _get(raw, "traceId", "trace_id") is not None


def _query_value(value: Any) -> Any:
    value = _json(value)
    if isinstance(value, Mapping):
        return next((value[k] for k in _QUERY_KEYS if text_of(value.get(k))), None)
    return value


def _document_attributes(output: Any) -> dict[str, Any]:
    output = _json(output)
    if isinstance(output, Mapping):
        output = _get(output, "documents", "output", "source_documents")
    if not isinstance(output, list):
        return {}
    attrs: dict[str, Any] = {}
    for position, doc in enumerate(output):
        if not isinstance(doc, Mapping):
            continue
        meta = doc.get("metadata") if isinstance(doc.get("metadata"), Mapping) else {}
        prefix = f"retrieval.documents.{position}.document"
        doc_id = _get(doc, "id", "doc_id") or _get(meta, "doc_id", "chunk_id", "id")
        fields = {
            "id": doc_id,
            "content": _get(doc, "page_content", "pageContent", "content", "text"),
            "score": _get(doc, "score", "relevance_score", "metadata.score")
            or _get(meta, "score", "relevance_score"),
        }
        attrs.update({f"{prefix}.{k}": v for k, v in fields.items() if v is not None})
        if meta:
            attrs[f"{prefix}.metadata"] = json.dumps(meta, default=str)
    return attrs


def span_from(raw: Mapping[str, Any], line: int, trace: Mapping[str, Any]) -> Span:
    metadata = _json(raw.get("metadata"))
    metadata = metadata if isinstance(metadata, Mapping) else {}
    otel = metadata.get("attributes")
    attrs = flatten(_json(otel)) if isinstance(_json(otel), Mapping) else {}
    kind = str(_get(raw, "type") or "SPAN").upper()
    kind = str(attrs.get("openinference.span.kind") or _KINDS.get(kind, "CHAIN")).upper()
    if "input.value" not in attrs and (query := _query_value(raw.get("input"))) is not None:
        attrs["input.value"] = query if isinstance(query, str) else json.dumps(query)
    if kind == "RETRIEVER" and not any(k.startswith("retrieval.documents.") for k in attrs):
        attrs.update(_document_attributes(raw.get("output")))
    cited = _get(metadata, CITATIONS, "citations")
    if cited is not None:
        attrs[CITATIONS] = cited
    for key, names in (("session.id", ("sessionId", "session_id")),
                       ("user.id", ("userId", "user_id"))):  # fmt: skip
        value = _get(raw, *names) or _get(trace, *names)
        if value is not None:
            attrs.setdefault(key, value)
    observation_id = text_of(_get(raw, "id"))
    if observation_id is None:
        raise RecordError("missing", "give each observation its 'id'", "id")
    return Span(
        span_id=observation_id,
        trace_id=str(_get(raw, "traceId", "trace_id") or _get(trace, "id") or ""),
        parent_id=text_of(_get(raw, "parentObservationId", "parent_observation_id")),
        name=text_of(raw.get("name")) or kind.lower(),
        kind=kind,
        start=parse_time(_get(raw, "startTime", "start_time", "timestamp"), "startTime"),
        attributes=attrs,
        line=line,
    )


def annotation_from(raw: Mapping[str, Any], line: int) -> Annotation:
    metadata = _json(raw.get("metadata"))
    metadata = metadata if isinstance(metadata, Mapping) else {}
    kind = str(_get(raw, "dataType", "data_type") or "NUMERIC").upper()
    value = _get(raw, "value")
    label = text_of(_get(raw, "stringValue", "string_value"))
    try:
        score = None if value is None else float(value)
        position = _get(metadata, "document_position")
        position = None if position is None else int(position)
    except (TypeError, ValueError):
        raise RecordError(
            f"value {value!r} is not a number", "NUMERIC and BOOLEAN scores are numbers", "value"
        ) from None
    when = _get(raw, "timestamp", "createdAt", "created_at")
    return Annotation(
        span_id=text_of(_get(raw, "observationId", "observation_id")),
        trace_id=text_of(_get(raw, "traceId", "trace_id")),
        name=text_of(raw.get("name")) or "score",
        label=label if kind != "NUMERIC" else None,
        score=score,
        annotator_kind=_SCORE_SOURCES.get(str(_get(raw, "source") or "API").upper(), "HUMAN"),
        document_position=position,
        document_id=text_of(_get(metadata, "doc_id", "document_id")),
        annotation_id=text_of(_get(raw, "id")),
        user_id=text_of(_get(raw, "authorUserId", "author_user_id")),
        created_at=None if when is None else parse_time(when, "timestamp"),
        line=line,
    )


def _expand(
    records: Iterable[tuple[int, Mapping[str, Any]]],
) -> Iterator[tuple[int, Mapping[str, Any], Mapping[str, Any]]]:
    """Every observation or score with the trace it came in (trace downloads nest them)."""
    traces: dict[str, Mapping[str, Any]] = {}
    flat: list[tuple[int, Mapping[str, Any]]] = []
    for line, raw in records:
        if is_trace(raw):
            for trace in raw.get("traces") or [raw]:
                traces[str(trace.get("id"))] = trace
                for item in [*(trace.get("observations") or []), *(trace.get("scores") or [])]:
                    yield line, item, trace
        elif is_observation(raw) or is_score(raw):
            flat.append((line, raw))
        elif _get(raw, "id") is not None and _get(raw, "sessionId", "session_id", "userId",
                                                  "user_id") is not None:  # fmt: skip
            traces[str(raw["id"])] = raw  # a legacy trace row: session and user for the rest
        else:
            raise DataFormatError(
                "", line, "neither a Langfuse trace, observation nor score",
                "export traces, observations and scores from Langfuse (JSON or JSONL)",
            )  # fmt: skip
    for line, raw in flat:
        yield line, raw, traces.get(str(_get(raw, "traceId", "trace_id")), {})


def read_langfuse(records: Iterable[tuple[int, Mapping[str, Any]]], *, source: str) -> TraceBatch:
    batch = TraceBatch()
    try:
        for line, raw, trace in _expand(records):
            try:
                if is_score(raw):
                    batch.annotations.append(annotation_from(raw, line))
                else:
                    batch.spans.append(span_from(raw, line, trace))
            except RecordError as error:
                raise DataFormatError(source, line, error.problem, error.fix, error.field) from None
    except DataFormatError as exc:
        if exc.path:
            raise
        raise DataFormatError(source, exc.line, exc.problem, exc.fix) from None
    return batch
