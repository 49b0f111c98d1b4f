"""`flywheel ingest traces`: Phoenix, Langfuse and OTLP JSON exports, with their annotations
and scores, become events and judgments; bad records fail the file; a re-import adds nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from trace_helpers import DOCS, QUERY, pairs, training_rows
from typer.testing import CliRunner

from flywheel.cli.app import app as cli
from flywheel.errors import DataFormatError
from flywheel.store import Store
from flywheel.store.live import live_qid
from flywheel.traces import ingest_trace_files, polarity

QID = live_qid(QUERY)


def phoenix_spans() -> list[dict]:
    """Spans as Phoenix's span JSON encoder writes them: nested attributes."""
    documents = [
        {"document": {"id": "cat-2", "score": 0.91, "content": DOCS["cat-2"]}},
        {"document": {"id": "dog-2", "score": 0.62, "content": DOCS["dog-2"]}},
        {"document": {"id": "cat-3", "score": 0.20, "content": DOCS["cat-3"]}},
    ]
    base = {"status_code": "OK", "status_message": "", "events": [], "conversation": None,
            "end_time": "2024-05-01T10:00:02+00:00"}  # fmt: skip
    return [
        base | {"name": "query", "context": {"trace_id": "t1", "span_id": "root"},
                "span_kind": "CHAIN", "parent_id": None,
                "start_time": "2024-05-01T10:00:00+00:00",
                "attributes": {"session": {"id": "s-phx"}, "user": {"id": "ana"},
                               "input": {"value": QUERY}}},
        base | {"name": "retrieve", "context": {"trace_id": "t1", "span_id": "ret"},
                "span_kind": "RETRIEVER", "parent_id": "root",
                "start_time": "2024-05-01T10:00:00.5+00:00",
                "attributes": {"input": {"value": QUERY},
                               "retrieval": {"documents": documents}}},
    ]  # fmt: skip


def phoenix_annotations() -> list[dict]:
    """Items of `client.spans.get_span_annotations()`, plus document annotations."""
    return [
        {"id": "a1", "span_id": "root", "name": "user_feedback", "annotator_kind": "HUMAN",
         "result": {"label": "thumbs_up", "score": 1}, "user_id": "ana",
         "created_at": "2024-05-01T10:01:00+00:00"},
        {"id": "a2", "span_id": "ret", "name": "relevance", "annotator_kind": "HUMAN",
         "document_position": 0, "result": {"label": "relevant", "score": 1}},
        {"id": "a3", "span_id": "ret", "name": "relevance", "annotator_kind": "LLM",
         "document_position": 1, "result": {"label": "irrelevant", "score": 0}},
        {"id": "a4", "span_id": "root", "name": "note", "annotator_kind": "HUMAN",
         "result": {"explanation": "asked twice"}},
    ]  # fmt: skip


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_phoenix_export_with_annotations(store: Store, tmp_path: Path) -> None:
    spans = write_jsonl(tmp_path / "spans.jsonl", phoenix_spans())
    notes = write_jsonl(tmp_path / "annotations.jsonl", phoenix_annotations())
    report = ingest_trace_files(store, [spans, notes])
    assert (report.events_added, report.judgments_added, report.queries_added) == (3, 2, 1)
    assert report.skipped == {"annotations 'note' that say neither yes nor no": 1}
    by_kind = {e.kind: e for e in store.events()}
    assert by_kind["retrieval"].results[0] == ("cat-2", 1, 0.91)
    assert (by_kind["retrieval"].session_id, by_kind["retrieval"].user_id) == ("s-phx", "ana")
    answer, document = by_kind["answer_feedback"], by_kind["document_feedback"]
    assert (answer.qid, answer.positive, answer.event_id) == (QID, True, "ann-a1")
    assert (document.chunk_id, document.positive) == ("cat-2", True)
    graded = {(j.doc_id, j.source): (j.grade, j.scale) for j in store.judgments() if j.qid == QID}
    assert graded == {("cat-2", "human"): (2, 3), ("dog-2", "llm"): (0, 3)}

    again = ingest_trace_files(store, [spans, notes])
    assert (again.events_added, again.events_unchanged, again.judgments_added) == (0, 3, 0)
    assert len(store.events()) == 3

    rows = training_rows(store, tmp_path)
    assert (QUERY, DOCS["cat-2"]) in pairs(rows)  # the thumbs-up on the document
    assert (QUERY, DOCS["dog-2"]) not in pairs(rows)


