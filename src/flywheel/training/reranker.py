"""Fine-tune a cross-encoder re-ranker, and keep it only if it beats the first-stage ranking.

No pretrained cross-encoder can be downloaded on an offline machine, so ``base_model`` may be a
bi-encoder: ``CrossEncoder(<MiniLM folder>, num_labels=1)`` keeps its transformer and adds a fresh
one-score head. Such a model ranks at random before training - which is why the gate compares the
fine-tuned re-ranker with the first-stage ranking it re-orders, not with its untrained self.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flywheel.data.types import Run
from flywheel.errors import ConfigError
from flywheel.models import resolve_model
from flywheel.settings import ensure_offline
from flywheel.training.config import RerankerTrainConfig
from flywheel.training.devset import DevSet
from flywheel.training.losses import (
    LISTWISE_RERANKER_LOSSES,
    build_reranker_loss,
    resolve_reranker_loss,
)
from flywheel.training.rows import (
    prepare_listwise_dataset,
    prepare_pair_dataset,
    reranker_is_graded,
    to_dataset,
)
from flywheel.training.session import TrainingSession, dev_score, result_record

logger = logging.getLogger(__name__)

__all__ = ["RerankerTrainResult", "train_reranker"]


@dataclass
class RerankerTrainResult:
    """What a re-ranker run produced and whether it should be used over the first stage."""

    model_path: Path
    base_model: str
    metric: str
    loss: str
    first_stage_dev_score: float | None
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


def _training_dataset(rows: Any, config: RerankerTrainConfig) -> tuple[Any, str, bool]:
    """The rows in the shape the chosen loss reads, the resolved loss name, and gradedness."""
    dataset = to_dataset(rows)
    if "query" not in dataset.column_names:
        raise ConfigError(
            "re-ranker rows need columns query, passage, score[, grade]; "
            f"got {dataset.column_names}"
        )
    graded = reranker_is_graded(dataset)
    loss_name = resolve_reranker_loss(config.loss, graded=graded)
    if loss_name in LISTWISE_RERANKER_LOSSES:
        shaped = prepare_listwise_dataset(
            dataset, max_docs=config.max_docs_per_query, seed=config.seed
        )
    else:
        normalise = loss_name == "mse" or "score" not in dataset.column_names
        shaped = prepare_pair_dataset(dataset, normalise_grades=normalise)
    return shaped, loss_name, graded


def _negatives_per_positive(dataset: Any) -> float | None:
    """BCE's ``pos_weight`` for unbalanced 0/1 rows; ``None`` when they are balanced or soft."""
    scores = [float(s) for s in dataset["score"]]
    positives = sum(1 for s in scores if s >= 0.5)
    negatives = len(scores) - positives
    if positives == 0 or negatives <= positives:
        return None
    return round(negatives / positives, 4)


def _queries_per_pass(config: RerankerTrainConfig) -> int:
    """Queries per forward/backward pass for a listwise loss: each brings up to
    ``max_docs_per_query`` pairs, and at most ``max_pairs_per_step`` pairs fit one pass."""
    return max(1, config.max_pairs_per_step // config.max_docs_per_query)


def train_reranker(
    rows: Sequence[Mapping[str, Any]] | Any,
    *,
    base_model: str,
    out_dir: Path,
    config: RerankerTrainConfig | None = None,
    dev: DevSet | None = None,
    dev_candidates: Run | None = None,
    resume: bool = True,
    metric: str = "ndcg@10",
    dataset_path: str | None = None,
    dataset_card: Mapping[str, Any] | None = None,
) -> RerankerTrainResult:
    """Fine-tune a ``CrossEncoder`` on ``query, passage, score[, grade]`` rows.

    ``base_model`` is a cross-encoder or a bi-encoder (its backbone gets a new scoring head).
    With ``dev`` and ``dev_candidates`` (the first-stage run over ``dev.texts``), each epoch
    re-ranks the top ``config.rerank_depth`` candidates per dev query and scores them with
    ``metric``; ``accepted`` is true only if the re-ranked list beats the first-stage list by
    more than ``config.min_gain``. Writes ``out_dir/model`` (a normal CrossEncoder folder with
    a card), ``out_dir/checkpoints`` (resumable) and ``out_dir/manifest.json``.
    """
    from sentence_transformers import CrossEncoder
    from sentence_transformers.cross_encoder import (
        CrossEncoderTrainer,
        CrossEncoderTrainingArguments,
    )

    from flywheel.training.evaluators import RerankDevEvaluator

    ensure_offline()
    config = config or RerankerTrainConfig()
    if dev is not None and dev_candidates is None:
        raise ConfigError(
            "a re-ranker dev set needs dev_candidates: the first-stage run to re-rank "
            "(e.g. the base embedder's top 100 per dev query)"
        )
    session = TrainingSession.start(
        "reranker",
        out_dir,
        seed=config.seed,
        base_model=base_model,
        metric=metric,
        dataset_path=dataset_path,
        dataset_card=dataset_card,
        dev=dev,
    )

    dataset, loss_name, graded = _training_dataset(rows, config)
    if loss_name == "bce" and config.pos_weight is None:
        config = config.model_copy(update={"pos_weight": _negatives_per_positive(dataset)})
    resolved = resolve_model(base_model)
    model = CrossEncoder(resolved, num_labels=1, max_length=config.max_length)
    loss = build_reranker_loss(model, loss_name, config)
    session.loaded()

    evaluator = None
    first_stage: float | None = None
    base_score: float | None = None
    if dev is not None and dev_candidates is not None:
        evaluator = RerankDevEvaluator(
            dev,
            dev_candidates,
            metric=metric,
            depth=config.rerank_depth,
            batch_size=config.batch_size,
        )
        with session.timed("base_eval_seconds"):
            first_stage = evaluator.first_stage_score()
            base_score = dev_score(evaluator, model)
        logger.info(
            "dev %s: first stage %.4f, base re-ranker %.4f", metric, first_stage, base_score
        )

    fitted = session.train(
        CrossEncoderTrainer,
        CrossEncoderTrainingArguments,
        model=model,
        dataset=dataset,
        loss=loss,
        evaluator=evaluator,
        config=config,
        resume=resume,
        description="fine-tuning re-ranker",
        micro_batch=_queries_per_pass(config) if loss_name in LISTWISE_RERANKER_LOSSES else None,
    )
    outcome = session.finish(
        fitted,
        config=config,
        resolved=resolved,
        scores={"first-stage": first_stage, "base": base_score},
        bar=first_stage,
        bar_name="first-stage ranking",
        what="re-ranker",
        extra={"loss_resolved": loss_name, "graded_labels": graded},
    )
    return RerankerTrainResult(
        base_model=base_model,
        metric=metric,
        loss=loss_name,
        first_stage_dev_score=first_stage,
        base_dev_score=base_score,
        **outcome.result_fields(),
    )
