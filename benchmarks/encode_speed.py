"""Document encoding speed (docs/s) of all-MiniLM-L6-v2 at max_seq_length 256, per backend.

Encodes a fixed sample of SciFact abstracts (title + text) with the embedding cache off, after
a short warm-up, for the torch backend and, when ``optimum`` is installed, ONNX and OpenVINO.
The LAST line printed is a JSON object ``{backend: {"docs_per_s": ..., ...} | {"error": ...}}``.

    python benchmarks/encode_speed.py                       # 200 docs
    python benchmarks/encode_speed.py --docs 500 --batch-size 32
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from flywheel.data.beir import read_corpus
from flywheel.errors import FlywheelError
from flywheel.retrieval import Embedder

DEFAULT_DATASETS = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets"
BACKENDS = ["torch", "onnx", "openvino"]


def measure(backend: str, ids: list[str], texts: list[str], batch_size: int) -> dict:
    embedder = Embedder(
        backend=backend, batch_size=batch_size, max_seq_length=256, use_cache=False, device="cpu"
    )
    try:
        embedder.encode_documents(ids[:8], texts[:8])  # warm-up: load, first-call overheads
    except (FlywheelError, ImportError, OSError) as exc:
        return {"error": str(exc)}
    start = time.perf_counter()
    embedder.encode_documents(ids, texts)
    seconds = time.perf_counter() - start
    return {
        "docs_per_s": round(len(texts) / seconds, 2),
        "seconds": round(seconds, 2),
        "docs": len(texts),
        "truncation_rate": round(embedder.truncation_rate or 0.0, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--backends", nargs="+", default=BACKENDS, choices=BACKENDS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch

    corpus = read_corpus(args.datasets / "scifact" / "corpus.jsonl")
    ids = sorted(random.Random(args.seed).sample(sorted(corpus), args.docs))
    texts = [corpus[doc_id].text_for_encoding for doc_id in ids]
    results = {b: measure(b, ids, texts, args.batch_size) for b in args.backends}

    table = Table(
        title=f"Encoding {args.docs} SciFact docs, torch threads={torch.get_num_threads()}"
    )
    for column in ("backend", "docs/s", "seconds", "note"):
        table.add_column(column)
    for backend, result in results.items():
        table.add_row(
            backend,
            str(result.get("docs_per_s", "-")),
            str(result.get("seconds", "-")),
            escape(result.get("error", f"truncated {result.get('truncation_rate', 0):.0%}")),
        )
    Console(width=max(Console().width, 100)).print(table)
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main()
