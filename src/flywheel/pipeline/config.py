"""Every knob of ``flywheel run`` in one validated object, recorded with the run."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from flywheel.datasets.hard_negatives import HardNegativeConfig
from flywheel.evaluation.cost import DEFAULT_LATENCY_QUERIES
from flywheel.models import DEFAULT_BASE_MODEL
from flywheel.training.config import EmbedderTrainConfig, RerankerTrainConfig


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
    # a BEIR folder or name to ingest (into ``db``, or a fresh store in ``out_dir``); None: run
    # on what the store at ``db`` already holds
    dataset: str | None = None
    out_dir: Path = Path("flywheel-out")
    db: str | None = None
    # what the loop may train on; judgments of ``train_split`` (human or benchmark) always count
    use_events: bool = True
    use_llm_labels: bool = True
    event_min_grade: int = Field(3, ge=1, le=5)  # a log label at or above it is a positive
    near_duplicate_threshold: float | None = Field(0.9, gt=0.0, le=1.0)
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
    # the embedder's dev gate ranks a pool: judged documents + this many from each first stage
    gate_pool_depth: int = Field(100, ge=1)
    hybrid_rrf_k: int = 60
    encode_batch_size: int = 64
    # "torch", or "ort-int8" for ONNX Runtime with int8 weights on CPU (1.6x the encoding and
    # re-ranking throughput; quality measured by benchmarks/encode_speed.py --quality)
    inference_backend: Literal["torch", "ort", "ort-int8"] = "torch"
    device: str | None = None
    # one mining policy: the library's defaults are the measured recipe (ranks 3-30 of the base
    # dense run, one drawn at random above a 5% false-negative margin)
    mining: HardNegativeConfig = Field(default_factory=HardNegativeConfig)
    embedder: EmbedderTrainConfig = Field(
        default_factory=lambda: EmbedderTrainConfig(eval_each_epoch=False)
    )
    reranker: RerankerSettings = Field(default_factory=RerankerSettings)
    # LambdaMART over the first stages' candidates (flywheel.training.ltr), learned from the dev
    # queries and kept only if it wins a 5-fold cross-validation there
    learned_reranker: bool = True
    # minutes for a search over the embedder's recipe (flywheel.pipeline.recipe_search); None:
    # the default recipe alone
    search_budget_minutes: float | None = Field(None, gt=0)
    learned_reranker_depth: int = Field(100, ge=10)
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
    # a dataset with no training query trains on synthetic ones (flywheel.pipeline.cold_start):
    # offline pseudo-questions ("ict", "crop"), or a language model ("llm", with
    # cold_start_model: "openai:gpt-4o-mini", or "local:gemma-3-270m" run on this machine)
    cold_start_generator: Literal["ict", "crop", "llm"] = "ict"
    cold_start_model: str | None = None
    # an llm question is kept only if BM25 finds its passage in the top K (Promptagator's
    # round-trip check: a small model's reply is often about something else); None: no check
    cold_start_round_trip: int | None = Field(20, ge=1)

    @model_validator(mode="after")
    def _cold_start_model(self) -> LoopConfig:
        if self.cold_start_generator == "llm" and not self.cold_start_model:
            raise ValueError(
                "cold_start_generator 'llm' needs cold_start_model (e.g. local:gemma-3-270m)"
            )
        return self
