from __future__ import annotations

import json
from pathlib import Path

import pytest
from fs_helpers import planted

from flywheel.errors import ConfigError, DataFormatError, NotFoundError
from flywheel.fewshot import BuildConfig, FewShotLibrary, build_library, examples_from_file
from flywheel.fewshot.examples import examples_from_store
from flywheel.fewshot.library import ExampleStatus, list_libraries
from flywheel.store.fewshot import list_uses


def _config(**kwargs) -> BuildConfig:
    return BuildConfig(**kwargs)


def test_build_chooses_central_representatives_per_group(examples, embedder) -> None:
    library = build_library(examples, embedder=embedder, config=_config(per_group=2))
    reps = library.representatives()
    assert set(reps) == {"billing", "shipping", "account"}
    sizes = [g["size"] for g in library.groups]
    assert sizes == sorted(sizes, reverse=True)  # largest group first
    for group, entries in reps.items():
        assert [e.rank for e in entries] == [1, 2]
        assert all(e.example.intent == group for e in entries)
        assert "to the group centre, chosen by MMR" in entries[0].detail
    candidates = [e for e in library.entries if e.status is ExampleStatus.CANDIDATE]
    assert all(e.reason == "candidate" for e in candidates)
    assert library.summary["representatives"] == 6
    assert library.summary["kept"] + sum(library.summary["excluded"].values()) == len(examples)


def test_save_load_round_trip_and_versions(examples, embedder, store) -> None:
    first = build_library(examples, embedder=embedder).save(store)
    assert (first.version, first.library_id) == (1, "default@v1")
    second = build_library(examples, embedder=embedder, previous=first).save(store)
    assert second.version == 2 and second.parent_version == 1
    loaded = FewShotLibrary.load(store)  # newest
    assert loaded.version == 2
    assert [(e.example.qid, e.status, e.rank, e.detail) for e in loaded.entries] == [
        (e.example.qid, e.status, e.rank, e.detail)
        for e in sorted(second.entries, key=lambda e: e.example.qid)
    ]
    assert loaded.groups == second.groups and loaded.config == second.config
    assert FewShotLibrary.load(store, version=1).version == 1
    with pytest.raises(NotFoundError, match=r"stored: default \(v1-v2\)"):
        FewShotLibrary.load(store, "other")
    assert [r["library_id"] for r in list_libraries(store)] == ["default@v1", "default@v2"]


def test_rotation_shows_fresh_representatives(examples, embedder, store) -> None:
    first = build_library(examples, embedder=embedder).save(store)
    rotated = build_library(
        examples, embedder=embedder, config=_config(rotate=True), previous=first
    ).save(store)
    old = {e.example.qid for e in first.entries if e.status is ExampleStatus.REPRESENTATIVE}
    new = {e.example.qid for e in rotated.entries if e.status is ExampleStatus.REPRESENTATIVE}
    assert len(new) == len(old) == 6 and not old & new
    rotated_out = [e for e in rotated.entries if e.reason == "rotated_out"]
    assert {e.example.qid for e in rotated_out} == old
    assert "representative in version 1" in rotated_out[0].detail
    assert sorted(rotated.summary["rotated_out"]) == sorted(old)


def test_each_prompt_use_records_the_library_version(examples, embedder, store) -> None:
    v1 = build_library(examples, embedder=embedder).save(store)
    v2 = build_library(examples, embedder=embedder, config=_config(rotate=True), previous=v1)
    v2 = v2.save(store)
    p1 = v1.prompt("refund the card payment", k=2, embedder=embedder, store=store)
    p2 = v2.prompt("refund the card payment", k=2, embedder=embedder, store=store)
    p3 = v2.prompt("parcel late", k=1, static=True, embedder=embedder, store=store, context="t")
    with store.engine.connect() as conn:
        uses = {u["use_id"]: u for u in list_uses(conn)}
    assert uses[p1.use_id]["library_id"] == "default@v1"
    assert uses[p2.use_id]["library_id"] == "default@v2"
    assert uses[p2.use_id]["example_qids"] == [e.qid for e in p2.examples]
    assert uses[p2.use_id]["intent"] == "billing" and uses[p2.use_id]["mode"] == "dynamic"
    assert (uses[p3.use_id]["mode"], uses[p3.use_id]["context"], uses[p3.use_id]["k"]) == (
        "static",
        "t",
        1,
    )
    # rotation: v1 and v2 open the same billing prompt with different representatives
    assert p1.examples[0].qid != p2.examples[0].qid
    assert p1.examples[0].intent == p2.examples[0].intent == "billing"
    listed = {r["library_id"]: r["uses"] for r in list_libraries(store)}
    assert listed == {"default@v1": 1, "default@v2": 2}


