"""Fine-tune a bi-encoder on (anchor, positive[, negatives]) rows, and keep it only if it helps.

``train_embedder`` wraps sentence-transformers' ``SentenceTransformerTrainer``: it scores the
base model on the dev set first, trains with checkpoints every epoch (a killed run resumes), keeps
the best epoch by the project's own dev metric, and writes a model folder with a card plus a
``manifest.json``. The result says in one sentence whether the new model beats the base.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flywheel.models import resolve_model
from flywheel.settings import ensure_offline
from flywheel.training.config import EmbedderTrainConfig
from flywheel.training.devset import DevSet
from flywheel.training.losses import build_embedder_loss
from flywheel.training.rows import prepare_embedder_dataset
from flywheel.training.session import TrainingSession, dev_score, result_record

if TYPE_CHECKING:  # sentence-transformers loads only when training starts
    from flywheel.training.evaluators import DenseDevEvaluator

logger = logging.getLogger(__name__)

__all__ = ["DevSet", "EmbedderTrainResult", "train_embedder"]


@dataclass
class EmbedderTrainResult:
    """What a bi-encoder run produced and whether it should replace the base model."""

    model_path: Path
    base_model: str
    metric: str
    base_dev_score: float | None
    trained_dev_score: float | None
    per_epoch_dev: list[float]
    accepted: bool
    verdict: str
    train_seconds: float
    steps: int
    loss_history: list[float]
    manifest_path: Path
    resumed: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return result_record(self)


def _attention_dropout(config: EmbedderTrainConfig) -> dict[str, float] | None:
    """Config overrides for the attention dropout (BERT-style and Llama-style names; a model
    reads the one its architecture has, and the other is an unused attribute)."""
    if config.attention_dropout is None:
        return None
    value = config.attention_dropout
    return {"attention_probs_dropout_prob": value, "attention_dropout": value}


def _max_negatives(config: EmbedderTrainConfig) -> int | None:
    return 1 if config.loss == "triplet" else None


def train_embedder(
    train_rows: Sequence[Mapping[str, Any]] | Any,
    *,
    base_model: str,
    out_dir: Path,
    config: EmbedderTrainConfig | None = None,
    dev: DevSet | None = None,
    resume: bool = True,
    metric: str = "ndcg@10",
    dataset_path: str | None = None,
    dataset_card: Mapping[str, Any] | None = None,
    evaluator: DenseDevEvaluator | None = None,
    base_dev_score: float | None = None,
) -> EmbedderTrainResult:
    """Fine-tune ``base_model`` on ``train_rows``; write ``out_dir/model`` and its manifest.

    Rows are dicts (or a ``datasets.Dataset``) in sentence-transformers column order: ``anchor,
    positive[, negative | negative_1..n]``; other columns (ids, sources) are not trained on.
    Checkpoints go to ``out_dir/checkpoints``; with ``resume=True`` a killed run continues from the
    last one. With a ``dev`` set the model is scored with ``metric`` before training and after
    every epoch, the best epoch is kept, and ``accepted`` is true only if it beats the base by
    more than ``config.min_gain``.

    A caller that already holds the base model's vectors (the loop caches the whole corpus) passes
    the ``evaluator`` it built on ``dev`` and the ``base_dev_score`` it got from
    ``evaluator.score_vectors``: the pool is then not encoded again with the base model, and the
    final model's pool vectors stay readable in ``evaluator.last_doc_vectors``.
    """
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )

    from flywheel.training.evaluators import DenseDevEvaluator

    ensure_offline()
    config = config or EmbedderTrainConfig()
    if dev is None and evaluator is not None:
        dev = evaluator.dev
    session = TrainingSession.start(
        "embedder",
        out_dir,
        seed=config.seed,
        base_model=base_model,
        metric=metric,
        dataset_path=dataset_path,
        dataset_card=dataset_card,
        dev=dev,
    )

    dataset = prepare_embedder_dataset(train_rows, max_negatives=_max_negatives(config))
    resolved = resolve_model(base_model)
    model = SentenceTransformer(resolved, config_kwargs=_attention_dropout(config))
    if config.max_seq_length is not None:
        model.max_seq_length = config.max_seq_length
    loss = build_embedder_loss(model, config)
    session.loaded()

    if evaluator is None and dev is not None:
        evaluator = DenseDevEvaluator(dev, metric=metric, batch_size=config.batch_size)
    base_score = base_dev_score if evaluator is not None else None
    if evaluator is not None and base_score is None:
        with session.timed("base_eval_seconds"):
            base_score = dev_score(evaluator, model)
        logger.info("base model dev %s = %.4f", metric, base_score)

    fitted = session.train(
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
        model=model,
        dataset=dataset,
        loss=loss,
        evaluator=evaluator,
        config=config,
        resume=resume,
        description="fine-tuning embedder",
        batch_sampler=BatchSamplers.NO_DUPLICATES
        if config.no_duplicates
        else BatchSamplers.BATCH_SAMPLER,
    )
    outcome = session.finish(
        fitted,
        config=config,
        resolved=resolved,
        scores={"base": base_score},
        bar=base_score,
        bar_name="base model",
        what="embedder",
    )
    return EmbedderTrainResult(
        base_model=base_model,
        metric=metric,
        base_dev_score=base_score,
        **outcome.result_fields(),
    )
