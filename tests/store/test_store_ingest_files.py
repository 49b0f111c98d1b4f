from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flywheel.errors import ConfigError, DataFormatError
from flywheel.store import Store

DOC = {"doc_id": "d9", "text": "new doc"}
Q = {"qid": "q9", "text": "new query"}


# (kind, lines, the message after "<file>:") - one row per documented error
CASES = [
    (
        "corpus",
        [DOC, '{"doc_id": "d8", "text": '],
        "2: not valid JSON (Expecting value at column 26); write one JSON object per line",
    ),
    (
        "corpus",
        [DOC, {"title": "no id", "text": "x"}],
        "2: field 'doc_id': missing; give each document a 'doc_id'",
    ),
    (
        "corpus",
        [DOC, {"doc_id": "d8", "text": "  "}],
        "2: field 'text': empty text and no title; remove the document or give it a 'text' "
        "(a title alone is enough)",
    ),
    (
        "corpus",
        [DOC, {"doc_id": "d9", "text": "other"}],
        "2: id 'd9' already appears at line 1 with different content; give each record its own "
        "id, or keep one of the two",
    ),
    (
        "corpus",
        [DOC, {"doc_id": "d1", "text": "not what is stored"}],
        "2: id 'd1' is already stored with different content; pass --replace (replace=True) to "
        "overwrite it, or use a new id",
    ),
    ("queries", [Q, {"qid": "q8"}], "2: field 'text': missing; give each query a 'text'"),
    (
        "queries",
        [Q, {"qid": "q8", "text": "x", "source": "web"}],
        "2: field 'source': 'web' is not allowed; use one of: eval, synthetic, live",
    ),
    (
        "judgments",
        [{"qid": "q1", "doc_id": "d1", "grade": 1}, {"qid": "q1", "doc_id": "d2", "grade": 7}],
        "2: field 'grade': 7 is outside 0-5; map your scale onto 0 (not relevant) to 5",
    ),
    (
        "judgments",
        [{"qid": "q1", "doc_id": "d1", "grade": "high"}],
        "1: field 'grade': 'high' is not a whole number; use an integer grade 0-5",
    ),
    (
        "judgments",
        [{"qid": "q1", "doc_id": "d1", "grade": 1}, {"qid": "q1", "doc_id": "nope", "grade": 1}],
        "2: field 'doc_id': unknown document 'nope'; ingest the corpus first (flywheel ingest "
        "corpus)",
    ),
    (
        "judgments",
        [{"qid": "q1", "doc_id": "d1", "grade": 1}, {"qid": "qx", "doc_id": "d1", "grade": 1}],
        "2: field 'qid': unknown query 'qx'; ingest the queries first (flywheel ingest queries)",
    ),
    (
        "judgments",
        [{"qid": "q1", "grade": 1}],
        "1: field 'doc_id': needs exactly one target; give either 'doc_id' or 'chunk_id' (not "
        "both)",
    ),
    (
        "events",
        [
            {
                "kind": "click",
                "session_id": "s",
                "qid": "q1",
                "chunk_id": "d1",
                "rank": 1,
                "timestamp": "2024-05-01T12:00:00Z",
            },
            {
                "kind": "click",
                "session_id": "s",
                "qid": "q1",
                "chunk_id": "gone",
                "rank": 2,
                "timestamp": "2024-05-01T12:00:01Z",
            },
        ],
        "2: field 'chunk_id': unknown document or chunk 'gone'; ingest the corpus before events "
        "that point at it",
    ),
    (
        "events",
        [
            {
                "kind": "click",
                "session_id": "s",
                "qid": "nobody",
                "chunk_id": "d1",
                "rank": 1,
                "timestamp": "2024-05-01T12:00:00Z",
            }
        ],
        "1: field 'qid': unknown query 'nobody'; ingest or log the query before its events",
    ),
    (
        "events",
        [{"kind": "click", "session_id": "s", "qid": "q1", "timestamp": "2024-05-01"}],
        "1: field 'chunk_id': missing; a 'click' event needs 'chunk_id'",
    ),
    (
        "events",
        [{"kind": "swipe", "session_id": "s", "qid": "q1", "timestamp": "2024-05-01"}],
        "1: field 'kind': 'swipe' is not an event kind; use one of: retrieval, citation, "
        "answer_feedback, document_feedback, click, dwell, reformulation, more_like_this, "
        "preference",
    ),
]


