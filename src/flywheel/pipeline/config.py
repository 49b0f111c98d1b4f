"""Every knob of ``flywheel run`` in one validated object, recorded with the run."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from flywheel.evaluation.cost import DEFAULT_LATENCY_QUERIES
from flywheel.models import DEFAULT_BASE_MODEL
from flywheel.training.config import EmbedderTrainConfig, RerankerTrainConfig


class MiningSettings(BaseModel):
    """Hard negatives for the embedder: one drawn at random from ranks 3-30 of the base dense run,
    after dropping likely false negatives (TopK-PercPos: above 95% of the positive's score).
    Measured on SciFact (dev carved from train): this recipe lifted test nDCG@10 0.645 -> 0.738."""

    model_config = ConfigDict(extra="forbid")
    range_min: int = 3
    range_max: int = 30
    num_negatives: int = 1
    sampling: str = "random"
    relative_margin: float | None = 0.05


class RerankerSettings(BaseModel):
    """The cross-encoder stage: fine-tuned, gated on dev, applied to the top N of each first stage.

    ``enabled=None`` (auto) trains one only when ``base_model`` names a model to start from (a
    cross-encoder). Growing one from the bi-encoder's backbone with a fresh scoring head is
    opt-in (``enabled=True``): measured on SciFact it scored dev nDCG@10 0.303 against 0.706 for
    the hybrid first stage after 14 minutes of CPU, and was rejected on the demo data too - a
    cross-encoder needs far more relevance data than one dataset's training queries.
    """

    model_config = ConfigDict(extra="forbid")
    enabled: bool | None = None
    base_model: str | None = None  # None: the loop's base model (a fresh scoring head)
    depth: int = Field(20, ge=1)
    negatives_per_query: int = Field(4, ge=1)
    negative_window: int = Field(30, ge=2)
    # A re-ranker rejected on dev replaces nothing; scoring the test split with it anyway costs
    # the most CPU time of the whole loop, so it is opt-in.
    evaluate_rejected: bool = False
    train: RerankerTrainConfig = Field(default_factory=RerankerTrainConfig)

    def should_train(self) -> bool:
        """Explicit ``enabled`` wins; auto trains only from a named starting model."""
        return self.enabled if self.enabled is not None else self.base_model is not None


class LoopConfig(BaseModel):
    """What ``flywheel run`` does. Defaults are the recipe measured in the README."""

    model_config = ConfigDict(extra="forbid")
    dataset: str
    out_dir: Path = Path("flywheel-out")
    db: str | None = None
    base_model: str = DEFAULT_BASE_MODEL
    train_split: str = "train"
    test_split: str = "test"
    dev_split: str = "dev"  # used when the dataset has it; otherwise carved from train
    dev_fraction: float = Field(0.1, gt=0.0, lt=0.5)
    seed: int = 42
    primary_metric: str = "ndcg@10"
    metrics: list[str] = Field(
        default_factory=lambda: ["ndcg@10", "recall@10", "recall@100", "mrr@10", "map@100"]
    )
    retrieve_k: int = Field(100, ge=10)
    hybrid_rrf_k: int = 60
    encode_batch_size: int = 64
    # "torch", or "ort-int8" for ONNX Runtime with int8 weights on CPU (1.6x the encoding and
    # re-ranking throughput; quality measured by benchmarks/encode_speed.py --quality)
    inference_backend: Literal["torch", "ort", "ort-int8"] = "torch"
    device: str | None = None
    mining: MiningSettings = Field(default_factory=MiningSettings)
    embedder: EmbedderTrainConfig = Field(
        default_factory=lambda: EmbedderTrainConfig(eval_each_epoch=False)
    )
    reranker: RerankerSettings = Field(default_factory=RerankerSettings)
    max_train_queries: int | None = None  # subsample for a quick look; None = all
    # also train sentence-transformers' plain recipe (MNRL on the training pairs, same settings)
    # and test the selected pipeline against it: the flywheel's value over doing it alone
    reference_recipe: bool = False
    # other embedders ("openai:text-embedding-3-small", a local folder or Hub id) and re-rankers
    # ("cohere:rerank-v3.5", a cross-encoder) measured beside the loop's systems as
    # "compare: ..." - never selected: the loop ships what it built, and says how far it is from
    # what could be bought or downloaded instead
    compare_models: list[str] = Field(default_factory=list)
    compare_rerankers: list[str] = Field(default_factory=list)
    # queries searched one at a time per dense system for latency p50/p95 (0: skip)
    latency_queries: int = Field(DEFAULT_LATENCY_QUERIES, ge=0)
