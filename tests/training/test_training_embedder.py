"""Fine-tuning a tiny bi-encoder end to end: loss, checkpoints, resume, artifacts, the gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flywheel.training.config import EmbedderTrainConfig
from flywheel.training.devset import split_pairs_dev
from flywheel.training.embedder import EmbedderTrainResult, train_embedder


@pytest.fixture(scope="module")
def trained(
    tiny_st: str, rows: list[dict[str, str]], tmp_path_factory: pytest.TempPathFactory
) -> EmbedderTrainResult:
    train, dev = split_pairs_dev(rows, fraction=0.2, seed=1)
    config = EmbedderTrainConfig(epochs=2, batch_size=8, learning_rate=1e-3, max_seq_length=32)
    return train_embedder(
        train,
        base_model=tiny_st,
        out_dir=tmp_path_factory.mktemp("embedder") / "run",
        config=config,
        dev=dev,
        dataset_path="toy/triplets",
        dataset_card={"name": "toy triplets", "kind": "triplets"},
    )


def test_loss_falls(trained: EmbedderTrainResult) -> None:
    assert len(trained.loss_history) >= 4
    first, last = trained.loss_history[:2], trained.loss_history[-2:]
    assert sum(last) / 2 < sum(first) / 2


def test_dev_scored_before_and_after_every_epoch(trained: EmbedderTrainResult) -> None:
    assert trained.base_dev_score is not None and 0.0 < trained.base_dev_score <= 1.0
    assert len(trained.per_epoch_dev) == 2
    # the best epoch is reloaded at the end, so the final score is the best epoch's score
    assert trained.trained_dev_score == pytest.approx(max(trained.per_epoch_dev), abs=1e-6)
    assert trained.steps == 2 * 3  # 24 train rows / batch 8, two epochs
    assert trained.accepted == (trained.trained_dev_score > trained.base_dev_score)


def test_saved_model_loads_and_encodes(trained: EmbedderTrainResult) -> None:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(trained.model_path))
    embeddings = model.encode(["a question about apples", "rocket launch"])
    assert embeddings.shape == (2, 32)


def test_card_and_manifest_name_base_model_data_and_scores(
    trained: EmbedderTrainResult, tiny_st: str
) -> None:
    card = (trained.model_path / "README.md").read_text()
    assert card.startswith("---\n")  # sentence-transformers front matter stays first
    assert f"**Base model:** `{tiny_st}`" in card
    assert "toy/triplets" in card and '"name": "toy triplets"' in card
    assert f"{trained.base_dev_score:.4f}" in card and trained.verdict in card
    manifest = json.loads(trained.manifest_path.read_text())
    assert manifest["kind"] == "embedder" and manifest["base_model"] == tiny_st
    assert manifest["seed"] == 42 and manifest["config"]["learning_rate"] == 1e-3
    assert manifest["scores"]["base"] == pytest.approx(trained.base_dev_score)
    assert manifest["scores"]["trained"] == pytest.approx(trained.trained_dev_score)
    assert manifest["versions"]["sentence-transformers"].startswith("6.")
    assert manifest["dataset"]["rows"] == 24 and manifest["dataset"]["card"]["kind"] == "triplets"
    assert set(manifest["timings"]) >= {"train_seconds", "base_eval_seconds", "total_seconds"}


def test_gate_rejects_a_model_that_did_not_improve(
    tiny_st: str, rows: list[dict[str, str]], out_dir: Path
) -> None:
    train, dev = split_pairs_dev(rows, fraction=0.2, seed=1)
    config = EmbedderTrainConfig(epochs=1, batch_size=8, learning_rate=0.0, max_seq_length=32)
    result = train_embedder(train, base_model=tiny_st, out_dir=out_dir, config=config, dev=dev)
    assert result.trained_dev_score == pytest.approx(result.base_dev_score, abs=1e-6)
    assert result.accepted is False
    assert "Not accepted" in result.verdict and "the base model stays" in result.verdict
    assert json.loads(result.manifest_path.read_text())["accepted"] is False


def test_no_dev_set_is_never_accepted(
    tiny_st: str, rows: list[dict[str, str]], out_dir: Path
) -> None:
    config = EmbedderTrainConfig(epochs=1, batch_size=16, max_steps=1, max_seq_length=32)
    result = train_embedder(rows, base_model=tiny_st, out_dir=out_dir, config=config)
    assert result.base_dev_score is None and result.per_epoch_dev == []
    assert result.accepted is False and "No dev set" in result.verdict


def test_resume_continues_from_the_checkpoint(
    tiny_st: str, rows: list[dict[str, str]], out_dir: Path
) -> None:
    config = EmbedderTrainConfig(epochs=1, batch_size=4, max_steps=2, max_seq_length=32)
    first = train_embedder(rows, base_model=tiny_st, out_dir=out_dir, config=config)
    assert first.steps == 2 and first.resumed is False
    checkpoint = out_dir / "checkpoints" / "checkpoint-2"
    state_path = checkpoint / "trainer_state.json"
    assert state_path.exists()
    # Mark the logged losses of the first run: a resumed run carries them over, a restart would not.
    state = json.loads(state_path.read_text())
    for entry in state["log_history"]:
        if "loss" in entry:
            entry["loss"] = 999.0
    state_path.write_text(json.dumps(state))

    second = train_embedder(
        rows, base_model=tiny_st, out_dir=out_dir, config=config.model_copy(update={"max_steps": 4})
    )
    assert second.resumed is True and second.steps == 4
    assert second.loss_history[:2] == [999.0, 999.0]
    assert all(loss < 999.0 for loss in second.loss_history[2:]) and len(second.loss_history) == 4


def test_no_resume_restarts(tiny_st: str, rows: list[dict[str, str]], out_dir: Path) -> None:
    config = EmbedderTrainConfig(epochs=1, batch_size=8, max_steps=1, max_seq_length=32)
    train_embedder(rows, base_model=tiny_st, out_dir=out_dir, config=config)
    again = train_embedder(rows, base_model=tiny_st, out_dir=out_dir, config=config, resume=False)
    assert again.resumed is False and again.steps == 1


def test_a_known_base_score_is_not_computed_again_and_final_vectors_stay(
    tiny_st: str, rows: list[dict[str, str]], out_dir: Path
) -> None:
    from flywheel.training.evaluators import DenseDevEvaluator

    train, dev = split_pairs_dev(rows, fraction=0.2, seed=1)
    evaluator = DenseDevEvaluator(dev, metric="ndcg@10")
    config = EmbedderTrainConfig(epochs=1, batch_size=8, learning_rate=0.0, max_seq_length=32)
    result = train_embedder(
        train, base_model=tiny_st, out_dir=out_dir, config=config, evaluator=evaluator,
        base_dev_score=0.25,
    )  # fmt: skip
    manifest = json.loads(result.manifest_path.read_text())
    assert "base_eval_seconds" not in manifest["timings"]  # the pool was not encoded for it
    assert result.base_dev_score == 0.25 and manifest["scores"]["base"] == 0.25
    assert manifest["dev"]["queries"] == len(dev.queries)  # the evaluator's dev set is recorded
    vectors = evaluator.last_doc_vectors  # the final model's pool, for the loop's cache
    assert vectors is not None and vectors.shape[0] == len(dev.texts)


def test_attention_dropout_is_off_while_training_unless_kept(
    tiny_st: str, rows: list[dict[str, str]], out_dir: Path
) -> None:
    # off by default: PyTorch's fused attention then runs on CPU (half the memory, faster)
    config = EmbedderTrainConfig(epochs=1, batch_size=8, max_seq_length=32, max_steps=1)
    default = train_embedder(rows, base_model=tiny_st, out_dir=out_dir / "a", config=config)
    saved = json.loads((default.model_path / "config.json").read_text())
    assert saved["attention_probs_dropout_prob"] == 0.0
    assert saved["hidden_dropout_prob"] == json.loads(
        (Path(tiny_st) / "config.json").read_text()
    )["hidden_dropout_prob"]  # hidden-layer dropout stays
    keep = config.model_copy(update={"attention_dropout": None})
    kept = train_embedder(rows, base_model=tiny_st, out_dir=out_dir / "b", config=keep)
    original = json.loads((Path(tiny_st) / "config.json").read_text())
    assert original["attention_probs_dropout_prob"] > 0
    assert json.loads((kept.model_path / "config.json").read_text())[
        "attention_probs_dropout_prob"
    ] == original["attention_probs_dropout_prob"]
    assert json.loads(default.manifest_path.read_text())["config"]["attention_dropout"] == 0.0
