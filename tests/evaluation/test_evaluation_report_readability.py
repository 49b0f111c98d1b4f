"""Reports a reader can use: titles beside ids, relevant documents marked, only queries that
moved, no degenerate cost axis, and a height that stays reasonable with four variants."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flywheel.cli.app import app
from flywheel.evaluation import compare
from flywheel.reports import Report, plots

runner = CliRunner()
CHROMIUM = "/usr/bin/chromium"

FOUR_VARIANTS = """
[[variants]]
name = "bm25-b"
retriever = "bm25"
[[variants]]
name = "bm25-c"
retriever = "bm25"
[[variants]]
name = "bm25-d"
retriever = "bm25"
"""


def test_experiment_run_report_has_titles_and_marks_relevant(
    tiny_beir: Path, tiny_spec: str, tmp_path: Path
) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text(tiny_spec.format(dataset=tiny_beir))
    out = tmp_path / "r.html"
    result = runner.invoke(app, ["experiment", "run", str(spec), "--no-save", "--report", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "d4: Bread" in page  # a title beside the id, with no corpus passed to the report
    assert '<b title="judged relevant">✓ d4: Bread</b>' in page


def test_changed_table_lists_only_queries_that_moved() -> None:
    qrels = {f"q{i}": {"good": 1} for i in range(6)}
    base = {q: {"good": 1.0, "bad": 2.0} for q in qrels}
    new = dict(base) | {"q3": {"good": 2.0, "bad": 1.0}}  # only q3 moves
    comparison = compare(qrels, {"base": base, "new": new}, metrics=["mrr@10"], baseline="base",
                         n_resamples=50)  # fmt: skip
    report = Report("t").add_comparison(comparison, runs={"base": base, "new": new})
    [(_, table)] = [s for s in report.sections if s[0].startswith("Queries that changed most")]
    assert table.count("<tr><td>") == 1 and "<td>q3</td>" in table
    assert "1 of 6 queries changed" in table


def test_quality_cost_has_no_cost_axis_when_every_system_is_local() -> None:
    local = [
        {"name": "bm25", "quality": 0.6, "cost_per_1k": None, "latency_ms": 2.0, "hosted": False},
        {"name": "dense", "quality": 0.7, "cost_per_1k": None, "latency_ms": 9.0, "hosted": False},
    ]
    fig = plots.quality_cost(local, metric="ndcg@10")
    assert [ax.get_xlabel() for ax in fig.axes] == ["latency p50 per query (ms)"]
    hosted = [*local, {"name": "api", "quality": 0.8, "cost_per_1k": 0.1, "latency_ms": 90.0,
                       "hosted": True}]  # fmt: skip
    assert len(plots.quality_cost(hosted, metric="ndcg@10").axes) == 2


def _wordy_beir(root: Path, n: int = 24) -> Path:
    """``n`` documents with long titles and ``n`` queries, one relevant document each."""
    import json

    (root / "qrels").mkdir(parents=True)
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()
    with open(root / "corpus.jsonl", "w") as fh:
        for i in range(n):
            title = f"Document {i} on " + " ".join(words[(i + j) % 12] for j in range(25))
            fh.write(json.dumps({"_id": f"d{i:02d}", "title": title, "text": title}) + "\n")
    with open(root / "queries.jsonl", "w") as fh:
        for i in range(n):
            fh.write(json.dumps({"_id": f"q{i:02d}", "text": f"document {i} {words[i % 12]}"}))
            fh.write("\n")
    rows = "".join(f"q{i:02d}\td{i:02d}\t1\n" for i in range(n))
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows)
    return root


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium missing (make test has it)")
def test_four_variant_report_height_stays_reasonable(tiny_spec: str, tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    spec = tmp_path / "spec.toml"
    spec.write_text(tiny_spec.format(dataset=_wordy_beir(tmp_path / "wordy")) + FOUR_VARIANTS)
    out = tmp_path / "r.html"
    db = f"sqlite:///{tmp_path / 'fw.db'}"
    result = runner.invoke(app, ["experiment", "run", str(spec), "--db", db])
    assert result.exit_code == 0, result.output
    from flywheel.store import Store

    run_id = Store(db).list_experiment_runs()[-1].run_id
    made = runner.invoke(app, ["report", run_id, "--out", str(out), "--db", db])  # with titles
    assert made.exit_code == 0, made.output
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(out.as_uri())
        height = page.evaluate("document.documentElement.scrollHeight")
        browser.close()
    assert height < 7000, height  # 16,982 px before: 10 rows of full titles per variant
