"""The real benchmarks: exact counts, idempotence and speed of ``flywheel ingest beir``."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from flywheel.store import Store

DATASETS = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets"


def _dataset(name: str) -> Path:
    folder = DATASETS / name
    if not (folder / "corpus.jsonl").exists():
        pytest.skip(f"{folder} not present")
    return folder


@pytest.mark.slow
def test_scifact_exact_counts_idempotent_and_fast(db_url: str) -> None:
    store = Store(db_url)
    start = time.perf_counter()
    first = store.ingest_beir(_dataset("scifact"))
    elapsed = time.perf_counter() - start
    expected = {
        "documents": 5183,
        "chunks": 0,
        "queries": 1109,
        "judgments": 1258,
        "events": 0,
        "experiment_runs": 0,
    }
    assert store.counts() == expected
    assert {k: r.added for k, r in first.items()} == {
        "documents": 5183,
        "queries": 1109,
        "judgments": 1258,
    }
    assert sum(map(len, store.qrels(split="train").values())) == 919
    assert sum(map(len, store.qrels(split="test").values())) == 339
    assert elapsed < 30, f"ingest took {elapsed:.1f}s"
    second = store.ingest_beir(_dataset("scifact"))
    assert store.counts() == expected
    assert all(r.added == 0 and r.updated == 0 for r in second.values())
    assert second["documents"].unchanged == 5183


@pytest.mark.slow
def test_cranfield_keeps_its_two_empty_documents(db_url: str) -> None:
    store = Store(db_url)
    reports = store.ingest_beir(_dataset("cranfield"))
    assert reports["documents"].warnings == ["2 documents have no title and no text"]
    assert store.counts()["documents"] == 1400
    assert store.corpus()["471"].text == "" and store.corpus()["995"].text == ""
    assert sum(map(len, store.qrels(split="test").values())) == 534
    assert sum(map(len, store.qrels(split="train").values())) == 1078
    assert store.status().judgments["benchmark"] == {1: 363, 2: 734, 3: 387, 4: 128}
