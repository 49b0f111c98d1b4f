"""The flywheel on a team's own logs: simulated users over SciFact, labels, propensities, lift.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/loop_from_logs.py --labels-only   # ~2 min
    HF_HUB_OFFLINE=1 nice -n 10 .venv/bin/python benchmarks/loop_from_logs.py      # + training

A store holds SciFact's corpus, all its queries and only the *test* judgments. Simulated users
(:mod:`flywheel.testing.simulate`) ask the 809 training queries ``--sessions`` times each; a
session sees the base model's top 10 (all-MiniLM-L6-v2), BM25's top 10 or a shuffled base list,
and clicks, dwells and leaves thumbs as the variant says. The sessions are logged through
``flywheel.Logger``. Then, per variant:

(a) label quality against the true training qrels, over every shown (query, document) pair:
    the project's labels (``labels_from_events`` on the store's events, default policy) and
    naive click counting (``click_through_labels``: positive when the click-through rate
    reaches a threshold; the best threshold by F1 is reported): precision, recall and F1 of
    positives, the share of negatives truly non-relevant, AUC of the relevance score, and recall
    by the best rank a relevant document was shown at;
(b) the estimated examination propensity against the truth at ranks 1-10;
(c) unless ``--labels-only``: test nDCG@10 and recall@100 (300 queries) of the base model, of
    ``flywheel run --db STORE`` (trained from the logs only) and of ``flywheel run --dataset
    scifact`` (trained from the true training qrels; once for all variants), each with a paired
    permutation test against base.

Everything expensive is cached under ``--out``: the base and BM25 runs, the template store, the
qrels-trained loop and each variant's loop (delete a folder to redo it). Prints the tables,
then one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from sklearn.metrics import roc_auc_score

import flywheel
from flywheel.data.events import Event
from flywheel.data.types import Qrels, Queries, Run
from flywheel.datasets.label_quality import click_through_labels, label_agreement
from flywheel.datasets.signals import EventLabels, Polarity, labels_from_events
from flywheel.evaluation import Comparison, EvaluationResult, compare, evaluate
from flywheel.retrieval.bm25 import BM25Retriever
from flywheel.store import Store
from flywheel.testing import SimulationConfig, SimulationTruth, simulate_sessions

ROOT = Path(__file__).resolve().parents[1]
METRICS = ["ndcg@10", "recall@100"]
THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)
RANK_BUCKETS = {"1": (1, 1), "2-3": (2, 3), "4-6": (4, 6), "7-10": (7, 10)}
#: every variant shows base / BM25 / shuffled lists 60/20/20 and asks thumbs in 10% of sessions
COMMON = dict(depth=10, shuffled_share=0.2, second_ranker_share=0.2, thumbs_share=0.1)
VARIANTS: dict[str, dict[str, Any]] = {
    "bias-0.5": dict(bias=0.5),
    "bias-1": dict(bias=1.0),
    "bias-1-noisy-dwell": dict(bias=1.0, noisy_dwell_share=0.1),
    "bias-2": dict(bias=2.0),
}
DEFAULT_VARIANTS = "bias-0.5,bias-1,bias-1-noisy-dwell"
console = Console(width=160)


def say(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


# -- shared, cached parts -------------------------------------------------------------------------
def cached_run(path: Path, make: Callable[[], Run]) -> Run:
    if path.is_file():
        return json.loads(path.read_text())
    run = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(run))
    return run


def dense_run(corpus: dict, queries: Queries, k: int) -> Run:
    from flywheel.retrieval.dense import DenseRetriever
    from flywheel.retrieval.embedders import Embedder

    return DenseRetriever(corpus, Embedder()).search(queries, k=k)


def template_store(path: Path, folder: Path) -> Path:
    """Corpus, every query, and the test judgments only: the training qrels stay out."""
    if path.is_file():
        return path
    data = flywheel.load_beir(folder)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    with Store(str(tmp)) as store:
        store.add_documents(data.corpus.values())
        store.add_queries(data.queries)
        store.add_judgments(data.qrels["test"], source="benchmark", split="test")
    tmp.rename(path)
    return path


# -- (a) label quality ----------------------------------------------------------------------------
def quality(
    truth: SimulationTruth,
    positive: set[tuple[str, str]],
    negative: set[tuple[str, str]],
    score: dict[tuple[str, str], float],
) -> dict[str, Any]:
    shown = truth.shown_pairs
    relevant = {pair for pair in shown if truth.is_relevant(*pair)}
    hits = len(positive & relevant)
    precision = hits / len(positive) if positive else 0.0
    recall = hits / len(relevant) if relevant else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    y = np.array([pair in relevant for pair in shown])
    s = np.array([score.get(pair, 0.0) for pair in shown])
    by_rank = {}
    for name, (low, high) in RANK_BUCKETS.items():
        bucket = [p for p in relevant if low <= truth.best_rank[p] <= high]
        by_rank[name] = round(len(positive & set(bucket)) / len(bucket), 4) if bucket else None
    return {
        "positives": len(positive),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "negatives": len(negative),
        "negatives_truly_nonrelevant": (
            round(len(negative - relevant) / len(negative), 4) if negative else None
        ),
        "auc": round(float(roc_auc_score(y, s)), 4) if 0 < y.sum() < len(y) else None,
        "recall_by_best_rank": by_rank,
    }


def labels_quality(truth: SimulationTruth, labels: EventLabels) -> dict[str, Any]:
    """:func:`quality` of a label set: its positives and negatives, scored by ``relevance``
    (``P(relevant)`` for the click model, the click-through rate for the naive labels)."""
    positive = {k for k, lab in labels.labels.items() if lab.polarity == Polarity.POSITIVE}
    negative = {k for k, lab in labels.labels.items() if lab.polarity == Polarity.NEGATIVE}
    return quality(truth, positive, negative, labels.relevance())


def naive_quality(truth: SimulationTruth, events: list[Event], depth: int) -> dict[str, Any]:
    """Naive click counting at every threshold of :data:`THRESHOLDS`; the best by F1."""
    per = {
        str(t): labels_quality(truth, click_through_labels(events, t, max_rank=depth))
        for t in THRESHOLDS
    }
    best = max(per, key=lambda t: per[t]["f1"])
    return {"best_threshold": float(best), "best": per[best], "thresholds": per}


# -- (b) propensities -----------------------------------------------------------------------------
def estimated_propensity(labels: EventLabels) -> dict[int, float]:
    """The label model's examination curve, normalised to rank 1, ranks 1-10."""
    theta = labels.propensity.theta if labels.propensity is not None else {}
    top = theta.get(1) or 1.0
    return {r: theta[r] / top for r in range(1, 11) if r in theta}


