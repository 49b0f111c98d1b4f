"""Cold start on SciFact through ``flywheel run``: offline pseudo-questions vs a local LLM's.

    FLYWHEEL_LOCAL_DTYPE=bfloat16 HF_HUB_OFFLINE=1 \
        .venv/bin/python benchmarks/cold_start_scifact.py            # ict and llm
    ... benchmarks/cold_start_scifact.py --generators ict            # offline only, no model

SciFact as a team without training queries has it: a BEIR view of the dataset with the corpus,
the test queries and the test judgments only (written under ``--out``, linking the files), run
through the loop (:func:`flywheel.pipeline.run_flywheel`) once per generator:

* ``ict``: offline inverse-cloze pseudo-questions (the default of ``flywheel run``);
* ``llm``: questions written by ``--model`` (default ``local:gemma-3-270m``, Gemma-3-270M base
  run in-process: no key, nothing leaves the machine), shown three generic demonstrations
  (the view has no judged pair and no unjudged real query to show for style); a question is
  kept only if BM25 finds its passage in the top ``--round-trip`` (20; 0: off).

Both sample the same 1,500 passages (stratified by k-means cluster of the base embeddings),
keep up to 1,000 questions after the same filters (copies, near-duplicates, leaks against the
test queries), carve dev from them, train with the same gentle recipe (1 epoch, lr 1e-5) and let
the same dev gate accept or reject the fine-tuned model; the loop then selects a system on dev.
Everything is tested on the 300 test queries, each system against the base model and the two
generators' fine-tuned models against each other (paired permutation tests). A rerun reuses
every generated question (response cache) and the base model's embeddings.

Prints a table and, as its last line, one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from flywheel.data.beir import load_beir
from flywheel.evaluation import compare
from flywheel.pipeline import LoopConfig, run_flywheel

ROOT = Path(__file__).resolve().parents[1]
METRICS = ["ndcg@10", "recall@100"]


def no_train_view(source: Path, target: Path) -> Path:
    """A BEIR folder with the corpus, the test queries and their judgments only."""
    dataset = load_beir(source)
    test_q, _ = dataset.split("test")
    (target / "qrels").mkdir(parents=True, exist_ok=True)
    corpus = target / "corpus.jsonl"
    if not corpus.exists():
        corpus.symlink_to((source / "corpus.jsonl").resolve())
    qrels = target / "qrels" / "test.tsv"
    if not qrels.exists():
        qrels.symlink_to((source / "qrels" / "test.tsv").resolve())
    lines = [json.dumps({"_id": q, "text": t}) for q, t in sorted(test_q.items())]
    (target / "queries.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def run_loop(view: Path, out: Path, generator: str, args: argparse.Namespace) -> Any:
    shutil.rmtree(out, ignore_errors=True)  # a fresh store: the view is ingested again
    config = LoopConfig(
        dataset=str(view),
        out_dir=out,
        cold_start_generator=generator,
        cold_start_model=args.model if generator == "llm" else None,
        cold_start_round_trip=args.round_trip or None,
        learned_reranker=not args.no_learned_reranker,
        latency_queries=0,
        seed=args.seed,
    )
    return run_flywheel(config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets-dir", default=str(ROOT / ".." / "shared" / "datasets"))
    parser.add_argument("--out", default="flywheel-out/cold-start-scifact")
    parser.add_argument("--generators", nargs="+", default=["ict", "llm"], choices=["ict", "llm"])
    parser.add_argument("--model", default="local:gemma-3-270m", help="the llm generator")
    parser.add_argument(
        "--round-trip", type=int, default=20, help="llm: BM25 top K must hold the passage; 0: off"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-learned-reranker", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.WARNING)
    console = Console(width=max(Console().width, 130))
    out = Path(args.out)
    source = Path(args.datasets_dir) / "scifact"
    view = no_train_view(source, out / "scifact-no-train")
    test_qrels = load_beir(source).split("test")[1]

    runs: dict[str, Any] = {}
    loops: dict[str, dict[str, Any]] = {}
    for generator in args.generators:
        start = time.perf_counter()
        result = run_loop(view, out / generator, generator, args)
        runs.setdefault("base dense", result.runs["base dense"])
        runs.setdefault("bm25", result.runs["bm25"])
        if "fine-tuned dense" in result.runs:
            runs[f"{generator}: fine-tuned dense"] = result.runs["fine-tuned dense"]
        runs[f"{generator}: selected ({result.selected})"] = result.runs[result.selected]
        cold = next((v for v in result.verdicts if v.startswith("cold start")), "")
        loops[generator] = {
            "selected": result.selected,
            "embedder_accepted": result.embedder_accepted,
            "dev_base": result.embedder.get("base_dev_score"),
            "dev_trained": result.embedder.get("trained_dev_score"),
            "dev_ndcg@10": {n: round(v["ndcg@10"], 4) for n, v in result.dev_scores.items()},
            "split_sizes": result.split_sizes,
            "note": cold,
            "minutes": round((time.perf_counter() - start) / 60, 1),
            "timings_s": {k: round(v, 1) for k, v in result.timings.items()},
        }
        console.print(f"[dim]{generator}: {cold}[/]")

    comparison = compare(test_qrels, runs, metrics=METRICS, baseline="base dense")
    head_to_head = None
    if {"ict: fine-tuned dense", "llm: fine-tuned dense"} <= set(runs):
        pair = {k: runs[k] for k in ("ict: fine-tuned dense", "llm: fine-tuned dense")}
        head_to_head = compare(test_qrels, pair, metrics=METRICS, baseline="ict: fine-tuned dense")
    table = Table(title="SciFact test (300 queries), no training query: cold start in the loop")
    for column in ("system", "nDCG@10", "recall@100", "Δ nDCG@10 vs base", "p", "dev gate"):
        table.add_column(column, no_wrap=column == "system")
    figures: dict[str, Any] = {}
    for system in comparison.systems:
        o = comparison.outcomes.get(system, {}).get("ndcg@10")
        generator = system.split(":")[0]
        gate = ""
        if system.endswith("fine-tuned dense"):
            info = loops[generator]
            verdict = "accepted" if info["embedder_accepted"] else "rejected"
            if info["dev_trained"] is not None and info["dev_base"] is not None:
                verdict += f" (dev {info['dev_trained']:.3f} vs base {info['dev_base']:.3f})"
            gate = verdict
        table.add_row(
            system,
            f"{comparison.mean(system, 'ndcg@10'):.4f}",
            f"{comparison.mean(system, 'recall@100'):.4f}",
            "" if o is None else f"{o.delta:+.4f}",
            "" if o is None else f"{o.p_value:.3g}",
            gate,
        )
        figures[system] = {
            "ndcg@10": round(comparison.mean(system, "ndcg@10"), 4),
            "recall@100": round(comparison.mean(system, "recall@100"), 4),
            "p_value_vs_base": None if o is None else o.p_value,
        }
    console.print(table)
    if head_to_head is not None:
        o = head_to_head.outcomes["llm: fine-tuned dense"]["ndcg@10"]
        console.print(f"llm vs ict (fine-tuned dense): Δ nDCG@10 {o.delta:+.4f}, p {o.p_value:.3g}")
        figures["llm_vs_ict"] = {"delta_ndcg@10": round(o.delta, 4), "p_value": o.p_value}
    for generator, info in loops.items():
        console.print(f"{generator}: {info['minutes']} min; {info['note']}")
    summary = {"dataset": "scifact", "model": args.model, "round_trip": args.round_trip,
               "systems": figures, "loops": loops}  # fmt: skip
    print(json.dumps(summary, default=float))


if __name__ == "__main__":
    main()
