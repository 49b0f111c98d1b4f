"""Importers under bad input (issue 18, failures 2, 3 and 6): every refusal is
``file:line: problem; fix``, never a traceback, and a refused file writes nothing. Hypothesis
generates records of every kind in all four formats; named cases pin the inputs that once
ended in a traceback."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from flywheel.errors import DataFormatError
from flywheel.store import Store

FIELDS = {
    "corpus": ["doc_id", "title", "text", "metadata"],
    "queries": ["qid", "text", "intent", "source"],
    "judgments": ["qid", "doc_id", "chunk_id", "grade", "split", "scale"],
    "events": ["kind", "session_id", "qid", "timestamp", "chunk_id", "rank", "dwell_ms",
               "results", "chunk_ids", "positive", "winner", "loser", "event_id"],
}  # fmt: skip
WEIRD = st.one_of(
    st.sampled_from(["d1", "q1", "click", "dwell", "2024-05-01T00:00:00Z", "--5", "\u00b2", "",
                     "[/x]", "a\x00b", "\ud800", " d1 ", "NaN", "1e400", "9" * 5000]),
    st.integers(-(10**20), 10**20), st.floats(allow_nan=True), st.booleans(), st.none(),
    st.lists(st.sampled_from(["d1", 1, None]), max_size=3),
    st.dictionaries(st.sampled_from(["a", "b"]), st.floats(allow_nan=True), max_size=2),
)  # fmt: skip


def write(path: Path, rows: list[dict]) -> Path:
    """``rows`` in the format of ``path``'s ending, as a careless exporter would write them."""
    suffix = path.suffix
    if suffix == ".jsonl":
        text = "\n".join(json.dumps(row, allow_nan=True) for row in rows) + "\n"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
    elif suffix in (".csv", ".tsv"):
        names = sorted({key for row in rows for key in row})
        with path.open("w", newline="", encoding="utf-8", errors="surrogatepass") as handle:
            writer = csv.DictWriter(handle, names, delimiter="," if suffix == ".csv" else "\t")
            writer.writeheader()
            writer.writerows(
                {k: "" if v is None else str(v) for k, v in row.items()} for row in rows
            )
    else:
        try:
            table = pa.Table.from_pylist(rows)
        except (pa.ArrowException, OverflowError, TypeError, UnicodeEncodeError):
            table = pa.Table.from_pylist(
                [{k: repr(v).encode("utf-8", "surrogatepass") for k, v in r.items()} for r in rows]
            )  # binary columns, as some exporters write text
        try:
            pq.write_table(table, path)
        except pa.ArrowNotImplementedError:  # e.g. an empty struct: no Parquet file can hold it
            assume(False)
    return path


def counts(store: Store) -> dict:
    return store.status().to_dict()


def try_import(store: Store, kind: str, path: Path, skip_invalid: bool) -> None:
    before = counts(store)
    try:
        store.ingest_file(kind, path, skip_invalid=skip_invalid)
    except DataFormatError as exc:
        assert str(exc).startswith(f"{path}:"), exc
        assert counts(store) == before  # all or nothing
    if skip_invalid and Path(f"{path}.rejects.jsonl").exists():
        for line in Path(f"{path}.rejects.jsonl").read_text(encoding="utf-8").splitlines():
            assert json.loads(line)["line"] >= 1


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kind=st.sampled_from(sorted(FIELDS)),
    suffix=st.sampled_from([".jsonl", ".csv", ".tsv", ".parquet"]),
    rows=st.lists(st.dictionaries(st.sampled_from(FIELDS["events"] + FIELDS["corpus"]), WEIRD,
                                  min_size=1, max_size=6), min_size=1, max_size=4),
    skip_invalid=st.booleans(),
)  # fmt: skip
def test_any_file_is_imported_or_refused_with_file_and_line(
    seeded: Store, tmp_path: Path, kind: str, suffix: str, rows: list, skip_invalid: bool
) -> None:
    path = write(tmp_path / f"{kind}{suffix}", rows)
    try_import(seeded, kind, path, skip_invalid)


