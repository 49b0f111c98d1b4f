"""OTLP trace requests (protobuf or JSON) -> :class:`~flywheel.traces.spans.Span`.

Decoding uses the official ``opentelemetry-proto`` messages (``pip install
'rag-flywheel[otel]'``). OTLP/JSON differs from protobuf's own JSON mapping in one place: trace
and span ids are hex, not base64; they are converted before parsing, as the OTLP spec says.
"""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from flywheel.errors import DataFormatError, MissingDependencyError
from flywheel.traces.spans import Span, TraceBatch, flatten

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


def _messages() -> Any:
    try:
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    except ImportError:
        raise MissingDependencyError("opentelemetry-proto", "otel") from None
    return trace_service_pb2


def _hex_ids_to_base64(node: Any) -> Any:
    if isinstance(node, list):
        return [_hex_ids_to_base64(item) for item in node]
    if not isinstance(node, Mapping):
        return node
    out = {}
    for key, value in node.items():
        if key in _ID_FIELDS and isinstance(value, str) and value:
            try:
                value = base64.b64encode(bytes.fromhex(value)).decode("ascii")
            except ValueError:
                pass  # not hex: leave it to the parser to refuse
        out[key] = _hex_ids_to_base64(value)
    return out


def _any_value(value: Any) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_any_value(item) for item in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _any_value(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, which)


def _attributes(pairs: Iterable[Any]) -> dict[str, Any]:
    return flatten({kv.key: _any_value(kv.value) for kv in pairs})


def decompress(body: bytes, encoding: str | None) -> bytes:
    """The body under ``Content-Encoding`` (gzip and deflate, as OTLP exporters send)."""
    encoding = (encoding or "").strip().lower()
    if encoding in ("", "identity"):
        return body
    try:
        if encoding == "gzip":
            return gzip.decompress(body)
        if encoding == "deflate":
            return zlib.decompress(body)
    except (OSError, zlib.error, EOFError) as exc:
        raise DataFormatError("request", None, f"body is not valid {encoding} ({exc})") from None
    raise DataFormatError(
        "request", None, f"unsupported Content-Encoding '{encoding}'", "send gzip or no encoding"
    )


def parse_request(body: bytes | Mapping[str, Any], content_type: str, *, source: str) -> Any:
    """An ``ExportTraceServiceRequest`` from protobuf bytes or OTLP/JSON (bytes or a dict)."""
    messages = _messages()
    from google.protobuf import json_format
    from google.protobuf.message import DecodeError

    request = messages.ExportTraceServiceRequest()
    if isinstance(body, Mapping) or content_type == JSON:
        try:
            obj = body if isinstance(body, Mapping) else json.loads(body)
            json_format.ParseDict(_hex_ids_to_base64(obj), request, ignore_unknown_fields=True)
        except (json.JSONDecodeError, UnicodeDecodeError, json_format.ParseError) as exc:
            raise DataFormatError(
                source, None, f"not an OTLP/JSON trace request ({exc})",
                "send ExportTraceServiceRequest JSON ({\"resourceSpans\": [...]})",
            ) from None  # fmt: skip
        return request
    if content_type != PROTOBUF:
        raise DataFormatError(
            source, None, f"unsupported Content-Type '{content_type}'",
            f"send {PROTOBUF} or {JSON}",
        )  # fmt: skip
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise DataFormatError(
            source, None, f"not an OTLP protobuf trace request ({exc})",
            "send a serialized ExportTraceServiceRequest",
        ) from None  # fmt: skip
    return request


def _time(nanos: int) -> datetime:
    """Exact to the microsecond (a float of epoch seconds is not)."""
    seconds, rest = divmod(int(nanos), 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=rest // 1000)


def request_spans(request: Any, *, line: int | None = None) -> list[Span]:
    """The request's spans; ``line`` is every span's line (a file record), else its 1-based
    position in the request."""
    spans: list[Span] = []
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                attrs = _attributes(span.attributes)
                kind = str(attrs.get("openinference.span.kind") or "UNKNOWN").upper()
                spans.append(
                    Span(
                        span_id=span.span_id.hex(),
                        trace_id=span.trace_id.hex(),
                        parent_id=span.parent_span_id.hex() or None,
                        name=span.name,
                        kind=kind,
                        start=_time(span.start_time_unix_nano),
                        attributes=attrs,
                        line=line if line is not None else len(spans) + 1,
                    )
                )
    return spans


def read_otlp(records: Iterable[tuple[int, dict[str, Any]]], *, source: str) -> TraceBatch:
    """OTLP/JSON records (one ``{"resourceSpans": ...}`` per line, as the collector's file
    exporter writes them, or one per file)."""
    batch = TraceBatch()
    for line, record in records:
        try:
            request = parse_request(record, JSON, source=source)
        except DataFormatError as exc:
            raise DataFormatError(source, line, exc.problem, exc.fix) from None
        batch.spans.extend(request_spans(request, line=line))
    return batch