def test_phoenix_dataframe_rows_from_parquet(store: Store, tmp_path: Path) -> None:
    """`get_spans_dataframe()` columns: context.span_id, attributes.retrieval.documents."""
    rows = [{
        "context.span_id": "ret", "context.trace_id": "t1", "name": "retrieve",
        "span_kind": "RETRIEVER", "parent_id": None, "start_time": "2024-05-01 10:00:00",
        "attributes.input.value": QUERY, "attributes.session.id": "s-df",
        "attributes.retrieval.documents": [
            {"document.id": "cat-2", "document.score": 0.8, "document.content": DOCS["cat-2"]},
            {"document.id": "dog-2", "document.score": 0.4, "document.content": DOCS["dog-2"]},
        ],
    }]  # fmt: skip
    path = tmp_path / "spans.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    notes = [
        {
            "span_id": "ret",
            "annotation_name": "relevance",
            "annotator_kind": "HUMAN",
            "document_position": 1,
            "result.label": "thumbs_down",
            "result.score": 0.0,
        }
    ]
    notes_path = tmp_path / "annotations.parquet"
    pq.write_table(pa.Table.from_pylist(notes), notes_path)
    ingest_trace_files(store, [path, notes_path])
    by_kind = {e.kind: e for e in store.events()}
    assert by_kind["retrieval"].results == (("cat-2", 1, 0.8), ("dog-2", 2, 0.4))
    assert by_kind["retrieval"].session_id == "s-df"
    assert (by_kind["document_feedback"].chunk_id, by_kind["document_feedback"].positive) == (
        "dog-2", False)  # fmt: skip


