"""Few-shot examples measured on a real language model: does a better-chosen example help?

For each intent set under ``$FLYWHEEL_DATASETS/intent`` (banking77, clinc150, trec_qc), a
library is built from a sample of the *train* questions (intent labels given, as in
``benchmarks/fewshot_coverage.py``); then a local model (default ``local:gemma-3-270m``,
Gemma-3-270M base, Q4_K_M, run in-process) reads ``k`` examples and names the intent of each
held-out *test* question. Systems: zero-shot, random examples, nearest neighbours, the library.

Reading the label - constrained choice. A 270M base model does not reliably write a label
verbatim, so each candidate label's log-likelihood after the prompt is scored and the most
likely one is the answer (the way lm-evaluation-harness scores multiple choice). The candidates
of a question are a shortlist - the distinct intents of its ``--shortlist`` nearest train
questions (MiniLM) - plus the intents of the examples shown; zero-shot sees the shortlist
only. The shortlist is also listed in every prompt. So the ceiling is the shortlist's recall
(printed), and an example set that shows the right intent also adds it to the candidates:
both are part of what "choosing examples" does here. Accuracy uses the summed log-likelihood
(``accuracy``); the per-character normalised variant (``acc_norm``) is printed too. Paired
permutation tests (Holm) on accuracy, against nearest neighbours and against random.

Every call goes through the hosted client (response cache, usage ledger): a rerun reads the
cache. Measure speed first, then run in full::

    FLYWHEEL_LOCAL_DTYPE=bfloat16 nice -n 10 python benchmarks/fewshot_llm.py --test 20
    FLYWHEEL_LOCAL_DTYPE=bfloat16 nice -n 10 python benchmarks/fewshot_llm.py

Prints a table per dataset and, as its last line, one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from flywheel.evaluation.compare import compare
from flywheel.evaluation.evaluate import EvaluationResult
from flywheel.fewshot import BuildConfig, Example, QualityConfig, build_library
from flywheel.fewshot.grouping import GroupingConfig
from flywheel.fewshot.selectors import ExamplePool, NearestNeighbourSelector, RandomSelector
from flywheel.hosted import LEDGER, HostedClient
from flywheel.hosted.client import choice_request
from flywheel.retrieval.embedders import Embedder

sys.path.insert(0, str(Path(__file__).parent))
from fewshot_coverage import DATASETS, ROOT, read, sample  # noqa: E402

INSTRUCTION = "Name the intent of the last question. Intents: {labels}."
MAX_WORDS = 30  # long questions are cut in prompts: the model reads every token on 2 cores


def verbalise(label: str) -> str:
    """``card_arrival`` -> ``card arrival``; TREC's ``LOC:city`` stays as it is."""
    return label.replace("_", " ")


def short(text: str) -> str:
    words = text.split()
    return " ".join(words[:MAX_WORDS]) + (" ..." if len(words) > MAX_WORDS else "")


def prompt_for(question: str, shown: list[Example], candidates: list[str]) -> str:
    lines = [INSTRUCTION.format(labels=", ".join(candidates)), ""]
    for example in shown:
        intent = verbalise(example.intent or "")
        lines += [f"Question: {short(example.question)}", f"Intent: {intent}", ""]
    lines += [f"Question: {short(question)}", "Intent:"]
    return "\n".join(lines)


