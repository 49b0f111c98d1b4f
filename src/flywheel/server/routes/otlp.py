"""``POST /v1/traces``: OpenTelemetry traces over OTLP/HTTP (protobuf or JSON), the same token
as the event API. Point an OTLP exporter at the server and the OpenInference spans it sends
become events (see :mod:`flywheel.traces.openinference`); nothing in the app changes.

Answers as OTLP/HTTP says: 200 with an ``ExportTraceServiceResponse`` in the request's
encoding; spans refused because the store lacks their documents are counted in its
``partial_success`` (with ``flywheel serve --otlp-missing-docs add`` the documents are stored
from the spans instead); a body that is not a trace request is a 400, which exporters do not
retry. Span ids are the event ids, so an exporter's retry stores nothing twice.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from flywheel.errors import DataFormatError, MissingDependencyError
from flywheel.server.auth import Authorized
from flywheel.server.errors import ApiError
from flywheel.traces import TraceBatch, map_batch, store_capture
from flywheel.traces.otlp import JSON, PROTOBUF, decompress, parse_request, request_spans

router = APIRouter(tags=["otlp"], dependencies=[Authorized])
SOURCE = "POST /v1/traces"


def _store_request(request_store, body: bytes, content_type: str, missing_docs: str):
    message = parse_request(body, content_type, source=SOURCE)
    batch = TraceBatch(spans=request_spans(message))
    capture = map_batch(batch, source=SOURCE)
    return store_capture(
        request_store, capture, missing_docs=missing_docs, partial=True, source=SOURCE
    )


@router.post(
    "/v1/traces",
    summary="Export OpenTelemetry traces (OTLP/HTTP)",
    responses={
        400: {"description": "Not an OTLP trace request, or a span that cannot be mapped"},
        401: {"description": "Missing or wrong bearer token"},
        415: {"description": "Neither application/x-protobuf nor application/json"},
        501: {"description": "opentelemetry-proto is not installed (rag-flywheel[otel])"},
    },
)
async def export_traces(request: Request) -> Response:
    """Store the OpenInference spans of one ``ExportTraceServiceRequest``."""
    try:
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    except ImportError:
        raise ApiError(501, str(MissingDependencyError("opentelemetry-proto", "otel"))) from None

    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in (PROTOBUF, JSON):
        raise ApiError(415, f"unsupported Content-Type '{content_type}'; send {PROTOBUF} or {JSON}")
    try:
        body = decompress(await request.body(), request.headers.get("content-encoding"))
        report = await run_in_threadpool(
            _store_request,
            request.app.state.store,
            body,
            content_type,
            request.app.state.otlp_missing_docs,
        )
    except DataFormatError as exc:
        raise ApiError(400, str(exc), exc.field) from None
    answer = trace_service_pb2.ExportTraceServiceResponse()
    if report.rejected:
        answer.partial_success.rejected_spans = report.rejected
        answer.partial_success.error_message = (
            f"{report.rejected} spans name documents the store lacks "
            f"({', '.join(report.missing_documents[:5])}); ingest the corpus, or serve with "
            "--otlp-missing-docs add"
        )
    if content_type == JSON:
        from google.protobuf import json_format

        return Response(json_format.MessageToJson(answer), media_type=JSON)
    return Response(answer.SerializeToString(), media_type=PROTOBUF)
