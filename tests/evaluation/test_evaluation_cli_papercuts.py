"""Stored runs through the CLI: honest comparisons, full ids, prefixes, wide piped tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flywheel.cli.app import app

runner = CliRunner()


def _run(spec_text: str, tmp_path: Path, db: str, name: str = "spec.toml") -> str:
    spec = tmp_path / name
    spec.write_text(spec_text)
    result = runner.invoke(app, ["experiment", "run", str(spec), "--db", db])
    assert result.exit_code == 0, result.output
    return json.loads(runner.invoke(app, ["experiment", "list", "--db", db, "--json"]).output)[-1][
        "run_id"
    ]


def _subset(tiny_beir: Path, tmp_path: Path, *, drop_docs: bool, keep_queries: int) -> Path:
    """A copy of the tiny dataset with fewer queries (and, if asked, fewer documents)."""
    folder = tmp_path / f"subset-{drop_docs}-{keep_queries}"
    (folder / "qrels").mkdir(parents=True)
    corpus = (tiny_beir / "corpus.jsonl").read_text().splitlines()
    (folder / "corpus.jsonl").write_text("\n".join(corpus[:-1] if drop_docs else corpus) + "\n")
    queries = (tiny_beir / "queries.jsonl").read_text().splitlines()[:keep_queries]
    (folder / "queries.jsonl").write_text("\n".join(queries) + "\n")
    qrels = (tiny_beir / "qrels" / "test.tsv").read_text().splitlines()
    (folder / "qrels" / "test.tsv").write_text("\n".join(qrels[: keep_queries + 1]) + "\n")
    return folder


@pytest.fixture()
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'fw.db'}"


def test_compare_restricts_to_common_queries_with_a_warning(
    tiny_beir: Path, tiny_spec: str, tmp_path: Path, db: str
) -> None:
    full = _run(tiny_spec.format(dataset=tiny_beir), tmp_path, db)
    subset = _subset(tiny_beir, tmp_path, drop_docs=False, keep_queries=3)
    part = _run(tiny_spec.format(dataset=subset), tmp_path, db, "part.toml")
    out = runner.invoke(app, ["experiment", "compare", full, part, "--db", db]).output
    assert "different query sets (A: 6, B: 3)" in out
    assert "3 queries." in out and "6 queries." not in out


def test_compare_refuses_different_corpora(
    tiny_beir: Path, tiny_spec: str, tmp_path: Path, db: str
) -> None:
    full = _run(tiny_spec.format(dataset=tiny_beir), tmp_path, db)
    subset = _subset(tiny_beir, tmp_path, drop_docs=True, keep_queries=6)
    part = _run(tiny_spec.format(dataset=subset), tmp_path, db, "part.toml")
    result = runner.invoke(app, ["experiment", "compare", full, part, "--db", db])
    assert result.exit_code != 0
    assert "different corpora" in str(result.exception)


def test_list_json_full_ids_show_prefix_and_latest(
    tiny_beir: Path, tiny_spec: str, tmp_path: Path, db: str
) -> None:
    first = _run(tiny_spec.format(dataset=tiny_beir), tmp_path, db)
    second = _run(tiny_spec.format(dataset=tiny_beir), tmp_path, db)
    table = runner.invoke(app, ["experiment", "list", "--db", db], terminal_width=80).output
    assert first in table and second in table  # never cut to 20261206-…
    shown = runner.invoke(app, ["experiment", "show", "latest", "--db", db])
    assert shown.exit_code == 0 and f"run {second}" in shown.output
    unique = second[: len(second) - 2]
    by_prefix = runner.invoke(app, ["experiment", "show", unique, "--db", db])
    assert by_prefix.exit_code == 0 and f"run {second}" in by_prefix.output
    ambiguous = runner.invoke(app, ["experiment", "show", "2", "--db", db])
    assert ambiguous.exit_code != 0 and "give more of the id" in str(ambiguous.exception)
    missing = runner.invoke(app, ["experiment", "show", "nope", "--db", db])
    assert "flywheel experiment list" in str(missing.exception)
    assert "Store." not in str(missing.exception)


def test_version_and_help_keep_option_names(tmp_path: Path) -> None:
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and version.output.startswith("flywheel ")
    for args, name in (
        (["dataset", "build", "--help"], "--relative-margin"),
        (["fewshot", "build", "--help"], "--no-require-evidence"),
    ):
        out = runner.invoke(app, args, terminal_width=80, env={"COLUMNS": "80"}).output
        assert name in out, out


def test_piped_console_draws_wide_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.delenv("COLUMNS", raising=False)
    from rich.table import Table

    from flywheel.cli._common import PIPED_WIDTH, make_console

    console = make_console()
    console.file = io.StringIO()  # not a terminal: a log file, a pipe
    table = Table()
    table.add_column("system")
    table.add_column("score")
    name = "fine-tuned dense + cross-encoder rerank <- selected on dev " * 2
    table.add_row(name, "0.1234")
    console.print(table)
    assert name.strip() in console.file.getvalue() and console.width >= PIPED_WIDTH