CLICK = {"kind": "click", "session_id": "s", "qid": "q1", "chunk_id": "d1", "rank": 1,
         "timestamp": "2024-05-01T12:00:00Z"}  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "line", "words"),
    [
        ("events", json.dumps({**CLICK, "timestamp": 1e20}), "timestamp"),
        ("events", json.dumps({**CLICK, "timestamp": -1e15}), "timestamp"),
        ("events", json.dumps({**CLICK, "timestamp": math.nan}), "timestamp"),
        ("events", json.dumps({**CLICK, "rank": "--5"}), "rank"),
        ("events", json.dumps({**CLICK, "rank": "\u00b2"}), "rank"),
        ("events", json.dumps({**CLICK, "session_id": "\ud800"}), "surrogate"),
        ("events", "[" * 100_000 + "]" * 100_000, "nested too deep"),
        ("corpus", '{"doc_id": ' + "9" * 5000 + ', "text": "x"}', "unreadable JSON value"),
        ("corpus", json.dumps({"doc_id": "d9", "text": "x", "metadata": {"a": math.nan}}),
         "holds nan"),
        ("corpus", json.dumps({"doc_id": "d9", "text": "a\x00b"}), "NUL"),
        ("judgments", json.dumps({"qid": "q1", "doc_id": "d1", "grade": 1, "split": {"a": 1}}),
         "split"),
        ("judgments", json.dumps({"qid": "q1", "doc_id": "d1", "grade": 1, "split": ["t"]}),
         "split"),
    ],
)  # fmt: skip
def test_inputs_that_were_tracebacks_are_file_line_errors(
    store: Store, tmp_path: Path, kind: str, line: str, words: str
) -> None:
    store.add_documents([{"doc_id": "d1", "text": "x"}])
    store.add_queries({"q1": "q"})
    path = tmp_path / f"{kind}.jsonl"
    path.write_bytes((line + "\n").encode("utf-8", "surrogatepass"))
    with pytest.raises(DataFormatError, match=rf"^{path}:1: .*{words}"):
        store.ingest_file(kind, path)


def test_a_duplicated_csv_column_is_refused(seeded: Store, tmp_path: Path) -> None:
    path = tmp_path / "j.csv"
    path.write_text("qid,doc_id,grade,grade\nq1,d1,1,2\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"j\.csv:1: column 'grade' appears twice"):
        seeded.ingest_file("judgments", path)


def test_csv_event_bounds_match_the_api(seeded: Store, tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    header = "kind,session_id,qid,chunk_id,rank,timestamp\n"
    for rank in ("0", "-2", "1" + "0" * 30, "--5", "\u00b2", "1.5"):
        path.write_text(header + f"click,s,q1,d1,{rank},2024-05-01\n", encoding="utf-8")
        with pytest.raises(DataFormatError, match=r"e\.csv:2: field 'rank'"):
            seeded.ingest_file("events", path)
    path.write_text(header + "click,s,q1,d1,3,2024-05-01\n", encoding="utf-8")
    assert seeded.ingest_file("events", path).added == 1


def test_parquet_binary_columns_reach_the_rejects_file(seeded: Store, tmp_path: Path) -> None:
    path = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"doc_id": [b"\xff\x00", b"ok"], "text": [b"t", b"u"]}), path)
    report = seeded.ingest_file("corpus", path, skip_invalid=True)
    rejects = [json.loads(x) for x in Path(report.rejects_path).read_text().splitlines()]
    assert report.rejected == 2 and rejects[0]["line"] == 1


def test_a_clean_rerun_removes_the_stale_rejects_file(seeded: Store, tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"qid": "q7", "text": "fine"}\n{"qid": "q8"}\n', encoding="utf-8")
    report = seeded.ingest_file("queries", path, skip_invalid=True)
    assert Path(report.rejects_path).exists()
    path.write_text('{"qid": "q7", "text": "fine"}\n{"qid": "q8", "text": "fixed"}\n')
    assert seeded.ingest_file("queries", path, skip_invalid=True).rejected == 0
    assert not Path(f"{path}.rejects.jsonl").exists()


def test_judgment_doc_id_is_stripped_like_qid(seeded: Store, tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text('{"qid": " q1 ", "doc_id": " d1 ", "grade": 2}\n', encoding="utf-8")
    assert seeded.ingest_file("judgments", path).added == 1
    assert seeded.qrels() == {"q1": {"d1": 2}}


def test_rich_markup_in_an_error_is_printed_not_parsed(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "q.jsonl"
    path.write_text('{"qid": "[/x]", "text": ""}\n', encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "flywheel", "ingest", "queries", str(path),
         "--db", str(tmp_path / "f.db")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert f"{path}:1:" in " ".join(out.stderr.split())
