"""How far can a small local judge be trusted? Gemma-3-270M grades SciFact test pairs.

Pairs: ``--pairs`` (query, abstract) pairs from SciFact's *test* split, half of them judged
relevant by the benchmark (its qrels) and half BM25's top-10 documents the benchmark does not
list for the query (grade 0 by the benchmark's own convention; a few may in truth be relevant,
which lowers the agreement a perfect judge could reach). Every pair is graded by the judge
the CLI runs (``flywheel judge run --model local:gemma-3-270m``: the UMBRELA rubric on the 0-3
scale, read by constrained choice over `` 0`` .. `` 3``), and compared as ``flywheel judge
agreement`` compares (quadratic weighted Cohen's kappa of benchmark vs LLM grades on 0-3), and
as a binary decision (LLM grade >= 2 is "relevant", the threshold training uses).

    FLYWHEEL_LOCAL_DTYPE=bfloat16 nice -n 10 python benchmarks/judge_scifact.py --pairs 200

Prints a table and, as its last line, one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from sklearn.metrics import cohen_kappa_score

from flywheel.data.beir import load_beir
from flywheel.hosted import HostedClient
from flywheel.judging import Pair, judge_pairs, label_agreement
from flywheel.judging.judge import judge_kind
from flywheel.retrieval.registry import build_retriever

ROOT = Path(os.environ.get("FLYWHEEL_DATASETS", Path(__file__).parents[1] / "../shared/datasets"))
MAX_WORDS = 200  # abstracts are cut: every token is read on a shared 2-core machine


def passage(doc) -> str:
    words = f"{doc.title}. {doc.text}".split()
    return " ".join(words[:MAX_WORDS])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--model", default="local:gemma-3-270m")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    console = Console()
    data = load_beir(ROOT / "scifact")
    qrels = data.qrels["test"]
    rng = np.random.default_rng(args.seed)
    qids = sorted(qrels)
    qids = [qids[i] for i in rng.permutation(len(qids))]
    queries = {q: data.queries[q] for q in qids}
    run = build_retriever("bm25", data.corpus).search(queries, k=10)
    positives, negatives = [], []
    for qid in qids:
        for doc_id, grade in sorted(qrels[qid].items()):
            if grade > 0:
                positives.append((qid, doc_id))
        unlisted = [d for d in sorted(run[qid], key=lambda d: -run[qid][d]) if d not in qrels[qid]]
        if unlisted:
            negatives.append((qid, unlisted[0]))  # the highest-ranked unlisted: a hard negative
    half = args.pairs // 2
    chosen = [(q, d, 1) for q, d in positives[:half]] + [(q, d, 0) for q, d in negatives[:half]]
    pairs = [Pair(q, queries[q], d, passage(data.corpus[d])) for q, d, _ in chosen]
    benchmark: dict[str, dict[str, int]] = {}
    for q, d, g in chosen:
        benchmark.setdefault(q, {})[d] = g
    client = HostedClient(args.model, kind=judge_kind(args.model))
    start = time.perf_counter()
    result = judge_pairs(pairs, client, scale=3)
    wall = time.perf_counter() - start
    agreement = label_agreement(benchmark, result.qrels(), weights="quadratic", scale=3)
    graded = {(p.qid, p.target): g for p, g in result.grades}
    truth = [benchmark[q][d] for q, d, _ in chosen if (q, d) in graded]
    binary = [int(graded[q, d] >= 2) for q, d, _ in chosen if (q, d) in graded]
    kappa_binary = float(cohen_kappa_score(truth, binary))
    accuracy = float(np.mean(np.array(truth) == np.array(binary)))
    table = Table(
        title=f"SciFact test: {len(pairs)} pairs ({half} benchmark-relevant), {client.name}"
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = {
        "weighted kappa (quadratic, 0-3; judge agreement)": f"{agreement.kappa:.3f}",
        "binary kappa (LLM grade >= 2)": f"{kappa_binary:.3f}",
        "binary accuracy (LLM grade >= 2)": f"{accuracy:.3f}",
        "pairs graded / rejected": f"{len(result.grades)} / {len(result.rejected)}",
        "model seconds per pair": f"{client.meter.latency_s / max(1, client.meter.calls):.2f}",
    }
    for name, value in rows.items():
        table.add_row(name, value)
    console.print(table)
    console.print("confusion (rows: benchmark 0-1; columns: LLM 0-3):", agreement.confusion[:2])
    print(
        json.dumps(
            {
                "model": args.model,
                "precision": os.environ.get("FLYWHEEL_LOCAL_DTYPE", "float32"),
                "pairs": len(pairs),
                "kappa_quadratic": round(agreement.kappa, 4),
                "kappa_binary_ge2": round(kappa_binary, 4),
                "accuracy_binary_ge2": round(accuracy, 4),
                "confusion": agreement.confusion,
                "graded": len(result.grades),
                "rejected": len(result.rejected),
                "calls": client.meter.calls,
                "cached": client.meter.cached,
                "model_s": round(client.meter.latency_s, 1),
                "wall_s": round(wall, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
