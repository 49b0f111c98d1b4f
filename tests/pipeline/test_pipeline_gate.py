"""The loop's dev gate shares vectors with the loop instead of encoding the pool again."""

from __future__ import annotations

import numpy as np
import pytest

from flywheel.pipeline.gate import base_gate_score, share_gate_vectors
from flywheel.testing import FakeEmbedder
from flywheel.training.devset import DevSet
from flywheel.training.evaluators import DenseDevEvaluator

TEXTS = {
    "d1": "aspirin lowers fever in adults",
    "d2": "insulin controls blood sugar",
    "d3": "statins reduce cholesterol levels",
    "d4": "vitamin d supports bone health",
}
DEV = DevSet(
    {"q1": "what lowers fever", "q2": "blood sugar control"},
    TEXTS,
    {"q1": {"d1": 2}, "q2": {"d2": 1, "d4": 1}},
)


def test_the_cached_base_score_is_the_score_training_would_compute(tmp_path):
    base = FakeEmbedder(cache_dir=tmp_path)
    evaluator = DenseDevEvaluator(DEV, metric="ndcg@10")
    direct = evaluator(base.model)[evaluator.primary_metric]  # what training would do
    assert base_gate_score(DEV, base, metric="ndcg@10") == pytest.approx(direct, abs=1e-9)
    # training encodes at another token limit: the cached vectors are not the same model's
    assert base_gate_score(DEV, base, metric="ndcg@10", max_seq_length=8) is None


def test_the_final_pool_vectors_fill_the_tuned_models_cache(tmp_path):
    tuned = FakeEmbedder(cache_dir=tmp_path)
    evaluator = DenseDevEvaluator(DEV, metric="ndcg@10")
    assert share_gate_vectors(evaluator, tuned) == 0  # never evaluated: nothing to share
    evaluator(FakeEmbedder().model)  # training's last evaluation, on the final model
    assert evaluator.last_doc_vectors is not None
    assert share_gate_vectors(evaluator, tuned) == len(TEXTS)
    tuned.model.encoded.clear()
    ids = [*TEXTS, "d5"]
    out = tuned.encode_documents(ids, [*TEXTS.values(), "a fifth passage"])
    assert tuned.model.encoded == ["a fifth passage"]  # the corpus pass encodes only the rest
    order = [evaluator.doc_ids.index(d) for d in TEXTS]
    np.testing.assert_allclose(out[:4], evaluator.last_doc_vectors[order], rtol=1e-6, atol=1e-7)
