from __future__ import annotations

import numpy as np
import pytest

from flywheel.errors import ConfigError
from flywheel.retrieval import DenseRetriever
from flywheel.testing import FakeEmbedder


def _all_scores(retriever: DenseRetriever, query: str) -> np.ndarray:
    return retriever.doc_embeddings @ retriever.embedder.encode_queries([query])[0]


def test_dense_search_is_exact_inner_product_order(tiny_corpus, tiny_queries):
    retriever = DenseRetriever(tiny_corpus, FakeEmbedder(dim=64))
    run = retriever.search(tiny_queries, k=4)
    for qid, query in tiny_queries.items():
        exact = _all_scores(retriever, query)
        # each score is the document's inner product with the query ...
        for doc_id, score in run[qid].items():
            assert score == pytest.approx(exact[retriever.doc_ids.index(doc_id)], abs=1e-6)
        # ... and the run holds the 4 highest, best first
        assert list(run[qid].values()) == pytest.approx(sorted(exact, reverse=True)[:4], abs=1e-6)
    assert next(iter(run["q2"])) == "rocket"  # shares "rocket", "thrust", "propellant"
    assert retriever.name == "dense:fake-embedder"


def test_given_embeddings_are_used_without_a_copy(tiny_corpus):
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((len(tiny_corpus), 8)).astype(np.float32)
    retriever = DenseRetriever(tiny_corpus, FakeEmbedder(dim=8), doc_embeddings=matrix)
    assert retriever.doc_embeddings is matrix
    with pytest.raises(ConfigError, match="expected \\(5, dim\\)"):
        DenseRetriever(tiny_corpus, FakeEmbedder(dim=8), doc_embeddings=matrix[:3])


def test_hand_made_vectors_rank_by_inner_product():
    from flywheel.data.types import Document

    corpus = {d: Document(d, d) for d in ("a", "b", "c")}

    class AxisEmbedder(FakeEmbedder):
        def encode_queries(self, texts):
            return np.array([[1.0, 0.0]] * len(texts), dtype=np.float32)

    docs = np.array([[0.2, 0.9], [0.9, 0.1], [0.5, 0.5]], dtype=np.float32)
    run = DenseRetriever(corpus, AxisEmbedder(dim=2), doc_embeddings=docs).search({"q": "x"}, k=2)
    assert run == {"q": {"b": pytest.approx(0.9), "c": pytest.approx(0.5)}}


@pytest.mark.parametrize("index", ["hnsw", "ivf"])
def test_approximate_indexes_agree_on_a_tiny_corpus(tiny_corpus, tiny_queries, index):
    flat = DenseRetriever(tiny_corpus, FakeEmbedder(dim=32))
    approx = DenseRetriever(tiny_corpus, FakeEmbedder(dim=32), index=index, nlist=1)
    assert approx._matrix is None  # the FAISS index holds the only copy
    for qid, scores in approx.search(tiny_queries, k=3).items():
        assert list(scores) == list(flat.search(tiny_queries, k=3)[qid])
    np.testing.assert_allclose(approx.doc_embeddings, flat.doc_embeddings, atol=1e-6)


@pytest.mark.parametrize("index", ["flat", "hnsw"])
def test_dense_save_load_round_trip(tiny_corpus, tiny_queries, tmp_path, index):
    embedder = FakeEmbedder(dim=16)
    retriever = DenseRetriever(tiny_corpus, embedder, index=index)
    retriever.save(tmp_path / "dense")
    manifest = (tmp_path / "dense" / "manifest.json").read_text()
    assert '"model_id": "fake-embedder-16"' in manifest and '"count": 5' in manifest
    loaded = DenseRetriever.load(tmp_path / "dense", embedder, mmap=True)
    before, after = retriever.search(tiny_queries, k=5), loaded.search(tiny_queries, k=5)
    for qid in tiny_queries:
        assert after[qid] == pytest.approx(before[qid])
    with pytest.raises(ConfigError, match="was built with model 'fake-embedder-16'"):
        DenseRetriever.load(tmp_path / "dense", FakeEmbedder(dim=16, name="other"))


def test_unknown_index_type(tiny_corpus):
    with pytest.raises(ConfigError, match="choose one of: flat, hnsw, ivf"):
        DenseRetriever(tiny_corpus, FakeEmbedder(), index="annoy")
