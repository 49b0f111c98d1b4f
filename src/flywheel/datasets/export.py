"""Export a saved training set to the format another trainer reads.

========================  =====================================================================
format                    files and columns
========================  =====================================================================
``st``                    ``<split>.parquet``; sentence-transformers columns: triplets
                          ``anchor, positive, negative[_1..n]``, pairs ``anchor, positive``,
                          graded ``query, passage, score`` (load with
                          ``datasets.load_dataset("parquet", data_files=...)``)
``flagembedding``         ``<split>.jsonl``, one line per query: ``query, pos: [..], neg: [..]``
                          (FlagEmbedding's fine-tuning format)
``cohere``                ``<split>.jsonl``, one line per query: ``query, relevant_passages:
                          [..], hard_negatives: [..]`` (Cohere rerank fine-tuning)
``jsonl``                 ``<split>.jsonl``, the rows as saved (all columns)
========================  =====================================================================

For graded rows, grouped formats count ``grade >= positive_grade`` (default 3) as relevant and
``grade <= negative_grade`` (default 1) as negative; grades in between are left out. Each export
folder gets ``export.json`` (format, source manifest) and the card as ``README.md``.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from flywheel._internal.io import atomic_open, write_json, write_jsonl
from flywheel.datasets.artifact import DatasetKind, SavedDataset, load_dataset
from flywheel.errors import UnknownComponentError

logger = logging.getLogger(__name__)


class ExportFormat(StrEnum):
    ST = "st"
    FLAGEMBEDDING = "flagembedding"
    COHERE = "cohere"
    JSONL = "jsonl"


@dataclass(frozen=True)
class GroupedQuery:
    query: str
    positives: list[str]
    negatives: list[str]


def trainer_columns(kind: DatasetKind | str, columns: Sequence[str]) -> list[str]:
    """The columns a sentence-transformers trainer should see, in order."""
    if DatasetKind(kind) == DatasetKind.GRADED:
        return ["query", "passage", "score"]
    return [c for c in columns if c == "anchor" or c == "positive" or c.startswith("negative")]


def to_hf_dataset(rows: Sequence[dict[str, Any]], kind: DatasetKind | str) -> Any:
    """A ``datasets.Dataset`` with exactly the trainer's columns, ready for
    ``SentenceTransformerTrainer`` (triplets, pairs) or ``CrossEncoderTrainer`` (graded)."""
    from datasets import Dataset

    columns = trainer_columns(kind, list(rows[0]) if rows else [])
    return Dataset.from_dict({c: [row[c] for row in rows] for c in columns})


def group_by_query(
    rows: Sequence[dict[str, Any]],
    kind: DatasetKind,
    *,
    positive_grade: int = 3,
    negative_grade: int = 1,
) -> list[GroupedQuery]:
    """Merge rows of one query into (positives, negatives); a negative that is also a positive
    of the same query is dropped."""
    groups: dict[str, tuple[dict[str, None], dict[str, None]]] = {}
    for row in rows:
        if kind == DatasetKind.GRADED:
            query = row["query"]
            pos, neg = groups.setdefault(query, ({}, {}))
            if row["grade"] >= positive_grade:
                pos[row["passage"]] = None
            elif row["grade"] <= negative_grade:
                neg[row["passage"]] = None
            continue
        pos, neg = groups.setdefault(row["anchor"], ({}, {}))
        pos[row["positive"]] = None
        for column, value in row.items():
            if column.startswith("negative"):
                neg[value] = None
    return [
        GroupedQuery(query, list(pos), [n for n in neg if n not in pos])
        for query, (pos, neg) in groups.items()
    ]


def _export_st(dataset: SavedDataset, split: str, out: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = dataset.splits[split]
    columns = trainer_columns(dataset.kind, dataset.columns)
    table = pa.table({c: [row[c] for row in rows] for c in columns})
    path = out / f"{split}.parquet"
    with atomic_open(path, "wb") as handle:
        pq.write_table(table, handle)
    return path


def _export_flag(dataset: SavedDataset, split: str, out: Path) -> Path:
    groups = group_by_query(dataset.splits[split], dataset.kind)
    path = out / f"{split}.jsonl"
    write_jsonl(
        path,
        ({"query": g.query, "pos": g.positives, "neg": g.negatives} for g in groups if g.positives),
    )
    return path


def _export_cohere(dataset: SavedDataset, split: str, out: Path) -> Path:
    groups = [g for g in group_by_query(dataset.splits[split], dataset.kind) if g.positives]
    path = out / f"{split}.jsonl"
    rows = []
    for g in groups:
        row: dict[str, Any] = {"query": g.query, "relevant_passages": g.positives}
        if g.negatives:
            row["hard_negatives"] = g.negatives
        rows.append(row)
    write_jsonl(path, rows)
    return path


def _export_jsonl(dataset: SavedDataset, split: str, out: Path) -> Path:
    path = out / f"{split}.jsonl"
    write_jsonl(path, dataset.splits[split])
    return path


EXPORTERS: dict[ExportFormat, Callable[[SavedDataset, str, Path], Path]] = {
    ExportFormat.ST: _export_st,
    ExportFormat.FLAGEMBEDDING: _export_flag,
    ExportFormat.COHERE: _export_cohere,
    ExportFormat.JSONL: _export_jsonl,
}


def export_dataset(
    source: str | Path | SavedDataset, out_dir: str | Path, *, format: ExportFormat | str
) -> list[Path]:
    """Write every split of a saved dataset to ``out_dir`` in ``format``; returns the files."""
    try:
        fmt = ExportFormat(format)
    except ValueError:
        raise UnknownComponentError(
            "export format", str(format), [str(f) for f in ExportFormat]
        ) from None
    dataset = source if isinstance(source, SavedDataset) else load_dataset(source)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = [EXPORTERS[fmt](dataset, split, out) for split in dataset.splits]
    write_json(
        out / "export.json",
        {
            "format": str(fmt),
            "kind": str(dataset.kind),
            "source": str(dataset.path),
            "source_manifest": dataset.manifest,
            "files": [f.name for f in files],
        },
    )
    card_md = dataset.path / "card.md"
    if card_md.exists() and card_md.resolve() != (out / "README.md").resolve():
        shutil.copyfile(card_md, out / "README.md")
    logger.info("exported %s as %s to %s", dataset.path, fmt, out)
    return files
