"""rag-flywheel: turn evaluation data and logged interactions into better retrieval.

``import flywheel`` stays light: torch, transformers and FAISS load only when a model is used.
"""

from flywheel._version import __version__
from flywheel.data import Corpus, Document, Qrels, Queries, RetrievalDataset, Run, load_beir
from flywheel.errors import (
    ConfigError,
    DataFormatError,
    FlywheelError,
    LeakageError,
    MissingDependencyError,
    UnknownComponentError,
)
from flywheel.sdk import Logger

__all__ = [
    "ConfigError",
    "Corpus",
    "DataFormatError",
    "Document",
    "FlywheelError",
    "LeakageError",
    "Logger",
    "MissingDependencyError",
    "Qrels",
    "Queries",
    "RetrievalDataset",
    "Run",
    "UnknownComponentError",
    "__version__",
    "load_beir",
]
