"""Config validation and the loss registries (no training)."""

from __future__ import annotations

import pytest

from flywheel.errors import UnknownComponentError
from flywheel.training.config import EmbedderTrainConfig, RerankerTrainConfig
from flywheel.training.losses import (
    EMBEDDER_LOSSES,
    build_embedder_loss,
    register_embedder_loss,
    resolve_reranker_loss,
)


def test_unknown_embedder_loss_lists_known_names() -> None:
    with pytest.raises(UnknownComponentError) as info:
        EmbedderTrainConfig(loss="contrastive-magic")
    assert "unknown embedder loss 'contrastive-magic'" in str(info.value)
    assert info.value.known == ["cached_mnrl", "mnrl", "triplet"]


def test_unknown_reranker_loss() -> None:
    with pytest.raises(UnknownComponentError) as info:
        RerankerTrainConfig(loss="pointwise-guess")
    assert set(info.value.known) == {"auto", "bce", "lambda", "mse"}


def test_defaults_match_the_documented_ones() -> None:
    config = EmbedderTrainConfig()
    assert (config.loss, config.epochs, config.learning_rate, config.batch_size) == (
        "mnrl",
        3,
        5e-5,
        32,
    )
    assert (config.warmup, config.max_seq_length, config.scale, config.no_duplicates) == (
        0.1,
        256,
        20.0,
        True,
    )
    reranker = RerankerTrainConfig()
    assert (reranker.loss, reranker.epochs, reranker.learning_rate) == ("auto", 1, 2e-5)


def test_bf16_auto_is_off_without_cuda_and_explicit_wins() -> None:
    import torch

    expected = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    assert EmbedderTrainConfig().resolved_bf16() is bool(expected)
    assert EmbedderTrainConfig(bf16=False).resolved_bf16() is False
    assert EmbedderTrainConfig().to_record()["bf16_resolved"] is bool(expected)


def test_matryoshka_dims_sorted_largest_first_and_validated() -> None:
    assert EmbedderTrainConfig(matryoshka_dims=[128, 384, 256, 128]).matryoshka_dims == [
        384,
        256,
        128,
    ]
    with pytest.raises(ValueError):
        EmbedderTrainConfig(matryoshka_dims=[0, 64])


def test_auto_reranker_loss_follows_the_labels() -> None:
    assert resolve_reranker_loss("auto", graded=True) == "lambda"
    assert resolve_reranker_loss("auto", graded=False) == "bce"
    assert resolve_reranker_loss("mse", graded=True) == "mse"


def test_registry_builds_each_loss(tiny_st: str) -> None:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer import losses

    model = SentenceTransformer(tiny_st)
    built = {
        name: build_embedder_loss(model, EmbedderTrainConfig(loss=name)) for name in EMBEDDER_LOSSES
    }
    assert isinstance(built["mnrl"], losses.MultipleNegativesRankingLoss)
    assert built["mnrl"].scale == 20.0
    assert isinstance(built["cached_mnrl"], losses.CachedMultipleNegativesRankingLoss)
    assert built["cached_mnrl"].mini_batch_size == 32
    assert isinstance(built["triplet"], losses.TripletLoss)
    wrapped = build_embedder_loss(model, EmbedderTrainConfig(matryoshka_dims=[32, 16]))
    assert isinstance(wrapped, losses.MatryoshkaLoss)
    assert list(wrapped.matryoshka_dims) == [32, 16]


def test_a_plugin_can_register_a_loss() -> None:
    marker = object()
    register_embedder_loss("plugin_loss", lambda model, config: marker)
    try:
        assert build_embedder_loss(None, EmbedderTrainConfig(loss="plugin_loss")) is marker
    finally:
        EMBEDDER_LOSSES.pop("plugin_loss")


def test_listwise_loss_is_chunked_to_bound_memory(tmp_path) -> None:
    # unchunked, LambdaLoss ran batch_size x max_docs_per_query pairs in one pass (22 GB, OOM)
    from sentence_transformers import CrossEncoder

    from flywheel.testing import build_tiny_cross_encoder
    from flywheel.training.losses import build_reranker_loss

    model = CrossEncoder(build_tiny_cross_encoder(tmp_path / "ce"), num_labels=1)
    loss = build_reranker_loss(model, "lambda", RerankerTrainConfig(mini_batch_size=8))
    assert loss.mini_batch_size == 8