def test_a_bad_record_fails_the_file_and_writes_nothing(store: Store, tmp_path: Path) -> None:
    spans = phoenix_spans()
    del spans[1]["attributes"]["input"]  # a retriever span without its query
    path = write_jsonl(tmp_path / "spans.jsonl", spans)
    notes = write_jsonl(tmp_path / "annotations.jsonl", phoenix_annotations())
    with pytest.raises(DataFormatError) as caught:
        ingest_trace_files(store, [path, notes])
    assert str(caught.value).startswith(f"{path}:2: field 'input.value': retriever span")
    assert "record the query as 'input.value'" in str(caught.value)
    assert store.events() == [] and live_qid(QUERY) not in store.queries()

    bad = phoenix_annotations()
    bad[1]["document_position"] = 7
    write_jsonl(notes, bad)
    with pytest.raises(DataFormatError, match=r"annotations.jsonl:2: .*document_position 7"):
        ingest_trace_files(store, [write_jsonl(path, phoenix_spans()), notes])
    assert store.events() == []

    path.write_text('{"context": {"span_id": "x"}\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"spans.jsonl:1: not valid JSON"):
        ingest_trace_files(store, [path])


def test_unknown_documents_fail_or_are_added(store: Store, tmp_path: Path) -> None:
    spans = phoenix_spans()
    spans[1]["attributes"]["retrieval"]["documents"][2]["document"] = {
        "id": "faq-9", "content": "Kittens sleep even more than cats."}  # fmt: skip
    path = write_jsonl(tmp_path / "spans.jsonl", spans)
    with pytest.raises(DataFormatError, match=r"spans.jsonl:2: .*unknown document 'faq-9'"):
        ingest_trace_files(store, [path])
    assert store.events() == []
    report = ingest_trace_files(store, [path], missing_docs="add")
    assert (report.documents_added, report.events_added) == (1, 1)
    assert store.corpus()["faq-9"].text == "Kittens sleep even more than cats."


def langfuse_trace() -> dict:
    """A trace as Langfuse's "Download JSON" writes it: observations and scores inside."""
    return {
        "id": "lf-trace-1", "timestamp": "2024-05-01T10:00:00.000Z", "name": "rag",
        "sessionId": "s-lf", "userId": "bo", "input": QUERY, "output": "About 12-16 hours.",
        "observations": [
            {"id": "obs-ret", "traceId": "lf-trace-1", "type": "RETRIEVER", "name": "retriever",
             "startTime": "2024-05-01T10:00:00.100Z", "input": {"query": QUERY},
             "output": [
                 {"page_content": DOCS["dog-2"], "metadata": {"doc_id": "dog-2", "score": 0.7},
                  "type": "Document"},
                 {"page_content": DOCS["cat-2"], "metadata": {"doc_id": "cat-2", "score": 0.6},
                  "type": "Document"}],
             "parentObservationId": None, "level": "DEFAULT", "metadata": {}},
            {"id": "obs-gen", "traceId": "lf-trace-1", "type": "GENERATION", "name": "answer",
             "startTime": "2024-05-01T10:00:01.000Z", "input": [], "output": "12-16 hours",
             "metadata": {"citations": ["cat-2"]}, "parentObservationId": None},
        ],
        "scores": [
            {"id": "sc-1", "traceId": "lf-trace-1", "name": "user-feedback", "source": "API",
             "dataType": "BOOLEAN", "value": 1, "stringValue": "True",
             "timestamp": "2024-05-01T10:02:00.000Z", "observationId": None},
            {"id": "sc-2", "traceId": "lf-trace-1", "name": "helpfulness", "source": "EVAL",
             "dataType": "NUMERIC", "value": 0.2, "timestamp": "2024-05-01T10:03:00.000Z"},
        ],
    }  # fmt: skip


def test_langfuse_trace_download(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "trace-lf-trace-1.json"
    path.write_text(json.dumps(langfuse_trace(), indent=2), encoding="utf-8")
    result = CliRunner().invoke(cli, ["ingest", "traces", str(path), "--db", store.url])
    assert result.exit_code == 0, result.output
    assert "3 events added" in result.output
    assert "1 answer annotations by a model or code" in result.output
    retrieval, citation, feedback = store.events()
    assert retrieval.results == (("dog-2", 1, 0.7), ("cat-2", 2, 0.6))
    assert (retrieval.session_id, retrieval.user_id) == ("s-lf", "bo")
    assert citation.chunk_ids == ("cat-2",) and citation.qid == QID
    assert (feedback.kind, feedback.positive) == ("answer_feedback", True)
    again = CliRunner().invoke(cli, ["ingest", "traces", str(path), "--db", store.url])
    assert "0 events added, 3 unchanged" in again.output
    rows = training_rows(store, tmp_path)
    assert (QUERY, DOCS["cat-2"]) in pairs(rows)  # cited in an upvoted answer


def test_langfuse_blob_export_rows(store: Store, tmp_path: Path) -> None:
    """observations_v2 and scores rows: snake_case, JSON as text, trace context inline."""
    rows = [
        {"id": "o1", "trace_id": "t9", "type": "RETRIEVER", "name": "search",
         "start_time": "2024-05-01 10:00:00.000000", "session_id": "s-blob", "user_id": "cy",
         "input": json.dumps(QUERY), "metadata": "{}",
         "output": json.dumps([{"id": "cat-2", "score": 2.0, "content": DOCS["cat-2"]}])},
        {"id": "sc", "trace_id": "t9", "observation_id": "o1", "name": "relevance",
         "data_type": "CATEGORICAL", "string_value": "relevant", "source": "ANNOTATION",
         "timestamp": "2024-05-01 10:05:00.000000", "metadata": '{"document_position": 0}'},
    ]  # fmt: skip
    report = ingest_trace_files(store, [write_jsonl(tmp_path / "export.jsonl", rows)])
    assert (report.events_added, report.judgments_added) == (2, 1)
    kinds = {e.kind: e for e in store.events()}
    assert kinds["retrieval"].results == (("cat-2", 1, 2.0),)
    assert kinds["retrieval"].session_id == "s-blob"
    assert kinds["document_feedback"].chunk_id == "cat-2"


def test_otlp_json_file(store: Store, tmp_path: Path) -> None:
    """The collector's file exporter: one ExportTraceServiceRequest per line."""
    request = {"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331",
        "name": "retrieve", "startTimeUnixNano": "1714557600000000000",
        "attributes": [
            {"key": "openinference.span.kind", "value": {"stringValue": "RETRIEVER"}},
            {"key": "input.value", "value": {"stringValue": QUERY}},
            {"key": "retrieval.documents.0.document.id", "value": {"stringValue": "cat-2"}},
            {"key": "retrieval.documents.0.document.score", "value": {"doubleValue": 1.5}},
        ]}]}]}]}  # fmt: skip
    path = write_jsonl(tmp_path / "traces.jsonl", [request])
    assert ingest_trace_files(store, [path]).events_added == 1
    (event,) = store.events()
    assert (event.event_id, event.results) == ("span-b7ad6b7169203331", (("cat-2", 1, 1.5),))
    assert ingest_trace_files(store, [path]).events_added == 0


def test_unknown_format_says_what_is_known(store: Store, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", [{"hello": 1}])
    result = CliRunner().invoke(cli, ["ingest", "traces", str(path), "--db", store.url])
    assert result.exit_code == 1
    assert "cannot tell the trace format" in str(result.exception)


@pytest.mark.parametrize(
    ("label", "score", "expected"),
    [("thumbs_up", None, True), ("Irrelevant", 1.0, False), (None, 0.0, False),
     (None, 0.75, True), ("hallucinated", None, None), (None, 4.0, None)],
)  # fmt: skip
def test_polarity(label, score, expected) -> None:
    assert polarity(label, score) is expected
