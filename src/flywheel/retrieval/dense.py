"""Dense retrieval: embed the corpus once, search by inner product with FAISS.

The default ``"flat"`` index is exact: it keeps the one float32 matrix of document embeddings
(never copied: a contiguous float32 array passed in is used as is) and searches it with
``faiss.knn``, FAISS's blocked BLAS inner product, so 1M x 384 costs 1.5 GB once, not twice.
``"hnsw"`` and ``"ivf"`` trade a little recall for speed on large corpora; they store vectors
inside the FAISS index, and the process drops its own matrix once the index holds them.
Embeddings are L2-normalised, so inner product is cosine similarity.
"""

from __future__ import annotations

import json
import logging
import math
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from flywheel._internal.choices import parse_choice
from flywheel._internal.io import atomic_open, write_json
from flywheel._version import __version__
from flywheel.data.types import Corpus, Queries, Run
from flywheel.errors import ConfigError
from flywheel.retrieval.base import check_k, query_items, read_manifest
from flywheel.retrieval.embedders import Embedder

logger = logging.getLogger(__name__)

KIND = "dense"


class IndexType(StrEnum):
    """``flat``: exact; ``hnsw``: graph, fast, approximate; ``ivf``: clustered, approximate."""

    FLAT = "flat"
    HNSW = "hnsw"
    IVF = "ivf"


def _index_type(value: str) -> IndexType:
    return parse_choice(IndexType, value, "dense index")


