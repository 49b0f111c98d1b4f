"""Read a training-set directory for the trainers.

The normal input is what ``flywheel dataset build`` writes (``manifest.json`` + one JSONL per
split + ``card.json``), read through :func:`flywheel.datasets.artifact.load_dataset` so hashes are
checked. A folder of ``*.parquet`` / ``*.jsonl`` files in sentence-transformers column order
(e.g. a ``flywheel dataset export --format st`` folder, or one made by hand) also works: the file
named ``train.*`` (else every file) is the train split, ``dev.*`` the dev split.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flywheel.errors import DataFormatError

logger = logging.getLogger(__name__)

_SUFFIXES = (".parquet", ".jsonl")


@dataclass
class TrainingData:
    """Rows of a training-set directory: the train split, the dev split if any, and its card."""

    path: Path
    train: list[dict[str, Any]]
    dev: list[dict[str, Any]] | None = None
    kind: str | None = None
    card: dict[str, Any] | None = None
    manifest: dict[str, Any] = field(default_factory=dict)


def _read_file(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataFormatError(
                    path, number, f"not JSON ({exc.msg})", "fix or drop the line"
                ) from None
    return rows


def _read_loose(root: Path) -> TrainingData:
    files = sorted(p for p in root.iterdir() if p.suffix in _SUFFIXES and p.is_file())
    if not files:
        raise DataFormatError(
            root,
            None,
            "no manifest.json and no .parquet/.jsonl files",
            "point --data at a folder written by 'flywheel dataset build'",
        )
    train_files = [p for p in files if p.stem == "train"] or [p for p in files if p.stem != "dev"]
    dev_files = [p for p in files if p.stem == "dev"]
    train = [row for path in train_files for row in _read_file(path)]
    dev = [row for path in dev_files for row in _read_file(path)] or None
    card_path = root / "card.json"
    card = json.loads(card_path.read_text(encoding="utf-8")) if card_path.exists() else None
    return TrainingData(path=root, train=train, dev=dev, card=card)


def load_training_data(directory: str | Path) -> TrainingData:
    """Rows of a training-set directory (see the module docstring for the layouts read)."""
    root = Path(directory)
    if not root.is_dir():
        raise DataFormatError(root, None, "not a directory", "pass the folder of a built dataset")
    manifest_path = root / "manifest.json"
    if manifest_path.exists() and "format_version" in json.loads(manifest_path.read_text("utf-8")):
        from flywheel.datasets.artifact import load_dataset

        saved = load_dataset(root)
        train = saved.rows("train")
        dev = saved.splits.get("dev") or None
        card = saved.card.to_dict() if saved.card is not None else None
        return TrainingData(
            path=root,
            train=train,
            dev=dev,
            kind=str(saved.kind),
            card=card,
            manifest=saved.manifest,
        )
    data = _read_loose(root)
    if manifest_path.exists():
        data.manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        data.kind = data.manifest.get("kind")
    logger.info("read %d train rows from %s", len(data.train), root)
    return data
