"""A pre-registered experiment, written as TOML before anything runs.

The hypothesis, the primary metric and the success criterion are fixed in the spec, so a result
can't be reinterpreted after the fact; failed hypotheses are stored like successful ones.
Everything that can be checked without doing work is checked by :func:`load_spec`: metrics,
retrievers, models, the dataset and split, the baseline. Errors name the spec file and the field.

.. code-block:: toml

    name = "scifact-baselines"
    dataset = "scifact"              # a BEIR folder, or a name under $FLYWHEEL_DATASETS
    split = "test"
    hypothesis = "Hybrid retrieval beats BM25 on nDCG@10"
    primary_metric = "ndcg@10"
    metrics = ["ndcg@10", "recall@100", "mrr@10"]
    baseline = "bm25"

    [success]
    metric = "ndcg@10"
    min_relative_gain = 0.02
    max_p_value = 0.05

    [[variants]]
    name = "bm25"
    retriever = "bm25"

Add ``fill_unjudged = "llm"`` to score every variant on the dataset's qrels plus the store's LLM
grades (label source ``llm``, from ``flywheel judge run``) for retrieved pairs no person judged;
the human-only figures are kept too, and every report says how many pairs were filled (see
:mod:`flywheel.evaluation.label_fill`). ``llm_min_grade`` (default 2, as in training data) is
the lowest LLM grade that fills a hole as relevant; a lower one fills it as not relevant.
"""

from __future__ import annotations

import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from flywheel.errors import ConfigError, FlywheelError
from flywheel.evaluation.metrics import resolve_metric
from flywheel.evaluation.significance import SignificanceTest
from flywheel.hosted.providers import is_hosted_model, parse_model, resolve_credentials
from flywheel.judging.labels import DEFAULT_MIN_RELEVANT
from flywheel.models import DEFAULT_BASE_MODEL, resolve_model
from flywheel.settings import datasets_dir


class RetrieverKind(StrEnum):
    BM25 = "bm25"
    DENSE = "dense"
    HYBRID = "hybrid"


class FusionMethod(StrEnum):
    RRF = "rrf"
    WEIGHTED = "weighted"


STORE_DATASET = "store"  # the dataset a spec names to run on the store of --db


class UnjudgedFill(StrEnum):
    """A label source that may fill unjudged retrieved pairs (its name in the store)."""

    LLM = "llm"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Variant(_Strict):
    """One system to run. ``retriever`` is a registry name (bm25, dense, hybrid, plugins)."""

    name: str
    retriever: str = "bm25"
    model: str | None = None  # dense / hybrid embedding model (default: all-MiniLM-L6-v2)
    fusion: FusionMethod = FusionMethod.RRF  # hybrid only
    weights: list[float] | None = None  # hybrid only, [bm25, dense]
    reranker: str | None = None  # a CrossEncoder name or path
    rerank_depth: int = Field(100, ge=1)
    top_k: int | None = Field(None, ge=1)  # overrides the experiment's top_k
    # None or "documents": whole documents; a stored chunk strategy (dataset = "store"):
    # retrieve over its chunks, each document scored by its best chunk
    chunking: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)  # extra keyword options for the retriever

    def retriever_spec(self) -> str:
        """The ``build_retriever`` spec, e.g. ``dense:MODEL``."""
        if self.model and self.retriever in (RetrieverKind.DENSE, RetrieverKind.HYBRID):
            return f"{self.retriever}:{self.model}"
        return self.retriever

    def retriever_options(self) -> dict[str, Any]:
        options = dict(self.options)
        if self.retriever == RetrieverKind.HYBRID:
            options.setdefault("method", self.fusion.value)
            if self.weights is not None:
                options.setdefault("weights", list(self.weights))
        return options


