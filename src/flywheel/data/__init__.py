"""The pure data model: documents, queries, judgments and runs. No heavy dependencies."""

from flywheel.data.beir import load_beir
from flywheel.data.types import Corpus, Document, Qrels, Queries, RetrievalDataset, Run

__all__ = ["Corpus", "Document", "Qrels", "Queries", "RetrievalDataset", "Run", "load_beir"]
