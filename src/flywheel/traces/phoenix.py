"""Arize Phoenix exports -> spans and annotations.

Accepted span records, one per line (JSONL), row (Parquet) or array item (JSON):

* Phoenix's span JSON (``phoenix.trace.span_json_encoder``, the REST ``GET /v1/projects/
  {project}/spans`` items): ``context.trace_id``/``context.span_id`` nested under ``context``,
  ``span_kind``, ``parent_id``, ``start_time``, ``attributes`` (nested or flat);
* rows of ``client.spans.get_spans_dataframe()`` written with ``to_parquet`` or
  ``to_json(orient="records", lines=True)``: columns ``context.span_id``, ``span_kind``,
  ``attributes.input.value``, ``attributes.retrieval.documents`` and so on.

Annotation records are the items of ``client.spans.get_span_annotations()`` (``span_id``,
``name``, ``annotator_kind``, ``result: {label, score}``, Phoenix's document annotations with
``document_position``) or rows of ``get_span_annotations_dataframe()`` (``annotation_name``,
``result.label``, ``result.score``); an evaluations frame (``label``, ``score``) works too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from flywheel.errors import DataFormatError
from flywheel.store.records import RecordError
from flywheel.traces.spans import (
    Annotation,
    Span,
    TraceBatch,
    flatten,
    parse_time,
    required,
    text_of,
)

_ATTRIBUTES = "attributes."


def _clean(value: Any) -> Any:
    """pandas writes a missing cell as NaN; read it as missing."""
    return None if isinstance(value, float) and math.isnan(value) else value


def _get(raw: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        head, _, tail = name.partition(".")
        value = _clean(raw.get(name))
        if value is None and tail and isinstance(raw.get(head), Mapping):
            value = _clean(raw[head].get(tail))
        if value is not None:
            return value
    return None


def is_span(raw: Mapping[str, Any]) -> bool:
    return _get(raw, "context.span_id") is not None


def is_annotation(raw: Mapping[str, Any]) -> bool:
    keys = set(raw)
    return not is_span(raw) and "span_id" in keys and bool(
        keys & {"annotator_kind", "result", "result.label", "result.score", "annotation_name",
                "label", "score", "document_position"}
    )  # fmt: skip


def _attributes(raw: Mapping[str, Any]) -> dict[str, Any]:
    nested = raw.get("attributes")
    attrs = flatten(nested) if isinstance(nested, Mapping) else {}
    for key, value in raw.items():
        if key.startswith(_ATTRIBUTES) and (value := _clean(value)) is not None:
            if hasattr(value, "tolist"):  # numpy arrays from Parquet
                value = value.tolist()
            attrs.update(flatten({key[len(_ATTRIBUTES) :]: value}))
    return attrs


def span_from(raw: Mapping[str, Any], line: int) -> Span:
    attrs = _attributes(raw)
    kind = _get(raw, "span_kind") or attrs.get("openinference.span.kind") or "UNKNOWN"
    return Span(
        span_id=str(_get(raw, "context.span_id")),
        trace_id=text_of(_get(raw, "context.trace_id")) or "",
        parent_id=text_of(_get(raw, "parent_id")),
        name=text_of(raw.get("name")) or "",
        kind=str(kind).upper(),
        start=parse_time(_get(raw, "start_time"), "start_time"),
        attributes=attrs,
        line=line,
    )


def annotation_from(raw: Mapping[str, Any], line: int) -> Annotation:
    score = _get(raw, "result.score", "score")
    position = _get(raw, "document_position")
    try:
        score = None if score is None else float(score)
        position = None if position is None else int(position)
    except (TypeError, ValueError):
        raise RecordError(
            f"score {score!r} or document_position {position!r} is not a number",
            "scores are numbers, positions whole numbers from 0",
        ) from None
    created = _get(raw, "updated_at", "created_at")
    return Annotation(
        span_id=required(raw, ("span_id", "context.span_id"), "name the annotated span"),
        trace_id=None,
        name=text_of(_get(raw, "annotation_name", "name")) or "annotation",
        label=text_of(_get(raw, "result.label", "label")),
        score=score,
        annotator_kind=str(_get(raw, "annotator_kind") or "HUMAN").upper(),
        document_position=position,
        annotation_id=text_of(_get(raw, "id")),
        user_id=text_of(_get(raw, "user_id")),
        created_at=None if created is None else parse_time(created, "created_at"),
        line=line,
    )


def read_phoenix(records: Iterable[tuple[int, Mapping[str, Any]]], *, source: str) -> TraceBatch:
    batch = TraceBatch()
    for line, raw in records:
        try:
            if is_span(raw):
                batch.spans.append(span_from(raw, line))
            elif is_annotation(raw):
                batch.annotations.append(annotation_from(raw, line))
            else:
                raise RecordError(
                    "neither a Phoenix span nor a span annotation",
                    "export spans (context.span_id, span_kind, attributes) and annotations "
                    "(span_id, name, result) from Phoenix",
                )
        except RecordError as error:
            raise DataFormatError(source, line, error.problem, error.fix, error.field) from None
    return batch