def propensity_figures(truth: SimulationTruth, estimate: dict[int, float]) -> dict[str, Any]:
    ratio = {r: estimate[r] / truth.examination[r] for r in estimate}
    return {
        "true": {str(r): round(p, 4) for r, p in truth.examination.items()},
        "estimated": {str(r): round(p, 4) for r, p in estimate.items()},
        "max_relative_error": round(max(abs(v - 1) for v in ratio.values()), 4),
        "within_20pct": all(abs(v - 1) <= 0.2 for v in ratio.values()),
    }


# -- (c) the loops --------------------------------------------------------------------------------
def run_loop(out: Path, source: list[str], extra: list[str]) -> dict[str, Any]:
    """``flywheel run SOURCE --out OUT``, once: a finished folder's summary.json is reused."""
    summary = out / "summary.json"
    if summary.is_file():
        say(f"reusing {summary}")
        return json.loads(summary.read_text())
    out.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "flywheel", "run", *source, "--out", str(out), *extra]
    say("running " + " ".join(command))
    with open(out / "loop.log", "w") as log:
        done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0 or not summary.is_file():
        tail = (out / "loop.log").read_text()[-3000:]
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{tail}")
    return json.loads(summary.read_text())


def trained_result(summary: dict[str, Any]) -> tuple[EvaluationResult, dict[str, Any]]:
    test = Comparison.from_dict(summary["test"])
    name = "fine-tuned dense"
    info = {
        "selected": summary.get("selected"),
        "selected_ndcg@10": round(test.mean(summary["selected"], "ndcg@10"), 4),
        "accepted": summary.get("embedder_accepted"),
        "split_sizes": summary.get("split_sizes"),
        "training_labels": summary.get("labels"),
        "loop_base_ndcg@10": round(test.mean("base dense", "ndcg@10"), 4),
        "timing_s": {k: round(v) for k, v in (summary.get("timings") or {}).items()},
    }
    return test.results[name], info


def versus_base(
    test_qrels: Qrels, base: EvaluationResult, other: EvaluationResult
) -> dict[str, Any]:
    comp = compare(test_qrels, {"base": base, "other": other}, metrics=METRICS, baseline="base")
    out: dict[str, Any] = {}
    for metric in METRICS:
        o = comp.outcomes["other"][metric]
        out[metric] = round(comp.mean("other", metric), 4)
        out[f"{metric}_delta"] = round(o.delta, 4)
        out[f"{metric}_p"] = round(o.p_value, 5)
    return out


