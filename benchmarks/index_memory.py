"""Bytes per vector, build time and search speed of the FAISS indexes a large corpus would use.

    flock /tmp/flywheel-heavy.lock .venv/bin/python benchmarks/index_memory.py
    .venv/bin/python benchmarks/index_memory.py --vectors 100000 --dim 384
    .venv/bin/python benchmarks/index_memory.py --beir ../shared/datasets/scifact

Builds each index over the same random unit vectors (dimension 384, MiniLM's): ``Flat`` (exact,
what ``DenseRetriever`` uses by default), ``HNSW32,Flat``, ``HNSW32,SQ8`` and ``IVF<n>,PQ<m>``
(m bytes per vector). Memory is the serialized index size divided by the vector count - what a
server holds in RAM per vector - so it extrapolates linearly to 10M or 100M vectors (IVF
centroids and PQ codebooks are a fixed cost, spread over the sample's vectors here). Training
(IVF k-means, PQ codebooks) and adding are timed apart: training runs on a sample at any scale,
adding is the per-vector cost. Recall@10 is measured against exact search on
these random vectors, the hardest case for ANN search and compression: real embeddings
cluster and compress better, so treat it as a floor. ``--beir DIR`` uses real vectors instead:
the corpus's all-MiniLM-L6-v2 embeddings (from the embedding cache; encoded first if missing)
searched by the test queries. The LAST line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table


def unit_vectors(count: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((count, dim), dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix


def real_vectors(folder: Path) -> tuple[np.ndarray, np.ndarray, str]:
    """The corpus's MiniLM document vectors (embedding cache) and its test queries' vectors."""
    from flywheel.data.beir import load_beir
    from flywheel.retrieval.embedders import Embedder

    dataset = load_beir(folder)
    embedder = Embedder(max_seq_length=256)
    texts = dataset.texts()
    docs = embedder.encode_documents(list(texts), list(texts.values()))
    split = "test" if "test" in dataset.qrels else sorted(dataset.qrels)[0]
    queries, _ = dataset.split(split)
    return docs, embedder.encode_queries(list(queries.values())), f"{dataset.name}-minilm"


def main() -> None:
    import faiss

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--pq-bytes", type=int, default=48, help="PQ code size (divides dim)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--beir", type=Path, help="real vectors: a BEIR folder's MiniLM embeddings")
    args = parser.parse_args()

    if args.beir is not None:
        base, queries, label = real_vectors(args.beir)
        args.vectors, args.dim, args.queries = base.shape[0], base.shape[1], queries.shape[0]
    else:
        base = unit_vectors(args.vectors, args.dim, args.seed)
        queries = unit_vectors(args.queries, args.dim, args.seed + 1)
        label = "random-unit"
    nlist = max(16, int(4 * math.sqrt(args.vectors)))
    specs = ["Flat", "HNSW32,Flat", "HNSW32,SQ8", f"IVF{nlist},PQ{args.pq_bytes}"]
    exact = faiss.IndexFlatIP(args.dim)
    exact.add(base)
    _, truth = exact.search(queries, 10)

    rows = []
    for spec in specs:
        index = faiss.index_factory(args.dim, spec, faiss.METRIC_INNER_PRODUCT)
        start = time.perf_counter()
        if not index.is_trained:
            index.train(base)
        train = time.perf_counter() - start
        start = time.perf_counter()
        index.add(base)
        build = time.perf_counter() - start
        if "HNSW" in spec:
            faiss.ParameterSpace().set_index_parameter(index, "efSearch", 128)
        if spec.startswith("IVF"):
            faiss.ParameterSpace().set_index_parameter(index, "nprobe", 32)
        start = time.perf_counter()
        _, found = index.search(queries, 10)
        search = time.perf_counter() - start
        recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)])
        size = faiss.serialize_index(index).size
        rows.append(
            {
                "index": spec,
                "bytes_per_vector": size / args.vectors,
                "train_s": train,
                "add_us_per_vector": build / args.vectors * 1e6,
                "search_ms_per_query": search / args.queries * 1e3,
                "recall@10": float(recall),
            }
        )

    table = Table(
        title=f"FAISS indexes over {args.vectors:,} {label} vectors, dim {args.dim} "
        f"(faiss {faiss.__version__}, {faiss.omp_get_max_threads()} threads)"
    )
    for column in ["index", "bytes/vector", "train s", "add µs/vector", "search ms/query",
                   "recall@10"]:  # fmt: skip
        table.add_column(column)
    figures: dict[str, float | int | str] = {
        "dataset": label, "vectors": args.vectors, "dim": args.dim, "nlist": nlist,
    }  # fmt: skip
    for row in rows:
        table.add_row(
            row["index"],
            f"{row['bytes_per_vector']:.1f}",
            f"{row['train_s']:.1f}",
            f"{row['add_us_per_vector']:.1f}",
            f"{row['search_ms_per_query']:.2f}",
            f"{row['recall@10']:.3f}",
        )
        key = f"{label}/{row['index']}"
        names = ("bytes_per_vector", "train_s", "add_us_per_vector", "search_ms_per_query",
                 "recall@10")  # fmt: skip
        for name in names:
            figures[f"{key}/{name}"] = round(row[name], 4)
    Console().print(table)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
