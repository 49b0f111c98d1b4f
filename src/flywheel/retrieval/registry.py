"""Build retrievers from short specs: ``"bm25"``, ``"dense"``, ``"dense:MODEL"``, ``"hybrid"``.

``MODEL`` may be a hosted one, ``dense:openai:text-embedding-3-small`` (see
:mod:`flywheel.hosted`): it shares the embedding cache and is paid for once per text.

A spec is ``name`` or ``name:argument``; the name picks a factory, the argument (a model name or
path for dense and hybrid) goes to it. Plugins add names with :func:`register_retriever`, and an
unknown name fails with the list of names that exist. Options are checked against the
factory's keywords before anything is built, so a typo fails fast instead of after encoding.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from flywheel._internal import plugins
from flywheel._internal.plugins import load_plugins
from flywheel.data.types import Corpus
from flywheel.errors import ConfigError, UnknownComponentError
from flywheel.hosted.providers import is_hosted_model
from flywheel.models import DEFAULT_BASE_MODEL
from flywheel.retrieval.base import Retriever
from flywheel.retrieval.bm25 import BM25Retriever
from flywheel.retrieval.dense import DenseRetriever
from flywheel.retrieval.embedders import Embedder
from flywheel.retrieval.hosted_embedder import HostedEmbedder
from flywheel.retrieval.hybrid import HybridRetriever


class RetrieverFactory(Protocol):
    """``factory(corpus, argument, **options) -> Retriever``; argument is the text after ':'."""

    def __call__(self, corpus: Corpus, argument: str | None, /, **options: Any) -> Retriever: ...


_FACTORIES: dict[str, RetrieverFactory] = {}


def register_retriever(name: str, factory: RetrieverFactory, *, replace: bool = False) -> None:
    """Make ``build_retriever(name...)`` call ``factory``; names may not contain ':'."""
    if not name or ":" in name:
        raise ConfigError(f"retriever name '{name}' must be non-empty and contain no ':'")
    if name in _FACTORIES and not replace:
        raise ConfigError(
            f"retriever '{name}' is already registered; pass replace=True to override"
        )
    _FACTORIES[name] = factory


def _load_plugins() -> None:
    load_plugins(plugins.RETRIEVERS, lambda name, factory: register_retriever(name, factory))


def known_retrievers() -> list[str]:
    """Built-in, registered and entry-point (``flywheel.retrievers``) retrievers."""
    _load_plugins()
    return sorted(_FACTORIES)


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``"dense:BAAI/bge-small-en-v1.5"`` -> ``("dense", "BAAI/bge-small-en-v1.5")``."""
    name, sep, argument = spec.strip().partition(":")
    return name, (argument or None) if sep else None


def build_retriever(spec: str, corpus: Corpus, **options: Any) -> Retriever:
    """Build the retriever a spec names over ``corpus``; ``options`` go to its factory."""
    name, argument = parse_spec(spec)
    if name not in _FACTORIES:
        _load_plugins()
    if name not in _FACTORIES:
        raise UnknownComponentError("retriever", name, _FACTORIES)
    factory = _FACTORIES[name]
    try:
        inspect.signature(factory).bind(corpus, argument, **options)
    except TypeError as exc:
        accepted = [
            p.name
            for p in inspect.signature(factory).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        ]
        raise ConfigError(
            f"retriever '{name}': {exc}; accepted options: {', '.join(accepted) or '(none)'}"
        ) from None
    return factory(corpus, argument, **options)


# -- built-in factories ----------------------------------------------------------------------
def _bm25(
    corpus: Corpus,
    argument: str | None,
    /,
    *,
    k1: float = 1.5,
    b: float = 0.75,
    method: str = "lucene",
    stemmer: str | None = "english",
    stopwords: str | None = "en",
) -> Retriever:
    if argument is not None:
        raise ConfigError(f"'bm25' takes no ':{argument}'; set k1=, b=, method= as options")
    return BM25Retriever(corpus, k1=k1, b=b, method=method, stemmer=stemmer, stopwords=stopwords)


def _embedder(argument: str | None, embedder: Embedder | None, **embedder_options: Any) -> Embedder:
    if embedder is not None:
        if argument is not None or any(v is not None for v in embedder_options.values()):
            raise ConfigError("pass either embedder= or a model name / embedder options, not both")
        return embedder
    options = {k: v for k, v in embedder_options.items() if v is not None}
    if is_hosted_model(argument):  # "openai:text-embedding-3-small": same cache, paid calls
        local_only = sorted(set(options) - {"batch_size", "cache_dir"})
        if local_only:
            raise ConfigError(
                f"'{argument}' is a hosted model; options {', '.join(local_only)} apply to "
                "local models only"
            )
        return HostedEmbedder(argument, **options)
    return Embedder(argument or DEFAULT_BASE_MODEL, **options)


def _dense(
    corpus: Corpus,
    argument: str | None,
    /,
    *,
    embedder: Embedder | None = None,
    index: str = "flat",
    doc_embeddings: np.ndarray | None = None,
    batch_size: int | None = None,
    max_seq_length: int | None = None,
    device: str | None = None,
    cache_dir: Path | None = None,
    backend: str | None = None,
    precision: str | None = None,
) -> Retriever:
    model = _embedder(
        argument,
        embedder,
        batch_size=batch_size,
        max_seq_length=max_seq_length,
        device=device,
        cache_dir=cache_dir,
        backend=backend,
        precision=precision,
    )
    return DenseRetriever(corpus, model, index=index, doc_embeddings=doc_embeddings)


def _hybrid(
    corpus: Corpus,
    argument: str | None,
    /,
    *,
    embedder: Embedder | None = None,
    method: str = "rrf",
    weights: Sequence[float] | None = None,
    depth: int = 100,
    index: str = "flat",
    batch_size: int | None = None,
    max_seq_length: int | None = None,
    device: str | None = None,
    cache_dir: Path | None = None,
) -> Retriever:
    """BM25 + dense (``hybrid:MODEL`` picks the dense model), fused by RRF unless ``method``."""
    dense = _dense(
        corpus,
        argument,
        embedder=embedder,
        index=index,
        batch_size=batch_size,
        max_seq_length=max_seq_length,
        device=device,
        cache_dir=cache_dir,
    )
    return HybridRetriever(
        [_bm25(corpus, None), dense], method=method, weights=weights, depth=depth
    )


register_retriever("bm25", _bm25)
register_retriever("dense", _dense)
register_retriever("hybrid", _hybrid)
