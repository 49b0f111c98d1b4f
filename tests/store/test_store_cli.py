from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flywheel.cli.app import app
from flywheel.errors import DataFormatError
from flywheel.store import Store

runner = CliRunner()


@pytest.fixture
def beir_folder(tmp_path: Path) -> Path:
    """A three-document BEIR folder with a train and a test split."""
    root = tmp_path / "tiny"
    (root / "qrels").mkdir(parents=True)
    docs = [
        {"_id": "1", "title": "A", "text": "alpha"},
        {"_id": "2", "title": "", "text": ""},
        {"_id": "3", "title": "C", "text": "gamma", "metadata": {"k": 1}},
    ]
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    queries = [{"_id": "q1", "text": "first"}, {"_id": "q2", "text": "second", "metadata": {}}]
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (root / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq1\t1\t2\nq1\t3\t1\n")
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq2\t2\t1\n")
    return root


def test_init_ingest_beir_and_status(db_url: str, beir_folder: Path) -> None:
    db = db_url
    result = runner.invoke(app, ["init", "--db", db])
    assert result.exit_code == 0 and "store ready" in result.output
    result = runner.invoke(app, ["ingest", "beir", str(beir_folder), "--db", db])
    assert result.exit_code == 0, result.output
    assert "3 added" in result.output and "1 documents have no title and no text" in result.output
    again = runner.invoke(app, ["ingest", "beir", str(beir_folder), "--db", db])
    assert "0 added, 3 unchanged" in again.output
    store = Store(db)
    assert store.qrels(split="train") == {"q1": {"1": 2, "3": 1}}
    assert store.qrels(split="test") == {"q2": {"2": 1}}
    assert {j.source for j in store.judgments()} == {"benchmark"}
    status = json.loads(runner.invoke(app, ["status", "--json", "--db", db]).output)
    assert status["documents"] == 3 and status["queries"] == {"eval": 2}
    assert status["judgments"] == {"benchmark": {"1": 2, "2": 1}}
    assert status["judged_queries"] == 2 and status["next_stage"] == "evaluation"
    assert status["missing"].startswith("18 more judged queries")
    table = runner.invoke(app, ["status", "--db", db])
    assert "benchmark" in table.output and "next stage: evaluation" in table.output


def test_db_from_environment(db_url: str, monkeypatch, beir_folder: Path) -> None:
    monkeypatch.setenv("FLYWHEEL_DB", db_url)
    assert runner.invoke(app, ["ingest", "beir", str(beir_folder)]).exit_code == 0
    assert Store(db_url).counts()["queries"] == 2


def test_ingest_file_errors_exit_non_zero_and_store_nothing(tmp_path: Path, db_url: str) -> None:
    db = db_url
    bad = tmp_path / "corpus.jsonl"
    bad.write_text('{"doc_id": "a", "text": "ok"}\n{"doc_id": "b"}\n')
    result = runner.invoke(app, ["ingest", "corpus", str(bad), "--db", db])
    assert result.exit_code == 1
    assert isinstance(result.exception, DataFormatError)
    assert (
        str(result.exception) == f"{bad}:2: field 'text': missing; give each document a 'text' "
        "(or at least a 'title')"
    )
    assert Store(db).counts()["documents"] == 0
    result = runner.invoke(app, ["ingest", "corpus", str(bad), "--skip-invalid", "--db", db])
    assert result.exit_code == 0
    assert "1 records rejected" in result.output
    assert Path(f"{bad}.rejects.jsonl").exists() and Store(db).counts()["documents"] == 1


def test_ingest_queries_and_judgments_with_defaults(tmp_path: Path, db_url: str) -> None:
    db = db_url
    (tmp_path / "c.jsonl").write_text('{"doc_id": "a", "text": "x"}\n')
    (tmp_path / "q.csv").write_text("qid,text,intent\nq1,hello,greeting\n")
    (tmp_path / "j.csv").write_text("qid,doc_id,grade\nq1,a,3\n")
    for kind, name, extra in (
        ("corpus", "c.jsonl", []),
        ("queries", "q.csv", ["--source", "synthetic"]),
        ("judgments", "j.csv", ["--source", "llm", "--split", "dev"]),
    ):
        result = runner.invoke(app, ["ingest", kind, str(tmp_path / name), *extra, "--db", db])
        assert result.exit_code == 0, result.output
    store = Store(db)
    assert store.query_records()[0].intent == "greeting"
    assert store.queries(source="synthetic") == {"q1": "hello"}
    assert store.qrels(split="dev", sources=["llm"]) == {"q1": {"a": 3}}


def test_chunk_command_writes_chunks(db_url: str, beir_folder: Path) -> None:
    db = db_url
    runner.invoke(app, ["ingest", "beir", str(beir_folder), "--db", db])
    result = runner.invoke(
        app,
        [
            "chunk",
            "--strategy",
            "fixed",
            "--size",
            "3",
            "--overlap",
            "1",
            "--unit",
            "chars",
            "--db",
            db,
        ],
    )
    assert result.exit_code == 0, result.output
    # "alpha" -> alp, pha ; "gamma" -> gam, mma ; document 2 has no text
    assert "over 2 documents: 4 added" in result.output
    assert Store(db).chunk_strategies() == {"fixed": 4}


def test_ingest_beir_resolves_a_dataset_name(
    tmp_path: Path, beir_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLYWHEEL_DATASETS", str(beir_folder.parent))
    db = f"sqlite:///{tmp_path / 'named.db'}"
    result = runner.invoke(app, ["ingest", "beir", beir_folder.name, "--db", db])
    assert result.exit_code == 0, result.output
    assert len(Store(db).corpus()) == 3
    missing = runner.invoke(app, ["ingest", "beir", "no-such-set", "--db", db])
    assert missing.exit_code != 0 and "FLYWHEEL_DATASETS" in str(missing.exception)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://user:secret@localhost/db", "backend 'mysql' is not supported"),
        ("postgresql://user:secret@127.0.0.1:9/db", "cannot open the store"),
    ],
)
def test_unsupported_or_unreachable_db_is_one_clear_error(url: str, expected: str) -> None:
    from flywheel.errors import ConfigError

    result = runner.invoke(app, ["status", "--db", url])
    assert result.exit_code != 0 and isinstance(result.exception, ConfigError)
    assert expected in str(result.exception) and "secret" not in str(result.exception)