# -- one variant ----------------------------------------------------------------------------------
def simulate_variant(
    name: str, args: argparse.Namespace, template: Path, world: dict[str, Any]
) -> tuple[Path, dict[str, Any]]:
    suffix = f"-{args.max_train_queries}q" if args.max_train_queries else ""
    folder = Path(args.out) / f"{name}-{args.sessions}s-seed{args.seed}{suffix}"
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "store.db"
    db.unlink(missing_ok=True)
    shutil.copy(template, db)
    config = SimulationConfig(
        **COMMON, **VARIANTS[name], sessions_per_query=args.sessions, seed=args.seed
    )
    started = time.perf_counter()
    with Store(str(db)) as store:
        with flywheel.Logger(store, batch_size=2000, flush_interval=None) as log:
            truth = simulate_sessions(
                log,
                world["train_queries"],
                world["train_qrels"],
                world["base_train"],
                config=config,
                second_run=world["bm25_train"],
            )
        events = store.events()
    simulated = time.perf_counter() - started
    say(f"{name}: {truth.sessions} sessions, {len(events)} events in {simulated:.0f}s")
    started = time.perf_counter()
    labels = labels_from_events(events)
    labelled = time.perf_counter() - started
    figures: dict[str, Any] = {
        "simulation": {k: v for k, v in truth.to_dict().items() if k != "config"},
        "config": {k: v for k, v in config.to_dict().items() if k in (*COMMON, *VARIANTS[name])},
        "labels": {
            **labels_quality(truth, labels),
            "agreement": label_agreement(labels, world["train_qrels"]),
            "counts": dict(sorted(labels.counts.items())),
        },
        "naive": naive_quality(truth, events, config.depth),
        "propensity": {
            **propensity_figures(truth, estimated_propensity(labels)),
            "method": labels.propensity.method if labels.propensity else None,
            "identified": labels.propensity.identified if labels.propensity else None,
        },
        "timing_s": {"simulate": round(simulated, 1), "labels": round(labelled, 1)},
    }
    return db, figures


