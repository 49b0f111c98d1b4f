"""Loss registries: a name in a config becomes a sentence-transformers loss module.

A registry rather than an if/elif chain, so an unknown name lists exactly what exists and a
plugin can add its own entry with :func:`register_embedder_loss` / :func:`register_reranker_loss`.
sentence-transformers is imported inside each factory: this module stays importable without torch.

Bi-encoder losses (rows ``anchor, positive[, negative_1..n]``):

- ``mnrl``: MultipleNegativesRankingLoss - every other positive in the batch is a negative, plus
  the row's own hard negatives. The usual first choice for (query, passage) pairs.
- ``cached_mnrl``: CachedMultipleNegativesRankingLoss - the same objective with GradCache, so a
  batch of 1024 in-batch negatives costs the memory of ``mini_batch_size`` rows (GPU runs).
- ``triplet``: TripletLoss - needs exactly one negative per row; only the row's own negative.

Cross-encoder losses (rows ``query, passage, score`` or listwise ``query, docs, labels``):

- ``bce``: BinaryCrossEntropyLoss on pairs; labels 0/1 or soft scores in [0, 1].
- ``mse``: MSELoss on pairs, regressing normalised grades (grade / max grade).
- ``lambda``: LambdaLoss (NDCGLoss2++ weighting) on one query with its list of graded documents.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flywheel.errors import UnknownComponentError

if TYPE_CHECKING:
    from flywheel.training.config import EmbedderTrainConfig, RerankerTrainConfig

EmbedderLossFactory = Callable[[Any, "EmbedderTrainConfig"], Any]
RerankerLossFactory = Callable[[Any, "RerankerTrainConfig"], Any]

#: Cross-encoder losses that take one query and a list of documents per row.
LISTWISE_RERANKER_LOSSES = {"lambda"}


def _mnrl(model: Any, config: EmbedderTrainConfig) -> Any:
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    return MultipleNegativesRankingLoss(model, scale=config.scale)


def _cached_mnrl(model: Any, config: EmbedderTrainConfig) -> Any:
    from sentence_transformers.sentence_transformer.losses import CachedMultipleNegativesRankingLoss

    return CachedMultipleNegativesRankingLoss(
        model, scale=config.scale, mini_batch_size=config.mini_batch_size
    )


def _triplet(model: Any, config: EmbedderTrainConfig) -> Any:
    from sentence_transformers.sentence_transformer.losses import TripletLoss

    return TripletLoss(model, triplet_margin=config.triplet_margin)


def _bce(model: Any, config: RerankerTrainConfig) -> Any:
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    if config.pos_weight is None:
        return BinaryCrossEntropyLoss(model)
    import torch

    return BinaryCrossEntropyLoss(model, pos_weight=torch.tensor(config.pos_weight))


def _mse(model: Any, config: RerankerTrainConfig) -> Any:
    from sentence_transformers.cross_encoder.losses import MSELoss

    return MSELoss(model)


def _lambda(model: Any, config: RerankerTrainConfig) -> Any:
    from sentence_transformers.cross_encoder.losses import LambdaLoss

    return LambdaLoss(model, mini_batch_size=config.mini_batch_size)


EMBEDDER_LOSSES: dict[str, EmbedderLossFactory] = {
    "mnrl": _mnrl,
    "cached_mnrl": _cached_mnrl,
    "triplet": _triplet,
}

RERANKER_LOSSES: dict[str, RerankerLossFactory] = {
    "bce": _bce,
    "mse": _mse,
    "lambda": _lambda,
}


def register_embedder_loss(name: str, factory: EmbedderLossFactory) -> None:
    """Add a bi-encoder loss: ``factory(model, config)`` returns a loss module."""
    EMBEDDER_LOSSES[name] = factory


def register_reranker_loss(
    name: str, factory: RerankerLossFactory, *, listwise: bool = False
) -> None:
    """Add a cross-encoder loss; ``listwise=True`` feeds it (query, docs, labels) rows."""
    RERANKER_LOSSES[name] = factory
    if listwise:
        LISTWISE_RERANKER_LOSSES.add(name)


def check_embedder_loss(name: str) -> str:
    if name not in EMBEDDER_LOSSES:
        raise UnknownComponentError("embedder loss", name, EMBEDDER_LOSSES)
    return name


def check_reranker_loss(name: str) -> str:
    if name != "auto" and name not in RERANKER_LOSSES:
        raise UnknownComponentError("reranker loss", name, [*RERANKER_LOSSES, "auto"])
    return name


def build_embedder_loss(model: Any, config: EmbedderTrainConfig) -> Any:
    """The configured loss, wrapped in MatryoshkaLoss when ``matryoshka_dims`` is set."""
    loss = EMBEDDER_LOSSES[check_embedder_loss(config.loss)](model, config)
    if config.matryoshka_dims:
        from sentence_transformers.sentence_transformer.losses import MatryoshkaLoss

        loss = MatryoshkaLoss(model, loss, matryoshka_dims=list(config.matryoshka_dims))
    return loss


def resolve_reranker_loss(name: str, *, graded: bool) -> str:
    """``auto`` → ``lambda`` for graded labels, ``bce`` for binary ones; other names unchanged."""
    check_reranker_loss(name)
    if name == "auto":
        return "lambda" if graded else "bce"
    return name


def build_reranker_loss(model: Any, name: str, config: RerankerTrainConfig) -> Any:
    return RERANKER_LOSSES[check_reranker_loss(name)](model, config)
