"""The store: one database (SQLite by default) of documents, chunks, queries, judgments,
events and experiment runs, with a Python API that mirrors the ``flywheel`` commands."""

from flywheel.store.chunks import ChunkReport
from flywheel.store.importers import IngestReport
from flywheel.store.ingest import RecordKind
from flywheel.store.qrels import UNSPLIT, QrelsLevel, ResolvedGrade
from flywheel.store.records import ExperimentRunRecord, JudgmentRecord, QueryRecord
from flywheel.store.schema import SOURCE_PRECEDENCE, JudgmentSource, QuerySource
from flywheel.store.status import STAGES, StoreStatus
from flywheel.store.store import Store

__all__ = [
    "SOURCE_PRECEDENCE",
    "STAGES",
    "UNSPLIT",
    "ChunkReport",
    "ExperimentRunRecord",
    "IngestReport",
    "JudgmentRecord",
    "JudgmentSource",
    "QrelsLevel",
    "QueryRecord",
    "QuerySource",
    "RecordKind",
    "ResolvedGrade",
    "Store",
    "StoreStatus",
]