# -- printing -------------------------------------------------------------------------------------
def print_tables(results: dict[str, Any], training: dict[str, Any] | None) -> None:
    table = Table(title="(a) label quality over shown pairs (truth: SciFact training qrels)")
    for col in (
        "variant",
        "labels",
        "positives",
        "precision",
        "recall",
        "F1",
        "neg. truly non-rel",
        "AUC",
        "recall by best rank 1 / 2-3 / 4-6 / 7-10",
    ):
        table.add_column(col)
    for name, fig in results.items():
        naive = fig["naive"]
        rows = [("project", fig["labels"]), (f"CTR >= {naive['best_threshold']}", naive["best"])]
        for label, q in rows:
            br = q["recall_by_best_rank"]
            table.add_row(
                name,
                label,
                str(q["positives"]),
                f"{q['precision']:.3f}",
                f"{q['recall']:.3f}",
                f"{q['f1']:.3f}",
                ""
                if q["negatives_truly_nonrelevant"] is None
                else f"{q['negatives_truly_nonrelevant']:.3f} of {q['negatives']}",
                "" if q["auc"] is None else f"{q['auc']:.3f}",
                " / ".join("-" if br[b] is None else f"{br[b]:.2f}" for b in RANK_BUCKETS),
            )
    console.print(table)
    table = Table(title="(b) examination propensity by rank: estimated against true")
    table.add_column("variant")
    for r in range(1, 11):
        table.add_column(str(r))
    table.add_column("max rel. error")
    for name, fig in results.items():
        p = fig["propensity"]
        table.add_row(f"{name} true", *(f"{p['true'][str(r)]:.3f}" for r in range(1, 11)), "")
        estimated = [p["estimated"].get(str(r)) for r in range(1, 11)]
        table.add_row(
            f"{name} estimated",
            *("" if v is None else f"{v:.3f}" for v in estimated),
            f"{p['max_relative_error']:.2f}",
        )
    console.print(table)
    if training is None:
        return
    table = Table(title=f"(c) test, {training['test_queries']} queries: paired tests vs base")
    columns = ("system", "nDCG@10", "delta", "p", "recall@100", "delta", "p", "share of gain")
    for col in (*columns, "dev gate", "selected on dev: test nDCG@10"):
        table.add_column(col)
    base = training["base"]
    table.add_row("base", f"{base['ndcg@10']:.4f}", "", "", f"{base['recall@100']:.4f}")
    rows = [("trained on true qrels", training["qrels_trained"])]
    rows += [(f"logs only: {n}", training["logs_only"][n]) for n in training["logs_only"]]
    for label, f in rows:
        table.add_row(
            label,
            f"{f['ndcg@10']:.4f}",
            f"{f['ndcg@10_delta']:+.4f}",
            f"{f['ndcg@10_p']:.3g}",
            f"{f['recall@100']:.4f}",
            f"{f['recall@100_delta']:+.4f}",
            f"{f['recall@100_p']:.3g}",
            "" if f.get("share_of_qrels_gain") is None else f"{f['share_of_qrels_gain']:.2f}",
            {True: "accepted", False: "rejected"}.get(f.get("accepted"), ""),
            f"{f['selected']}: {f['selected_ndcg@10']:.4f}",
        )
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets-dir", default=str(ROOT / ".." / "shared" / "datasets"))
    parser.add_argument("--out", default="flywheel-out/bench-loop-from-logs")
    parser.add_argument("--variants", default=DEFAULT_VARIANTS, help=f"of: {', '.join(VARIANTS)}")
    parser.add_argument("--sessions", type=int, default=20, help="sessions per training query")
    parser.add_argument("--labels-only", action="store_true", help="(a) and (b) only, no training")
    parser.add_argument("--max-train-queries", type=int, default=None, help="simulate fewer")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument(
        "--loop-args", default="", help="extra arguments for both `flywheel run` calls"
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.WARNING)
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; known: {', '.join(VARIANTS)}")
    folder = Path(args.datasets_dir) / "scifact"
    out = Path(args.out)
    cache = out / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    data = flywheel.load_beir(folder)
    train_qrels = data.qrels["train"]
    train_qids = sorted(train_qrels)
    if args.max_train_queries:
        rng = np.random.default_rng(args.seed)
        train_qids = sorted(rng.choice(train_qids, args.max_train_queries, replace=False))
    train_queries = {q: data.queries[q] for q in train_qids}
    say(f"{len(train_queries)} training queries simulated, {len(data.corpus)} documents")
    all_train = {q: data.queries[q] for q in sorted(train_qrels)}
    base_train = cached_run(
        cache / "base_train_top10.json", lambda: dense_run(data.corpus, all_train, 10)
    )
    bm25_train = cached_run(
        cache / "bm25_train_top10.json", lambda: BM25Retriever(data.corpus).search(all_train, 10)
    )
    world = {
        "train_queries": train_queries,
        "train_qrels": train_qrels,
        "base_train": base_train,
        "bm25_train": bm25_train,
    }
    template = template_store(cache / "template.db", folder)
    results: dict[str, Any] = {}
    stores: dict[str, Path] = {}
    for name in names:
        stores[name], results[name] = simulate_variant(name, args, template, world)
    training = None if args.labels_only else train_and_test(args, data, folder, stores, cache)
    print_tables(results, training)
    print(json.dumps({"variants": results, "training": training, "sessions": args.sessions}))


def train_and_test(
    args: argparse.Namespace,
    data: flywheel.RetrievalDataset,
    folder: Path,
    stores: dict[str, Path],
    cache: Path,
) -> dict[str, Any]:
    test_qrels = data.qrels["test"]
    test_queries = {q: data.queries[q] for q in sorted(test_qrels)}
    base_run = cached_run(
        cache / "base_test_top100.json", lambda: dense_run(data.corpus, test_queries, 100)
    )
    base = evaluate(test_qrels, base_run, METRICS)
    extra = args.loop_args.split()
    if args.max_train_queries:
        extra += ["--max-train-queries", str(args.max_train_queries)]
    suffix = f"-{args.max_train_queries}q" if args.max_train_queries else ""
    qrels_summary = run_loop(
        Path(args.out) / f"qrels-trained{suffix}", ["--dataset", str(folder)], extra
    )
    qrels_result, qrels_info = trained_result(qrels_summary)
    qrels_fig = {**versus_base(test_qrels, base, qrels_result), **qrels_info}
    gain = qrels_fig["ndcg@10_delta"]
    logs: dict[str, Any] = {}
    for name, db in stores.items():
        summary = run_loop(db.parent / "loop", ["--db", f"sqlite:///{db.resolve()}"], extra)
        result, info = trained_result(summary)
        fig = {**versus_base(test_qrels, base, result), **info}
        fig["share_of_qrels_gain"] = round(fig["ndcg@10_delta"] / gain, 3) if gain > 0 else None
        logs[name] = fig
    return {
        "test_queries": len(test_qrels),
        "base": {m: round(base.mean[m], 4) for m in METRICS},
        "qrels_trained": qrels_fig,
        "logs_only": logs,
    }


if __name__ == "__main__":
    main()
