"""One fine-tuning run from first checkpoint to manifest, the steps both trainers walk alike.

``train_embedder`` and ``train_reranker`` differ in what they load, how they score the dev set
before training and which bar the gate compares with. Everything after that is the same and lives
here: seed and run folder, the trainer with resumable checkpoints, the dev score after training,
the keep/reject verdict, saving the model, the card and ``manifest.json``, and the timings.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from transformers import set_seed

from flywheel.training.artifacts import MANIFEST_NAME, RunRecord, write_run_artifacts
from flywheel.training.config import BaseTrainConfig
from flywheel.training.devset import DevSet
from flywheel.training.loop import (
    History,
    RichProgressCallback,
    gate,
    quiet,
    resume_point,
    training_arguments,
)

logger = logging.getLogger(__name__)


def _manifest_path(out_dir: Path, record: RunRecord) -> Path:
    """Where the main process writes the manifest (what the other ranks return)."""
    return out_dir / MANIFEST_NAME


def dev_score(evaluator: Any, model: Any) -> float:
    """The evaluator's primary metric for ``model`` on the dev set."""
    return evaluator(model)[evaluator.primary_metric]


def result_record(result: Any) -> dict[str, Any]:
    """A train result dataclass as a JSON-ready dict (paths as strings)."""
    record = asdict(result)
    record["model_path"] = str(result.model_path)
    record["manifest_path"] = str(result.manifest_path)
    return record


@dataclass
class Fitted:
    """A trained model with what ``TrainingSession.finish`` needs to judge and save it."""

    trainer: Any
    model: Any
    dataset: Any
    evaluator: Any
    resumed: bool


@dataclass
class SessionOutcome:
    """What both trainers report after training: the verdict, the saved model and its manifest."""

    model_dir: Path
    trained_score: float | None
    history: History
    accepted: bool
    verdict: str
    steps: int
    resumed: bool
    manifest_path: Path
    timings: dict[str, float]

    def result_fields(self) -> dict[str, Any]:
        """The keyword arguments ``EmbedderTrainResult`` and ``RerankerTrainResult`` share."""
        return {
            "model_path": self.model_dir,
            "trained_dev_score": self.trained_score,
            "per_epoch_dev": self.history.dev,
            "accepted": self.accepted,
            "verdict": self.verdict,
            "train_seconds": self.timings["train_seconds"],
            "steps": self.steps,
            "loss_history": self.history.loss,
            "manifest_path": self.manifest_path,
            "resumed": self.resumed,
            "timings": self.timings,
        }