class SuccessCriterion(_Strict):
    """What counts as success, fixed before the run: a gain on ``metric``, ``p <= max_p_value``."""

    metric: str
    min_relative_gain: float | None = None
    min_absolute_gain: float | None = None
    max_p_value: float = Field(0.05, gt=0, le=1)

    @model_validator(mode="after")
    def _one_gain(self) -> SuccessCriterion:
        if (self.min_relative_gain is None) == (self.min_absolute_gain is None):
            raise ValueError("set exactly one of min_relative_gain or min_absolute_gain")
        return self


class ExperimentSpec(_Strict):
    """The whole experiment. ``source`` is the file it came from (for error messages)."""

    name: str
    dataset: str
    split: str = "test"
    hypothesis: str
    primary_metric: str
    success: SuccessCriterion
    metrics: list[str] = Field(default_factory=list)
    baseline: str
    variants: list[Variant] = Field(min_length=2)
    top_k: int = Field(100, ge=1)
    test: SignificanceTest = SignificanceTest.PERMUTATION
    alpha: float = Field(0.05, gt=0, lt=1)
    n_resamples: int = Field(10_000, ge=100)
    seed: int = 0
    latency_queries: int = Field(20, ge=0)  # queries timed one by one for latency p50/p95
    # score on qrels + this source's stored grades for retrieved unjudged pairs (None: human only)
    fill_unjudged: UnjudgedFill | None = None
    # with fill_unjudged: the lowest LLM grade that fills a hole as relevant (training's default)
    llm_min_grade: int = Field(DEFAULT_MIN_RELEVANT, ge=1, le=5)
    # dataset = "store": judgments at document level (default) or at chunk level (the chunks
    # of chunk_strategy are then the corpus every variant ranks)
    level: str = "document"
    chunk_strategy: str | None = None
    source: str | None = None

    @property
    def from_store(self) -> bool:
        return self.dataset == STORE_DATASET

    def all_metrics(self) -> list[str]:
        """``metrics`` plus the primary and success metrics, in order, without duplicates."""
        return list(dict.fromkeys([self.primary_metric, self.success.metric, *self.metrics]))

    def variant(self, name: str) -> Variant:
        return next(v for v in self.variants if v.name == name)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _fail(spec: ExperimentSpec | str | None, field: str, problem: str) -> ConfigError:
    source = spec if isinstance(spec, str) else (spec.source if spec else None)
    return ConfigError(f"{source or '<spec>'}: field '{field}': {problem}")


def resolve_dataset(name: str, base: Path | None = None) -> Path:
    """A BEIR folder: the path itself, relative to the spec, or in ``$FLYWHEEL_DATASETS``."""
    candidates = [Path(name).expanduser()]
    if base is not None:
        candidates.append(base / name)
    if (root := datasets_dir()) is not None:
        candidates.append(root / name)
    for path in candidates:
        if (path / "corpus.jsonl").is_file():
            return path
    tried = ", ".join(str(p) for p in candidates)
    raise FileNotFoundError(
        f"dataset '{name}' not found (tried {tried}); pass a BEIR folder or set FLYWHEEL_DATASETS"
    )


def check_model(name: str) -> None:
    """A model must be a local folder, the default alias, or already in the Hugging Face cache;
    a hosted ``provider:model`` needs its key (and the error names the variable to set)."""
    if is_hosted_model(name):
        spec, _ = parse_model(name)
        try:
            resolve_credentials(spec.name)
        except FlywheelError as exc:
            raise ValueError(str(exc)) from None
        return
    if name == DEFAULT_BASE_MODEL or Path(resolve_model(name)).is_dir():
        return
    looks_like_path = name.startswith((".", "/", "~")) or name.count("/") > 1
    if not looks_like_path:
        try:
            from huggingface_hub import try_to_load_from_cache

            if isinstance(try_to_load_from_cache(name, "config.json"), str):
                return
        except Exception:  # noqa: BLE001 - an invalid repo id is just "not cached"
            pass
    raise ValueError(
        f"model '{name}' is not a local folder, not '{DEFAULT_BASE_MODEL}' and not in the "
        "Hugging Face cache; pass the folder of a saved model"
    )


