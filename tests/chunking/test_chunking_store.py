from __future__ import annotations

from pathlib import Path

import pytest

from flywheel.chunking import ChunkConfig, chunk_store
from flywheel.errors import ConfigError
from flywheel.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(str(tmp_path / "chunks.db"))
    store.add_documents(
        [{"doc_id": "d1", "title": "T", "text": "abcdefgh"}, {"doc_id": "d2", "text": "xyz"}]
    )
    store.add_queries({"q1": "q"})
    store.add_judgments({"q1": {"d1": 2}}, source="benchmark", split="test")
    return store


def config(size: int, label: str | None = None) -> ChunkConfig:
    return ChunkConfig(strategy="fixed", size=size, overlap=0, unit="chars", label=label)


def test_chunks_are_stored_and_rechunking_is_idempotent(store: Store) -> None:
    report = chunk_store(store, config(4))
    assert (report.added, report.documents) == (3, 2)  # abcd efgh | xyz
    chunks = store.chunks("fixed")
    assert [c.text for c in chunks.values()] == ["abcd", "efgh", "xyz"]
    assert chunks["d1#fixed#1"].title == "T"
    assert chunks["d1#fixed#1"].metadata == {"doc_id": "d1", "position": 1, "strategy": "fixed"}
    again = chunk_store(store, config(4))
    assert (again.added, again.unchanged, again.removed) == (0, 3, 0)


def test_strategies_coexist_and_document_judgments_carry_over(store: Store) -> None:
    chunk_store(store, config(4))
    chunk_store(store, config(3, label="small"))
    assert store.chunk_strategies() == {"fixed": 3, "small": 4}
    assert store.qrels(level="chunk", strategy="fixed") == {
        "q1": {"d1#fixed#0": 2, "d1#fixed#1": 2}
    }
    assert store.qrels(level="chunk", strategy="small", split="test") == {
        "q1": {"d1#small#0": 2, "d1#small#1": 2, "d1#small#2": 2}
    }
    # a direct chunk judgment beats the carried-over one of the same source
    store.add_judgments([{"qid": "q1", "chunk_id": "d1#fixed#1", "grade": 0}], source="benchmark")
    assert store.qrels(level="chunk", strategy="fixed") == {
        "q1": {"d1#fixed#0": 2, "d1#fixed#1": 0}
    }
    # ...while at document level the document's own judgment still wins
    assert store.qrels() == {"q1": {"d1": 2}}
    dataset = store.to_dataset(level="chunk", strategy="small")
    assert set(dataset.corpus) == {"d1#small#0", "d1#small#1", "d1#small#2", "d2#small#0"}


def test_chunk_judgments_roll_up_to_their_document(store: Store) -> None:
    chunk_store(store, config(4))
    store.add_queries({"q2": "other"})
    store.add_judgments(
        [
            {"qid": "q2", "chunk_id": "d1#fixed#0", "grade": 1},
            {"qid": "q2", "chunk_id": "d1#fixed#1", "grade": 3},
        ],
        source="llm",
    )
    assert store.qrels(sources=["llm"]) == {"q2": {"d1": 3}}


def test_rechunking_judged_chunks_is_refused(store: Store) -> None:
    chunk_store(store, config(4))
    store.add_judgments([{"qid": "q1", "chunk_id": "d1#fixed#0", "grade": 1}], source="human")
    with pytest.raises(ConfigError, match="judgments point at some.*--label NEW"):
        chunk_store(store, config(5))
    assert store.chunk_strategies() == {"fixed": 3}
