"""Provider embedders and re-rankers used like local models, with cost and latency columns."""

from __future__ import annotations

import json

import pytest

from flywheel.data.types import Document
from flywheel.errors import ConfigError
from flywheel.evaluation.experiment import run_experiment
from flywheel.evaluation.experiment_spec import load_spec
from flywheel.reports import write_report
from flywheel.retrieval.hosted_embedder import HostedEmbedder
from flywheel.retrieval.hosted_rerank import HostedReranker
from flywheel.retrieval.registry import build_retriever
from flywheel.retrieval.rerank import RerankedRetriever

DOCS = {
    "cat": "Cats are small felines that purr and chase mice",
    "dog": "Dogs are loyal companions that bark and fetch sticks",
    "rocket": "A rocket engine burns propellant to produce thrust",
    "tide": "The moon pulls the oceans and makes tides",
    "lava": "Volcanoes erupt molten rock called lava",
}
CORPUS = {d: Document(d, t) for d, t in DOCS.items()}
QUERIES = {"q1": "which felines purr", "q2": "rocket propellant thrust", "q3": "molten lava rock"}
EMBED, RERANK = "/v1/embeddings", "/v2/rerank"


def test_dense_over_a_hosted_embedder_searches_and_never_pays_twice(server, tmp_path, prices):
    retriever = build_retriever(
        "dense:openai:fake-embed", CORPUS, batch_size=2, cache_dir=tmp_path / "emb"
    )
    run = retriever.search(QUERIES, k=3)
    assert [next(iter(run[q])) for q in QUERIES] == ["cat", "rocket", "lava"]
    doc_calls = [
        b for p, b in server.requests if p == EMBED and set(b["input"]) <= set(DOCS.values())
    ]
    assert len(doc_calls) == 3  # 5 documents in batches of 2
    before = server.count(EMBED)
    again = build_retriever(
        "dense:openai:fake-embed", CORPUS, batch_size=2, cache_dir=tmp_path / "emb"
    )
    assert server.count(EMBED) == before  # documents came from the embedding cache
    assert again.search(QUERIES, k=3) == run  # queries from the response cache
    assert server.count(EMBED) == before


def test_hosted_embedder_checks_its_options(server, tmp_path):
    with pytest.raises(ConfigError, match="at most 256 texts"):
        HostedEmbedder("openai:fake-embed", batch_size=1000)
    with pytest.raises(ConfigError, match="local models only"):
        build_retriever("dense:openai:fake-embed", CORPUS, device="cpu")


def test_index_cost_uses_billed_tokens(server, tmp_path, prices):
    embedder = HostedEmbedder("openai:fake-embed", cache_dir=tmp_path / "emb", prices=prices)
    texts = list(DOCS.values())
    embedder.encode_documents(list(DOCS), texts)
    words = sum(len(t.split()) for t in texts)  # the fake bills one token per word
    assert embedder.client.meter.usage.input_tokens == words
    assert embedder.index_cost(texts) == pytest.approx(words * 0.5 / 1e6)


def test_cohere_reranker_reorders_and_splits_long_lists(server, tmp_path):
    reranker = HostedReranker("cohere:fake-rerank", depth=5, documents_per_call=2)
    texts = {d: doc.text for d, doc in CORPUS.items()}
    first = {"q": {d: 1.0 - i / 10 for i, d in enumerate(DOCS)}}  # tide is 4th of 5
    run = reranker.rerank({"q": "moon oceans tides"}, first, texts)
    assert next(iter(run["q"])) == "tide" and len(run["q"]) == 5
    assert server.count(RERANK) == 3  # 5 documents, 2 per call
    assert reranker.client.meter.usage.search_units == 3
    bm25 = RerankedRetriever(build_retriever("bm25", CORPUS), reranker, texts)
    assert next(iter(bm25.search({"q2": "rocket propellant"}, k=3)["q2"])) == "rocket"


def test_experiment_table_has_latency_and_cost(server, tmp_path, prices, monkeypatch):
    monkeypatch.setenv("FLYWHEEL_PRICES", str(prices))
    folder = tmp_path / "tiny"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": d, "text": t}) + "\n" for d, t in DOCS.items())
    )
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in QUERIES.items())
    )
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\tcat\t1\nq2\trocket\t1\nq3\tlava\t1\n"
    )
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(
        f"""
name = "hosted"
dataset = "{folder}"
hypothesis = "a provider model beats BM25"
primary_metric = "ndcg@10"
baseline = "bm25"
n_resamples = 200
latency_queries = 3
[success]
metric = "ndcg@10"
min_absolute_gain = 0.01
[[variants]]
name = "bm25"
retriever = "bm25"
[[variants]]
name = "openai"
retriever = "dense"
model = "openai:fake-embed"
[[variants]]
name = "bm25+cohere"
retriever = "bm25"
reranker = "cohere:fake-rerank"
rerank_depth = 5
"""
    )
    result = run_experiment(load_spec(spec_path), save=False)
    costs = result.costs
    assert not costs["bm25"]["hosted"] and costs["bm25"]["index_cost_usd"] is None
    assert costs["openai"]["hosted"] and costs["openai"]["index_cost_usd"] > 0
    assert costs["bm25+cohere"]["cost_per_1k_queries_usd"] == pytest.approx(3.0)  # 1 search/query
    assert costs["openai"]["latency_queries"] == 3 and costs["openai"]["latency_p95_ms"] > 0
    html = write_report(result, tmp_path / "r.html").read_text()
    assert "Latency and cost" in html and "Quality against cost" in html
    assert "per 1,000 queries" in html and "$3.00" in html


def test_spec_with_a_hosted_model_names_the_missing_key(server, tmp_path, monkeypatch):
    monkeypatch.delenv("COHERE_API_KEY")
    spec = tmp_path / "s.toml"
    spec.write_text(
        'name="x"\ndataset="nowhere"\nhypothesis="h"\nprimary_metric="ndcg@10"\nbaseline="a"\n'
        '[success]\nmetric="ndcg@10"\nmin_absolute_gain=0.1\n'
        '[[variants]]\nname="a"\n[[variants]]\nname="b"\nreranker="cohere:rerank-v3.5"\n'
    )
    with pytest.raises(ConfigError, match=r"variants\[1\].reranker.*export COHERE_API_KEY="):
        load_spec(spec)
    assert server.count() == 0
