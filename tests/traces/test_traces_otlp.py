"""OTLP in: the real OpenTelemetry SDK and its OTLP/HTTP exporter against `flywheel serve`, and
the endpoint's refusals and partial successes through the in-process app."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from trace_helpers import DOCS, QUERY, TOKEN, pairs, seed, training_rows

from flywheel.server import create_app
from flywheel.server.process import ServerProcess
from flywheel.store import Store
from flywheel.store.live import live_qid

pytest.importorskip("opentelemetry.sdk")
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import (
    SimpleSpanProcessor,  # noqa: E402
    SpanExportResult,  # noqa: E402
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)


def rag_trace(*, cited: list[str], docs: list[tuple[str, float]] | None = None):
    """One RAG request as an OpenInference-instrumented app traces it: a CHAIN root with the
    session, a RETRIEVER span with its documents and an LLM span saying what it cited."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("rag-app")
    docs = docs or [("cat-2", 4.1), ("dog-2", 2.3), ("cat-1", 0.7)]
    retrieved = {"openinference.span.kind": "RETRIEVER", "input.value": QUERY}
    for n, (doc_id, score) in enumerate(docs):
        retrieved[f"retrieval.documents.{n}.document.id"] = doc_id
        retrieved[f"retrieval.documents.{n}.document.score"] = score
        retrieved[f"retrieval.documents.{n}.document.content"] = DOCS.get(doc_id, "new text")
    root = {"openinference.span.kind": "CHAIN", "session.id": "s-otel", "user.id": "u-7"}
    with tracer.start_as_current_span("query", attributes=root):
        with tracer.start_as_current_span("retrieve", attributes=retrieved):
            pass
        llm = {"openinference.span.kind": "LLM", "flywheel.citations": cited}
        with tracer.start_as_current_span("llm", attributes=llm):
            pass
    provider.shutdown()
    return memory.get_finished_spans()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db = tmp_path_factory.mktemp("otlp") / "flywheel.db"
    with Store(str(db)) as store:
        seed(store)
    with ServerProcess(db, token=TOKEN) as running:
        yield running


def test_sdk_exporter_lands_events_that_become_training_rows(server, tmp_path: Path) -> None:
    spans = rag_trace(cited=["cat-2"])
    exporter = OTLPSpanExporter(
        endpoint=f"{server.url}/v1/traces", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    with Store(server.db) as store:
        events = store.events()
        assert [e.kind for e in events] == ["retrieval", "citation"]
        retrieval, citation = events
        assert retrieval.qid == citation.qid == live_qid(QUERY)
        assert retrieval.results == (("cat-2", 1, 4.1), ("dog-2", 2, 2.3), ("cat-1", 3, 0.7))
        assert (retrieval.session_id, retrieval.user_id) == ("s-otel", "u-7")
        assert citation.chunk_ids == ("cat-2",)
        assert store.queries()[live_qid(QUERY)] == QUERY

        assert exporter.export(spans) == SpanExportResult.SUCCESS  # a retry adds nothing
        assert len(store.events()) == 2
        rows = training_rows(store, tmp_path)
    assert (QUERY, DOCS["cat-2"]) in pairs(rows)  # cited -> positive
    assert (QUERY, DOCS["dog-2"]) not in pairs(rows)  # shown, not cited -> never a positive
    exporter.shutdown()


def test_a_wrong_token_is_refused(server) -> None:
    exporter = OTLPSpanExporter(
        endpoint=f"{server.url}/v1/traces", headers={"Authorization": "Bearer nope"}
    )
    assert exporter.export(rag_trace(cited=[])) == SpanExportResult.FAILURE
    exporter.shutdown()


@pytest.fixture
def api(store: Store):
    app = create_app(store, "bm25", token=TOKEN)
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client


def otlp_json(doc_id: str = "cat-2") -> dict:
    """OTLP/JSON as the spec writes it: hex ids, typed attribute values."""

    def attr(key: str, value) -> dict:
        typed = {"doubleValue": value} if isinstance(value, float) else {"stringValue": value}
        return {"key": key, "value": typed}

    span = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "eee19b7ec3c1b174",
        "name": "retrieve",
        "kind": 1,
        "startTimeUnixNano": "1714560000000000000",
        "endTimeUnixNano": "1714560000100000000",
        "attributes": [
            attr("openinference.span.kind", "RETRIEVER"),
            attr("input.value", "do cats purr"),
            attr("session.id", "s-json"),
            attr("retrieval.documents.0.document.id", doc_id),
            attr("retrieval.documents.0.document.score", 0.9),
        ],
    }
    return {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}


def test_otlp_json_is_stored_once(api, store: Store) -> None:
    for _ in range(2):
        response = api.post("/v1/traces", json=otlp_json())
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
    (event,) = store.events()
    assert event.event_id == "span-eee19b7ec3c1b174"
    assert (event.session_id, event.results) == ("s-json", (("cat-2", 1, 0.9),))
    assert event.timestamp.isoformat() == "2024-05-01T10:40:00+00:00"


def test_unknown_documents_are_reported_in_partial_success(api, store: Store) -> None:
    response = api.post("/v1/traces", json=otlp_json("ghost-doc"))
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1"
    assert (
        "ghost-doc" in partial["errorMessage"]
        and "--otlp-missing-docs add" in (partial["errorMessage"])
    )
    assert store.events() == []


def test_missing_documents_can_be_added_from_the_spans(store: Store) -> None:
    app = create_app(store, "bm25", token=TOKEN, otlp_missing_docs="add")
    spans = rag_trace(cited=["new-doc"], docs=[("new-doc", 1.0), ("cat-2", 0.5)])
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    body = encode_spans(spans).SerializeToString()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-protobuf"}
    with TestClient(app) as client:
        response = client.post("/v1/traces", content=body, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    assert store.corpus()["new-doc"].text == "new text"
    assert [e.kind for e in store.events()] == ["retrieval", "citation"]


def test_refusals(api, store: Store) -> None:
    assert api.post("/v1/traces", content=b"\x00garbage", headers={
        "Content-Type": "application/x-protobuf"}).status_code == 400  # fmt: skip
    assert api.post("/v1/traces", content=b"x", headers={
        "Content-Type": "text/plain"}).status_code == 415  # fmt: skip
    no_query = otlp_json()
    no_query["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"].pop(1)
    response = api.post("/v1/traces", json=no_query)
    assert response.status_code == 400 and "input.value" in response.json()["detail"]
    api.headers.pop("Authorization")
    assert api.post("/v1/traces", json=otlp_json()).status_code == 401
    assert store.events() == []
