"""On-disk cache of document embeddings: a text is never encoded twice by the same model.

Layout, one folder per model identity (name + weights hash + max_seq_length + backend)::

    <cache_dir>/embeddings/<model-slug>-<key>/
        meta.json                      # what the key stands for, for people reading the folder
        shard-<time>-<rand>.npy        # float32 matrix, one row per text
        shard-<time>-<rand>.keys.json  # {"keys": [content hash...], "tokens": [token count...]}

Each encode appends a new shard; the ``.npy`` is written first and the ``keys.json`` last, both
through :func:`flywheel._internal.io.atomic_open`, so a shard exists only once it is whole and a
crash mid-encode keeps every shard written before it. Shards are memory-mapped on load, so the
cache adds no second in-memory copy of a large corpus; a lookup is a dict access.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flywheel._internal.io import atomic_open, write_json

logger = logging.getLogger(__name__)

KEYS_SUFFIX = ".keys.json"
COMPACT_AFTER_SHARDS = 64


@dataclass(frozen=True, slots=True)
class _Entry:
    shard: int
    row: int
    tokens: int


class EmbeddingCache:
    """Append-only store of ``content hash -> embedding row`` for one model identity."""

    def __init__(self, folder: str | Path, *, meta: dict | None = None) -> None:
        self.folder = Path(folder)
        self.meta = meta or {}
        self._shards: list[np.ndarray] = []
        self._shard_names: list[str] = []
        self._index: dict[str, _Entry] = {}
        self._dim: int | None = None

    # -- reading -------------------------------------------------------------------------
    def refresh(self) -> None:
        """Pick up shards written since the last look (by this or another process)."""
        if not self.folder.is_dir():
            return
        known = set(self._shard_names)
        for keys_path in sorted(self.folder.glob(f"shard-*{KEYS_SUFFIX}")):
            name = keys_path.name[: -len(KEYS_SUFFIX)]
            if name not in known:
                self._load_shard(name)

    def _load_shard(self, name: str) -> None:
        keys_path = self.folder / f"{name}{KEYS_SUFFIX}"
        try:
            with keys_path.open(encoding="utf-8") as handle:
                payload = json.load(handle)
            matrix = np.load(self.folder / f"{name}.npy", mmap_mode="r")
        except (OSError, ValueError) as exc:  # removed by a concurrent compaction, or unreadable
            logger.warning("skipping embedding cache shard %s: %s", keys_path, exc)
            return
        keys, tokens = payload["keys"], payload["tokens"]
        if matrix.ndim != 2 or matrix.shape[0] != len(keys) or len(tokens) != len(keys):
            logger.warning("skipping inconsistent embedding cache shard %s", keys_path)
            return
        if self._dim is not None and matrix.shape[1] != self._dim:
            logger.warning(
                "skipping shard %s: dimension %d != %d", name, matrix.shape[1], self._dim
            )
            return
        self._dim = matrix.shape[1]
        shard_no = len(self._shards)
        self._shards.append(matrix)
        self._shard_names.append(name)
        for row, (key, count) in enumerate(zip(keys, tokens, strict=True)):
            self._index[key] = _Entry(shard_no, row, int(count))

    def __contains__(self, key: str) -> bool:
        return key in self._index

    def __len__(self) -> int:
        return len(self._index)

    @property
    def dim(self) -> int | None:
        """Vector width of the stored shards (None while the cache is empty)."""
        return self._dim

    @property
    def shard_count(self) -> int:
        return len(self._shards)

    def token_count(self, key: str) -> int:
        return self._index[key].tokens

    def fill(self, keys: Sequence[str], out: np.ndarray, rows: Sequence[int]) -> None:
        """Copy the cached vectors of ``keys`` into ``out[rows]`` (all keys must be present).

        Gathers shard by shard with fancy indexing: a million rows take a fraction of a second.
        """
        entries = [self._index[key] for key in keys]
        shards = np.fromiter((e.shard for e in entries), dtype=np.int64, count=len(entries))
        source = np.fromiter((e.row for e in entries), dtype=np.int64, count=len(entries))
        target = np.asarray(rows, dtype=np.int64)
        for shard in np.unique(shards):
            mask = shards == shard
            out[target[mask]] = self._shards[shard][source[mask]]

    # -- writing -------------------------------------------------------------------------
    def add(self, keys: Sequence[str], vectors: np.ndarray, tokens: Sequence[int]) -> None:
        """Append one shard atomically; keys already present are skipped."""
        fresh = [i for i, key in enumerate(keys) if key not in self._index]
        if not fresh:
            return
        keys = [keys[i] for i in fresh]
        matrix = np.ascontiguousarray(vectors[fresh], dtype=np.float32)
        tokens = [int(tokens[i]) for i in fresh]
        if not (self.folder / "meta.json").exists():
            write_json(self.folder / "meta.json", self.meta)
        name = f"shard-{time.time_ns():020d}-{os.urandom(4).hex()}"
        with atomic_open(self.folder / f"{name}.npy", "wb", encoding=None) as handle:
            np.save(handle, matrix)
        with atomic_open(self.folder / f"{name}{KEYS_SUFFIX}") as handle:
            json.dump({"keys": keys, "tokens": tokens}, handle)
        self._load_shard(name)
        if len(self._shards) > COMPACT_AFTER_SHARDS:
            self.compact()

    def compact(self) -> None:
        """Merge all shards into one, so loading stays one file read after many small appends."""
        if len(self._shards) <= 1:
            return
        keys = list(self._index)
        matrix = np.empty((len(keys), self._dim or 0), dtype=np.float32)
        self.fill(keys, matrix, range(len(keys)))
        tokens = [self._index[key].tokens for key in keys]
        old = list(self._shard_names)
        self._shards, self._shard_names, self._index = [], [], {}
        name = f"shard-{time.time_ns():020d}-{os.urandom(4).hex()}"
        with atomic_open(self.folder / f"{name}.npy", "wb", encoding=None) as handle:
            np.save(handle, matrix)
        with atomic_open(self.folder / f"{name}{KEYS_SUFFIX}") as handle:
            json.dump({"keys": keys, "tokens": tokens}, handle)
        for shard in old:  # keys first: a shard without keys is invisible to readers
            (self.folder / f"{shard}{KEYS_SUFFIX}").unlink(missing_ok=True)
            (self.folder / f"{shard}.npy").unlink(missing_ok=True)
        del matrix
        self._load_shard(name)
        logger.info("compacted %d embedding cache shards in %s", len(old), self.folder)