@pytest.mark.parametrize(("kind", "lines", "message"), CASES)
def test_a_bad_record_fails_the_whole_file(
    seeded: Store, tmp_path: Path, kind: str, lines: list, message: str, write_lines, snapshot
) -> None:
    path = write_lines(tmp_path / f"{kind}.jsonl", lines)
    before = snapshot(seeded)
    with pytest.raises(DataFormatError) as caught:
        seeded.ingest_file(kind, path)
    assert str(caught.value) == f"{path}:{message}"
    assert snapshot(seeded) == before


def test_non_utf8_bytes_name_the_line(seeded: Store, tmp_path: Path, snapshot) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_bytes(b'{"doc_id": "a", "text": "fine"}\n{"doc_id": "b", "text": "caf\xe9"}\n')
    before = snapshot(seeded)
    with pytest.raises(
        DataFormatError,
        match=r"corpus.jsonl:2: not UTF-8 text; re-encode the "
        r"file as UTF-8",
    ):
        seeded.ingest_file("corpus", path)
    csv_path = tmp_path / "corpus.csv"
    csv_path.write_bytes(b"doc_id,text\na,fine\nb,caf\xe9\n")
    with pytest.raises(DataFormatError, match=r"corpus.csv:3: not UTF-8 text"):
        seeded.ingest_file("corpus", csv_path)
    assert snapshot(seeded) == before


def test_several_bad_lines_are_counted_in_the_message(
    seeded: Store, tmp_path: Path, write_lines
) -> None:
    path = write_lines(tmp_path / "q.jsonl", [{"qid": "a"}, {"qid": "b"}, Q])
    with pytest.raises(
        DataFormatError,
        match=r"q.jsonl:1: .*\(1 more bad records; "
        r"--skip-invalid stores the good ones\)",
    ):
        seeded.ingest_file("queries", path)


def test_skip_invalid_stores_good_lines_and_writes_rejects(
    seeded: Store, tmp_path: Path, write_lines
) -> None:
    path = write_lines(
        tmp_path / "judgments.jsonl",
        [
            {"qid": "q1", "doc_id": "d1", "grade": 2},
            {"qid": "q1", "doc_id": "d2", "grade": 9},
            "{broken",
            {"qid": "q2", "doc_id": "d2", "grade": 1, "split": "test"},
        ],
    )
    report = seeded.ingest_file("judgments", path, skip_invalid=True)
    assert (report.added, report.rejected) == (2, 2)
    assert report.rejects_path == f"{path}.rejects.jsonl"
    rejects = [json.loads(line) for line in Path(report.rejects_path).read_text().splitlines()]
    assert [r["line"] for r in rejects] == [2, 3]
    assert "9 is outside 0-5" in rejects[0]["error"] and rejects[1]["record"] == "{broken"
    assert seeded.qrels() == {"q1": {"d1": 2}, "q2": {"d2": 1}}
    assert seeded.qrels(split="test") == {"q2": {"d2": 1}}


def test_reingesting_a_file_is_a_no_op(
    seeded: Store, tmp_path: Path, write_lines, snapshot
) -> None:
    events = write_lines(
        tmp_path / "events.jsonl",
        [
            {
                "kind": "retrieval",
                "session_id": "s",
                "qid": "q1",
                "timestamp": "2024-05-01T12:00:00Z",
                "results": [["d1", 1, 0.9], {"chunk_id": "d2", "rank": 2, "score": 0.1}],
            },
            {
                "kind": "answer_feedback",
                "session_id": "s",
                "qid": "q1",
                "positive": True,
                "timestamp": "2024-05-01T12:00:05+00:00",
            },
        ],
    )
    first = seeded.ingest_file("events", events)
    before = snapshot(seeded)
    second = seeded.ingest_file("events", events)
    assert (first.added, second.added, second.unchanged) == (2, 0, 2)
    assert snapshot(seeded) == before
    assert seeded.events()[0].results == (("d1", 1, 0.9), ("d2", 2, 0.1))


