"""First-stage retrieval (BM25, dense, hybrid), fusion and cross-encoder re-ranking.

Every retriever has ``name`` and ``search(queries, k) -> Run``; build one from a spec with
``build_retriever("bm25" | "dense[:MODEL]" | "hybrid[:MODEL]", corpus)``. Nothing here imports
torch or FAISS until a model or index is actually used.
"""

from flywheel.retrieval.base import Retriever
from flywheel.retrieval.bm25 import BM25Retriever
from flywheel.retrieval.dense import DenseRetriever
from flywheel.retrieval.embedders import Embedder
from flywheel.retrieval.fusion import rrf, weighted_fusion
from flywheel.retrieval.hybrid import HybridRetriever
from flywheel.retrieval.registry import build_retriever, known_retrievers, register_retriever
from flywheel.retrieval.rerank import CrossEncoderReranker, RerankedRetriever

__all__ = [
    "BM25Retriever",
    "CrossEncoderReranker",
    "DenseRetriever",
    "Embedder",
    "HybridRetriever",
    "RerankedRetriever",
    "Retriever",
    "build_retriever",
    "known_retrievers",
    "register_retriever",
    "rrf",
    "weighted_fusion",
]
