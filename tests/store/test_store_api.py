from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from flywheel.data.events import (
    EVENT_CLASSES,
    AnswerFeedbackEvent,
    CitationEvent,
    ClickEvent,
    DocumentFeedbackEvent,
    DwellEvent,
    MoreLikeThisEvent,
    PreferenceEvent,
    ReformulationEvent,
    RetrievalEvent,
)
from flywheel.data.types import Document
from flywheel.errors import ConfigError, DataFormatError, NotFoundError
from flywheel.store import Store

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_readers_return_the_shared_types(seeded: Store) -> None:
    corpus = seeded.corpus()
    assert corpus["d1"] == Document("d1", "Cats purr. They sleep a lot.", "Cats", {})
    assert corpus["d3"].text == "" and corpus["d3"].title == "Fish only"
    assert seeded.queries() == {"q1": "why do cats purr", "q2": "do dogs bark"}
    assert seeded.queries(source="live") == {}
    assert seeded.counts() == {
        "documents": 3,
        "chunks": 0,
        "queries": 2,
        "judgments": 0,
        "events": 0,
        "experiment_runs": 0,
    }


def test_adding_the_same_records_twice_changes_nothing(seeded: Store) -> None:
    report = seeded.add_documents([Document("d1", "Cats purr. They sleep a lot.", "Cats")])
    assert (report.added, report.unchanged) == (0, 1)
    with pytest.raises(DataFormatError, match="add_documents\\(\\):1: id 'd1' is already stored"):
        seeded.add_documents([Document("d1", "changed")])
    assert seeded.add_documents([Document("d1", "changed")], replace=True).updated == 1
    assert seeded.corpus()["d1"].text == "changed"


def test_qrels_precedence_human_beats_benchmark_beats_llm_beats_derived(seeded: Store) -> None:
    seeded.add_judgments({"q1": {"d1": 1, "d2": 0}}, source="derived")
    seeded.add_judgments({"q1": {"d1": 3}}, source="llm")
    seeded.add_judgments({"q1": {"d2": 4}}, source="benchmark", split="test")
    seeded.add_judgments({"q1": {"d1": 2}}, source="human", split="test")
    assert seeded.qrels() == {"q1": {"d1": 2, "d2": 4}}
    assert seeded.qrels(sources=["llm", "derived"]) == {"q1": {"d1": 3, "d2": 0}}
    assert seeded.qrels(split="test") == {"q1": {"d1": 2, "d2": 4}}
    assert seeded.qrels(split="unsplit") == {"q1": {"d1": 3, "d2": 0}}
    assert len(seeded.judgments()) == 5  # every source kept, resolved only on read
    assert seeded.splits() == ["test", "unsplit"]


def test_a_chunk_id_naming_a_document_is_a_document_judgment(seeded: Store) -> None:
    seeded.add_judgments([{"qid": "q2", "chunk_id": "d2", "grade": 1}], source="derived")
    (judgment,) = seeded.judgments()
    assert (judgment.doc_id, judgment.chunk_id) == ("d2", None)


def test_unknown_targets_are_refused_and_nothing_is_stored(seeded: Store) -> None:
    with pytest.raises(
        DataFormatError,
        match="add_judgments\\(\\):2: field 'doc_id': unknown "
        "document 'nope'; ingest the corpus first",
    ):
        seeded.add_judgments(
            [{"qid": "q1", "doc_id": "d1", "grade": 1}, {"qid": "q1", "doc_id": "nope", "grade": 1}]
        )
    assert seeded.judgments() == []


