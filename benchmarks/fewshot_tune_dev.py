"""Choose the few-shot selector's defaults on a dev split carved from *train* (never test).

Builds the library once per grouping (given labels, automatic) on 90% of a train sample, then
scores a small grid of :class:`~flywheel.fewshot.selectors.DynamicConfig` settings on the other
10%. The defaults in ``DynamicConfig`` are the best of this grid on banking77's dev split; the
test split is only read by ``benchmarks/fewshot_coverage.py``.

    flock /tmp/flywheel-heavy.lock env HF_HUB_OFFLINE=1 \
        .venv/bin/python benchmarks/fewshot_tune_dev.py

Prints a table and, as its last line, one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import itertools
import json

import numpy as np
from fewshot_coverage import DATASETS, ROOT, read, sample  # noqa: I001 (benchmarks/ sibling)
from rich.console import Console
from rich.table import Table

from flywheel.fewshot import BuildConfig, Example, QualityConfig, build_library, evaluate_selectors
from flywheel.fewshot.grouping import GroupingConfig
from flywheel.fewshot.selectors import DynamicConfig
from flywheel.retrieval.embedders import Embedder

GRID = {
    "intent_examples": [0, 1, 2],
    "mmr_lambda": [0.5, 0.7, 0.85],
    "group_penalty": [0.0, 0.5],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="banking77", choices=list(DATASETS))
    parser.add_argument("--train", type=int, default=3000)
    parser.add_argument("--dev", type=int, default=300)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    rows = sample(
        read(ROOT / "intent" / args.dataset / "train.jsonl", DATASETS[args.dataset]),
        args.train,
        rng,
    )
    order = rng.permutation(len(rows))
    cut = len(rows) // 10
    dev = sample([rows[i] for i in sorted(order[:cut])], args.dev, rng)
    train = [rows[i] for i in sorted(order[cut:])]
    examples = [Example(f"t{i}", text, intent=intent) for i, (text, intent) in enumerate(train)]
    truth = {e.qid: e.intent for e in examples}
    embedder = Embedder()
    config = BuildConfig(quality=QualityConfig.relaxed(), grouping=GroupingConfig(seed=args.seed))
    libraries = {
        "labels": build_library(examples, embedder=embedder, config=config),
        "auto": build_library(
            [Example(e.qid, e.question) for e in examples], embedder=embedder, config=config
        ),
    }
    vectors = embedder.encode_documents([f"dev{i}" for i in range(len(dev))], [t for t, _ in dev])
    queries, intents = [t for t, _ in dev], [i for _, i in dev]
    figures: dict[str, float] = {}
    table = Table(
        title=f"{args.dataset} dev ({len(dev)} questions from train), "
        f"coverage / precision at k={args.k}"
    )
    for column in (
        "grouping",
        "intent_examples",
        "lambda",
        "group_penalty",
        "coverage",
        "precision",
    ):
        table.add_column(column)
    for grouping, library in libraries.items():
        selectors = {
            "nearest": library.selector(
                embedder, config=DynamicConfig(intent_examples=0, mmr_lambda=1.0, group_penalty=0.0)
            )
        }
        for values in itertools.product(*GRID.values()):
            settings = dict(zip(GRID, values, strict=True))
            name = "/".join(f"{k}={v}" for k, v in settings.items())
            selectors[name] = library.selector(embedder, config=DynamicConfig(**settings))
        report = evaluate_selectors(
            selectors, queries, vectors, intents, truth, k=args.k, n_resamples=200
        )
        for name in selectors:
            coverage, precision = report.mean(name, "coverage"), report.mean(name, "precision")
            figures[f"{args.dataset}/{grouping}/{name}/coverage"] = round(coverage, 4)
            figures[f"{args.dataset}/{grouping}/{name}/precision"] = round(precision, 4)
            parts = dict(p.split("=") for p in name.split("/")) if name != "nearest" else {}
            table.add_row(
                grouping,
                parts.get("intent_examples", "nearest"),
                parts.get("mmr_lambda", "-"),
                parts.get("group_penalty", "-"),
                f"{coverage:.3f}",
                f"{precision:.3f}",
            )
    Console().print(table)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