def validate_spec(spec: ExperimentSpec, *, check_models: bool = True) -> Path | None:
    """Check everything that can fail before any work; returns the dataset folder (None for
    ``dataset = "store"``)."""
    from flywheel.retrieval.registry import known_retrievers

    for i, metric in enumerate(spec.metrics):
        _check_metric(spec, f"metrics[{i}]", metric)
    _check_metric(spec, "primary_metric", spec.primary_metric)
    _check_metric(spec, "success.metric", spec.success.metric)
    names = [v.name for v in spec.variants]
    if len(set(names)) != len(names):
        raise _fail(spec, "variants", f"variant names must be unique, got {names}")
    if spec.baseline not in names:
        raise _fail(
            spec, "baseline", f"'{spec.baseline}' is not a variant; variants: {', '.join(names)}"
        )
    known = known_retrievers()
    for i, v in enumerate(spec.variants):
        if v.retriever not in known:
            raise _fail(
                spec,
                f"variants[{i}].retriever",
                f"unknown retriever '{v.retriever}'; known: {', '.join(known)}",
            )
        if v.chunking not in (None, "documents") and not spec.from_store:
            raise _fail(
                spec,
                f"variants[{i}].chunking",
                f"chunking '{v.chunking}' needs the store's chunks: set dataset = "
                f'"{STORE_DATASET}", run flywheel chunk --strategy {v.chunking}, then '
                "flywheel experiment run SPEC --db URL",
            )
        if v.chunking not in (None, "documents") and spec.level == "chunk":
            raise _fail(
                spec,
                f"variants[{i}].chunking",
                'with level = "chunk" every variant ranks the chunks of chunk_strategy',
            )
        if check_models:
            for field, model in (("model", v.model), ("reranker", v.reranker)):
                if model is not None:
                    try:
                        check_model(model)
                    except ValueError as exc:
                        raise _fail(spec, f"variants[{i}].{field}", str(exc)) from None
    if spec.level not in ("document", "chunk"):
        raise _fail(spec, "level", f"'{spec.level}' is not a level; use document or chunk")
    if spec.level == "chunk" and not (spec.from_store and spec.chunk_strategy):
        raise _fail(
            spec,
            "level",
            f'level = "chunk" needs dataset = "{STORE_DATASET}" and a '
            "chunk_strategy (one that flywheel chunk stored)",
        )
    if spec.from_store:
        return None  # the store's splits and chunks are checked when it is opened
    base = Path(spec.source).parent if spec.source else None
    try:
        folder = resolve_dataset(spec.dataset, base)
    except FileNotFoundError as exc:
        raise _fail(spec, "dataset", str(exc)) from None
    splits = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
    if spec.split not in splits:
        raise _fail(
            spec, "split", f"'{folder}' has no split '{spec.split}'; splits: {', '.join(splits)}"
        )
    return folder


def _check_metric(spec: ExperimentSpec, field: str, metric: str) -> None:
    try:
        resolve_metric(metric)
    except FlywheelError as exc:
        raise _fail(spec, field, str(exc)) from None


def parse_spec(data: dict[str, Any], *, source: str | None = None) -> ExperimentSpec:
    """Build a spec from a dict (e.g. parsed TOML); pydantic errors become one ConfigError."""
    try:
        return ExperimentSpec.model_validate({**data, "source": source})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in first["loc"])
        field = field.replace(".[", "[")
        raise _fail(source, field or "(top level)", first["msg"]) from None


def load_spec(path: str | Path, *, check_models: bool = True) -> ExperimentSpec:
    """Read and fully validate a TOML experiment spec."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such experiment spec; see examples/*.toml") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    spec = parse_spec(data, source=str(path))
    validate_spec(spec, check_models=check_models)
    return spec
