"""Corpus encoding throughput on Ray Data with 1 and 2 local workers, against one process.

    flock /tmp/flywheel-heavy.lock .venv/bin/python benchmarks/ray_encode.py
    .venv/bin/python benchmarks/ray_encode.py --docs 1000 --workers 1 2

Encodes a fixed sample of SciFact abstracts (title + text) with all-MiniLM-L6-v2 (max 256
tokens), embedding cache off, three ways: the single-process path (``engine="local"``, torch
using every core), and ``engine="ray"`` with a pool of 1 and of 2 actors (one CPU each, one
model each) on one local Ray started here. A Ray job's time includes starting its actors and
loading their models, so each Ray row also runs an 8-document job and reports the *marginal*
rate ``(docs - 8) / (t_docs - t_8)``: the per-chunk cost that scales to a large corpus. The
local row also reports CPU seconds per document (``getrusage``), a cost that does not depend
on what else the machine is running; the load average at the start and end is printed with the
figures, since wall-clock rates on a shared machine do. The LAST line is one JSON object with
every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from flywheel.data.beir import read_corpus
from flywheel.models import DEFAULT_BASE_MODEL
from flywheel.scale import RayOptions, encode_corpus
from flywheel.scale.engine import ray_session

DEFAULT_DATASETS = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets"
SMALL = 8


def timed_job(texts: dict[str, str], engine: str, options: RayOptions | None, batch: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        encode_corpus(texts, Path(tmp) / "out", model=DEFAULT_BASE_MODEL, engine=engine,
                      ray=options, batch_size=batch, max_seq_length=256)  # fmt: skip
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument("--docs", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=32, help="model batch")
    parser.add_argument("--ray-batch-size", type=int, default=64, help="rows per map_batches")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["FLYWHEEL_CACHE"] = tempfile.mkdtemp(prefix="ray-encode-cache-")  # cold cache
    import torch

    corpus = read_corpus(args.datasets / "scifact" / "corpus.jsonl")
    ids = sorted(random.Random(args.seed).sample(sorted(corpus), args.docs))
    texts = {doc_id: corpus[doc_id].text_for_encoding for doc_id in ids}
    small = dict(list(texts.items())[:SMALL])
    cores = os.cpu_count() or 1

    rows: list[dict] = []
    load_before = os.getloadavg()[0]
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    local_s = timed_job(texts, "local", None, args.batch_size)
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    local_cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (
        cpu_before.ru_utime + cpu_before.ru_stime
    )
    rows.append(
        {"system": "local", "workers": 1, "threads": torch.get_num_threads(),
         "seconds": local_s, "docs_per_s": args.docs / local_s, "marginal": None}
    )  # fmt: skip
    with ray_session(RayOptions(num_cpus=cores, object_store_mb=500)):
        for workers in args.workers:
            options = RayOptions(workers=workers, batch_size=args.ray_batch_size)
            short = timed_job(small, "ray", options, args.batch_size)
            full = timed_job(texts, "ray", options, args.batch_size)
            marginal = (args.docs - SMALL) / (full - short) if full > short else None
            rows.append({"system": "ray", "workers": workers, "threads": 1, "seconds": full,
                         "docs_per_s": args.docs / full, "marginal": marginal,
                         "startup_s": short})  # fmt: skip

    table = Table(title=f"Encoding {args.docs} SciFact docs with MiniLM-L6 (max 256 tokens), "
                  f"{cores} cores")  # fmt: skip
    for column in ["engine", "workers", "threads each", "job s", "docs/s (job)",
                   "docs/s (marginal)", "8-doc job s"]:  # fmt: skip
        table.add_column(column)
    figures: dict[str, float | int | str] = {
        "dataset": "scifact", "docs": args.docs, "model": "all-MiniLM-L6-v2", "cores": cores,
    }  # fmt: skip
    for row in rows:
        key = f"scifact/{row['system']}-{row['workers']}w"
        table.add_row(
            row["system"], str(row["workers"]), str(row["threads"]), f"{row['seconds']:.1f}",
            f"{row['docs_per_s']:.1f}",
            f"{row['marginal']:.1f}" if row["marginal"] else "-",
            f"{row['startup_s']:.1f}" if "startup_s" in row else "-",
        )  # fmt: skip
        figures[f"{key}/seconds"] = round(row["seconds"], 2)
        figures[f"{key}/docs_per_s"] = round(row["docs_per_s"], 2)
        if row["marginal"]:
            figures[f"{key}/marginal_docs_per_s"] = round(row["marginal"], 2)
            figures[f"{key}/startup_s"] = round(row["startup_s"], 2)
    figures["scifact/local-1w/cpu_s_per_doc"] = round(local_cpu / args.docs, 4)
    figures["load_average_1m"] = f"{load_before:.1f} -> {os.getloadavg()[0]:.1f}"
    console = Console()
    console.print(table)
    console.print(
        "marginal = (docs - 8) / (job s - 8-doc job s): throughput once actors are up, "
        "the rate that scales to a large corpus"
    )
    console.print(
        f"local path: {local_cpu / args.docs * 1000:.1f} CPU ms per document; "
        f"load average {figures['load_average_1m']}"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
