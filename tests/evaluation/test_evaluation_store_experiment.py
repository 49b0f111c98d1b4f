"""``experiment run --db`` on a user's own CSV corpus: ingest to measured experiment, no Python."""

from __future__ import annotations

import csv
from pathlib import Path

from typer.testing import CliRunner

from flywheel.cli.app import app

runner = CliRunner()

DOCS = [
    ("kb1", "Refunds", "Refunds take five business days to reach your card. " * 6),
    ("kb2", "Passwords", "Reset your password from the login page with the reset link. " * 6),
    ("kb3", "Shipping", "Parcels ship within two days and tracking arrives by email. " * 6),
    ("kb4", "Invoices", "Invoices are in the billing tab and can be downloaded as PDF. " * 6),
    ("kb5", "Filler", "Nothing anyone asks about lives in this document at all. " * 6),
]
QUERIES = [
    ("q1", "how long do refunds take"),
    ("q2", "how do I reset my password"),
    ("q3", "when does my parcel ship"),
    ("q4", "where do I download invoices"),
]
SPEC = """
name = "own-corpus"
dataset = "store"
split = "test"
hypothesis = "BM25 beats a reversed list on our help centre"
primary_metric = "ndcg@10"
metrics = ["ndcg@10", "recall@1"]
baseline = "reverse"
n_resamples = 200
latency_queries = 0
{extra}
[success]
metric = "ndcg@10"
min_relative_gain = 0.05
max_p_value = 0.5
[[variants]]
name = "reverse"
retriever = "test-reverse"
[[variants]]
name = "bm25"
retriever = "bm25"
{chunked}
"""
CHUNKED = '[[variants]]\nname = "bm25-chunks"\nretriever = "bm25"\nchunking = "fixed"\n'


def _write_csv(path: Path, header: list[str], rows: list[tuple]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *rows])
    return path


def _ingested(tmp_path: Path) -> str:
    db = f"sqlite:///{tmp_path / 'fw.db'}"
    corpus = _write_csv(tmp_path / "corpus.csv", ["doc_id", "title", "text"], DOCS)
    queries = _write_csv(tmp_path / "queries.csv", ["qid", "text"], QUERIES)
    judged = [(q, f"kb{i}", 1, "test") for i, (q, _) in enumerate(QUERIES, start=1)]
    grades = _write_csv(tmp_path / "judgments.csv", ["qid", "doc_id", "grade", "split"], judged)
    for kind, path in (("corpus", corpus), ("queries", queries), ("judgments", grades)):
        done = runner.invoke(app, ["ingest", kind, str(path), "--db", db])
        assert done.exit_code == 0, done.output
    chunked = runner.invoke(
        app, ["chunk", "--strategy", "fixed", "--unit", "chars", "--size", "120", "--overlap",
              "0", "--db", db],
    )  # fmt: skip
    assert chunked.exit_code == 0, chunked.output
    return db


def test_experiment_on_the_store_with_chunks_rolled_up_to_documents(tmp_path: Path) -> None:
    db = _ingested(tmp_path)
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.format(extra="", chunked=CHUNKED))
    result = runner.invoke(app, ["experiment", "run", str(spec), "--db", db])
    assert result.exit_code == 0, result.output
    assert "4 queries" in result.output and "bm25-chunks" in result.output
    from flywheel.evaluation.experiment import ExperimentResult
    from flywheel.store import Store

    record = Store(db).list_experiment_runs()[-1]
    stored = ExperimentResult.from_stored(record.spec, record.results)
    # chunk results were rolled up to documents: the judged document ids are what was ranked
    assert all(d.startswith("kb") and "#" not in d for r in stored.runs["bm25-chunks"].values()
               for d in r)  # fmt: skip
    assert stored.comparison.mean("bm25-chunks", "recall@1") == 1.0
    assert stored.comparison.mean("bm25", "recall@1") == 1.0


def test_experiment_on_the_store_at_chunk_level(tmp_path: Path) -> None:
    db = _ingested(tmp_path)
    from flywheel.store import Store

    store = Store(db)
    first_chunks = {}
    for chunk_id, chunk in store.chunks("fixed").items():
        first_chunks.setdefault(chunk.metadata["doc_id"], chunk_id)
    rows = [(q, first_chunks[f"kb{i}"], 1, "test") for i, (q, _) in enumerate(QUERIES, 1)]
    path = _write_csv(tmp_path / "chunk_judgments.csv", ["qid", "chunk_id", "grade", "split"], rows)
    assert runner.invoke(app, ["ingest", "judgments", str(path), "--db", db]).exit_code == 0
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.format(extra='level = "chunk"\nchunk_strategy = "fixed"', chunked=""))
    result = runner.invoke(app, ["experiment", "run", str(spec), "--db", db, "--no-save"])
    assert result.exit_code == 0, result.output
    assert "verdict:" in result.output


def test_missing_chunks_name_the_command(tmp_path: Path) -> None:
    db = _ingested(tmp_path)
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.format(extra="", chunked=CHUNKED.replace('"fixed"', '"sentence"')))
    result = runner.invoke(app, ["experiment", "run", str(spec), "--db", db])
    assert result.exit_code != 0
    assert "flywheel chunk --strategy sentence" in str(result.exception)
