"""Learned re-ranker probe: LightGBM LambdaMART over BM25 + base dense, on SciFact and Cranfield.

    HF_HUB_OFFLINE=1 nice -n 10 .venv/bin/python benchmarks/ltr_probe.py
    HF_HUB_OFFLINE=1 nice -n 10 .venv/bin/python benchmarks/ltr_probe.py --datasets cranfield

No fine-tuning, so it stays cheap: the first stages are BM25 and the base embedder (MiniLM,
embeddings cached under FLYWHEEL_CACHE), each retrieving ``--depth`` documents. The learned
re-ranker is gated by k-fold cross-validation on the train queries against the first stage that
scores best there (RRF of the two, or one alone), refitted on all train queries, and measured once
on the test queries, with paired permutation tests against the best single first stage (picked on
train) and against RRF of the two. Prints a table per dataset and, as its last line, one JSON
object with every figure.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from flywheel.data.beir import load_beir
from flywheel.evaluation import compare, evaluate
from flywheel.retrieval import BM25Retriever, DenseRetriever, Embedder, rrf
from flywheel.retrieval.features import CandidateFeaturizer
from flywheel.training.ltr import LTRConfig
from flywheel.training.ltr_gate import gate_ltr_reranker

ROOT = Path(__file__).resolve().parents[1]
METRIC = "ndcg@10"
LTR = "learned re-ranker"


def probe(folder: Path, *, depth: int, folds: int, backend: str) -> dict:
    timings: dict[str, float] = {}
    start = time.perf_counter()
    dataset = load_beir(folder)
    train_q, train_qrels = dataset.split("train")
    test_q, test_qrels = dataset.split("test")
    queries = {**train_q, **test_q}

    tick = time.perf_counter()
    bm25 = BM25Retriever(dataset.corpus).search(queries, k=depth)
    timings["bm25"] = time.perf_counter() - tick
    tick = time.perf_counter()
    dense = DenseRetriever(dataset.corpus, Embedder(backend=backend)).search(queries, k=depth)
    timings["base dense"] = time.perf_counter() - tick
    runs = {"bm25": bm25, "base dense": dense}
    runs["rrf"] = rrf([bm25, dense])

    tick = time.perf_counter()
    featurizer = CandidateFeaturizer(dataset.corpus, depth=depth)
    first_stages = {"bm25": bm25, "base dense": dense}
    train_features = featurizer.build(train_q, first_stages)
    test_features = featurizer.build(test_q, first_stages)
    timings["features"] = time.perf_counter() - tick

    train_scores = {
        name: evaluate(train_qrels, run, METRIC).mean[METRIC] for name, run in runs.items()
    }
    best = max(("bm25", "base dense"), key=lambda name: train_scores[name])
    selected = max(train_scores, key=lambda name: train_scores[name])  # the bar the gate sets
    tick = time.perf_counter()
    gate = gate_ltr_reranker(
        train_features, train_qrels, runs[selected], config=LTRConfig(depth=depth), folds=folds
    )
    timings["gate + refit"] = time.perf_counter() - tick
    assert gate.reranker is not None
    runs[LTR] = gate.reranker.rerank(test_features)

    vs_best = compare(test_qrels, runs, metrics=[METRIC, "recall@100"], baseline=best)
    pair = {"rrf": runs["rrf"], LTR: runs[LTR]}
    vs_rrf = compare(test_qrels, pair, metrics=[METRIC], baseline="rrf")
    timings["total"] = time.perf_counter() - start
    return {
        "dataset": folder.name,
        "train_queries": len(train_features.qids),
        "test_queries": len(test_qrels),
        "candidates_per_query": round(test_features.n_rows / max(1, len(test_features.qids)), 1),
        "features": len(train_features.names),
        "best_first_stage": best,
        "gate_first_stage": selected,
        "train": train_scores,
        "test": {name: vs_best.mean(name, METRIC) for name in runs},
        "test_recall@100": {name: vs_best.mean(name, "recall@100") for name in runs},
        "p_vs_best": vs_best.outcomes[LTR][METRIC].p_value_raw,
        "p_vs_rrf": vs_rrf.outcomes[LTR][METRIC].p_value_raw,
        "gate": {k: v for k, v in gate.to_dict().items() if k != "per_query"},
        "trees": gate.reranker.best_iteration,
        "top_features": dict(list(gate.reranker.importances().items())[:8]),
        "seconds": {k: round(v, 2) for k, v in timings.items()},
    }


def show(console: Console, result: dict) -> None:
    table = Table(title=f"{result['dataset']} test ({result['test_queries']} queries), {METRIC}")
    for col in ("system", "train (CV for LTR)", "test", "recall@100"):
        table.add_column(col)
    for name, score in result["test"].items():
        train = result["gate"]["reranked"] if name == LTR else result["train"][name]
        recall = result["test_recall@100"][name]
        table.add_row(name, f"{train:.4f}", f"{score:.4f}", f"{recall:.4f}")
    console.print(table)
    console.print(
        f"{LTR} vs {result['best_first_stage']} (best first stage on train): "
        f"p = {result['p_vs_best']:.4g}; vs rrf: p = {result['p_vs_rrf']:.4g}"
    )
    console.print(f"gate (vs {result['gate_first_stage']}): {result['gate']['verdict']}")
    console.print(f"top features (gain): {', '.join(result['top_features'])}")
    console.print(f"seconds: {result['seconds']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["scifact", "cranfield"])
    parser.add_argument("--datasets-dir", default=str(ROOT / ".." / "shared" / "datasets"))
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--backend", default="torch", choices=["torch", "ort", "ort-int8"])
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.WARNING)
    console = Console()
    results = []
    for name in args.datasets:
        result = probe(
            Path(args.datasets_dir) / name, depth=args.depth, folds=args.folds, backend=args.backend
        )
        show(console, result)
        results.append(result)
    print(json.dumps({"benchmark": "ltr_probe", "metric": METRIC, "results": results}))


if __name__ == "__main__":
    main()
