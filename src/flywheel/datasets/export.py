"""Export a saved training set to the format another trainer reads.

========================  =====================================================================
format                    files and columns
========================  =====================================================================
``st``                    ``<split>.parquet``; sentence-transformers columns: triplets
                          ``anchor, positive, negative[_1..n]``, pairs ``anchor, positive``,
                          graded ``query, passage, score`` (load with
                          ``datasets.load_dataset("parquet", data_files=...)``)
``flagembedding``         ``train.jsonl``, one line per query: ``query, pos: [..], neg: [..]``
                          (FlagEmbedding's fine-tuning format); other splits in ``<split>/`` and
                          the manifest in ``meta/``, since FlagEmbedding's loader reads every
                          ``.json``/``.jsonl`` of the folder it is given as training rows
``cohere``                ``<split>.jsonl``, one line per query: ``query, relevant_passages:
                          [..], hard_negatives: [..]`` (Cohere rerank fine-tuning; deprecated
                          by Cohere on 2025-09-15, and it needs >= 256 examples)
``jsonl``                 ``<split>.jsonl``, the rows as saved (all columns)
========================  =====================================================================

For graded rows, grouped formats count ``grade >= positive_grade`` (default 3) as relevant and
``grade <= negative_grade`` (default 1) as negative; grades in between are left out. Each export
folder gets ``export.json`` (format, source manifest) and the card as ``README.md``.

FlagEmbedding's dataset divides by the number of negatives, so a query with positives but no
negative is dropped (and counted in :attr:`ExportResult.warnings`); mine negatives first
(``flywheel dataset build --kind triplets``) to keep it. An ``out`` ending in ``.jsonl`` or
``.parquet`` is a file: the training split goes there, other splits beside it as
``<stem>-<split><suffix>``, the manifest as ``<stem>.export.json``.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from flywheel._internal.io import atomic_open, write_json, write_jsonl
from flywheel.datasets.artifact import DatasetKind, SavedDataset, load_dataset
from flywheel.errors import ConfigError, UnknownComponentError

logger = logging.getLogger(__name__)


class ExportFormat(StrEnum):
    ST = "st"
    FLAGEMBEDDING = "flagembedding"
    COHERE = "cohere"
    JSONL = "jsonl"


COHERE_DEPRECATED = "2025-09-15"
COHERE_MIN_EXAMPLES = 256
TRAIN_SPLIT = "train"
FILE_SUFFIXES = {".jsonl": "jsonl", ".parquet": "parquet"}


@dataclass
class ExportResult:
    """The files written (training split first), and what the consumer should be told."""

    files: list[Path]
    manifest: Path
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Layout:
    """Where each file of an export goes: a folder (the default) or a single training file."""

    out: Path
    fmt: ExportFormat

    @property
    def single_file(self) -> bool:
        return self.out.suffix in FILE_SUFFIXES

    def split_path(self, split: str) -> Path:
        suffix = ".parquet" if self.fmt == ExportFormat.ST else ".jsonl"
        if self.single_file:
            if self.out.suffix != suffix:
                raise ConfigError(
                    f"--out {self.out}: a {self.fmt} export is written as {suffix}; "
                    f"name the file {self.out.stem}{suffix} or give a folder"
                )
            if split == TRAIN_SPLIT:
                return self.out
            return self.out.with_name(f"{self.out.stem}-{split}{suffix}")
        if self.fmt == ExportFormat.FLAGEMBEDDING and split != TRAIN_SPLIT:
            return self.out / split / f"{split}{suffix}"  # not read by the loader given `out`
        return self.out / f"{split}{suffix}"

    @property
    def manifest(self) -> Path:
        if self.single_file:
            return self.out.with_name(f"{self.out.stem}.export.json")
        if self.fmt == ExportFormat.FLAGEMBEDDING:
            return self.out / "meta" / "export.json"
        return self.out / "export.json"

    @property
    def card(self) -> Path:
        if self.single_file:
            return self.out.with_name(f"{self.out.stem}.README.md")
        return self.out / "README.md"


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


def _export_st(dataset: SavedDataset, split: str, path: Path) -> list[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = dataset.splits[split]
    columns = trainer_columns(dataset.kind, dataset.columns)
    table = pa.table({c: [row[c] for row in rows] for c in columns})
    with atomic_open(path, "wb") as handle:
        pq.write_table(table, handle)
    return []


def _export_flag(dataset: SavedDataset, split: str, path: Path) -> list[str]:
    groups = [g for g in group_by_query(dataset.splits[split], dataset.kind) if g.positives]
    kept = [g for g in groups if g.negatives]
    write_jsonl(path, ({"query": g.query, "pos": g.positives, "neg": g.negatives} for g in kept))
    if len(kept) == len(groups):
        return []
    return [
        f"{split}: dropped {len(groups) - len(kept)} of {len(groups)} queries with no negative "
        "(FlagEmbedding divides by the number of negatives); build with mined negatives "
        "(flywheel dataset build --kind triplets) to keep them"
    ]


def _export_cohere(dataset: SavedDataset, split: str, path: Path) -> list[str]:
    groups = [g for g in group_by_query(dataset.splits[split], dataset.kind) if g.positives]
    rows = []
    for g in groups:
        row: dict[str, Any] = {"query": g.query, "relevant_passages": g.positives}
        if g.negatives:
            row["hard_negatives"] = g.negatives
        rows.append(row)
    write_jsonl(path, rows)
    warnings = []
    if split == TRAIN_SPLIT:
        warnings.append(
            f"Cohere deprecated rerank fine-tuning on {COHERE_DEPRECATED}: check that your "
            "account can still train before relying on this export"
        )
        if len(rows) < COHERE_MIN_EXAMPLES:
            warnings.append(
                f"{split}: {len(rows)} examples; Cohere rerank fine-tuning needs at least "
                f"{COHERE_MIN_EXAMPLES}"
            )
    return warnings


def _export_jsonl(dataset: SavedDataset, split: str, path: Path) -> list[str]:
    write_jsonl(path, dataset.splits[split])
    return []


#: Each exporter writes one split to the path it is given and returns warnings for the user.
EXPORTERS: dict[ExportFormat, Callable[[SavedDataset, str, Path], list[str]]] = {
    ExportFormat.ST: _export_st,
    ExportFormat.FLAGEMBEDDING: _export_flag,
    ExportFormat.COHERE: _export_cohere,
    ExportFormat.JSONL: _export_jsonl,
}


def export_dataset(
    source: str | Path | SavedDataset, out: str | Path, *, format: ExportFormat | str
) -> ExportResult:
    """Write every split of a saved dataset to ``out`` (a folder, or a ``.jsonl``/``.parquet``
    file for the training split) in ``format``; returns the files and warnings."""
    try:
        fmt = ExportFormat(format)
    except ValueError:
        raise UnknownComponentError(
            "export format", str(format), [str(f) for f in ExportFormat]
        ) from None
    dataset = source if isinstance(source, SavedDataset) else load_dataset(source)
    layout = _Layout(Path(out), fmt)
    splits = sorted(dataset.splits, key=lambda s: (s != TRAIN_SPLIT, s))  # training rows first
    files, warnings = [], []
    for split in splits:
        path = layout.split_path(split)
        path.parent.mkdir(parents=True, exist_ok=True)
        warnings += EXPORTERS[fmt](dataset, split, path)
        files.append(path)
    layout.manifest.parent.mkdir(parents=True, exist_ok=True)
    write_json(
        layout.manifest,
        {
            "format": str(fmt),
            "kind": str(dataset.kind),
            "source": str(dataset.path),
            "source_manifest": dataset.manifest,
            "files": [os.path.relpath(f, layout.manifest.parent) for f in files],
            "warnings": warnings,
        },
    )
    card_md = dataset.path / "card.md"
    if card_md.exists() and card_md.resolve() != layout.card.resolve():
        shutil.copyfile(card_md, layout.card)
    for warning in warnings:
        logger.warning("export %s: %s", fmt, warning)
    logger.info("exported %s as %s to %s", dataset.path, fmt, layout.out)
    return ExportResult(files, layout.manifest, warnings)
