"""Parity with ranx on a real BM25 run over SciFact's test split (skipped when data is absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from flywheel.data import load_beir
from flywheel.evaluation import evaluate

SCIFACT = Path(__file__).parents[2] / ".." / "shared" / "datasets" / "scifact"
METRICS = [
    f"{m}@{k}"
    for m in ("recall", "precision", "mrr", "map", "ndcg", "hit_rate")
    for k in (1, 5, 10, 100)
]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scifact_bm25():
    if not (SCIFACT / "corpus.jsonl").exists():
        pytest.skip("SciFact is not in ../shared/datasets")
    bm25s = pytest.importorskip("bm25s")
    stemmer_mod = pytest.importorskip("Stemmer")
    data = load_beir(SCIFACT)
    queries, qrels = data.split("test")
    doc_ids = list(data.corpus)
    stemmer = stemmer_mod.Stemmer("english")
    retriever = bm25s.BM25()
    retriever.index(
        bm25s.tokenize(
            [data.corpus[d].text_for_encoding for d in doc_ids],
            stemmer=stemmer,
            show_progress=False,
        ),
        show_progress=False,
    )
    qids = list(queries)
    tokens = bm25s.tokenize([queries[q] for q in qids], stemmer=stemmer, show_progress=False)
    docs, scores = retriever.retrieve(tokens, k=100, show_progress=False)
    run = {
        qid: {doc_ids[int(d)]: float(s) for d, s in zip(docs[i], scores[i], strict=True)}
        for i, qid in enumerate(qids)
    }
    return qrels, run


def test_every_metric_matches_ranx_per_query_and_mean(scifact_bm25) -> None:
    ranx = pytest.importorskip("ranx")
    qrels, run = scifact_bm25
    ours = evaluate(qrels, run, METRICS)
    theirs = ranx.evaluate(ranx.Qrels(qrels), ranx.Run(run), METRICS, return_mean=False)
    order = sorted(qrels)  # ranx orders queries by id
    for metric in METRICS:
        mine = np.array([ours.per_query[metric][q] for q in order])
        np.testing.assert_allclose(mine, theirs[metric], atol=1e-6, err_msg=metric)
        assert ours.mean[metric] == pytest.approx(float(np.mean(theirs[metric])), abs=1e-6)
    # BM25 on SciFact is in the published range (bm25s: nDCG@10 0.687)
    assert 0.64 < ours.mean["ndcg@10"] < 0.72
