"""LLM grades change training data: `judge run --from negatives` then `dataset build` (CLI).

The fake provider answers grades we choose per (query, passage), so the test knows which mined
candidate the LLM calls a false negative (3), which merely related (1) and which irrelevant (0).
"""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from flywheel.cli.app import app
from flywheel.datasets import LLMGrade, LLMLabels, load_dataset
from flywheel.errors import ConfigError
from flywheel.store import Store

runner = CliRunner()

DOCS = {
    "p1": "volcanic lava basalt rock",  # q1's benchmark positive
    "decoy": "volcanic lava basalt rock facts",  # BM25's other top-2 hit: never graded
    "fn": "basalt forms when lava cools",  # an unjudged positive: the LLM says 3
    "rel": "volcanic islands of the pacific",  # on topic, no answer: the LLM says 1
    "zero": "lava lamps make a room glow",  # the LLM says 0
    "h1": "heart attack risk factors",
    "h2": "heart attack risk study",
    "h3": "heart surgery history",
    "o1": "ocean tides follow the moon",
}
QUERIES = {"q1": "volcanic lava basalt rock", "q2": "heart attack risk", "t1": "ocean tides moon"}
# what the fake LLM answers, by (query, passage); every other pair gets 0
CANNED = {("q1", "fn"): 3, ("q1", "rel"): 1}
# the run the miner reads: for q1 the LLM's 3 and 1 rank right under the positive
RUN = {
    "q1": {"p1": 10.0, "fn": 9.0, "rel": 8.0, "zero": 7.0, "decoy": 6.0, "h3": 1.0},
    "q2": {"h1": 10.0, "h2": 9.0, "h3": 8.0, "zero": 1.0},
}


def canned_reply(prompt: str) -> str:
    query = re.search(r"^Query:\s*(.+?)\s*$", prompt, re.MULTILINE).group(1)
    passage = re.search(r"^Passage:\s*(.+?)\s*$", prompt, re.MULTILINE).group(1)
    qid = next(q for q, text in QUERIES.items() if text == query)
    doc = next(d for d, text in DOCS.items() if text == passage)
    return f"##final score: {CANNED.get((qid, doc), 0)}"


@pytest.fixture
def db(tmp_path) -> str:
    path = str(tmp_path / "flywheel.db")
    with Store(path) as store:
        store.add_documents([{"doc_id": d, "text": t} for d, t in DOCS.items()])
        store.add_queries(QUERIES)
        store.add_judgments({"q1": {"p1": 1}, "q2": {"h1": 1}}, source="benchmark", split="train")
        store.add_judgments({"t1": {"o1": 1}}, source="benchmark", split="test")
    return path


