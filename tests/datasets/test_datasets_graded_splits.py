"""Graded pairs (judgments > events > mined), splits by near-duplicate group, leakage."""

from __future__ import annotations

import numpy as np
import pytest

from flywheel.data.events import ClickEvent, DwellEvent, RetrievalEvent
from flywheel.datasets import (
    build_graded_pairs,
    build_pairs,
    check_leakage,
    split_queries,
)
from flywheel.datasets._selection import MiningStats
from flywheel.datasets.graded import rescale_grade
from flywheel.datasets.hard_negatives import HardNegativeConfig, MinedExample, MinedNegatives
from flywheel.datasets.splits import group_near_duplicates, normalize_query
from flywheel.errors import LeakageError

TEXTS = {"d1": "one", "d2": "two", "d3": "three", "d4": "four", "d5": "five"}


def test_graded_pairs_from_judgments_events_and_mined(clock):
    queries = {"q": "the query", "other": "not in this split"}
    qrels = {"q": {"d1": 1, "d5": 0}}  # binary qrels: relevant -> 5, judged not -> 0
    events = [
        RetrievalEvent(session_id="s", qid="q", results=(("d2", 1, 0.9), ("d3", 2, 0.8)),
                       timestamp=clock()),
        ClickEvent(session_id="s", qid="q", chunk_id="d3", rank=2, timestamp=clock()),
        DwellEvent(session_id="s", qid="q", chunk_id="d3", dwell_ms=45_000, timestamp=clock()),
        ClickEvent(session_id="s2", qid="other", chunk_id="d1", rank=1, timestamp=clock()),
    ]  # fmt: skip
    mined = MinedNegatives(
        [MinedExample("q", "d1", 0.8, ("d3", "d4"), (0.6, 0.5), (0, 1))],
        HardNegativeConfig(), MiningStats(),
    )  # fmt: skip
    rows = build_graded_pairs({"q": queries["q"]}, qrels, TEXTS, mined=mined, events=events)
    assert sorted(rows, key=lambda r: (-r["grade"], r["passage"])) == [
        {"query": "the query", "passage": "one", "score": 1.0, "grade": 5, "source": "judged"},
        # d3 was mined as a negative but the user read it for 45 s: the event wins
        {"query": "the query", "passage": "three", "score": 1.0, "grade": 5,
         "source": "event:click"},
        # d2, skipped above d3 in one session, is neutral for the click model: no row
        {"query": "the query", "passage": "five", "score": 0.0, "grade": 0, "source": "judged"},
        {"query": "the query", "passage": "four", "score": 0.0, "grade": 0, "source": "mined"},
    ]  # fmt: skip


def test_grade_rescaling():
    assert [rescale_grade(g, 4) for g in range(5)] == [0, 1, 3, 4, 5]  # Cranfield 0-4
    assert [rescale_grade(g, 1) for g in (0, 1)] == [0, 5]
    assert [rescale_grade(g, 5) for g in range(6)] == list(range(6))


def test_pairs():
    rows = build_pairs({"q": "query", "r": "r"}, {"q": {"d1": 1, "d2": 0, "zz": 1}}, TEXTS)
    assert rows == [{"anchor": "query", "positive": "one"}]


def test_near_duplicates_by_text_and_embedding():
    assert normalize_query("  Reset  the PASSWORD?!") == "reset the password"
    assert normalize_query("Café") == "cafe"
    qids = ["a", "b", "c", "d"]
    texts = ["Reset password?", "reset  password", "billing address", "change my address"]
    assert sorted(map(sorted, group_near_duplicates(qids, texts))) == [["a", "b"], ["c"], ["d"]]
    emb = np.array([[1, 0], [1, 0], [0.6, 0.8], [0.64, 0.768]], dtype=np.float32)
    # cos(c, d) = 0.384 + 0.6144 = 0.9984 >= 0.9
    groups = group_near_duplicates(qids, texts, embeddings=emb, threshold=0.9)
    assert sorted(map(sorted, groups)) == [["a", "b"], ["c", "d"]]


def test_split_keeps_groups_whole_and_is_seeded():
    queries = {f"q{i}": f"question number {i}" for i in range(20)}
    queries["q20"] = "Question number 3!"  # near-duplicate of q3
    for seed in range(15):
        split = split_queries(queries, dev_fraction=0.25, seed=seed)
        assert set(split.train_qids) | set(split.dev_qids) == set(queries)
        assert not set(split.train_qids) & set(split.dev_qids)
        assert ("q3" in split.dev_qids) == ("q20" in split.dev_qids)
        assert len(split.dev_qids) in (5, 6)  # round(0.25 * 21) = 5, a pair can overshoot by 1
    assert split_queries(queries, seed=7) == split_queries(queries, seed=7)
    assert split_queries(queries, seed=7).dev_qids != split_queries(queries, seed=8).dev_qids


def test_leakage_error_names_count_and_examples():
    train = {"a": "How do I reset my password?", "b": "billing", "c": "invoice copy", "x": "x"}
    evaluation = {"e1": "how do i reset my password", "x": "something else"}
    with pytest.raises(LeakageError, match=r"2 training queries overlap .*train 'x' ~ eval 'x'"):
        check_leakage(train, evaluation)
    report = check_leakage(train, evaluation, force=True)
    assert report.forced and report.leaked_qids == {"a", "x"}
    emb_train = np.array([[1, 0], [0, 1], [0.6, 0.8], [1, 0]], dtype=np.float32)
    emb_eval = np.array([[0.0, 1.0], [0.7, 0.7]], dtype=np.float32)
    near = check_leakage(
        {"b": "billing", "c": "invoice copy"}, {"e": "bill", "f": "unrelated"},
        train_embeddings=emb_train[1:3], eval_embeddings=emb_eval, threshold=0.95, force=True,
    )  # fmt: skip
    # b.e = 1.0; c.f = (0.42 + 0.56) / 0.99 = 0.99: both leak at 0.95
    assert near.leaked_qids == {"b", "c"}
    assert check_leakage({"b": "billing"}, {"e": "bill"}).count == 0


def test_difficulty_histogram_and_false_negative_estimate():
    from flywheel.datasets import difficulty_histogram, estimate_false_negative_rate

    bins = difficulty_histogram([0.05, 0.55, 0.56, 0.99, 1.2], bins=4)
    assert [b["count"] for b in bins] == [1, 0, 2, 2]  # 1.2 falls into the last bin
    mined = MinedNegatives(
        [MinedExample("q", "d1", 0.8, ("d3", "d4"), (0.6, 0.5), (0, 1)),
         MinedExample("r", "d1", 0.8, ("d2",), (0.6,), (0,))],
        HardNegativeConfig(), MiningStats(),
    )  # fmt: skip
    # another annotator judged q only: d3 relevant, d4 not; r's negative is not checkable
    estimate = estimate_false_negative_rate(mined, {"second": {"q": {"d3": 2, "d4": 0}}})
    assert estimate["checkable_negatives"] == 2 and estimate["judged_relevant"] == 1
    assert estimate["rate"] == 0.5
    assert mined.difficulty() == pytest.approx([0.75, 0.625, 0.75])
