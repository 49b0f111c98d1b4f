"""Baselines on the BEIR test splits: BM25, all-MiniLM-L6-v2 dense, and their RRF hybrid.

Prints nDCG@10 and recall@100 in a table beside the published figures (from the datasets'
README), then, as the LAST line, one JSON object whose keys are ``dataset/system/metric``.

    python benchmarks/baselines.py                                  # scifact and cranfield
    python benchmarks/baselines.py --datasets ../shared/datasets --only cranfield

The dense SciFact figure reproduces MTEB's 0.6451 only with title + " " + text, the model's
max_seq_length of 256 and normalised embeddings, which is what ``Embedder`` does by default.
Document embeddings are cached (``FLYWHEEL_CACHE``), so only the first run encodes: SciFact's
5,183 abstracts take about 7 minutes on 2 CPU cores, a second run a few seconds.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from flywheel.data.beir import load_beir
from flywheel.retrieval import BM25Retriever, DenseRetriever, Embedder, HybridRetriever

METRICS = ["ndcg@10", "recall@100"]
DEFAULT_DATASETS = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets"

# From /work/shared/datasets/README.md (test split). None: no published figure.
PUBLISHED: dict[tuple[str, str], dict[str, float | None]] = {
    ("scifact", "bm25"): {"ndcg@10": 0.687, "recall@100": 0.9253},  # bm25s; recall: Anserini
    ("scifact", "dense-minilm"): {"ndcg@10": 0.6451, "recall@100": 0.9250},  # MTEB
}


def score(qrels: dict, run: dict) -> dict[str, float]:
    """Mean metrics via ``flywheel.evaluation`` (ranx if that package is not importable)."""
    try:
        from flywheel.evaluation import evaluate
    except ImportError:
        from ranx import evaluate as ranx_evaluate

        return {m: float(v) for m, v in ranx_evaluate(qrels, run, METRICS).items()}
    return dict(evaluate(qrels, run, METRICS).mean)


def run_dataset(folder: Path, name: str, embedder: Embedder) -> list[dict]:
    dataset = load_beir(folder / name)
    queries, qrels = dataset.split("test")
    rows = []

    def measure(system: str, retriever, seconds_build: float) -> None:
        start = time.perf_counter()
        run = retriever.search(queries, k=100)
        rows.append(
            {
                "dataset": name,
                "system": system,
                **score(qrels, run),
                "seconds": seconds_build + time.perf_counter() - start,
            }
        )

    start = time.perf_counter()
    bm25 = BM25Retriever(dataset.corpus)
    measure("bm25", bm25, time.perf_counter() - start)
    start = time.perf_counter()
    dense = DenseRetriever(dataset.corpus, embedder)
    rows_before = len(rows)
    measure("dense-minilm", dense, time.perf_counter() - start)
    rows[rows_before]["truncation_rate"] = embedder.truncation_rate
    measure("hybrid-rrf", HybridRetriever([bm25, dense], method="rrf", depth=100), 0.0)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument("--only", nargs="+", default=["scifact", "cranfield"])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()

    embedder = Embedder(batch_size=args.batch_size, device=args.device)
    rows: list[dict] = []
    for name in args.only:
        rows += run_dataset(args.datasets, name, embedder)

    table = Table(title="Baselines, test split")
    for column in ("dataset", "system", "nDCG@10", "published", "recall@100", "published", "s"):
        table.add_column(column, justify="left" if column in {"dataset", "system"} else "right")
    summary: dict[str, float] = {}
    for row in rows:
        published = PUBLISHED.get((row["dataset"], row["system"]), {})
        cells = []
        for metric in METRICS:
            summary[f"{row['dataset']}/{row['system']}/{metric}"] = round(row[metric], 4)
            ref = published.get(metric)
            cells += [f"{row[metric]:.4f}", f"{ref:.4f}" if ref is not None else "-"]
        if row.get("truncation_rate") is not None:
            summary[f"{row['dataset']}/{row['system']}/truncation_rate"] = round(
                row["truncation_rate"], 4
            )
        table.add_row(row["dataset"], row["system"], *cells, f"{row['seconds']:.1f}")
    Console(width=max(Console().width, 100)).print(table)
    print(json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    main()