def run_dataset(
    name: str, args: argparse.Namespace, embedder: Embedder, client: HostedClient, console: Console
) -> dict:
    label = DATASETS[name]
    folder = ROOT / "intent" / name
    rng = np.random.default_rng(args.seed)
    train = sample(read(folder / "train.jsonl", label), args.train, rng)
    test = read(folder / "test.jsonl", label)  # a prefix of one permutation: a bigger --test
    held = [test[i] for i in rng.permutation(len(test))[: args.test]]  # reuses cached answers
    examples = [Example(f"{name}-{i}", t, intent=y) for i, (t, y) in enumerate(train)]
    config = BuildConfig(quality=QualityConfig.relaxed(), grouping=GroupingConfig(seed=args.seed))
    library = build_library(examples, embedder=embedder, config=config, name=f"{name}-labels")
    entries = library.pool
    pool = ExamplePool(
        [e.example for e in entries],
        embedder.encode_documents(
            [e.example.qid for e in entries], [e.example.question for e in entries]
        ),
        [e.group_id or "" for e in entries],
    )
    queries = [t for t, _ in held]
    gold = [verbalise(y) for _, y in held]
    vectors = embedder.encode_documents([f"held-{name}-{i}" for i in range(len(held))], queries)
    selectors = {
        "random": RandomSelector(pool, seed=args.seed),
        "nearest": NearestNeighbourSelector(pool),
        "library": library.selector(embedder),
    }
    # the shortlist: distinct intents of the nearest train questions, nearest first
    sims = vectors @ pool.embeddings.T
    shortlists = []
    for row in sims:
        labels: list[str] = []
        for i in np.argsort(-row)[: args.shortlist]:
            intent = verbalise(pool.examples[i].intent or "")
            if intent not in labels:
                labels.append(intent)
        shortlists.append(labels)
    recall = float(np.mean([g in s for g, s in zip(gold, shortlists, strict=True)]))
    systems: dict[str, list[list[Example]]] = {"zero-shot": [[] for _ in queries]}
    for system, selector in selectors.items():
        systems[system] = [
            [selector.pool.examples[i] for i in selector.select(q, v, args.k).indices]
            for q, v in zip(queries, vectors, strict=True)
        ]
    per_query: dict[str, dict[str, dict[str, float]]] = {}
    timings: dict[str, float] = {}
    for system, shown in systems.items():
        requests = []
        for question, examples_shown, labels in zip(queries, shown, shortlists, strict=True):
            candidates = list(labels)
            for e in examples_shown:
                if verbalise(e.intent or "") not in candidates:
                    candidates.append(verbalise(e.intent or ""))
            prompt = prompt_for(question, examples_shown, sorted(candidates))
            requests.append(choice_request(prompt, [" " + c for c in sorted(candidates)]))
        start = time.perf_counter()
        before = LEDGER.snapshot()
        outcomes = client.run(requests, description=f"{name} / {system}")
        spent = LEDGER.delta(before, LEDGER.snapshot())
        timings[system] = spent.latency_s + spent.replayed_s
        acc, norm = {}, {}
        for i, (request, outcome) in enumerate(zip(requests, outcomes, strict=True)):
            choices = request.payload["choices"]
            scores = outcome.result["scores"]
            best = choices[int(np.argmax(scores))].strip()
            per_char = [s / len(c) for s, c in zip(scores, choices, strict=True)]
            acc[f"q{i}"] = float(best == gold[i])
            norm[f"q{i}"] = float(choices[int(np.argmax(per_char))].strip() == gold[i])
        per_query[system] = {"accuracy": acc, "acc_norm": norm}
        console.print(
            f"  {system}: {np.mean(list(acc.values())):.3f} "
            f"({time.perf_counter() - start:.0f}s wall, {timings[system]:.0f}s model)"
        )
    results = {
        s: EvaluationResult(
            mean={m: float(np.mean(list(v.values()))) for m, v in pq.items()},
            per_query=pq,
            metrics=["accuracy", "acc_norm"],
        )
        for s, pq in per_query.items()
    }
    metrics = ["accuracy", "acc_norm"]
    vs_nn = compare({}, results, metrics=metrics, baseline="nearest", seed=args.seed)
    vs_rand = compare({}, results, metrics=metrics, baseline="random", seed=args.seed)
    table = Table(
        title=f"{name}: {len(held)} test questions, {len(set(y for _, y in train))} intents, "
        f"k={args.k}, {client.name}; shortlist recall {recall:.3f}",
        caption="accuracy [95% bootstrap CI]; p = paired permutation test (Holm) on accuracy",
    )
    for column in ("system", "accuracy", "acc_norm", "p vs nearest", "p vs random", "model s/q"):
        table.add_column(column)
    figures: dict[str, float] = {f"{name}/shortlist_recall": round(recall, 4)}
    for system in systems:
        low, high = vs_nn.ci[system]["accuracy"]
        p_nn = vs_nn.outcomes[system]["accuracy"].p_value if system != "nearest" else None
        p_rand = vs_rand.outcomes[system]["accuracy"].p_value if system != "random" else None
        table.add_row(
            system,
            f"{results[system].mean['accuracy']:.3f} [{low:.3f}, {high:.3f}]",
            f"{results[system].mean['acc_norm']:.3f}",
            "-" if p_nn is None else f"{p_nn:.3g}",
            "-" if p_rand is None else f"{p_rand:.3g}",
            f"{timings[system] / len(held):.2f}",
        )
        for metric in metrics:
            figures[f"{name}/{system}/{metric}"] = round(results[system].mean[metric], 4)
        figures[f"{name}/{system}/accuracy_ci"] = [round(low, 4), round(high, 4)]
        if p_nn is not None:
            figures[f"{name}/{system}/p_vs_nearest"] = p_nn
        if p_rand is not None:
            figures[f"{name}/{system}/p_vs_random"] = p_rand
        figures[f"{name}/{system}/model_s"] = round(timings[system], 1)
    console.print(table)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--train", type=int, default=3000, help="train questions sampled")
    parser.add_argument("--test", type=int, default=500, help="held-out questions sampled")
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--shortlist", type=int, default=10, help="nearest train questions")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="local:gemma-3-270m")
    parser.add_argument("--embedder", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    console = Console()
    embedder = Embedder(args.embedder)
    client = HostedClient(args.model, kind="choice")
    figures: dict[str, object] = {
        "model": args.model,
        "precision": os.environ.get("FLYWHEEL_LOCAL_DTYPE", "float32"),
        "k": args.k,
        "test": args.test,
        "shortlist": args.shortlist,
    }
    start = time.perf_counter()
    for name in args.datasets:
        figures.update(run_dataset(name, args, embedder, client, console))
    figures["total_s"] = round(time.perf_counter() - start, 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