def test_duplicate_identical_lines_are_counted_not_errors(
    store: Store, tmp_path: Path, write_lines
) -> None:
    report = store.ingest_file("corpus", write_lines(tmp_path / "c.jsonl", [DOC, DOC]))
    assert (report.added, report.duplicates) == (1, 1)


def test_replace_updates_changed_records(seeded: Store, tmp_path: Path, write_lines) -> None:
    path = write_lines(
        tmp_path / "q.jsonl", [{"qid": "q1", "text": "why do cats purr", "intent": "why"}]
    )
    report = seeded.ingest_file("queries", path, replace=True)
    assert report.updated == 1
    assert seeded.query_records()[0].intent == "why"


def test_csv_tsv_and_parquet_by_file_ending(store: Store, tmp_path: Path) -> None:
    with (tmp_path / "corpus.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["doc_id", "title", "text", "metadata"])
        writer.writerow(["c1", "T", "text, with comma", '{"lang": "en"}'])
        writer.writerow(["c2", "", "plain", ""])
    assert store.ingest_file("corpus", tmp_path / "corpus.csv").added == 2
    assert store.corpus()["c1"].metadata == {"lang": "en"}
    pq.write_table(
        pa.Table.from_pylist([{"qid": "p1", "text": "parquet query", "source": "synthetic"}]),
        tmp_path / "q.parquet",
    )
    assert store.ingest_file("queries", tmp_path / "q.parquet").added == 1
    (tmp_path / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\np1\tc1\t3\n")
    assert store.ingest_file("judgments", tmp_path / "qrels.tsv", source="llm").added == 1
    assert store.qrels(sources=["llm"]) == {"p1": {"c1": 3}}
    assert store.queries(source="synthetic") == {"p1": "parquet query"}


def test_unknown_file_ending_and_kind(store: Store, tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=r"unknown file ending '.xlsx'; use one of: .csv, "
        r".jsonl, .ndjson, .parquet, .tsv",
    ):
        store.ingest_file("corpus", tmp_path / "a.xlsx")
    from flywheel.errors import UnknownComponentError

    with pytest.raises(UnknownComponentError, match="known: corpus, events, judgments, queries"):
        store.ingest_file("docs", tmp_path / "a.jsonl")


def test_csv_with_several_event_kinds_treats_empty_cells_as_absent(
    seeded: Store, tmp_path: Path
) -> None:
    path = tmp_path / "events.csv"
    columns = ["kind", "session_id", "qid", "timestamp", "chunk_id", "rank", "positive", "dwell_ms"]
    rows = [
        ["click", "s1", "q1", "2024-05-01T12:00:00Z", "d1", "1", "", ""],
        ["answer_feedback", "s1", "q1", "2024-05-01T12:01:00Z", "", "", "true", ""],
        ["dwell", "s1", "q1", "2024-05-01T12:02:00Z", "d1", "", "", "5000"],
    ]
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([columns, *rows])
    report = seeded.ingest_file("events", path)
    assert report.added == 3, report.summary()
    kinds = sorted(str(e.kind) for e in seeded.events())
    assert kinds == ["answer_feedback", "click", "dwell"]
    # a field the kind does not have, with a value, is still caught (a typo, not a blank)
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(
            [columns, ["click", "s2", "q1", "2024-05-01", "d1", "1", "", "7"]]
        )
    with pytest.raises(DataFormatError, match="dwell_ms"):
        seeded.ingest_file("events", path)


def test_pandas_parquet_index_is_ignored(seeded: Store, tmp_path: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame(
        [
            {
                "kind": "click",
                "session_id": "s1",
                "qid": "q1",
                "chunk_id": "d1",
                "rank": 1,
                "timestamp": "2024-05-01T12:00:00Z",
            },
            {
                "kind": "click",
                "session_id": "s1",
                "qid": "q2",
                "chunk_id": "d2",
                "rank": 2,
                "timestamp": "2024-05-01T12:00:05Z",
            },
        ],  # fmt: skip
        index=[10, 3],  # not a range: pandas writes it as the column __index_level_0__
    )
    path = tmp_path / "events.parquet"
    frame.to_parquet(path)
    assert "__index_level_0__" in pq.read_schema(path).names
    report = seeded.ingest_file("events", path)
    assert report.added == 2, report.summary()
