"""Few-shot example selection on intent-labelled questions: library vs random vs nearest neighbour.

For each dataset under ``$FLYWHEEL_DATASETS/intent`` (default ``../shared/datasets/intent``):
a library is built from a sample of the *train* questions, once with the given intent labels and
once with the labels hidden from the builder (automatic grouping: KMeans, k by silhouette), then
every selector picks ``k`` examples for each question of a held-out sample of the *test* split.
Figures (see ``flywheel.fewshot.evaluation``): intent coverage, redundancy, diversity, precision,
with 95% bootstrap intervals and paired permutation tests against nearest neighbour and random.

``--dev`` evaluates on a dev split carved from the train sample instead of the test split: that is
where the selector's defaults were chosen; the test sample is only measured.

    flock /tmp/flywheel-heavy.lock env HF_HUB_OFFLINE=1 \
        .venv/bin/python benchmarks/fewshot_coverage.py

Prints a table per dataset and, as its last line, one JSON object with every figure.
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

from flywheel.evaluation.compare import compare
from flywheel.fewshot import (
    BuildConfig,
    Example,
    NearestNeighbourSelector,
    QualityConfig,
    RandomSelector,
    build_library,
    evaluate_selectors,
)
from flywheel.fewshot.grouping import GroupingConfig
from flywheel.fewshot.selectors import ExamplePool
from flywheel.retrieval.embedders import Embedder

DATASETS = {"banking77": "label", "clinc150": "label", "trec_qc": "label_fine"}
ROOT = Path(os.environ.get("FLYWHEEL_DATASETS", Path(__file__).parents[1] / "../shared/datasets"))


def read(path: Path, label: str) -> list[tuple[str, str]]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if record[label] != "oos":  # CLINC's out-of-scope class is not an intent
                rows.append((record["text"], record[label]))
    return rows


def sample(rows: list, n: int, rng: np.random.Generator) -> list:
    if len(rows) <= n:
        return list(rows)
    return [rows[i] for i in sorted(rng.choice(len(rows), size=n, replace=False))]


def run_dataset(name: str, args: argparse.Namespace, embedder: Embedder, console: Console) -> dict:
    label = DATASETS[name]
    folder = ROOT / "intent" / name
    rng = np.random.default_rng(args.seed)
    train = sample(read(folder / "train.jsonl", label), args.train, rng)
    if args.dev:  # carve the evaluation questions from the train sample; test is never read
        order = rng.permutation(len(train))
        cut = max(1, len(train) // 10)
        held = [train[i] for i in sorted(order[:cut])]
        train = [train[i] for i in sorted(order[cut:])]
        held = sample(held, args.test, rng)
    else:
        held = sample(read(folder / "test.jsonl", label), args.test, rng)
    examples = [
        Example(f"{name}-{i}", text, intent=intent) for i, (text, intent) in enumerate(train)
    ]
    hidden = [Example(e.qid, e.question) for e in examples]  # labels hidden from the builder
    truth = {e.qid: e.intent for e in examples}
    timings: dict[str, float] = {}
    start = time.perf_counter()
    quality = QualityConfig.relaxed()
    config = BuildConfig(quality=quality, grouping=GroupingConfig(seed=args.seed))
    by_label = build_library(examples, embedder=embedder, config=config, name=f"{name}-labels")
    timings["build_labels_s"] = time.perf_counter() - start
    start = time.perf_counter()
    auto = build_library(hidden, embedder=embedder, config=config, name=f"{name}-auto")
    timings["build_auto_s"] = time.perf_counter() - start
    vectors = embedder.encode_documents(
        [f"held-{name}-{i}" for i in range(len(held))], [t for t, _ in held]
    )
    queries = [text for text, _ in held]
    intents = [intent for _, intent in held]
    pool_entries = by_label.pool  # the same quality-passing examples for the baselines
    pool = ExamplePool(
        [e.example for e in pool_entries],
        embedder.encode_documents(
            [e.example.qid for e in pool_entries], [e.example.question for e in pool_entries]
        ),
        [e.group_id or "" for e in pool_entries],
    )
    selectors = {
        "nearest": NearestNeighbourSelector(pool),
        "random": RandomSelector(pool, seed=args.seed),
        "library (labels)": by_label.selector(embedder),
        "library (auto groups)": auto.selector(embedder),
        "static library (labels)": by_label.static_selector(embedder),
        "static library (auto)": auto.static_selector(embedder),
        "static random": RandomSelector(pool, seed=args.seed, per_query=False),
    }
    start = time.perf_counter()
    report = evaluate_selectors(
        selectors, queries, vectors, intents, truth, k=args.k, baseline="nearest", seed=args.seed
    )
    timings["evaluate_s"] = time.perf_counter() - start
    versus_random = compare(
        {},
        report.comparison.results,
        metrics=report.comparison.metrics,
        baseline="random",
        seed=args.seed,
    )
    c = report.comparison
    split = "dev (from train)" if args.dev else "test"
    table = Table(
        title=f"{name}: {len(train)} train questions, {len(set(truth.values()))} intents; "
        f"{len(held)} {split} questions; k={args.k}; auto groups k={auto.summary['grouping']['k']}",
        caption="mean [95% bootstrap CI]; p = paired permutation test (Holm) on coverage",
    )
    for column in (
        "system",
        "coverage",
        "redundancy",
        "diversity",
        "precision",
        "p vs nearest",
        "p vs random",
    ):
        table.add_column(column)
    figures: dict[str, float] = {}
    for system in c.systems:
        low, high = c.ci[system]["coverage"]
        p_nn = c.outcomes[system]["coverage"].p_value if system != "nearest" else None
        p_rand = versus_random.outcomes[system]["coverage"].p_value if system != "random" else None
        table.add_row(
            system,
            f"{c.mean(system, 'coverage'):.3f} [{low:.3f}, {high:.3f}]",
            f"{c.mean(system, 'redundancy'):.3f}",
            f"{c.mean(system, 'diversity'):.3f}",
            f"{c.mean(system, 'precision'):.3f}",
            "-" if p_nn is None else f"{p_nn:.3g}",
            "-" if p_rand is None else f"{p_rand:.3g}",
        )
        for metric in c.metrics:
            figures[f"{name}/{system}/{metric}"] = round(c.mean(system, metric), 4)
        figures[f"{name}/{system}/coverage_ci_low"] = round(low, 4)
        figures[f"{name}/{system}/coverage_ci_high"] = round(high, 4)
        if p_nn is not None:
            figures[f"{name}/{system}/coverage_p_vs_nearest"] = p_nn
        if p_rand is not None:
            figures[f"{name}/{system}/coverage_p_vs_random"] = p_rand
    console.print(table)
    figures[f"{name}/auto_groups_k"] = auto.summary["grouping"]["k"]
    figures[f"{name}/intents"] = len(set(truth.values()))
    figures.update({f"{name}/{k}": round(v, 2) for k, v in timings.items()})
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--train", type=int, default=3000, help="train questions sampled")
    parser.add_argument("--test", type=int, default=600, help="held-out questions sampled")
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--dev", action="store_true", help="evaluate on a dev split of train")
    args = parser.parse_args()
    console = Console()
    embedder = Embedder(args.model)
    figures: dict[str, float | str] = {
        "model": args.model,
        "k": args.k,
        "split": "dev" if args.dev else "test",
    }
    start = time.perf_counter()
    for name in args.datasets:
        figures.update(run_dataset(name, args, embedder, console))
    figures["total_s"] = round(time.perf_counter() - start, 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
