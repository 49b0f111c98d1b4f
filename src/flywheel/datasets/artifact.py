"""A training set on disk: a directory with ``manifest.json``, one JSONL file per split and a card.

::

    my-triplets/
      manifest.json   # kind, columns, rows and content hash per split, config, versions, commit
      train.jsonl     # rows in sentence-transformers column order
      dev.jsonl
      card.json  card.md

Every file is written atomically; :func:`load_dataset` checks the manifest and each split's
hash, so a hand-edited or half-copied dataset fails loudly instead of training on garbage.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from flywheel._internal.hashing import file_hash
from flywheel._internal.io import write_json, write_jsonl, write_text
from flywheel._version import __version__
from flywheel.datasets.cards import DatasetCard
from flywheel.errors import DataFormatError

FORMAT_VERSION = 1


class DatasetKind(StrEnum):
    TRIPLETS = "triplets"  # anchor, positive, negative | negative_1..n
    PAIRS = "pairs"  # anchor, positive
    GRADED = "graded"  # query, passage, score, grade, source


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).parent,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


@dataclass
class SavedDataset:
    """A loaded training set: rows per split, its manifest and its card."""

    path: Path
    kind: DatasetKind
    splits: dict[str, list[dict[str, Any]]]
    manifest: dict[str, Any]
    card: DatasetCard | None = None
    columns: list[str] = field(default_factory=list)

    def rows(self, split: str = "train") -> list[dict[str, Any]]:
        if split not in self.splits:
            raise DataFormatError(
                self.path, None, f"no split '{split}'", f"splits: {', '.join(self.splits)}"
            )
        return self.splits[split]


def save_dataset(
    rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Mapping[str, Any]]],
    directory: str | Path,
    *,
    kind: DatasetKind | str,
    card: DatasetCard | None = None,
    config: Mapping[str, Any] | None = None,
    inputs: Mapping[str, Any] | None = None,
    seed: int | None = None,
) -> Path:
    """Write rows (a list, saved as split ``train``, or ``{split: rows}``) with manifest and card.

    ``config`` records how the rows were made (mining settings, label policy); ``inputs`` the
    content hashes or names of what they were made from.
    """
    kind = DatasetKind(kind)
    root = Path(directory)
    splits = {"train": rows} if not isinstance(rows, Mapping) else dict(rows)
    columns: list[str] = []
    for split_rows in splits.values():
        for row in split_rows[:1]:
            columns = list(row)
    manifest: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "kind": str(kind),
        "columns": columns,
        "splits": {},
        "library": {"rag-flywheel": __version__},
        "git_commit": _git_commit(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": seed,
        "config": dict(config or {}),
        "inputs": dict(inputs or {}),
    }
    for split, split_rows in splits.items():
        path = root / f"{split}.jsonl"
        count = write_jsonl(path, split_rows)
        manifest["splits"][split] = {"file": path.name, "rows": count, "hash": file_hash(path)}
    if card is not None:
        card.rows = {split: info["rows"] for split, info in manifest["splits"].items()}
        card.kind = str(kind)
        write_json(root / "card.json", card.to_dict())
        write_text(root / "card.md", card.to_markdown())
    write_json(root / "manifest.json", manifest)  # last: a manifest means the rest is complete
    return root


def load_dataset(directory: str | Path, *, verify: bool = True) -> SavedDataset:
    """Read a directory written by :func:`save_dataset`, checking its manifest and hashes."""
    root = Path(directory)
    manifest_path = root / "manifest.json"
    if not manifest_path.exists():
        raise DataFormatError(
            manifest_path, None, "no manifest", "build the dataset with 'flywheel dataset build'"
        )
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest.get("format_version") != FORMAT_VERSION:
        raise DataFormatError(
            manifest_path,
            None,
            f"format_version {manifest.get('format_version')} is not {FORMAT_VERSION}",
            "rebuild the dataset with this version of rag-flywheel",
            "format_version",
        )
    splits: dict[str, list[dict[str, Any]]] = {}
    for split, info in manifest["splits"].items():
        path = root / info["file"]
        if not path.exists():
            raise DataFormatError(
                path, None, "missing split file", "rebuild or re-copy the dataset"
            )
        if verify and file_hash(path) != info["hash"]:
            raise DataFormatError(
                path,
                None,
                "content hash differs from manifest.json",
                "the file was edited or truncated; rebuild the dataset",
                "hash",
            )
        with path.open(encoding="utf-8") as handle:
            splits[split] = [json.loads(line) for line in handle if line.strip()]
    card = None
    if (root / "card.json").exists():
        card = DatasetCard.from_dict(json.loads((root / "card.json").read_text(encoding="utf-8")))
    return SavedDataset(
        path=root,
        kind=DatasetKind(manifest["kind"]),
        splits=splits,
        manifest=manifest,
        card=card,
        columns=list(manifest.get("columns", [])),
    )
