from __future__ import annotations

import numpy as np
import pytest

from flywheel.errors import NotFoundError
from flywheel.retrieval import CrossEncoderReranker, HybridRetriever, RerankedRetriever, rrf


class Fixed:
    """A retriever that returns a fixed run, to test the plumbing around it."""

    def __init__(self, name, run):
        self.name, self.run, self.asked_k = name, run, None

    def search(self, queries, k=100):
        self.asked_k = k
        return {qid: dict(list(self.run[qid].items())[:k]) for qid in queries}


class ReverseAlphabet(CrossEncoderReranker):
    """Scores by the text's first letter, reversed: z best. No model loaded."""

    def score(self, pairs):
        self.seen = list(pairs)
        return np.array([-ord(text[0]) for _, text in pairs], dtype=np.float32)


def test_hybrid_asks_each_retriever_for_depth_and_truncates():
    a = Fixed("a", {"q": {"d1": 3.0, "d2": 2.0, "d3": 1.0}})
    b = Fixed("b", {"q": {"d3": 9.0, "d1": 8.0}})
    hybrid = HybridRetriever([a, b], depth=50)
    run = hybrid.search({"q": "text"}, k=2)
    assert a.asked_k == b.asked_k == 50
    assert run == {"q": dict(list(rrf([a.run, b.run])["q"].items())[:2])}
    weighted = HybridRetriever([a, b], method="minmax", weights=[1.0, 0.0]).search({"q": "t"}, k=3)
    assert list(weighted["q"]) == ["d1", "d2", "d3"]


def test_rerank_rescores_the_head_and_keeps_the_tail_order():
    texts = {"d1": "apple", "d2": "zebra", "d3": "mango", "d4": "banana", "d5": "kiwi"}
    run = {"q": {"d1": 5.0, "d2": 4.0, "d3": 3.0, "d4": 2.0, "d5": 1.0}}
    reranker = ReverseAlphabet("unused", depth=3)
    out = reranker.rerank({"q": "fruit"}, run, texts)
    assert list(out["q"]) == ["d1", "d3", "d2", "d4", "d5"]  # a < m < z re-ranked; d4, d5 after
    assert [text for _, text in reranker.seen] == ["apple", "zebra", "mango"]
    assert min(out["q"]["d1"], out["q"]["d3"], out["q"]["d2"]) > out["q"]["d4"] > out["q"]["d5"]
    assert run == {"q": {"d1": 5.0, "d2": 4.0, "d3": 3.0, "d4": 2.0, "d5": 1.0}}  # not mutated
    with pytest.raises(NotFoundError, match="document 'd1'"):
        reranker.rerank({"q": "fruit"}, run, {})


def test_reranked_retriever_fetches_depth_and_returns_k():
    first = Fixed("first", {"q": {f"d{i}": float(10 - i) for i in range(6)}})
    texts = {f"d{i}": letter for i, letter in enumerate("fedcba")}
    retriever = RerankedRetriever(first, ReverseAlphabet("m", depth=4), texts)
    run = retriever.search({"q": "x"}, k=2)
    assert first.asked_k == 4
    assert list(run["q"]) == ["d3", "d2"]  # c, d: best of the top 4 by reverse alphabet
    assert retriever.name == "first>rerank:m"


@pytest.mark.slow
def test_cross_encoder_on_real_minilm_backbone():
    # MiniLM is a bi-encoder: as a CrossEncoder it gets a fresh, untrained head. This checks
    # loading, batching, shapes and plumbing, not relevance.
    reranker = CrossEncoderReranker(
        "sentence-transformers/all-MiniLM-L6-v2", depth=3, num_labels=1, max_length=64, device="cpu"
    )
    texts = {"a": "cats purr", "b": "rockets burn fuel", "c": "fish swim", "d": "birds fly"}
    run = {"q1": {"a": 4.0, "b": 3.0, "c": 2.0, "d": 1.0}, "q2": {"b": 1.0}}
    out = reranker.rerank({"q1": "which animal purrs", "q2": "rocket"}, run, texts)
    assert set(out["q1"]) == {"a", "b", "c", "d"} and list(out["q1"])[-1] == "d"
    direct = reranker.score([("which animal purrs", t) for t in ("cats purr", "rockets burn fuel")])
    assert direct.shape == (2,) and direct.dtype == np.float32
    assert out["q1"]["a"] == pytest.approx(float(direct[0]), abs=1e-4)
    assert list(out["q2"]) == ["b"]
