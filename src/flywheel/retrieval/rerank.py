"""Second-stage re-ranking with a cross-encoder: read query and document together, re-score.

A cross-encoder is far more accurate than a bi-encoder and far slower, so it only re-scores the
top ``depth`` of a first-stage run. Documents below ``depth`` keep their first-stage order,
placed under every re-scored one, so recall@k for k > depth is unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from flywheel import settings
from flywheel._internal.choices import parse_choice
from flywheel.data.types import Queries, Run
from flywheel.errors import ConfigError, NotFoundError
from flywheel.models import resolve_model
from flywheel.retrieval.base import Retriever, check_k, ranked_ids, top_k
from flywheel.retrieval.embedders import graph_folder_name, model_identity
from flywheel.retrieval.onnx_runtime import OrtCrossEncoder

logger = logging.getLogger(__name__)


class RerankBackend(StrEnum):
    """``torch``: sentence-transformers as is; ``ort`` / ``ort-int8``: the model exported to
    ONNX Runtime (int8 weights for the CPU speed-up), see :mod:`flywheel.retrieval.onnx_runtime`."""

    TORCH = "torch"
    ORT = "ort"
    ORT_INT8 = "ort-int8"


class CrossEncoderReranker:
    """Re-score ``(query, document)`` pairs with ``sentence_transformers.CrossEncoder``.

    ``model`` is any CrossEncoder name or path (e.g. a model trained by ``flywheel train``);
    ``num_labels`` only matters for a backbone with no trained head (a fresh head, 1 label).
    ``backend="ort-int8"`` scores on CPU through ONNX Runtime with int8 weights; the export is
    cached under ``cache_dir`` keyed by the model's weights.
    """

    def __init__(
        self,
        model: str,
        *,
        depth: int = 100,
        batch_size: int = 32,
        max_length: int | None = 256,
        device: str | None = None,
        num_labels: int | None = None,
        backend: str = "torch",
        cache_dir: Path | None = None,
    ) -> None:
        self.model_name = model
        self.backend = parse_choice(RerankBackend, backend, "backend")
        self.cache_dir = Path(cache_dir) if cache_dir else settings.cache_dir() / "onnx"
        self.depth = check_k(depth)
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = device
        self.num_labels = num_labels
        self._model: Any = None

    @property
    def model(self) -> Any:
        """The loaded ``CrossEncoder`` (loaded on first use)."""
        if self._model is None:
            settings.ensure_offline()
            from sentence_transformers import CrossEncoder

            logger.info("loading cross-encoder %s", self.model_name)
            own = self.backend is not RerankBackend.TORCH
            self._model = CrossEncoder(
                resolve_model(self.model_name),
                num_labels=self.num_labels,
                max_length=self.max_length,
                device="cpu" if own else self.device,
            )
            if own:
                identity = model_identity(self.model_name)
                folder = graph_folder_name(identity, "cross-encoder", self.backend.value)
                self._model = OrtCrossEncoder(
                    self._model,
                    self.cache_dir / folder,
                    quantize=self.backend is RerankBackend.ORT_INT8,
                )
        return self._model

    def score(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        """One relevance score per ``(query, text)`` pair, higher is more relevant."""
        if not pairs:
            return np.empty(0, dtype=np.float32)
        scores = np.asarray(
            self.model.predict(
                pairs, batch_size=self.batch_size, show_progress_bar=False, convert_to_numpy=True
            )
        )
        if scores.ndim != 1:
            raise ConfigError(
                f"cross-encoder '{self.model_name}' returns {scores.shape[-1]} labels "
                "per pair; a re-ranker needs one score (num_labels=1)"
            )
        return scores.astype(np.float32)

    def rerank(self, queries: Queries, run: Run, texts: Mapping[str, str]) -> Run:
        """Re-score the top ``depth`` of each query; the rest follow in their original order.

        ``texts`` maps doc_id to the text to read (``RetrievalDataset.texts()`` gives title +
        body). Queries in ``run`` but not in ``queries`` are an error: there is nothing to read.
        """
        missing_q = [qid for qid in run if qid not in queries]
        if missing_q:
            raise NotFoundError(
                f"{len(missing_q)} run queries have no text (e.g. '{missing_q[0]}'); "
                "pass the queries the run was made for"
            )
        heads: dict[str, list[str]] = {}
        tails: dict[str, list[str]] = {}
        pairs: list[tuple[str, str]] = []
        for qid, scores in run.items():
            ids = ranked_ids(scores)
            heads[qid], tails[qid] = ids[: self.depth], ids[self.depth :]
            for doc_id in heads[qid]:
                if doc_id not in texts:
                    raise NotFoundError(
                        f"document '{doc_id}' (query '{qid}') has no text; pass "
                        "texts for every retrieved doc_id, e.g. dataset.texts()"
                    )
                pairs.append((queries[qid], texts[doc_id]))
        new_scores = self.score(pairs)
        out: Run = {}
        position = 0
        for qid in run:
            head = heads[qid]
            scored = {
                d: float(s)
                for d, s in zip(head, new_scores[position : position + len(head)], strict=True)
            }
            position += len(head)
            reranked = top_k(scored, len(scored))
            floor = min(reranked.values(), default=0.0)
            for offset, doc_id in enumerate(tails[qid], start=1):
                reranked[doc_id] = floor - offset
            out[qid] = reranked
        return out

    def __repr__(self) -> str:
        return f"CrossEncoderReranker({self.model_name!r}, depth={self.depth})"


class RerankedRetriever:
    """A first-stage retriever followed by a re-ranker, itself a :class:`Retriever`."""

    def __init__(
        self, first_stage: Retriever, reranker: CrossEncoderReranker, texts: Mapping[str, str]
    ) -> None:
        self.first_stage = first_stage
        self.reranker = reranker
        self.texts = texts

    @property
    def name(self) -> str:
        return f"{self.first_stage.name}>rerank:{self.reranker.model_name}"

    def search(self, queries: Queries, k: int = 100) -> Run:
        """Retrieve ``max(k, depth)`` with the first stage, re-rank, keep the top ``k``."""
        check_k(k)
        run = self.first_stage.search(queries, k=max(k, self.reranker.depth))
        reranked = self.reranker.rerank(queries, run, self.texts)
        return {qid: top_k(scores, k) for qid, scores in reranked.items()}
