"""Memory of dense retrieval over a large matrix: the process must hold one copy of it, not two.

    .venv/bin/python benchmarks/dense_memory.py            # 1,000,000 x 384 float32 (1.5 GB)
    .venv/bin/python benchmarks/dense_memory.py --docs 200000

Builds the matrix, hands it to ``DenseRetriever`` (exact inner product) and searches 100 queries.
Peak resident memory above the baseline taken before the matrix exists is reported in units of
the matrix's size: about 1.0 means no copy was made. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
from rich.console import Console
from rich.table import Table

from flywheel.data.types import Document
from flywheel.retrieval.dense import DenseRetriever
from flywheel.testing import FakeEmbedder


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()

    corpus = {str(i): Document(str(i), "") for i in range(args.docs)}
    embedder = FakeEmbedder(args.dim)
    queries = {f"q{i}": f"query {i}" for i in range(args.queries)}
    embedder.encode_queries(["warm up"])  # load the fake model before the baseline
    baseline = peak_mb()
    rng = np.random.default_rng(0)
    matrix = np.empty((args.docs, args.dim), dtype=np.float32)
    for start in range(0, args.docs, 65_536):  # in blocks: no full-size temporaries here either
        block = rng.standard_normal((min(65_536, args.docs - start), args.dim), dtype=np.float32)
        matrix[start : start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    matrix_mb = matrix.nbytes / 2**20
    start = time.perf_counter()
    retriever = DenseRetriever(corpus, embedder, doc_embeddings=matrix)
    run = retriever.search(queries, k=100)
    seconds = time.perf_counter() - start
    extra = (peak_mb() - baseline) / matrix_mb
    shared = np.shares_memory(retriever.doc_embeddings, matrix)

    table = Table(title=f"dense retrieval, {args.docs:,} x {args.dim} float32")
    for col in (
        "matrix MB",
        "peak above baseline (x matrix)",
        "index shares caller's array",
        "search s",
        "results/query",
    ):
        table.add_column(col)
    table.add_row(
        f"{matrix_mb:.0f}",
        f"{extra:.2f}",
        str(shared),
        f"{seconds:.1f}",
        str(len(next(iter(run.values())))),
    )
    Console().print(table)
    key = f"random-{args.docs}x{args.dim}/dense-flat"
    print(
        json.dumps(
            {
                f"{key}/matrix_mb": round(matrix_mb, 1),
                f"{key}/peak_above_baseline_x_matrix": round(extra, 3),
                f"{key}/shares_caller_array": bool(shared),
                f"{key}/search_seconds_{args.queries}_queries": round(seconds, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
