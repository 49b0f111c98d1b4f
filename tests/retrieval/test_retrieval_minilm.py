"""The slow tier: the real all-MiniLM-L6-v2 on a handful of short texts, and real Cranfield."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from flywheel.data.beir import load_beir
from flywheel.models import resolve_model
from flywheel.retrieval import BM25Retriever, DenseRetriever, Embedder

DATASETS = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets"
pytestmark = pytest.mark.slow


def test_minilm_embedder_matches_sentence_transformers_and_caches(tmp_path, tiny_corpus):
    from sentence_transformers import SentenceTransformer

    embedder = Embedder(cache_dir=tmp_path, device="cpu", batch_size=4)
    assert embedder.model_id.startswith("all-MiniLM-L6-v2@")
    assert Embedder("all-MiniLM-L6-v2", cache_dir=tmp_path).model_id == embedder.model_id
    assert embedder.max_seq_length == 256
    ids = list(tiny_corpus)
    texts = [tiny_corpus[i].text_for_encoding for i in ids] + ["word " * 400]
    vectors = embedder.encode_documents([*ids, "long"], texts)
    assert vectors.shape == (6, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert embedder.truncation_rate == pytest.approx(1 / 6)  # only the 400-word text

    direct = SentenceTransformer(resolve_model("all-MiniLM-L6-v2"), device="cpu")
    expected = direct.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(vectors, expected, atol=1e-5)

    again = Embedder(cache_dir=tmp_path)
    np.testing.assert_array_equal(again.encode_documents([*ids, "long"], texts), vectors)
    assert again._model is None  # served from the cache: the model was never even loaded


def test_minilm_dense_retrieval_finds_the_paraphrase(tmp_path, tiny_corpus):
    retriever = DenseRetriever(tiny_corpus, Embedder(cache_dir=tmp_path, device="cpu"))
    run = retriever.search({"q": "kitten hunting a mouse", "r": "spacecraft propulsion"})
    assert next(iter(run["q"])) == "cat" and next(iter(run["r"])) == "rocket"


def test_bm25_on_cranfield_is_in_the_published_range():
    folder = DATASETS / "cranfield"
    if not folder.is_dir():
        pytest.skip("shared datasets not present")
    from ranx import evaluate

    dataset = load_beir(folder)
    queries, qrels = dataset.split("test")
    run = BM25Retriever(dataset.corpus).search(queries, k=100)
    scores = evaluate(qrels, run, ["ndcg@10", "recall@100"])
    # BM25 on Cranfield scores around 0.3-0.45 nDCG@10 depending on the split and stemming
    assert 0.25 < scores["ndcg@10"] < 0.6
    assert scores["recall@100"] > 0.6
