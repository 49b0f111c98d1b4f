"""Pieces both trainers share: training arguments, resume, history, progress, the keep/reject gate.

Kept apart from the two trainers so the bi-encoder and cross-encoder runs behave identically in
the parts a user relies on: where checkpoints go, how a killed run resumes, which checkpoint is
kept, and the "never worse than the base" decision.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from flywheel._internal.progress import progress_enabled, task
from flywheel.errors import ConfigError
from flywheel.training.artifacts import last_checkpoint
from flywheel.training.config import BaseTrainConfig

logger = logging.getLogger(__name__)


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def quiet(trainer: Any) -> Any:
    """Drop transformers' PrinterCallback: a library must not print every log line to stdout
    (the losses still reach the log history, and the CLI draws its own bar)."""
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    return trainer


def report_to(trackers: list[str]) -> str | list[str]:
    """``report_to`` for transformers, checked: a named tracker that is not installed fails
    here with the package to install, not deep inside the trainer."""
    if trackers in (["none"], ["all"]):
        return trackers[0]
    from transformers.integrations import get_available_reporting_integrations

    available = get_available_reporting_integrations()
    missing = [t for t in trackers if t not in available]
    if missing:
        raise ConfigError(
            f"--report-to {missing[0]}: that tracker is not installed (installed: "
            f"{', '.join(available) or 'none'}); pip install it, or use --report-to all"
        )
    return list(trackers)


def training_arguments(
    config: BaseTrainConfig,
    checkpoints_dir: Path,
    *,
    best_metric: str | None,
    steps_per_epoch: int,
    micro_batch: int | None = None,
) -> dict[str, Any]:
    """Keyword arguments shared by ``SentenceTransformerTrainingArguments`` and
    ``CrossEncoderTrainingArguments``.

    Saves every epoch (so a killed run resumes from the last finished epoch); with a dev metric
    it also evaluates every epoch and reloads the best checkpoint at the end. ``warmup_steps``
    is given as a fraction (transformers 5 reads a float below 1 as a share of all steps).
    ``micro_batch`` below ``config.batch_size`` splits each optimiser step into that many rows
    per forward/backward pass with gradient accumulation: the same update, bounded memory.
    """
    micro = min(micro_batch or config.batch_size, config.batch_size)
    accumulation = math.ceil(config.batch_size / micro)
    evaluate = best_metric is not None and config.eval_each_epoch
    total = config.max_steps or steps_per_epoch * config.epochs
    kwargs: dict[str, Any] = {
        "output_dir": str(checkpoints_dir),
        "num_train_epochs": config.epochs,
        "max_steps": config.max_steps if config.max_steps is not None else -1,
        "per_device_train_batch_size": micro,
        "gradient_accumulation_steps": accumulation,
        "per_device_eval_batch_size": micro,
        "learning_rate": config.learning_rate,
        "warmup_steps": config.warmup,
        "weight_decay": config.weight_decay,
        "seed": config.seed,
        "data_seed": config.seed,
        "bf16": config.resolved_bf16(),
        "dataloader_pin_memory": _cuda(),
        "dataloader_num_workers": config.dataloader_num_workers,
        "save_strategy": "epoch",
        "save_total_limit": config.save_total_limit,
        "eval_strategy": "epoch" if evaluate else "no",
        "load_best_model_at_end": evaluate,
        "logging_strategy": "steps",
        "logging_steps": max(1, total // 100),
        "logging_first_step": True,
        "report_to": report_to(config.report_to),
        "disable_tqdm": True,
    }
    if config.gradient_checkpointing:  # named only when used: older transformers lack the name
        kwargs["activation_checkpointing"] = True
    if evaluate:
        kwargs["metric_for_best_model"] = best_metric
        kwargs["greater_is_better"] = True
    return kwargs


def resume_point(checkpoints_dir: Path, resume: bool) -> bool:
    """Whether to pass ``resume_from_checkpoint=True``: asked for, and a checkpoint exists."""
    checkpoint = last_checkpoint(checkpoints_dir)
    if resume and checkpoint is not None:
        logger.info("resuming from %s", checkpoint)
        return True
    if checkpoint is not None:
        logger.info("ignoring existing checkpoints in %s (resume=False)", checkpoints_dir)
    return False


@dataclass
class History:
    """Losses and dev scores read back from the trainer's log (which survives a resume)."""

    loss: list[float] = field(default_factory=list)
    dev: list[float] = field(default_factory=list)
    dev_steps: list[int] = field(default_factory=list)

    @classmethod
    def from_log(cls, log_history: list[dict[str, Any]], metric_key: str | None) -> History:
        history = cls()
        for entry in log_history:
            if "loss" in entry:
                history.loss.append(float(entry["loss"]))
            if metric_key and metric_key in entry:
                history.dev.append(float(entry[metric_key]))
                history.dev_steps.append(int(entry.get("step", 0)))
        return history


class RichProgressCallback(TrainerCallback):
    """One Rich bar over all optimisation steps, drawn only when a person is watching."""

    def __init__(self, description: str) -> None:
        self.description = description
        self._context: Any = None
        self._advance: Any = None
        self._seen = 0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not progress_enabled():
            return
        self._context = task(self.description, int(state.max_steps))
        self._advance = self._context.__enter__()
        self._seen = int(state.global_step)
        if self._seen:
            self._advance(self._seen)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._advance is not None:
            self._advance(int(state.global_step) - self._seen)
            self._seen = int(state.global_step)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._context is not None:
            self._context.__exit__(None, None, None)
            self._context = self._advance = None


def gate(
    trained: float | None, bar: float | None, *, min_gain: float, bar_name: str, what: str
) -> tuple[bool, str]:
    """The "never worse" decision: keep the fine-tuned model only if it beats ``bar`` by more
    than ``min_gain`` on the dev set; otherwise say plainly that the base stays."""
    if trained is None or bar is None:
        return False, (
            f"No dev set, so there is no evidence the fine-tuned {what} beats the {bar_name}; "
            f"the {bar_name} stays. Re-run with a dev set (e.g. --dev-fraction 0.1) to decide."
        )
    gain = trained - bar
    if gain > min_gain:
        return True, (
            f"Accepted: the fine-tuned {what} scores {trained:.4f} on the dev set vs {bar:.4f} "
            f"for the {bar_name} (+{gain:.4f}, more than the required {min_gain:.4f})."
        )
    return False, (
        f"Not accepted: the fine-tuned {what} scores {trained:.4f} on the dev set vs {bar:.4f} "
        f"for the {bar_name} ({gain:+.4f}, needs more than +{min_gain:.4f}); the {bar_name} stays."
    )