def build(kind: str, db: str, out, *extra: str) -> dict:
    """`flywheel dataset build KIND` from the store, mining from RUN; rows and card."""
    run = out.parent / "run.json"
    run.write_text(json.dumps(RUN))
    result = runner.invoke(app, [
        "dataset", "build", kind, "--db", db, "--out", str(out), "--run", str(run),
        "--range-min", "0", "--range-max", "5", "--relative-margin", "-1", "--sampling", "top",
        "--dev-fraction", "0", *extra,
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    saved = load_dataset(out)
    card = json.loads((out / "card.json").read_text())
    return {"rows": saved.splits["train"], "card": card, "output": result.output}


def judge(db: str, *extra: str) -> None:
    args = ["judge", "run", "--from", "negatives", "--k", "10", "--model", "openai:fake-chat"]
    result = runner.invoke(app, [*args, "--db", db, *extra])
    assert result.exit_code == 0, result.output


def test_llm_grades_of_mined_negatives_change_triplets_pairs_and_graded(server, db, tmp_path):
    server.chat_reply = canned_reply
    before = build("triplets", db, tmp_path / "before")
    text = DOCS
    # without judgments, the unjudged positive "fn" is q1's hardest negative
    assert {"anchor": QUERIES["q1"], "positive": text["p1"], "negative": text["fn"]} in (
        before["rows"]
    )

    judge(db)
    with Store(db) as store:
        llm = store.qrels(sources=["llm"])
        scales = {r.scale for r in store.judgments(sources=["llm"])}
    assert llm["q1"]["fn"] == 3 and llm["q1"]["rel"] == 1 and llm["q1"]["zero"] == 0
    assert "p1" not in llm["q1"] and "decoy" not in llm["q1"]  # top 2 and judged: not graded
    assert scales == {3}  # the scale is stored with every grade

    after = build("triplets", db, tmp_path / "after")
    q1_rows = [r for r in after["rows"] if r["anchor"] == QUERIES["q1"]]
    negatives = {r["negative"] for r in q1_rows}
    assert text["fn"] not in negatives  # graded 3: never a negative ...
    assert {r["positive"] for r in q1_rows} == {text["p1"], text["fn"]}  # ... but a positive
    assert text["rel"] not in negatives  # graded 1: not a positive and not a negative either
    assert text["rel"] not in {r["positive"] for r in q1_rows}
    assert negatives == {text["zero"]}  # graded 0: still eligible, now the hardest one
    q2 = [r for r in after["rows"] if r["anchor"] == QUERIES["q2"]]
    assert q2 == [r for r in before["rows"] if r["anchor"] == QUERIES["q2"]]
    card = after["card"]
    assert card["sources"] == {"judged+mined": 2, "llm+mined": 1}
    assert card["llm_labels"]["positives"] == 1
    assert card["llm_labels"]["related_kept_out_of_negatives"] == 1
    assert card["mining"]["stats"]["dropped_excluded"] == 2  # "rel", in q1's two rows
    assert "Labels from an LLM judge" in (tmp_path / "after" / "card.md").read_text()
    assert "1 positives (grade >= 2), 1 related" in " ".join(after["output"].split())

    # training without LLM labels gives exactly what the store gave before judging
    without = build(
        "triplets", db, tmp_path / "without", "--label-sources", "human,benchmark,derived"
    )
    assert without["rows"] == before["rows"]
    assert without["card"]["llm_labels"] is None

    pairs = build("pairs", db, tmp_path / "pairs")
    assert {"anchor": QUERIES["q1"], "positive": text["fn"]} in pairs["rows"]
    assert all(r["positive"] != text["rel"] for r in pairs["rows"])
    assert pairs["card"]["sources"] == {"judged": 2, "llm": 1}

    graded = build("graded", db, tmp_path / "graded")
    by_pair = {(r["query"], r["passage"]): r for r in graded["rows"]}
    fn = by_pair[(QUERIES["q1"], text["fn"])]
    assert (fn["grade"], fn["score"], fn["source"]) == (5, 1.0, "llm")  # 3 of 0-3 -> 5 of 0-5
    rel = by_pair[(QUERIES["q1"], text["rel"])]
    assert (rel["grade"], rel["source"]) == (1, "llm")  # kept for the re-ranker, graded low
    assert by_pair[(QUERIES["q1"], text["zero"])]["source"] == "llm"
    assert by_pair[(QUERIES["q1"], text["p1"])]["source"] == "judged"
    train_llm = sum(len(llm[q]) for q in ("q1", "q2"))  # t1's grades are not training data
    assert graded["card"]["sources"]["llm"] == train_llm
    assert all(r["query"] != QUERIES["t1"] for r in graded["rows"])
    assert graded["card"]["llm_labels"]["pairs"] == train_llm


def test_five_point_scale_threshold_option_and_precedence(server, db, tmp_path):
    server.chat_reply = canned_reply
    judge(db, "--scale", "5")  # the fake answers 3 for "fn": "answers part of the query"
    with Store(db) as store:
        assert {r.scale for r in store.judgments(sources=["llm"])} == {5}
        labels = LLMLabels.from_store(store)
    assert labels.grades["q1"]["fn"] == LLMGrade(3, 5) and labels.is_relevant("q1", "fn")
    assert labels.training_grades()["q1"]["fn"] == 3  # 0-5 grades stay as they are

    strict = build("triplets", db, tmp_path / "strict", "--llm-min-grade", "4")
    q1 = [r for r in strict["rows"] if r["anchor"] == QUERIES["q1"]]
    assert {r["positive"] for r in q1} == {DOCS["p1"]}  # 3 < 4: not a positive ...
    assert {r["negative"] for r in q1} == {DOCS["zero"]}  # ... and not a negative

    with Store(db) as store:  # a person's 0 outranks the LLM: "fn" may be a negative again
        store.add_judgments({"q1": {"fn": 0}}, source="human", split="train")
        assert "fn" not in LLMLabels.from_store(store).grades["q1"]
    human = build("triplets", db, tmp_path / "human")
    q1 = [r for r in human["rows"] if r["anchor"] == QUERIES["q1"]]
    assert {r["negative"] for r in q1} == {DOCS["fn"]}


def test_label_sources_are_checked(db, tmp_path):
    out = ["--out", str(tmp_path / "x")]
    args = ["dataset", "build", "pairs", "--db", db, *out, "--label-sources", "human,oracle"]
    result = runner.invoke(app, args)
    assert result.exit_code != 0 and "unknown label source 'oracle'" in str(result.exception)
    args = ["dataset", "build", "pairs", "--beir", str(tmp_path), *out, "--label-sources", "human"]
    result = runner.invoke(app, args)
    assert result.exit_code != 0 and "BEIR folder" in str(result.exception)


def test_llm_labels_map_scales_and_keep_related_out():
    labels = LLMLabels(
        {"q": {"a": LLMGrade(3), "b": LLMGrade(2), "c": LLMGrade(1), "d": LLMGrade(0)}}
    )
    assert labels.relevant() == {"q": {"a": 3, "b": 2}}
    assert labels.related() == {"q": {"c"}}
    assert labels.training_grades() == {"q": {"a": 5, "b": 3, "c": 1, "d": 0}}
    # an LLM's 1 or 0 removes a weaker source's positive; a 2 or 3 adds one
    assert labels.apply({"q": {"c": 1, "d": 1, "e": 1}}) == {"q": {"e": 1, "a": 3, "b": 2}}
    assert LLMLabels({"q": {"x": LLMGrade(2, 5)}}).training_grades() == {"q": {"x": 2}}
    with pytest.raises(ConfigError, match="outside its scale"):
        LLMGrade(4, 3)
    with pytest.raises(ConfigError, match="0-3 or 0-5"):
        LLMGrade(1, 4)
    with pytest.raises(ConfigError, match="must be 1-5"):
        LLMLabels(min_relevant=0)


def test_llm_grades_without_a_scale_and_over_derived_labels(tmp_path):
    with Store(str(tmp_path / "s.db")) as store:
        store.add_documents([{"doc_id": d, "text": t} for d, t in DOCS.items()])
        store.add_queries(QUERIES)
        store.add_judgments({"q1": {"p1": 1}}, source="derived", split="train")
        store.add_judgments({"q1": {"p1": 1, "fn": 2}, "q2": {"h1": 5}}, source="llm")
        labels = LLMLabels.from_store(store)
        none = LLMLabels.from_store(store, sources=["human", "benchmark", "derived"])
    assert labels.grades["q1"] == {"p1": LLMGrade(1, 3), "fn": LLMGrade(2, 3)}
    assert labels.grades["q2"]["h1"] == LLMGrade(5, 5)  # above 3: it cannot be on 0-3
    # llm > derived: the synthetic positive "p1" is only "related" now
    assert labels.for_queries(["q1"]).apply({"q1": {"p1": 1}}) == {"q1": {"fn": 2}}
    assert len(none) == 0


def test_an_unknown_scale_fails_before_any_work():
    from flywheel.hosted import HostedClient
    from flywheel.judging import judge_pairs

    client = HostedClient("openai:fake-chat", kind="chat", api_key="unused", base_url="http://x")
    with pytest.raises(ConfigError, match="scale must be one of"):
        judge_pairs([], client, scale=4)  # nothing to grade, still not stored on a bad scale
