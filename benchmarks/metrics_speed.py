"""How fast is ``flywheel.evaluation.evaluate`` next to ranx on 10,000 queries?

Both start from plain ``{qid: {doc_id: score}}`` dicts, as a user's code does, so ranx's time
includes building its ``Qrels``/``Run`` objects. Both are warmed first (ranx's numba functions are
compiled on their first call; that compile time is excluded). Best of ``--repeat`` runs each.

    python benchmarks/metrics_speed.py            # 10,000 queries x 100 docs
    python benchmarks/metrics_speed.py --queries 2000

The last line printed is a JSON object with both timings and the ratio (ours / ranx).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

METRICS = [
    f"{m}@{k}"
    for m in ("recall", "precision", "hit_rate", "mrr", "map", "ndcg")
    for k in (1, 5, 10, 100)
]


def make_data(n_queries: int, depth: int, seed: int = 0) -> tuple[dict, dict]:
    """A synthetic run with float scores and 1-8 graded judgments per query."""
    rng = np.random.default_rng(seed)
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, dict[str, float]] = {}
    for q in range(n_queries):
        docs = rng.choice(50_000, size=depth, replace=False)
        scores = rng.random(depth)
        run[f"q{q}"] = {f"d{d}": float(s) for d, s in zip(docs, scores, strict=True)}
        n_rel = int(rng.integers(1, 9))
        judged = np.concatenate([docs[: n_rel // 2], rng.choice(50_000, size=n_rel, replace=False)])
        qrels[f"q{q}"] = {f"d{d}": int(rng.integers(0, 4)) for d in judged}
    return qrels, run


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import ranx

    from flywheel.evaluation import evaluate

    qrels, run = make_data(args.queries, args.depth)
    warm_q, warm_r = make_data(50, args.depth, seed=1)

    def ours() -> dict:
        return evaluate(qrels, run, METRICS).mean

    def theirs() -> dict:
        return ranx.evaluate(ranx.Qrels(qrels), ranx.Run(run), METRICS)

    evaluate(warm_q, warm_r, METRICS)  # warm both (ranx compiles with numba on first use)
    ranx.evaluate(ranx.Qrels(warm_q), ranx.Run(warm_r), METRICS)

    ours_s = best_of(ours, args.repeat)
    ranx_s = best_of(theirs, args.repeat)
    mine, ref = ours(), theirs()
    max_diff = max(abs(mine[m] - float(ref[m])) for m in METRICS)
    print(f"queries={args.queries} depth={args.depth} metrics={len(METRICS)}")
    print(f"flywheel: {ours_s:.3f} s   ranx: {ranx_s:.3f} s   ratio: {ours_s / ranx_s:.2f}x")
    print(f"largest difference in a mean: {max_diff:.2e}")
    print(
        json.dumps(
            {
                "queries": args.queries,
                "depth": args.depth,
                "metrics": len(METRICS),
                "flywheel_s": round(ours_s, 4),
                "ranx_s": round(ranx_s, 4),
                "ratio": round(ours_s / ranx_s, 3),
                "max_abs_diff": max_diff,
            }
        )
    )


if __name__ == "__main__":
    main()