def test_every_event_kind_round_trips(seeded: Store) -> None:
    header = {"session_id": "s1", "qid": "q1", "user_id": "u", "timestamp": T0}
    events = [
        RetrievalEvent(**header, results=(("d1", 1, 0.9), ("d2", 2, 0.5)), retriever="bm25"),
        CitationEvent(**header, chunk_ids=("d1",)),
        AnswerFeedbackEvent(**header, positive=False, comment="meh"),
        DocumentFeedbackEvent(**header, chunk_id="d1", positive=True),
        ClickEvent(**header, chunk_id="d2", rank=2),
        DwellEvent(**header, chunk_id="d2", dwell_ms=1500),
        ReformulationEvent(**header, previous_qid="q2"),
        MoreLikeThisEvent(**header, chunk_id="d1"),
        PreferenceEvent(**header, winner="d1", loser="d2"),
    ]
    assert {type(e) for e in events} == set(EVENT_CLASSES.values())
    ids = [seeded.log_event(event) for event in events]
    stored = {e.event_id: e for e in seeded.events()}
    for event_id, event in zip(ids, events, strict=True):
        assert stored[event_id] == EVENT_CLASSES[event.kind](
            **{**event.__dict__, "event_id": event_id}
        )
    assert [e.kind for e in seeded.events(kind="click")] == ["click"]


def test_log_helpers_and_live_queries(seeded: Store) -> None:
    event_id = seeded.log_retrieval("s9", "live-1", {"d2": 0.2, "d1": 0.7}, "dense", query="cats?")
    assert seeded.queries(source="live") == {"live-1": "cats?"}
    (retrieval,) = seeded.events(kind="retrieval")
    assert retrieval.event_id == event_id
    assert retrieval.results == (("d1", 1, 0.7), ("d2", 2, 0.2))
    seeded.log_feedback("s9", "live-1", True, chunk_id="d1")
    seeded.log_feedback("s9", "live-1", False, comment="wrong")
    seeded.log_click("s9", "live-1", "d1", 1)
    assert [e.kind for e in seeded.events(session_id="s9")] == [
        "retrieval",
        "document_feedback",
        "answer_feedback",
        "click",
    ]
    with pytest.raises(DataFormatError, match="unknown query 'ghost'"):
        seeded.log_click("s9", "ghost", "d1", 1)
    with pytest.raises(DataFormatError, match="unknown document or chunk 'nowhere'"):
        seeded.log_click("s9", "live-1", "nowhere", 1)
    assert len(seeded.events()) == 4


def test_to_dataset_groups_qrels_by_split(seeded: Store) -> None:
    seeded.add_judgments({"q1": {"d1": 2}}, source="benchmark", split="train")
    seeded.add_judgments({"q2": {"d2": 1}}, source="benchmark", split="test")
    dataset = seeded.to_dataset("mine")
    assert dataset.name == "mine" and set(dataset.corpus) == {"d1", "d2", "d3"}
    assert dataset.qrels == {"train": {"q1": {"d1": 2}}, "test": {"q2": {"d2": 1}}}
    assert dataset.split("test") == ({"q2": "do dogs bark"}, {"q2": {"d2": 1}})


def test_experiment_runs_round_trip(store: Store) -> None:
    run_id = store.save_experiment_run(
        "bm25-vs-dense",
        {"retrievers": ["bm25", "dense"]},
        {"ndcg@10": np.float32(0.5)},
        git_commit="abc123",
        versions={"flywheel": "0.1.0"},
    )
    second = store.save_experiment_run("other", {}, {"per_query": np.array([1, 2])}, versions={})
    run = store.get_experiment_run(run_id)
    assert (run.name, run.spec, run.results, run.git_commit, run.versions) == (
        "bm25-vs-dense",
        {"retrievers": ["bm25", "dense"]},
        {"ndcg@10": 0.5},
        "abc123",
        {"flywheel": "0.1.0"},
    )
    assert run.created_at.tzinfo is not None
    assert [r.run_id for r in store.list_experiment_runs()] == [run_id, second]
    assert [r.run_id for r in store.list_experiment_runs("other")] == [second]
    with pytest.raises(NotFoundError, match="no experiment run 'nope'"):
        store.get_experiment_run("nope")


def test_chunk_level_needs_a_strategy(seeded: Store) -> None:
    with pytest.raises(ConfigError, match="needs a strategy"):
        seeded.qrels(level="chunk")
