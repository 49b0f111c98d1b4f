"""Parquet shards: what a batch job writes, whichever engine ran it, and how the rest reads it.

A job's output is a folder::

    OUT/
        manifest.json         # kind, model, counts, engine, workers, seconds, versions
        *.parquet             # rows, written by the workers (Ray) or by this process (local)

Every row carries ``row``, its position in the job's input, so readers restore the input order
whatever order the workers finished in. Embeddings are ``fixed_size_list<float32>[dim]``, a
plain Arrow type any Parquet reader understands (no Ray extension type). The folder appears
whole or not at all: workers write into ``OUT.tmp-*`` and the folder is renamed into place
after the manifest.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from flywheel._internal.io import write_json
from flywheel._version import __version__
from flywheel.errors import ConfigError, NotFoundError

MANIFEST = "manifest.json"
ROW = "row"


class ShardKind:
    """The kinds of job output (the ``kind`` field of the manifest)."""

    EMBEDDINGS = "embeddings"
    NEGATIVES = "negatives"
    SCORES = "scores"


@contextmanager
def staged_output(out: str | Path, *, overwrite: bool) -> Iterator[Path]:
    """A temporary folder beside ``out`` that becomes ``out`` when the block succeeds."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise ConfigError(f"{out} exists; pass overwrite=True (--overwrite) or another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}-{time.time_ns()}")
    try:
        yield tmp
        if out.exists():
            old = out.with_name(f"{out.name}.old-{time.time_ns()}")
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_manifest(folder: Path, kind: str, **fields: Any) -> None:
    write_json(
        folder / MANIFEST,
        {"kind": kind, "flywheel_version": __version__, **fields},
    )


def read_manifest(folder: str | Path, kind: str) -> dict[str, Any]:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise NotFoundError(f"{path} not found; write the folder with a flywheel batch job first")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("kind") != kind:
        raise ConfigError(
            f"{folder} holds '{manifest.get('kind')}' shards, not '{kind}'; "
            f"pass the output of the matching job"
        )
    return manifest


def write_local_shards(folder: Path, table: Any, *, rows_per_shard: int = 100_000) -> int:
    """Write an Arrow table as ``part-*.parquet`` files of at most ``rows_per_shard`` rows."""
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    for number, start in enumerate(range(0, max(table.num_rows, 1), rows_per_shard)):
        pq.write_table(table.slice(start, rows_per_shard), folder / f"part-{number:05d}.parquet")
        count += 1
    return count


def split_blocks(table: Any, rows: int) -> list[Any]:
    """Slices of ``rows`` rows (zero-copy): the input blocks of a Ray Dataset, one per batch."""
    return [table.slice(start, rows) for start in range(0, table.num_rows, rows)] or [table]


def read_table(folder: str | Path, columns: list[str] | None = None, *, ordered: bool = True):
    """Every shard of ``folder`` as one Arrow table, in input order (by ``row``) unless
    ``ordered=False`` (then the caller orders it, e.g. a large matrix with one copy)."""
    import pyarrow.dataset as ds

    folder = Path(folder)
    files = sorted(str(p) for p in folder.glob("*.parquet"))
    if not files:
        raise NotFoundError(f"{folder} holds no .parquet shards; the job wrote nothing there")
    wanted = None if columns is None else [ROW, *(c for c in columns if c != ROW)]
    table = ds.dataset(files, format="parquet").to_table(columns=wanted)
    return table.take(input_order(table)) if ordered else table


def input_order(table: Any) -> np.ndarray:
    """Positions that put ``table``'s rows back in input order."""
    return np.argsort(table.column(ROW).to_numpy(), kind="stable")


def vectors_column(vectors: np.ndarray) -> Any:
    """A float32 matrix as an Arrow ``fixed_size_list<float32>[dim]`` array, without copying."""
    import pyarrow as pa

    matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    flat = pa.array(matrix.reshape(-1), type=pa.float32())
    return pa.FixedSizeListArray.from_arrays(flat, matrix.shape[1])


def column_matrix(column: Any) -> np.ndarray:
    """Back from a ``fixed_size_list<float32>`` column to a float32 ``(rows, dim)`` matrix."""
    chunks = column.chunks if hasattr(column, "chunks") else [column]
    dim = column.type.list_size
    parts = [chunk.flatten().to_numpy(zero_copy_only=False) for chunk in chunks]
    flat = parts[0] if len(parts) == 1 else np.concatenate(parts)
    return np.asarray(flat, dtype=np.float32).reshape(-1, dim)


@dataclass
class EmbeddingShards:
    """The output of an encoding job: ids, vectors (input order) and token counts."""

    doc_ids: list[str]
    embeddings: np.ndarray
    tokens: list[int]
    content_hashes: list[str]
    manifest: dict[str, Any]


def read_embeddings(folder: str | Path) -> EmbeddingShards:
    """Load what :func:`flywheel.scale.encode_corpus` wrote (either engine)."""
    manifest = read_manifest(folder, ShardKind.EMBEDDINGS)
    table = read_table(folder, ["doc_id", "content_hash", "tokens", "embedding"], ordered=False)
    order = input_order(table)
    matrix = (
        column_matrix(table.column("embedding"))[order]  # the one full copy of the vectors
        if table.num_rows
        else np.empty((0, int(manifest.get("dim") or 0)), dtype=np.float32)
    )
    rest = table.drop_columns(["embedding"]).take(order)
    return EmbeddingShards(
        doc_ids=rest.column("doc_id").to_pylist(),
        embeddings=matrix,
        tokens=rest.column("tokens").to_pylist(),
        content_hashes=rest.column("content_hash").to_pylist(),
        manifest=manifest,
    )


def read_scores(folder: str | Path) -> list[tuple[str, str, float]]:
    """``(qid, doc_id, score)`` in input order, from :func:`flywheel.scale.score_pairs`."""
    read_manifest(folder, ShardKind.SCORES)
    table = read_table(folder, ["qid", "doc_id", "score"])
    return list(
        zip(
            table.column("qid").to_pylist(),
            table.column("doc_id").to_pylist(),
            table.column("score").to_pylist(),
            strict=True,
        )
    )
