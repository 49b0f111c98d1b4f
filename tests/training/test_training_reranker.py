"""Fine-tuning a tiny cross-encoder: from a bi-encoder backbone, both label kinds, the gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flywheel.errors import ConfigError
from flywheel.training.config import RerankerTrainConfig
from flywheel.training.devset import split_graded_dev
from flywheel.training.reranker import train_reranker


def _candidates(dev) -> dict[str, dict[str, float]]:
    """A first stage that ranks the whole dev pool in doc_id order (deterministic, uninformed)."""
    ordered = sorted(dev.texts)
    return {qid: {d: float(len(ordered) - i) for i, d in enumerate(ordered)} for qid in dev.queries}


def test_trains_from_a_bi_encoder_backbone_and_loads(
    tiny_st: str, graded: list[dict[str, object]], out_dir: Path
) -> None:
    from sentence_transformers import CrossEncoder

    binary = [{**row, "score": float(row["grade"] == 2)} for row in graded]
    binary = [{k: v for k, v in row.items() if k != "grade"} for row in binary]
    train, dev = split_graded_dev(binary, fraction=0.2, seed=0)
    config = RerankerTrainConfig(epochs=2, batch_size=8, learning_rate=1e-3, max_length=32)
    result = train_reranker(
        train,
        base_model=tiny_st,
        out_dir=out_dir,
        config=config,
        dev=dev,
        dev_candidates=_candidates(dev),
    )
    assert result.loss == "bce"
    assert result.steps == 2 * 6  # 48 rows / batch 8, two epochs
    assert len(result.per_epoch_dev) == 2 and result.first_stage_dev_score is not None
    assert result.accepted == (result.trained_dev_score > result.first_stage_dev_score)
    model = CrossEncoder(str(result.model_path))
    scores = model.predict([("tell me about apple", "apple fruit orchard"), ("a", "b")])
    assert scores.shape == (2,)
    manifest = json.loads(result.manifest_path.read_text())
    assert manifest["kind"] == "reranker" and manifest["base_model"] == tiny_st
    assert manifest["loss_resolved"] == "bce" and manifest["graded_labels"] is False
    assert f"**Base model:** `{tiny_st}`" in (result.model_path / "README.md").read_text()


def test_graded_labels_train_listwise_with_lambda_loss(
    tiny_ce: str, graded: list[dict[str, object]], out_dir: Path
) -> None:
    config = RerankerTrainConfig(batch_size=4, max_steps=3, learning_rate=1e-3, max_length=32)
    result = train_reranker(graded, base_model=tiny_ce, out_dir=out_dir, config=config)
    assert result.loss == "lambda"
    assert result.steps == 3 and len(result.loss_history) == 3
    assert result.accepted is False and "No dev set" in result.verdict
    assert json.loads(result.manifest_path.read_text())["dataset"]["columns"] == [
        "query",
        "docs",
        "labels",
    ]


def test_listwise_steps_bound_pairs_per_pass_with_gradient_accumulation(
    tiny_ce: str, graded: list[dict[str, object]], out_dir: Path
) -> None:
    """A listwise pass holds every pair's activations for the backward pass, so the batch of
    queries is split into passes of at most max_pairs_per_step pairs (the Cranfield OOM fix)."""
    import torch

    config = RerankerTrainConfig(
        batch_size=4,
        max_docs_per_query=4,
        max_pairs_per_step=8,
        max_steps=2,
        learning_rate=1e-3,
        max_length=32,
    )
    result = train_reranker(graded, base_model=tiny_ce, out_dir=out_dir, config=config)
    assert result.steps == 2
    checkpoint = out_dir / "checkpoints" / "checkpoint-2"
    args = torch.load(checkpoint / "training_args.bin", weights_only=False)
    # 8 pairs per pass / 4 documents per query = 2 queries per pass, 2 passes per step of 4
    assert args.per_device_train_batch_size == 2
    assert args.gradient_accumulation_steps == 2
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    assert state["train_batch_size"] == 2


def test_gate_rejects_when_the_first_stage_is_already_perfect(
    tiny_ce: str, graded: list[dict[str, object]], out_dir: Path
) -> None:
    train, dev = split_graded_dev(graded, fraction=0.2, seed=0)
    perfect = {qid: {d: float(dev.qrels[qid].get(d, 0)) for d in dev.texts} for qid in dev.queries}
    config = RerankerTrainConfig(loss="bce", batch_size=8, max_steps=1, max_length=32)
    result = train_reranker(
        train, base_model=tiny_ce, out_dir=out_dir, config=config, dev=dev, dev_candidates=perfect
    )
    assert result.first_stage_dev_score == pytest.approx(1.0)
    assert result.accepted is False and "the first-stage ranking stays" in result.verdict


def test_dev_without_candidates_is_a_config_error(
    tiny_ce: str, graded: list[dict[str, object]], out_dir: Path
) -> None:
    train, dev = split_graded_dev(graded, fraction=0.2, seed=0)
    with pytest.raises(ConfigError, match="dev_candidates"):
        train_reranker(train, base_model=tiny_ce, out_dir=out_dir, dev=dev)
