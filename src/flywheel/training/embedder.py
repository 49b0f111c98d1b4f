"""Fine-tune a bi-encoder on (anchor, positive[, negatives]) rows, and keep it only if it helps.

``train_embedder`` wraps sentence-transformers' ``SentenceTransformerTrainer``: it scores the
base model on the dev set first, trains with checkpoints every epoch (a killed run resumes), keeps
the best epoch by the project's own dev metric, and writes a model folder with a card plus a
``manifest.json``. The result says in one sentence whether the new model beats the base.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flywheel.models import resolve_model
from flywheel.settings import ensure_offline
from flywheel.training.artifacts import RunRecord, write_run_artifacts
from flywheel.training.config import EmbedderTrainConfig
from flywheel.training.devset import DevSet
from flywheel.training.loop import (
    History,
    RichProgressCallback,
    gate,
    quiet,
    resume_point,
    training_arguments,
)
from flywheel.training.losses import build_embedder_loss
from flywheel.training.rows import prepare_embedder_dataset

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
        record = asdict(self)
        record["model_path"] = str(self.model_path)
        record["manifest_path"] = str(self.manifest_path)
        return record


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
) -> EmbedderTrainResult:
    """Fine-tune ``base_model`` on ``train_rows``; write ``out_dir/model`` and its manifest.

    Rows are dicts (or a ``datasets.Dataset``) in sentence-transformers column order: ``anchor,
    positive[, negative | negative_1..n]``; other columns (ids, sources) are not trained on.
    Checkpoints go to ``out_dir/checkpoints``; with ``resume=True`` a killed run continues from the
    last one. With a ``dev`` set the model is scored with ``metric`` before training and after
    every epoch, the best epoch is kept, and ``accepted`` is true only if it beats the base by
    more than ``config.min_gain``.
    """
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from transformers import set_seed

    from flywheel.training.evaluators import DenseDevEvaluator

    ensure_offline()
    config = config or EmbedderTrainConfig()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoints_dir = out_dir / "checkpoints"
    timings: dict[str, float] = {}
    started = time.perf_counter()
    set_seed(config.seed)

    dataset = prepare_embedder_dataset(train_rows, max_negatives=_max_negatives(config))
    resolved = resolve_model(base_model)
    model = SentenceTransformer(resolved)
    if config.max_seq_length is not None:
        model.max_seq_length = config.max_seq_length
    loss = build_embedder_loss(model, config)
    timings["load_seconds"] = time.perf_counter() - started

    evaluator = DenseDevEvaluator(dev, metric=metric, batch_size=config.batch_size) if dev else None
    base_score: float | None = None
    if evaluator is not None:
        tick = time.perf_counter()
        base_score = evaluator(model)[evaluator.primary_metric]
        timings["base_eval_seconds"] = time.perf_counter() - tick
        logger.info("base model dev %s = %.4f", metric, base_score)

    steps_per_epoch = max(1, math.ceil(len(dataset) / config.batch_size))
    args = SentenceTransformerTrainingArguments(
        **training_arguments(
            config,
            checkpoints_dir,
            best_metric=evaluator.trainer_metric if evaluator else None,
            steps_per_epoch=steps_per_epoch,
        ),
        batch_sampler=BatchSamplers.NO_DUPLICATES
        if config.no_duplicates
        else BatchSamplers.BATCH_SAMPLER,
    )
    trainer = SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        loss=loss,
        evaluator=evaluator,
        callbacks=[RichProgressCallback("fine-tuning embedder")],
    )
    quiet(trainer)
    resumed = resume_point(checkpoints_dir, resume)
    tick = time.perf_counter()
    trainer.train(resume_from_checkpoint=True if resumed else None)
    timings["train_seconds"] = time.perf_counter() - tick

    history = History.from_log(
        trainer.state.log_history, evaluator.trainer_metric if evaluator else None
    )
    trained_score: float | None = None
    if evaluator is not None:
        tick = time.perf_counter()
        trained_score = evaluator(model)[evaluator.primary_metric]
        timings["final_eval_seconds"] = time.perf_counter() - tick
    accepted, verdict = gate(
        trained_score, base_score, min_gain=config.min_gain, bar_name="base model", what="embedder"
    )
    logger.info(verdict)

    model_dir = out_dir / "model"
    tick = time.perf_counter()
    model.save(str(model_dir))
    timings["save_seconds"] = time.perf_counter() - tick
    timings["total_seconds"] = time.perf_counter() - started

    manifest_path = write_run_artifacts(
        out_dir,
        RunRecord(
            kind="embedder",
            base_model=base_model,
            base_model_resolved=resolved,
            model_dir=model_dir,
            dataset_rows=len(dataset),
            dataset_columns=list(dataset.column_names),
            dataset_fingerprint=getattr(dataset, "_fingerprint", None),
            dataset_path=dataset_path,
            dataset_card=dataset_card,
            dev=dev.describe() if dev else None,
            metric=metric,
            config=config.to_record(),
            scores={"base": base_score, "trained": trained_score},
            per_epoch_dev=history.dev,
            accepted=accepted,
            verdict=verdict,
            steps=int(trainer.state.global_step),
            loss_history=history.loss,
            resumed=resumed,
            timings=timings,
        ),
    )
    return EmbedderTrainResult(
        model_path=model_dir,
        base_model=base_model,
        metric=metric,
        base_dev_score=base_score,
        trained_dev_score=trained_score,
        per_epoch_dev=history.dev,
        accepted=accepted,
        verdict=verdict,
        train_seconds=timings["train_seconds"],
        steps=int(trainer.state.global_step),
        loss_history=history.loss,
        manifest_path=manifest_path,
        resumed=resumed,
        timings=timings,
    )
