"""Settings for fine-tuning runs: one validated object per trainer, not thirty keyword arguments.

These objects hold no torch state, so importing them stays cheap; the trainers in
:mod:`flywheel.training.embedder` and :mod:`flywheel.training.reranker` turn them into
sentence-transformers ``*TrainingArguments`` and losses.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from flywheel.training.losses import check_embedder_loss, check_reranker_loss


class EmbedderLoss(StrEnum):
    """Built-in bi-encoder losses (:mod:`flywheel.training.losses` is the registry)."""

    MNRL = "mnrl"
    CACHED_MNRL = "cached_mnrl"
    TRIPLET = "triplet"


class RerankerLoss(StrEnum):
    """Cross-encoder losses; ``auto``: ``bce`` for 0/1 labels, ``lambda`` for graded ones."""

    AUTO = "auto"
    BCE = "bce"
    MSE = "mse"
    LAMBDA = "lambda"


class BaseTrainConfig(BaseModel):
    """Knobs shared by both trainers. ``bf16=None`` means: on when a CUDA GPU supports it."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    epochs: int = Field(3, ge=1)
    learning_rate: float = Field(5e-5, ge=0.0)
    batch_size: int = Field(32, ge=1)
    warmup: float = Field(0.1, ge=0.0)
    weight_decay: float = Field(0.01, ge=0.0)
    seed: int = 42
    bf16: bool | None = None
    eval_each_epoch: bool = True
    save_total_limit: int = Field(2, ge=1)
    gradient_checkpointing: bool = False
    max_steps: int | None = Field(None, ge=1)
    dataloader_num_workers: int = Field(0, ge=0)
    min_gain: float = 0.0
    # experiment trackers the trainer logs to, as transformers names them: "none", "all" (every
    # installed one: TensorBoard, MLflow, Weights & Biases...) or a list such as ["tensorboard"]
    report_to: list[str] = Field(default_factory=lambda: ["none"])

    @field_validator("report_to", mode="before")
    @classmethod
    def _trackers(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        return value or ["none"]

    def resolved_bf16(self) -> bool:
        """The bf16 decision actually used: explicit setting, else CUDA with bf16 support."""
        if self.bf16 is not None:
            return self.bf16
        try:
            import torch
        except ImportError:  # pragma: no cover - torch is a hard dependency of training
            return False
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())

    def to_record(self) -> dict[str, Any]:
        """Plain dict for manifests and model cards (bf16 resolved, so the record says what ran)."""
        record = self.model_dump(mode="json")
        record["bf16_resolved"] = self.resolved_bf16()
        return record


class EmbedderTrainConfig(BaseTrainConfig):
    """How to fine-tune a bi-encoder (sentence-transformers ``SentenceTransformer``).

    ``loss`` names a registry entry (``mnrl``, ``cached_mnrl``, ``triplet``); ``matryoshka_dims``
    wraps it in ``MatryoshkaLoss`` so truncated embeddings stay useful. ``scale`` is MNRL's
    temperature inverse, ``mini_batch_size`` is CachedMNRL's memory knob (a big ``batch_size``
    of in-batch negatives at the memory cost of ``mini_batch_size``).

    ``attention_dropout`` replaces the model's dropout on attention weights while training
    (``None`` keeps the model's own; hidden-layer dropout always stays). With 0, PyTorch's fused
    attention runs on CPU instead of materialising every attention matrix: MiniLM at batch 32 x 256
    tokens peaked at 4.6 GB instead of 8.6 GB and stepped in 9.8 s instead of 18.4 s
    (``benchmarks/train_memory.py``), at the same quality on SciFact.
    """

    loss: str = EmbedderLoss.MNRL.value
    attention_dropout: float | None = Field(0.0, ge=0.0, lt=1.0)
    matryoshka_dims: list[int] | None = None
    max_seq_length: int | None = Field(256, ge=8)
    no_duplicates: bool = True
    scale: float = Field(20.0, gt=0.0)
    mini_batch_size: int = Field(32, ge=1)
    triplet_margin: float = Field(5.0, ge=0.0)

    @field_validator("loss")
    @classmethod
    def _known_loss(cls, value: str) -> str:
        return check_embedder_loss(value)

    @field_validator("matryoshka_dims")
    @classmethod
    def _dims_positive(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and (not value or any(d <= 0 for d in value)):
            raise ValueError("matryoshka_dims must be positive integers, e.g. [384, 256, 128]")
        return sorted(set(value), reverse=True) if value else value


class RerankerTrainConfig(BaseTrainConfig):
    """How to fine-tune a cross-encoder (sentence-transformers ``CrossEncoder``).

    ``loss="auto"`` reads the labels: only 0/1 → ``BinaryCrossEntropyLoss`` on (query, passage)
    pairs; graded (a ``grade`` column with more than two values) → ``LambdaLoss``, listwise, with
    the rows grouped per query so the loss optimises nDCG directly. ``pos_weight`` weighs
    positives in ``bce``; ``None`` = negatives per positive in the data, so a 1:7 mix does not
    settle on "always irrelevant" (a constant score ranks nothing).
    """

    loss: str = RerankerLoss.AUTO.value
    epochs: int = Field(1, ge=1)
    learning_rate: float = Field(2e-5, ge=0.0)
    max_length: int | None = Field(256, ge=8)
    max_docs_per_query: int = Field(16, ge=2)
    # A listwise step scores batch_size x max_docs_per_query pairs, and the backward pass keeps
    # every pair's activations (LambdaLoss's mini_batch_size chunks the forward only), so 32
    # queries x 16 documents at 256 tokens was OOM-killed at 22-24 GB on Cranfield. At most
    # max_pairs_per_step pairs go through one forward/backward; gradient accumulation keeps the
    # update over batch_size queries.
    max_pairs_per_step: int = Field(64, ge=1)
    mini_batch_size: int | None = Field(None, ge=1)
    pos_weight: float | None = Field(None, gt=0.0)
    rerank_depth: int = Field(100, ge=1)

    @field_validator("loss")
    @classmethod
    def _known_loss(cls, value: str) -> str:
        return check_reranker_loss(value)