@dataclass
class TrainingSession:
    """The run folder, the clock and the facts a run records about itself.

    ``start`` creates ``out_dir`` and seeds everything; ``timings`` fills in the order the steps
    happen (load, base eval, train, final eval, save, total).
    """

    kind: str
    out_dir: Path
    base_model: str
    metric: str
    dataset_path: str | None
    dataset_card: Mapping[str, Any] | None
    dev: DevSet | None
    started: float = field(default_factory=time.perf_counter)
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def start(
        cls,
        kind: str,
        out_dir: Path,
        *,
        seed: int,
        base_model: str,
        metric: str,
        dataset_path: str | None,
        dataset_card: Mapping[str, Any] | None,
        dev: DevSet | None,
    ) -> TrainingSession:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        session = cls(
            kind=kind,
            out_dir=out_dir,
            base_model=base_model,
            metric=metric,
            dataset_path=dataset_path,
            dataset_card=dataset_card,
            dev=dev,
        )
        set_seed(seed)
        return session

    @property
    def checkpoints_dir(self) -> Path:
        return self.out_dir / "checkpoints"

    def loaded(self) -> None:
        """Record the time from the start until the model, loss and data were ready."""
        self.timings["load_seconds"] = time.perf_counter() - self.started

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        tick = time.perf_counter()
        yield
        self.timings[name] = time.perf_counter() - tick

    def train(
        self,
        trainer_cls: Any,
        args_cls: Any,
        *,
        model: Any,
        dataset: Any,
        loss: Any,
        evaluator: Any,
        config: BaseTrainConfig,
        resume: bool,
        description: str,
        micro_batch: int | None = None,
        **extra_args: Any,
    ) -> Fitted:
        """Build the trainer with checkpoints every epoch and train, resuming when asked and a
        checkpoint exists. ``micro_batch``: rows per forward/backward pass (gradient accumulation
        up to ``config.batch_size``)."""
        steps_per_epoch = max(1, math.ceil(len(dataset) / config.batch_size))
        args = args_cls(
            **training_arguments(
                config,
                self.checkpoints_dir,
                best_metric=evaluator.trainer_metric if evaluator else None,
                steps_per_epoch=steps_per_epoch,
                micro_batch=micro_batch,
            ),
            **extra_args,
        )
        trainer = trainer_cls(
            model=model,
            args=args,
            train_dataset=dataset,
            loss=loss,
            evaluator=evaluator,
            callbacks=[RichProgressCallback(description)],
        )
        quiet(trainer)
        resumed = resume_point(self.checkpoints_dir, resume)
        with self.timed("train_seconds"):
            trainer.train(resume_from_checkpoint=True if resumed else None)
        return Fitted(trainer, model, dataset, evaluator, resumed)

    def finish(
        self,
        fitted: Fitted,
        *,
        config: BaseTrainConfig,
        resolved: str,
        scores: Mapping[str, float | None],
        bar: float | None,
        bar_name: str,
        what: str,
        extra: dict[str, Any] | None = None,
    ) -> SessionOutcome:
        """Score the trained model, decide against ``bar``, save it and write card and manifest.

        ``scores`` are the dev scores before training, in the order the manifest lists them; the
        trained score is added after them as ``"trained"``.
        """
        trainer, evaluator, dataset = fitted.trainer, fitted.evaluator, fitted.dataset
        history = History.from_log(
            trainer.state.log_history, evaluator.trainer_metric if evaluator else None
        )
        trained_score: float | None = None
        if evaluator is not None:
            with self.timed("final_eval_seconds"):
                trained_score = dev_score(evaluator, fitted.model)
        accepted, verdict = gate(
            trained_score, bar, min_gain=config.min_gain, bar_name=bar_name, what=what
        )
        logger.info(verdict)

        model_dir = self.out_dir / "model"
        # Under torchrun / accelerate launch every rank gets here with the same weights (DDP
        # keeps them in sync); only the main process writes, the others wait for it.
        main = trainer.is_world_process_zero()
        world_size = int(getattr(trainer.args, "world_size", 1) or 1)
        with self.timed("save_seconds"):
            if main:
                fitted.model.save(str(model_dir))
        self.timings["total_seconds"] = time.perf_counter() - self.started
        if world_size > 1:
            extra = {**(extra or {}), "world_size": world_size}

        steps = int(trainer.state.global_step)
        write = write_run_artifacts if main else _manifest_path
        manifest_path = write(
            self.out_dir,
            RunRecord(
                kind=self.kind,
                base_model=self.base_model,
                base_model_resolved=resolved,
                model_dir=model_dir,
                dataset_rows=len(dataset),
                dataset_columns=list(dataset.column_names),
                dataset_fingerprint=getattr(dataset, "_fingerprint", None),
                dataset_path=self.dataset_path,
                dataset_card=self.dataset_card,
                dev=self.dev.describe() if self.dev else None,
                metric=self.metric,
                config=config.to_record(),
                scores={**scores, "trained": trained_score},
                per_epoch_dev=history.dev,
                accepted=accepted,
                verdict=verdict,
                steps=steps,
                loss_history=history.loss,
                resumed=fitted.resumed,
                timings=self.timings,
                extra=extra or {},
            ),
        )
        if world_size > 1:
            trainer.accelerator.wait_for_everyone()
        return SessionOutcome(
            model_dir=model_dir,
            trained_score=trained_score,
            history=history,
            accepted=accepted,
            verdict=verdict,
            steps=steps,
            resumed=fitted.resumed,
            manifest_path=manifest_path,
            timings=self.timings,
        )
