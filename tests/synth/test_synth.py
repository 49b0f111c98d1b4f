"""Synthetic questions: generators, every filter on crafted cases, and isolation from eval."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from flywheel.cli.app import app
from flywheel.data.types import Document
from flywheel.errors import LeakageError
from flywheel.store import Store
from flywheel.store.hosted import synthetic_rejection_list
from flywheel.synth import (
    FilterConfig,
    SynthConfig,
    SyntheticPair,
    check_synthetic_isolation,
    copy_filter,
    independent_crops,
    inverse_cloze,
    leak_filter,
    near_duplicate_filter,
    round_trip_filter,
    sample_passages,
    synthesize,
    write_synthetic,
)
from flywheel.synth.llm import DEFAULT_DEMONSTRATIONS, clean_question, demonstrations
from flywheel.testing import FakeEmbedder

PASSAGE = (
    "Aspirin lowers the risk of a second heart attack in most adults. "
    "It works by blocking platelets from clumping together in the arteries. "
    "Doctors weigh this benefit against a higher chance of stomach bleeding."
)


def pair(question: str, positive: str = PASSAGE, doc: str = "d1") -> SyntheticPair:
    return SyntheticPair(question, doc, positive, "test")


def test_inverse_cloze_removes_the_question_from_its_positive():
    [p] = inverse_cloze({"d1": PASSAGE}, ["d1"], seed=1)
    assert p.question in PASSAGE and p.question not in p.positive
    assert len(p.positive) < len(PASSAGE) and p.generator == "ict"
    assert inverse_cloze({"d": "One short sentence only."}, ["d"]) == []


def test_independent_crops_are_spans_of_the_passage():
    [p] = independent_crops({"d1": PASSAGE}, ["d1"], seed=3)
    assert p.question in PASSAGE and p.positive in PASSAGE and p.generator == "crop"


def test_sampling_spreads_over_documents_and_clusters():
    ids = [f"d{i}-c{j}" for i in range(4) for j in range(5)]  # 4 documents x 5 chunks
    groups = {cid: cid.split("-")[0] for cid in ids}
    first = sample_passages(ids, 4, groups=groups, seed=0)
    assert {groups[c] for c in first} == {"d0", "d1", "d2", "d3"}  # one per document first
    emb = np.array([[1.0, 0.0]] * 10 + [[0.0, 1.0]] * 10, dtype=np.float32)
    two = sample_passages([f"p{i}" for i in range(20)], 2, embeddings=emb, clusters=2, seed=0)
    assert {int(p[1:]) < 10 for p in two} == {True, False}  # one from each cluster


def test_copy_filter_rejects_long_copied_spans_and_keeps_paraphrases():
    copied = pair("does aspirin lower the risk of a second heart attack")
    paraphrase = pair("can a daily pill prevent another cardiac event")
    kept, rejected = copy_filter([copied, paraphrase], max_run=6)
    assert kept == [paraphrase]
    assert rejected[0].reason == "copy" and "words copied" in rejected[0].detail
    overlap = pair("a second heart attack blocking platelets from clumping", PASSAGE)
    assert copy_filter([overlap], max_run=10, max_overlap=0.3)[1][0].detail.endswith("copied")


def test_near_duplicate_filter_by_text_and_by_embedding():
    a, b = pair("What lowers heart attack risk?"), pair("what lowers heart-attack risk")
    c = pair("aspirin stomach bleeding chance")
    kept, rejected = near_duplicate_filter([a, b, c])
    assert kept == [a, c] and "same text" in rejected[0].detail
    vectors = {a.question: [1.0, 0.0], c.question: [0.99, 0.141]}
    embed = lambda texts: np.array([vectors[t] for t in texts], dtype=np.float32)  # noqa: E731
    kept, rejected = near_duplicate_filter([a, c], embed=embed, threshold=0.95)
    assert kept == [a] and rejected[0].reason == "near-duplicate" and "cosine" in rejected[0].detail


def test_leak_filter_uses_the_training_data_leakage_check():
    leak = pair("Does aspirin prevent heart attacks?")
    safe = pair("how do platelets clump")
    kept, rejected = leak_filter([leak, safe], {"t1": "does aspirin prevent heart attacks"})
    assert kept == [safe] and rejected[0].reason == "leak" and "t1" in rejected[0].detail
    embedder = FakeEmbedder()
    near = pair("aspirin prevent heart attacks in adults")
    kept, rejected = leak_filter(
        [near],
        {"t1": "aspirin prevent heart attacks adults"},
        embed=embedder.encode_queries,
        threshold=0.8,
    )
    assert not kept and "cosine" in rejected[0].detail


def test_round_trip_filter_needs_the_source_in_the_top_k():
    good, vague = pair("q good", doc="d1"), pair("q vague", doc="d2")
    run = {good.qid: {"d1": 2.0, "d9": 1.0}, vague.qid: {"d9": 2.0, "d8": 1.0}}
    kept, rejected = round_trip_filter([good, vague], lambda q: run, k=2)
    assert kept == [good] and rejected[0].reason == "round-trip"


CORPUS = {
    f"d{i}": Document(f"d{i}", text, title=f"Doc {i}")
    for i, text in enumerate(
        [
            PASSAGE,
            "Volcanoes erupt molten rock called lava. Lava cools into basalt over many years. "
            "Some islands were built entirely by such eruptions.",
            "Bread rises because yeast makes carbon dioxide gas. Warm kitchens speed the rise. "
            "Salt slows the yeast down a little.",
            "Tides follow the moon because its gravity pulls the oceans. Spring tides come at "
            "full and new moon. Neap tides fall between them.",
        ]
    )
}


def _store(tmp_path: Path) -> Store:
    store = Store(str(tmp_path / "s.db"))
    store.add_documents(CORPUS.values())
    store.add_queries({"t1": "why does lava cool into basalt", "r1": "yeast and bread"})
    store.add_judgments({"t1": {"d1": 1}}, split="test")
    store.add_judgments({"r1": {"d2": 1}}, split="train")
    return store


def test_synthetic_pairs_land_in_train_only(tmp_path):
    store = _store(tmp_path)
    config = SynthConfig(n=4, generator="ict", filters=FilterConfig(near_duplicate_threshold=None))
    result = synthesize(CORPUS, config, eval_queries={"t1": "why does lava cool into basalt"})
    counts = write_synthetic(store, result, run_id="r")
    assert counts["kept"] == len(result.kept) > 0
    synthetic = set(store.queries(source="synthetic"))
    assert synthetic and all(q.startswith("syn-ict-") for q in synthetic)
    for split in ("test", "dev", "unsplit"):
        assert not synthetic & set(store.qrels(split=split))
    assert set(store.qrels(split="train")) >= synthetic
    with pytest.raises(LeakageError, match="train"):
        write_synthetic(store, result, run_id="r2", split="test")
    qid = next(iter(synthetic))
    store.add_judgments(
        [{"qid": qid, "doc_id": "d0", "grade": 1, "split": "test", "source": "human"}]
    )
    with pytest.raises(LeakageError, match="outside the train split"):
        check_synthetic_isolation(store)


def test_llm_generator_uses_style_examples_and_records_rejections(server, tmp_path):
    from flywheel.hosted import HostedClient

    client = HostedClient("openai:fake-chat", kind="chat")
    server.inject("refusal", path="/v1/chat/completions")
    config = SynthConfig(n=4, generator="llm", clusters=1)
    result = synthesize(CORPUS, config, client=client, real_queries={"r1": "yeast and bread"})
    assert any(r.reason == "refused" for r in result.rejected)
    assert all(p.generator == "llm" and p.question.endswith("?") for p in result.kept)
    prompts = [b["messages"][0]["content"] for _, b in server.requests]
    assert all("- yeast and bread" in p for p in prompts)
    # no judged pair: the generic demonstrations; the prompt ends where the question goes
    assert all(DEFAULT_DEMONSTRATIONS[0]["question"] in p for p in prompts)
    assert all(p.rstrip().endswith("Question:") for p in prompts)
    assert all("stop" not in b for _, b in server.requests)  # a chat model ends its own turn
    assert clean_question('Question: "Why is the sky blue?"\nextra') == ("Why is the sky blue?", "")


def test_synth_cli_offline_writes_pairs_and_rejections(tmp_path):
    folder = tmp_path / "beir"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text(
        "".join(
            json.dumps({"_id": d, "title": doc.title, "text": doc.text}) + "\n"
            for d, doc in CORPUS.items()
        )
    )
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "t1", "text": "lava basalt"}) + "\n")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nt1\td1\t1\n")
    db = str(tmp_path / "cli.db")
    result = CliRunner().invoke(
        app,
        [
            "synth",
            "questions",
            "--corpus",
            str(folder),
            "--n",
            "10",
            "--offline",
            "--no-embed",
            "--db",
            db,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "source 'synthetic', split 'train'" in result.output
    store = Store(db)
    assert store.queries(source="synthetic")
    rejections = synthetic_rejection_list(store)
    assert all(r["reason"] and r["detail"] for r in rejections)
    check_synthetic_isolation(store)


def test_judged_pairs_become_the_demonstrations(server, tmp_path):
    from flywheel.hosted import HostedClient

    client = HostedClient("openai:fake-chat", kind="chat")
    long_passage = "Yeast ferments sugar. " * 40
    config = SynthConfig(n=2, generator="llm", clusters=1, passage_chars=120)
    synthesize(CORPUS, config, client=client, real_pairs=[("why does dough rise", long_passage)])
    prompts = [b["messages"][0]["content"] for _, b in server.requests]
    assert prompts and all("Question: why does dough rise\n" in p for p in prompts)
    assert all(DEFAULT_DEMONSTRATIONS[0]["question"] not in p for p in prompts)
    [demo] = demonstrations([("q", long_passage)])
    assert len(demo["passage"].split()) == 60  # a demonstration's passage is cut short
    shown = prompts[0].split("Passage: ")[-1].split("\nQuestion:")[0]
    assert len(shown) <= 120  # passage_chars


def test_a_reply_that_repeats_a_demonstration_is_rejected(tmp_path, monkeypatch):
    from flywheel.hosted import HostedClient
    from flywheel.hosted.prices import Usage
    from flywheel.hosted.retry import Failure, FailureKind
    from flywheel.synth.llm import copied_demonstration, llm_questions

    monkeypatch.setenv("FLYWHEEL_CACHE", str(tmp_path / "cache"))
    demo = DEFAULT_DEMONSTRATIONS[2]["question"]  # "why use lfp batteries instead of nickel ones"
    replies = iter([demo, "why use lfp cells instead of nickel ones", "how does yeast raise bread"])

    class Scripted:
        def call(self, kind, model, payload):
            return {"text": next(replies), "refusal": None, "finish_reason": "stop"}, Usage(1, 1)

        def classify(self, exc):
            return Failure(FailureKind.FATAL, repr(exc))

    client = HostedClient("openai:m", kind="chat", require_key=False, transport=Scripted(),
                          concurrency=1)  # fmt: skip
    passages = {f"d{i}": f"passage {i}" for i in range(3)}
    pairs, rejected = llm_questions(passages, list(passages), client)
    assert [p.question for p in pairs] == ["how does yeast raise bread"]
    assert [r.reason for r in rejected] == ["copied a demonstration"] * 2
    assert copied_demonstration("does exercise improve memory", DEFAULT_DEMONSTRATIONS) is None


def test_an_in_process_model_gets_a_shorter_passage_and_a_line_stop(tmp_path, monkeypatch):
    from flywheel.hosted import HostedClient
    from flywheel.hosted.prices import Usage
    from flywheel.hosted.retry import Failure, FailureKind
    from flywheel.synth.llm import LOCAL_PASSAGE_CHARS

    monkeypatch.setenv("FLYWHEEL_CACHE", str(tmp_path / "cache"))
    payloads: list[dict] = []

    class Scripted:
        def call(self, kind, model, payload):
            payloads.append(payload)
            return {"text": "how does it work", "refusal": None, "finish_reason": "stop"}, Usage()

        def classify(self, exc):
            return Failure(FailureKind.FATAL, repr(exc))

    client = HostedClient("openai:m", kind="chat", require_key=False, transport=Scripted())
    client.in_process = True  # as a local: model is
    long = {"d0": Document("d0", "word " * 2000)}
    synthesize(long, SynthConfig(n=1, generator="llm", clusters=1), client=client)
    [payload] = payloads
    assert payload["stop"] == ["\n"]
    shown = payload["messages"][-1]["content"].split("Passage: ")[-1].split("\nQuestion:")[0]
    assert len(shown) <= LOCAL_PASSAGE_CHARS
