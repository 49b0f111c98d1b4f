from __future__ import annotations

import pytest

from flywheel.errors import ConfigError, UnknownComponentError
from flywheel.retrieval import (
    BM25Retriever,
    DenseRetriever,
    HybridRetriever,
    build_retriever,
    known_retrievers,
    register_retriever,
)
from flywheel.retrieval.registry import _FACTORIES, parse_spec
from flywheel.testing import FakeEmbedder


def test_unknown_retriever_lists_known_names(tiny_corpus):
    with pytest.raises(UnknownComponentError) as info:
        build_retriever("splade", tiny_corpus)
    assert str(info.value) == "unknown retriever 'splade'; known: bm25, dense, hybrid"


def test_specs_build_the_right_retrievers(tiny_corpus, tiny_queries):
    bm25 = build_retriever("bm25", tiny_corpus, k1=1.2)
    assert isinstance(bm25, BM25Retriever) and bm25.k1 == 1.2
    dense = build_retriever("dense", tiny_corpus, embedder=FakeEmbedder())
    assert isinstance(dense, DenseRetriever)
    hybrid = build_retriever("hybrid", tiny_corpus, embedder=FakeEmbedder(), depth=3)
    assert isinstance(hybrid, HybridRetriever)
    assert hybrid.name == "hybrid-rrf(bm25+dense:fake-embedder)"
    run = hybrid.search(tiny_queries, k=2)
    assert next(iter(run["q2"])) == "rocket" and all(len(docs) <= 2 for docs in run.values())


def test_spec_parsing_and_bad_options(tiny_corpus):
    assert parse_spec("dense:BAAI/bge-small-en-v1.5") == ("dense", "BAAI/bge-small-en-v1.5")
    assert parse_spec("bm25") == ("bm25", None)
    with pytest.raises(ConfigError, match="accepted options: k1, b, method"):
        build_retriever("bm25", tiny_corpus, k2=1.0)
    with pytest.raises(ConfigError, match="takes no ':x'"):
        build_retriever("bm25:x", tiny_corpus)
    with pytest.raises(ConfigError, match="not both"):
        build_retriever("dense:some/model", tiny_corpus, embedder=FakeEmbedder())


def test_plugins_register_retrievers(tiny_corpus):
    class Constant:
        name = "constant"

        def search(self, queries, k=100):
            return {qid: {"cat": 1.0} for qid in queries}

    register_retriever("constant", lambda corpus, argument, /: Constant())
    try:
        assert "constant" in known_retrievers()
        assert build_retriever("constant", tiny_corpus).search({"q": "x"}) == {"q": {"cat": 1.0}}
        with pytest.raises(ConfigError, match="already registered"):
            register_retriever("constant", lambda corpus, argument, /: Constant())
    finally:
        _FACTORIES.pop("constant")
