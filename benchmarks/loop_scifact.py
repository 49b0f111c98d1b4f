"""The whole flywheel on a BEIR dataset: base vs fine-tuned, dense vs hybrid, +- re-ranker.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/loop_scifact.py                 # SciFact
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/loop_scifact.py --dataset cranfield

Training and mining use the train split (dev carved from it); the test queries are only measured.
Prints a table (nDCG@10, recall@100, p-value vs base dense, dev score used for selection), stage
timings and peak memory; the last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

from rich.console import Console
from rich.table import Table

from flywheel.pipeline import LoopConfig, run_flywheel
from flywheel.training.config import EmbedderTrainConfig

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="scifact")
    parser.add_argument("--datasets-dir", default=str(ROOT / ".." / "shared" / "datasets"))
    parser.add_argument("--out", default=None)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--reranker",
        choices=["auto", "on", "off"],
        default="auto",
        help="auto: only from --reranker-base; on: also grow one from the base model's backbone",
    )
    parser.add_argument("--reranker-base", default=None, help="a cross-encoder to fine-tune")
    parser.add_argument(
        "--no-reference",
        action="store_true",
        help="skip training the plain-MNRL reference (sentence-transformers alone)",
    )
    parser.add_argument("--rerank-depth", type=int, default=20)
    parser.add_argument("--evaluate-rejected", action="store_true")
    parser.add_argument("--device", default=None)
    parser.add_argument("--backend", default="torch", choices=["torch", "ort", "ort-int8"])
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.WARNING)
    console = Console()

    folder = Path(args.datasets_dir) / args.dataset
    config = LoopConfig(
        dataset=str(folder),
        out_dir=Path(args.out or f"flywheel-out/bench-{args.dataset}"),
        device=args.device,
        reference_recipe=not args.no_reference,
        inference_backend=args.backend,
        embedder=EmbedderTrainConfig(
            epochs=args.epochs,
            learning_rate=args.lr,
            batch_size=args.batch_size,
            eval_each_epoch=False,
        ),
    )
    config.reranker.enabled = {"auto": None, "on": True, "off": False}[args.reranker]
    config.reranker.base_model = args.reranker_base
    config.reranker.depth = args.rerank_depth
    config.reranker.evaluate_rejected = args.evaluate_rejected
    result = run_flywheel(config, say=lambda line: console.print(f"[dim]{line}[/]"))

    comp = result.test
    table = Table(title=f"{args.dataset} test ({result.split_sizes['test']} queries)")
    for col in ("system", "dev nDCG@10", "nDCG@10", "95% CI", "recall@100", "p vs base dense"):
        table.add_column(col)
    figures: dict[str, float | str | None] = {}
    for name in comp.systems:
        nd, rc = comp.mean(name, "ndcg@10"), comp.mean(name, "recall@100")
        low, high = comp.ci[name]["ndcg@10"]
        outcome = comp.outcomes.get(name, {}).get("ndcg@10")
        p = outcome.p_value if outcome else None
        mark = " (selected on dev)" if name == result.selected else ""
        table.add_row(
            name + mark,
            f"{result.dev_scores[name]['ndcg@10']:.4f}",
            f"{nd:.4f}",
            f"[{low:.3f}, {high:.3f}]",
            f"{rc:.4f}",
            f"{p:.3g}" if p is not None else "",
        )
        figures[f"{args.dataset}/{name}/ndcg@10"] = round(nd, 4)
        figures[f"{args.dataset}/{name}/recall@100"] = round(rc, 4)
        figures[f"{args.dataset}/{name}/dev_ndcg@10"] = round(result.dev_scores[name]["ndcg@10"], 4)
        if p is not None:
            figures[f"{args.dataset}/{name}/p_vs_base_dense"] = p
    console.print(table)
    for line in result.verdicts:
        console.print(f"- {line}")
    for stage, seconds in result.timings.items():
        figures[f"{args.dataset}/timing_s/{stage}"] = round(seconds, 1)
    figures[f"{args.dataset}/timing_s/total"] = round(sum(result.timings.values()), 1)
    figures[f"{args.dataset}/peak_memory_mb"] = round(result.peak_memory_mb)
    for stage, mb in result.peak_memory_by_stage.items():  # the peak so far when each stage ended
        figures[f"{args.dataset}/peak_memory_mb_after/{stage}"] = mb
    figures[f"{args.dataset}/selected"] = result.selected
    if result.reference and "p_value" in result.reference:
        ref = result.reference
        key = f"{args.dataset}/{ref['selected']} vs plain MNRL (reference)"
        figures[f"{key}/ndcg@10_difference"] = round(ref["difference"], 4)
        figures[f"{key}/p_value"] = ref["p_value"]
    for name, cost in result.costs.items():  # latency and cost per measured system
        for field in (
            "latency_p50_ms",
            "latency_p95_ms",
            "index_cost_usd",
            "cost_per_1k_queries_usd",
        ):
            if cost.get(field) is not None:
                figures[f"{args.dataset}/{name}/{field}"] = cost[field]
    console.print("timings (s): " + ", ".join(f"{k} {v:.0f}" for k, v in result.timings.items()))
    console.print(f"peak memory: {result.peak_memory_mb:.0f} MB; report: {result.report_path}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