class DenseRetriever:
    """Bi-encoder retrieval: ``DenseRetriever(corpus, Embedder()).search(queries, k=100)``.

    ``doc_embeddings`` (one row per document, in corpus order) skips encoding, e.g. vectors
    computed elsewhere. ``hnsw_m``/``ef_search`` tune HNSW; ``nlist``/``nprobe`` tune IVF.
    """

    def __init__(
        self,
        corpus: Corpus,
        embedder: Embedder,
        *,
        index: str = "flat",
        doc_embeddings: np.ndarray | None = None,
        hnsw_m: int = 32,
        ef_search: int = 128,
        nlist: int | None = None,
        nprobe: int = 16,
    ) -> None:
        if not corpus:
            raise ConfigError(
                "cannot build a dense index over an empty corpus; load documents first"
            )
        self.embedder = embedder
        self.index_type = _index_type(index)
        self.doc_ids = list(corpus)
        self.hnsw_m, self.ef_search, self.nprobe = hnsw_m, ef_search, nprobe
        if doc_embeddings is None:
            texts = [corpus[doc_id].text_for_encoding for doc_id in self.doc_ids]
            matrix = embedder.encode_documents(self.doc_ids, texts)
        else:
            matrix = np.ascontiguousarray(doc_embeddings, dtype=np.float32)  # no copy if it can
            if matrix.ndim != 2 or matrix.shape[0] != len(self.doc_ids):
                raise ConfigError(
                    f"doc_embeddings has shape {matrix.shape}; expected "
                    f"({len(self.doc_ids)}, dim): one row per corpus document, in corpus order"
                )
        self.dim = int(matrix.shape[1])
        self.nlist = nlist or max(1, min(int(4 * math.sqrt(len(self.doc_ids))), len(self.doc_ids)))
        self._matrix: np.ndarray | None = None
        self._faiss: Any = None
        self._build(matrix)

    @property
    def name(self) -> str:
        return f"dense:{self.embedder.model_name}"

    def _build(self, matrix: np.ndarray) -> None:
        if self.index_type is IndexType.FLAT:
            self._matrix = matrix
            return
        import faiss

        spec = (
            f"HNSW{self.hnsw_m},Flat"
            if self.index_type is IndexType.HNSW
            else f"IVF{self.nlist},Flat"
        )
        index = faiss.index_factory(self.dim, spec, faiss.METRIC_INNER_PRODUCT)
        if self.index_type is IndexType.IVF:
            index.train(matrix)
        index.add(matrix)
        self._faiss = index  # the index holds the vectors now; this object keeps no second copy

    @property
    def doc_embeddings(self) -> np.ndarray:
        """The document matrix (float32, corpus order). For hnsw/ivf this rebuilds a copy."""
        if self._matrix is not None:
            return self._matrix
        import faiss

        if self.index_type is IndexType.IVF:
            faiss.extract_index_ivf(self._faiss).make_direct_map()
        return self._faiss.reconstruct_n(0, len(self.doc_ids))

    def search(self, queries: Queries, k: int = 100) -> Run:
        """Top ``k`` documents per query by inner product (cosine for normalised vectors)."""
        import faiss

        check_k(k)
        qids, texts = query_items(queries)
        if not qids:
            return {}
        k = min(k, len(self.doc_ids))
        vectors = np.ascontiguousarray(self.embedder.encode_queries(texts), dtype=np.float32)
        if vectors.shape[1] != self.dim:
            raise ConfigError(
                f"query vectors have dimension {vectors.shape[1]} but documents have "
                f"{self.dim}; use the embedder the index was built with"
            )
        if self._matrix is not None:
            scores, ids = faiss.knn(vectors, self._matrix, k, metric=faiss.METRIC_INNER_PRODUCT)
        else:
            if self.index_type is IndexType.HNSW:
                self._faiss.hnsw.efSearch = max(self.ef_search, k)
            else:
                faiss.extract_index_ivf(self._faiss).nprobe = self.nprobe
            scores, ids = self._faiss.search(vectors, k)
        return {
            qid: {
                self.doc_ids[int(i)]: float(s)
                for i, s in zip(ids[row], scores[row], strict=True)
                if i >= 0
            }
            for row, qid in enumerate(qids)
        }

    # -- persistence ---------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write vectors (``embeddings.npy`` or ``index.faiss``), doc ids and ``manifest.json``."""
        import faiss

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if self._matrix is not None:
            with atomic_open(folder / "embeddings.npy", "wb", encoding=None) as handle:
                np.save(handle, self._matrix)
        else:
            faiss.write_index(self._faiss, str(folder / "index.faiss"))
        write_json(folder / "doc_ids.json", self.doc_ids)
        write_json(
            folder / "manifest.json",
            {
                "kind": KIND,
                "flywheel_version": __version__,
                "model": self.embedder.model_name,
                "model_id": self.embedder.model_id,
                "max_seq_length": self.embedder.max_seq_length,
                "count": len(self.doc_ids),
                "dim": self.dim,
                "index": self.index_type.value,
                "hnsw_m": self.hnsw_m,
                "ef_search": self.ef_search,
                "nlist": self.nlist,
                "nprobe": self.nprobe,
            },
        )
        return folder

    @classmethod
    def load(
        cls, folder: str | Path, embedder: Embedder | None = None, *, mmap: bool = False
    ) -> DenseRetriever:
        """Load what :meth:`save` wrote. ``mmap=True`` maps a flat matrix instead of reading it.

        The embedder must be the model the index was built with (checked by ``model_id``);
        by default one is made from the manifest.
        """
        import faiss

        folder = Path(folder)
        manifest = read_manifest(folder, KIND)
        embedder = embedder or Embedder(
            manifest["model"], max_seq_length=manifest.get("max_seq_length")
        )
        if embedder.model_id != manifest["model_id"]:
            raise ConfigError(
                f"{folder} was built with model '{manifest['model_id']}' but the embedder is "
                f"'{embedder.model_id}'; pass the same model, or rebuild the index"
            )
        self = cls.__new__(cls)
        self.embedder = embedder
        self.index_type = _index_type(manifest["index"])
        self.doc_ids = json.loads((folder / "doc_ids.json").read_text(encoding="utf-8"))
        self.dim, self.nlist = int(manifest["dim"]), int(manifest["nlist"])
        self.hnsw_m, self.ef_search = manifest["hnsw_m"], manifest["ef_search"]
        self.nprobe = manifest["nprobe"]
        self._matrix, self._faiss = None, None
        if self.index_type is IndexType.FLAT:
            self._matrix = np.load(folder / "embeddings.npy", mmap_mode="r" if mmap else None)
            count = self._matrix.shape[0]
        else:
            self._faiss = faiss.read_index(str(folder / "index.faiss"))
            count = self._faiss.ntotal
        if count != len(self.doc_ids) or count != manifest["count"]:
            raise ConfigError(
                f"{folder}: {count} vectors, {len(self.doc_ids)} doc ids, manifest "
                f"count {manifest['count']}; the folder is inconsistent, rebuild it"
            )
        return self

    def __repr__(self) -> str:
        return (
            f"DenseRetriever({len(self.doc_ids)} docs, {self.embedder.model_id}, {self.index_type})"
        )
