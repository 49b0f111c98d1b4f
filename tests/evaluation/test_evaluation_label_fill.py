"""Experiments that fill unjudged retrieved pairs with stored LLM grades (spec ``fill_unjudged``).

Tiny hand-made data: 4 documents, 2 test queries with one human grade each, two fixed rankings
of depth 2, and LLM grades in a store. Every expected figure is computed by hand below.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from math import log2
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flywheel.cli.app import app
from flywheel.errors import ConfigError, NotFoundError
from flywheel.evaluation import Verdict, load_spec, run_experiment
from flywheel.evaluation.experiment import ExperimentResult
from flywheel.evaluation.label_fill import LabelFill
from flywheel.reports import write_report
from flywheel.store import Store

HUMAN = {"q1": {"a": 1}, "q2": {"c": 1}}  # the test split (binary); q3 is a train query
LLM = {
    "q1": {"a": 0, "b": 3},  # a: a person said 1, which wins; b: unjudged, retrieved -> filled
    "q2": {"d": 2, "a": 1, "e": 3},  # d, a: retrieved -> filled; e: never retrieved -> not
    "q3": {"b": 2},  # not an evaluation query -> ignored
}
RANKINGS = {
    "base": {"q1": ["a", "b"], "q2": ["c", "a"]},
    "new": {"q1": ["b", "a"], "q2": ["d", "c"]},
}
SPEC = """
name = "fill"
dataset = "DATASET"
hypothesis = "the new ranking beats the base ranking"
primary_metric = "ndcg@2"
metrics = ["ndcg@2", "recall@2"]
baseline = "base"
top_k = 2
n_resamples = 100
latency_queries = 0
FILL
[success]
metric = "ndcg@2"
min_relative_gain = 0.05
max_p_value = 0.05
[[variants]]
name = "base"
retriever = "test-ranked"
options = {rankings = {q1 = ["a", "b"], q2 = ["c", "a"]}}
[[variants]]
name = "new"
retriever = "test-ranked"
options = {rankings = {q1 = ["b", "a"], q2 = ["d", "c"]}}
"""

L3 = log2(3)  # the discount at rank 2
# Hand-computed nDCG@2 (linear gain) and recall@2 per query: human labels only ...
HUMAN_NDCG = {"base": {"q1": 1.0, "q2": 1.0}, "new": {"q1": 1 / L3, "q2": 1 / L3}}
HUMAN_RECALL = {"base": {"q1": 1.0, "q2": 1.0}, "new": {"q1": 1.0, "q2": 1.0}}
# ... and filled at LLM grade >= 2 on the binary scale: b (3) -> 1, d (2) -> 1, a (1) -> 0, so
# q1 {a: 1, b: 1} (ideal 1 + 1/L3), q2 {c: 1, d: 1, a: 0} (ideal 1 + 1/L3)
FILLED_NDCG = {
    "base": {"q1": 1.0, "q2": 1 / (1 + 1 / L3)},
    "new": {"q1": 1.0, "q2": 1.0},
}
# base's q2 finds c and a of {c, d}: 0.5. Were the LLM's 1 on a read as relevant, it would be
# 2 of {c, d, a} = 2/3: a "related" document must not raise recall.
FILLED_RECALL = {"base": {"q1": 1.0, "q2": 0.5}, "new": {"q1": 1.0, "q2": 1.0}}

built: list[str] = []  # every retriever the tests' runs built


class RankedRetriever:
    """The same fixed ranking whatever the query text (``rankings`` per qid), cut to ``k``."""

    name = "test-ranked"

    def __init__(self, rankings: dict[str, list[str]]) -> None:
        self.rankings = rankings

    def search(self, queries, k=100):
        return {
            q: {d: float(k - i) for i, d in enumerate(self.rankings.get(q, [])[:k])}
            for q in queries
        }


def _ranked(corpus, argument, /, *, rankings):
    built.append(json.dumps(rankings, sort_keys=True))
    return RankedRetriever(rankings)


@pytest.fixture(autouse=True)
def _register_ranked() -> Iterator[None]:
    from flywheel.retrieval import registry

    built.clear()
    registry.register_retriever("test-ranked", _ranked, replace=True)
    yield
    registry._FACTORIES.pop("test-ranked", None)


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """A BEIR folder: documents a-e, queries q1-q3, a test split (q1, q2) and a train split."""
    root = tmp_path / "fill-beir"
    (root / "qrels").mkdir(parents=True)
    docs = {"a": "apples", "b": "bananas", "c": "cherries", "d": "dates", "e": "elderberries"}
    (root / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": d, "title": "", "text": t}) + "\n" for d, t in docs.items())
    )
    queries = {"q1": "fruit one", "q2": "fruit two", "q3": "fruit three"}
    (root / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items())
    )
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\ta\t1\nq2\tc\t1\n")
    (root / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq3\ta\t1\n")
    return root


def _spec(tmp_path: Path, folder: Path, fill: str = 'fill_unjudged = "llm"') -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(SPEC.replace("DATASET", str(folder)).replace("FILL", fill))
    return path


def _store(tmp_path: Path, folder: Path, llm: dict | None = LLM) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'fw.db'}")
    store.ingest_beir(folder)
    if llm:
        store.add_judgments(llm, source="llm")
    return store


def _means(per_query: dict[str, dict[str, float]]) -> dict[str, float]:
    return {s: sum(v.values()) / len(v) for s, v in per_query.items()}


def test_fill_scores_on_llm_grades_and_keeps_human_figures(tmp_path: Path, folder: Path) -> None:
    store = _store(tmp_path, folder)
    result = run_experiment(load_spec(_spec(tmp_path, folder)), store=store)

    fill = result.label_fill
    assert fill is not None and fill.source == "llm"
    # On binary qrels an LLM 3 (b) and 2 (d) fill as 1; its 1 (a: "related") fills as 0.
    assert fill.pairs == {"q1": {"b": 1}, "q2": {"a": 0, "d": 1}}
    assert (fill.filled, fill.relevant, fill.available) == (3, 2, 5)
    assert (fill.min_relevant, fill.max_grade, fill.below_threshold) == (2, 1, 1)
    assert result.labels == "human + llm"

    c, h = result.comparison, result.human_comparison
    assert h is not None
    for system in ("base", "new"):
        assert c.per_query(system, "ndcg@2") == pytest.approx(FILLED_NDCG[system])
        assert c.per_query(system, "recall@2") == pytest.approx(FILLED_RECALL[system])
        assert h.per_query(system, "ndcg@2") == pytest.approx(HUMAN_NDCG[system])
        assert h.per_query(system, "recall@2") == pytest.approx(HUMAN_RECALL[system])
    filled_delta = _means(FILLED_NDCG)["new"] - _means(FILLED_NDCG)["base"]  # +0.1934
    assert c.outcomes["new"]["ndcg@2"].delta == pytest.approx(filled_delta)
    assert h.outcomes["new"]["ndcg@2"].delta == pytest.approx(1 / L3 - 1)  # -0.369
    assert result.recall_curve["base"][2] == pytest.approx(0.75)  # scored on the filled labels
    assert result.recall_curve["base"][1] == pytest.approx(0.5)  # a of {a, b}; c of {c, d}

    # The verdict follows the spec (filled labels); human labels alone would say "not met".
    assert result.verdicts == {"new": Verdict.INCONCLUSIVE}  # 2 queries: p can't reach 0.05
    assert result.human_verdicts() == {"new": Verdict.NOT_MET}

    note = (
        "3 retrieved pairs no person judged were graded by an LLM (2 relevant, 2 queries); "
        "LLM grades >= 2 count as relevant (filled on the qrels' 0-1 scale); 1 filled pair "
        "graded 1 counts as not relevant; metrics include LLM labels (source llm)"
    )
    summary = result.summary()
    assert note in summary and "labels: human + llm" in summary
    assert "  human labels only: new: ndcg@2 -36.9% vs base" in summary
    assert summary.endswith("verdict: inconclusive (scored on human + llm labels)")

    record = store.get_experiment_run(result.run_id)
    assert record.spec["fill_unjudged"] == "llm"
    assert record.results["labels"] == "human + llm"
    assert record.spec["llm_min_grade"] == 2
    assert record.results["label_fill"] == {
        "source": "llm",
        "filled_pairs": 3,
        "relevant_pairs": 2,
        "available": 5,
        "min_relevant": 2,
        "max_grade": 1,
        "below_threshold": 1,
        "pairs": {"q1": {"b": 1}, "q2": {"a": 0, "d": 1}},
    }
    again = ExperimentResult.from_stored(record.spec, record.results, run_id=record.run_id)
    assert again.label_fill == fill and again.summary() == summary
    assert again.human_comparison.per_query("new", "ndcg@2") == h.per_query("new", "ndcg@2")

    markdown = result.to_markdown()
    assert note in markdown and "## Metrics (human + llm labels)" in markdown
    assert "## Metrics, human labels only" in markdown
    assert "- new: inconclusive (human labels only: not met)" in markdown
    page = write_report(result, tmp_path / "report.html").read_text()
    assert html.escape(note) in page and "Metrics (human + llm labels)" in page
    assert "Metrics, human labels only" in page and "human labels only: not met" in page
    assert write_report(result, tmp_path / "report.md").read_text() == markdown


def test_llm_min_grade_in_the_spec_moves_the_threshold(tmp_path: Path, folder: Path) -> None:
    store = _store(tmp_path, folder)
    spec = load_spec(_spec(tmp_path, folder, fill='fill_unjudged = "llm"\nllm_min_grade = 3'))
    result = run_experiment(spec, store=store)

    fill = result.label_fill
    assert fill is not None
    # At >= 3 only b counts; d's 2 now fills as 0 like a's 1.
    assert fill.pairs == {"q1": {"b": 1}, "q2": {"a": 0, "d": 0}}
    assert (fill.filled, fill.relevant, fill.below_threshold, fill.min_relevant) == (3, 1, 2, 3)
    # q1 {a: 1, b: 1}: both rankings ideal; q2 {c: 1}: base finds c first, new second.
    ndcg = {"base": {"q1": 1.0, "q2": 1.0}, "new": {"q1": 1.0, "q2": 1 / L3}}
    for system in ("base", "new"):
        assert result.comparison.per_query(system, "ndcg@2") == pytest.approx(ndcg[system])
        assert result.comparison.per_query(system, "recall@2") == pytest.approx(
            {"q1": 1.0, "q2": 1.0}
        )
    assert result.verdicts == {"new": Verdict.NOT_MET}
    assert (
        "3 retrieved pairs no person judged were graded by an LLM (1 relevant, 2 queries); "
        "LLM grades >= 3 count as relevant (filled on the qrels' 0-1 scale); 2 filled pairs "
        "graded 1-2 count as not relevant; metrics include LLM labels (source llm)"
    ) in result.summary()
    record = store.get_experiment_run(result.run_id)
    assert record.spec["llm_min_grade"] == 3
    assert record.results["label_fill"]["min_relevant"] == 3
    assert record.results["label_fill"]["below_threshold"] == 2


def test_graded_qrels_fill_on_their_own_scale(tmp_path: Path, folder: Path) -> None:
    # TREC-style 0-3 test qrels: the split's top grade is 3.
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\ta\t3\nq2\tc\t1\n")
    store = _store(tmp_path, folder)
    result = run_experiment(load_spec(_spec(tmp_path, folder)), store=store)

    fill = result.label_fill
    assert fill is not None
    # The LLM's 0-3 is the qrels' own scale, so relevant grades fill as given: b's 3, d's 2;
    # a's 1 is below the threshold -> 0.
    assert fill.pairs == {"q1": {"b": 3}, "q2": {"a": 0, "d": 2}}
    assert (fill.filled, fill.relevant, fill.max_grade, fill.below_threshold) == (3, 2, 3, 1)
    # q1 {a: 3, b: 3}: both orders ideal. q2 {c: 1, d: 2, a: 0}: ideal d, c = 2 + 1/L3;
    # base's c, a = 1; new's d, c is ideal.
    ndcg = {"base": {"q1": 1.0, "q2": 1 / (2 + 1 / L3)}, "new": {"q1": 1.0, "q2": 1.0}}
    for system in ("base", "new"):
        assert result.comparison.per_query(system, "ndcg@2") == pytest.approx(ndcg[system])
    assert "LLM grades >= 2 count as relevant (filled on the qrels' 0-3 scale)" in (
        result.summary()
    )
    assert store.get_experiment_run(result.run_id).results["label_fill"]["max_grade"] == 3


def test_runs_stored_before_the_threshold_keep_their_note() -> None:
    # Such runs were scored on raw LLM grades; their note must not claim a threshold.
    old = {"source": "llm", "filled_pairs": 1, "relevant_pairs": 1, "available": 2}
    fill = LabelFill.from_dict({**old, "pairs": {"q1": {"b": 2}}})
    assert (fill.min_relevant, fill.max_grade, fill.below_threshold) == (None, None, 0)
    assert fill.note() == (
        "1 retrieved pairs no person judged were graded by an LLM (1 relevant, 1 queries); "
        "metrics include LLM labels (source llm); human-only figures are shown alongside"
    )


def test_without_the_option_nothing_is_filled(tmp_path: Path, folder: Path) -> None:
    store = _store(tmp_path, folder)  # LLM grades are there, but the spec does not ask for them
    result = run_experiment(load_spec(_spec(tmp_path, folder, fill="")), store=store)
    assert result.label_fill is None and result.human_comparison is None
    assert result.labels == "human"
    for system in ("base", "new"):
        assert result.comparison.per_query(system, "ndcg@2") == pytest.approx(HUMAN_NDCG[system])
    assert result.verdicts == {"new": Verdict.NOT_MET}
    assert "LLM" not in result.summary() and "LLM" not in result.to_markdown()
    stored = store.get_experiment_run(result.run_id).results
    assert stored["label_fill"] is None and stored["labels"] == "human"


@pytest.mark.parametrize(
    ("llm", "detail"),
    [(None, "it has no llm grades at all"), ({"q3": {"b": 2}}, "1 llm grades are all for other")],
)
def test_no_llm_grades_fails_before_retrieval(
    tmp_path: Path, folder: Path, llm: dict | None, detail: str
) -> None:
    store = _store(tmp_path, folder, llm)
    spec = _spec(tmp_path, folder)
    with pytest.raises(NotFoundError) as caught:
        run_experiment(load_spec(spec), store=store)
    message = str(caught.value)
    assert message.startswith(f"{spec}: field 'fill_unjudged': no grades of label source 'llm'")
    assert detail in message and "2 evaluation queries" in message
    assert f"flywheel ingest beir {folder} then flywheel judge run --from topk" in message
    assert built == []  # failed before any retriever was built
    assert store.list_experiment_runs() == []


def test_unknown_fill_source_is_a_spec_error(tmp_path: Path, folder: Path) -> None:
    with pytest.raises(ConfigError, match="field 'fill_unjudged': Input should be 'llm'"):
        load_spec(_spec(tmp_path, folder, fill='fill_unjudged = "gpt"'))


@pytest.mark.parametrize("grade", [0, 6])
def test_llm_min_grade_out_of_range_is_a_spec_error(
    tmp_path: Path, folder: Path, grade: int
) -> None:
    fill = f'fill_unjudged = "llm"\nllm_min_grade = {grade}'
    with pytest.raises(ConfigError, match="field 'llm_min_grade': Input should be"):
        load_spec(_spec(tmp_path, folder, fill=fill))


def _flat(text: str) -> str:
    return " ".join(text.split())  # Rich wraps long lines at the terminal width


def test_cli_flag_list_show_and_report(
    tmp_path: Path, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flywheel.cli._common import console

    monkeypatch.setattr(console, "width", 160)  # table cells stay on one line
    runner = CliRunner()
    db = f"sqlite:///{tmp_path / 'fw.db'}"
    _store(tmp_path, folder).close()
    spec = str(_spec(tmp_path, folder, fill=""))
    ran = runner.invoke(app, ["experiment", "run", spec, "--db", db, "--fill-unjudged", "llm"])
    assert ran.exit_code == 0, ran.output
    out = _flat(ran.output)
    assert "Comparison (human + llm labels)" in out and "Comparison (human labels only)" in out
    assert "3 retrieved pairs no person judged were graded by an LLM" in out
    assert "verdict: inconclusive (scored on human + llm labels)" in out

    (record,) = Store(db).list_experiment_runs()
    assert record.spec["fill_unjudged"] == "llm"  # the flag is recorded with the run
    listed = runner.invoke(app, ["experiment", "list", "--db", db])
    assert "human + llm (3 filled)" in _flat(listed.output)
    shown = runner.invoke(app, ["experiment", "show", record.run_id, "--db", db])
    assert "Comparison (human labels only)" in _flat(shown.output)
    page = tmp_path / "run.md"
    made = runner.invoke(app, ["report", record.run_id, "--out", str(page), "--db", db])
    assert made.exit_code == 0, made.output
    assert "metrics include LLM labels (source llm)" in page.read_text()

    bad = runner.invoke(app, ["experiment", "run", spec, "--db", db, "--fill-unjudged", "gpt"])
    assert bad.exit_code != 0
    assert "--fill-unjudged: unknown label source 'gpt'; use one of: llm" in str(bad.exception)

    strict = ["experiment", "run", spec, "--db", db, "--fill-unjudged", "llm", "--no-save"]
    higher = runner.invoke(app, [*strict, "--llm-min-grade", "3"])
    assert higher.exit_code == 0, higher.output
    out = _flat(higher.output)
    assert "LLM grades >= 3 count as relevant (filled on the qrels' 0-1 scale); 2 filled" in out
    assert "verdict: not met (scored on human + llm labels)" in out
    zero = runner.invoke(app, [*strict, "--llm-min-grade", "0"])
    assert zero.exit_code == 2 and "--llm-min-grade" in _flat(zero.output)
