from __future__ import annotations

import bm25s
import pytest
import Stemmer

from flywheel.errors import ConfigError, NotFoundError
from flywheel.retrieval import BM25Retriever, Retriever


def test_bm25_ranks_the_obvious_document_first(tiny_corpus, tiny_queries):
    retriever = BM25Retriever(tiny_corpus)
    run = retriever.search(tiny_queries, k=3)
    assert isinstance(retriever, Retriever)
    assert next(iter(run["q1"])) == "cat"
    assert next(iter(run["q2"])) == "rocket"
    assert next(iter(run["q3"])) == "fish"
    # only documents sharing a term are returned: "purr" appears in one document
    assert list(run["q1"]) == ["cat"]


def test_bm25_scores_match_bm25s_called_directly(tiny_corpus, tiny_queries):
    ids = list(tiny_corpus)
    texts = [tiny_corpus[i].text_for_encoding for i in ids]
    stemmer = Stemmer.Stemmer("english")
    direct = bm25s.BM25(k1=1.2, b=0.5)
    direct.index(
        bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False),
        show_progress=False,
    )
    ours = BM25Retriever(tiny_corpus, k1=1.2, b=0.5).search(tiny_queries, k=5)
    for qid, query in tiny_queries.items():
        tokens = bm25s.tokenize([query], stopwords="en", stemmer=stemmer, show_progress=False)
        docs, scores = direct.retrieve(tokens, k=5, show_progress=False)
        expected = {ids[d]: float(s) for d, s in zip(docs[0], scores[0], strict=True) if s > 0}
        assert ours[qid] == pytest.approx(expected)
        assert list(ours[qid]) == list(expected)  # same order too


def test_bm25_hand_computed_single_term_score():
    # Lucene BM25, one matching doc among 2: idf = ln(1 + (N - df + .5)/(df + .5)) = ln 2;
    # tf = 1, |d| = avgdl; Lucene >= 8 drops the constant (k1 + 1) factor:
    # score = idf * tf / (tf + k1) = ln 2 / 2.5 = 0.2772589
    from flywheel.data.types import Document

    corpus = {"a": Document("a", "zebra"), "b": Document("b", "walrus")}
    run = BM25Retriever(corpus, stemmer=None, stopwords=None).search({"q": "zebra"}, k=2)
    assert run == {"q": {"a": pytest.approx(0.2772589, rel=1e-5)}}


def test_bm25_k_larger_than_corpus_and_no_match(tiny_corpus):
    run = BM25Retriever(tiny_corpus).search({"a": "feathers fly", "b": "zzzz"}, k=1000)
    assert list(run["a"]) == ["bird"]
    assert run["b"] == {}


def test_bm25_save_load_round_trip(tiny_corpus, tiny_queries, tmp_path):
    retriever = BM25Retriever(tiny_corpus, k1=0.9, b=0.4)
    retriever.save(tmp_path / "bm25")
    loaded = BM25Retriever.load(tmp_path / "bm25")
    assert loaded.k1 == 0.9 and loaded.b == 0.4
    assert loaded.search(tiny_queries, k=5) == retriever.search(tiny_queries, k=5)


def test_bm25_errors(tiny_corpus, tmp_path):
    with pytest.raises(ConfigError, match="choose one of: lucene"):
        BM25Retriever(tiny_corpus, method="okapi-ish")
    with pytest.raises(ConfigError, match="empty corpus"):
        BM25Retriever({})
    with pytest.raises(ConfigError, match="positive integer"):
        BM25Retriever(tiny_corpus).search({"q": "x"}, k=0)
    with pytest.raises(NotFoundError, match="manifest.json not found"):
        BM25Retriever.load(tmp_path)
