"""Tiny, hand-made data for the training-data tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flywheel.data.types import Document, RetrievalDataset


@pytest.fixture
def clock():
    """Timestamps one second apart, in call order."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    state = {"n": 0}

    def tick() -> datetime:
        state["n"] += 1
        return start + timedelta(seconds=state["n"])

    return tick


@pytest.fixture
def tiny_dataset() -> RetrievalDataset:
    """8 docs, 6 train queries (two near-duplicates), 2 test queries; grade 1 judgments."""
    corpus = {
        f"d{i}": Document(f"d{i}", f"text of document {i} about topic {i % 3}") for i in range(8)
    }
    queries = {
        "q1": "what is topic zero",
        "q2": "What is topic zero?",
        "q3": "tell me about topic one",
        "q4": "topic two facts",
        "q5": "document five",
        "q6": "document six",
        "t1": "held out question",
        "t2": "another held out one",
    }
    train = {"q1": {"d0": 1}, "q2": {"d3": 1}, "q3": {"d1": 1}, "q4": {"d2": 1},
             "q5": {"d5": 1}, "q6": {"d6": 1}}  # fmt: skip
    test = {"t1": {"d4": 1}, "t2": {"d7": 1}}
    return RetrievalDataset("tiny", corpus, queries, {"train": train, "test": test})