def test_an_unsaved_library_cannot_log_and_a_wrong_embedder_is_refused(examples, embedder) -> None:
    from flywheel.testing import FakeEmbedder

    library = build_library(examples, embedder=embedder)
    with pytest.raises(ConfigError, match="save the library"):
        library.prompt("x y", embedder=embedder, store=object())
    with pytest.raises(ConfigError, match="built with fake-embedder-256"):
        library.prompt("x y", embedder=FakeEmbedder(dim=8))


def test_everything_excluded_says_which_filters(embedder) -> None:
    bare = [e.__class__(e.qid, e.question) for e in planted(3)]
    with pytest.raises(ConfigError, match="no_evidence 9"):
        build_library(bare, embedder=embedder)


def test_examples_come_from_the_store_with_answers_feedback_and_judgments(
    store, embedder, tmp_path: Path
) -> None:
    rows = [
        {
            "qid": "q1",
            "text": "how do I reset my password",
            "answer": "use the reset link",
            "reasoning": "settings has it",
            "intent": "account",
        },
        {
            "qid": "q2",
            "text": "where is my parcel now",
            "reference_answer": "in transit",
            "reasoning": "tracking says so",
            "intent": "shipping",
        },
        {
            "qid": "q3",
            "text": "why was my card charged twice",
            "answer": "a hold",
            "reasoning": "holds drop",
            "intent": "billing",
        },
    ]
    path = tmp_path / "queries.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    store.ingest_file("queries", path)
    store.add_documents([{"doc_id": "d1", "text": "tracking"}])
    store.add_judgments([{"qid": "q2", "doc_id": "d1", "grade": 2}])
    store.log_feedback("s1", "q1", True)
    store.log_feedback("s1", "q3", False)
    found = {e.qid: e for e in examples_from_store(store)}
    assert found["q1"].answer == "use the reset link" and found["q1"].positive_feedback == 1
    assert found["q2"].answer == "in transit" and found["q2"].relevant_evidence == 1
    assert found["q3"].negative_feedback == 1 and found["q3"].intent == "billing"
    library = build_library(list(found.values()), embedder=embedder)
    reasons = {e.example.qid: (e.status.value, e.reason) for e in library.entries}
    assert reasons["q3"] == ("excluded", "negative_feedback")
    assert reasons["q1"][0] == reasons["q2"][0] == "representative"


def test_examples_file_errors_name_the_line_and_field(tmp_path: Path) -> None:
    good = tmp_path / "ok.jsonl"
    good.write_text(
        '{"question": "where is my parcel", "answer": "x", "label": "shipping"}\n'
        '{"id": 7, "text": "reset password", "label_fine": "account"}\n',
        encoding="utf-8",
    )
    loaded = examples_from_file(good)
    assert [(e.qid, e.intent) for e in loaded] == [("line-1", "shipping"), ("7", None)]
    assert examples_from_file(good, intent_field="label_fine")[1].intent == "account"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "fine"}\n{"answer": "no question"}\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"bad.jsonl:2: field 'question': missing"):
        examples_from_file(bad)
    counts = tmp_path / "counts.jsonl"
    counts.write_text('{"question": "q", "positive_feedback": -1}\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match="counts.jsonl:1: field 'positive_feedback'"):
        examples_from_file(counts)
