"""The learned re-ranker on real graded judgments: Cranfield, BM25 + the base embedder.

Trained (gated by cross-validation, then refitted) on Cranfield's train queries only, measured
once on its test queries against BM25 alone. The base embedder's document vectors are cached
under ``FLYWHEEL_CACHE`` (default ``~/.cache/rag-flywheel``), so only the first run encodes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flywheel.data.beir import load_beir
from flywheel.evaluation import compare
from flywheel.retrieval import BM25Retriever, DenseRetriever, Embedder
from flywheel.retrieval.features import CandidateFeaturizer
from flywheel.training.ltr_gate import gate_ltr_reranker

DATASETS = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets"
pytestmark = pytest.mark.slow


def test_learned_reranker_trained_on_train_queries_beats_bm25_on_test():
    folder = DATASETS / "cranfield"
    if not folder.is_dir():
        pytest.skip("shared datasets not present")
    dataset = load_beir(folder)
    train_q, train_qrels = dataset.split("train")
    test_q, test_qrels = dataset.split("test")
    queries = {**train_q, **test_q}
    runs = {
        "bm25": BM25Retriever(dataset.corpus).search(queries, k=100),
        "base dense": DenseRetriever(dataset.corpus, Embedder()).search(queries, k=100),
    }
    featurizer = CandidateFeaturizer(dataset.corpus, depth=100)
    gate = gate_ltr_reranker(
        featurizer.build(train_q, runs), train_qrels, runs["bm25"], exclude_qids=set(test_q)
    )
    assert gate.reranker is not None and gate.queries == len(train_qrels)
    reranked = gate.reranker.rerank(featurizer.build(test_q, runs))
    assert set(reranked) <= set(test_q)

    comparison = compare(
        test_qrels,
        {"bm25": runs["bm25"], "learned re-ranker": reranked},
        metrics=["ndcg@10"],
        baseline="bm25",
    )
    outcome = comparison.outcomes["learned re-ranker"]["ndcg@10"]
    print(gate.verdict)
    print(comparison.to_markdown())
    assert outcome.delta > 0 and outcome.p_value < 0.05, comparison.to_markdown()
    assert gate.reranked_score > gate.first_stage_score, gate.verdict  # cross-validated on train
