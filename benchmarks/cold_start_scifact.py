"""Cold start on SciFact: fine-tune MiniLM on offline pseudo-questions, as if no queries existed.

    flock /tmp/flywheel-heavy.lock env HF_HUB_OFFLINE=1 \
        .venv/bin/python benchmarks/cold_start_scifact.py

``cold_start`` is what ``flywheel run`` does on a dataset without training queries, through the
same library functions (:func:`flywheel.pipeline.cold_start.plan_cold_start`, the loop's splits,
mining and training rows):

1. Inverse-cloze pseudo-questions from passages sampled across the corpus (stratified by
   document and k-means cluster of the base embeddings); the train qrels are never read.
2. Filters: copied spans (vs the masked positive), near-duplicates (base-model cosine >= 0.95),
   leaks (cosine >= 0.9 with a test query); counts kept and rejected per filter.
3. Hard negatives from the base model (ranks 3-30, TopK-PercPos 95%), masked positives, MNRL,
   1 epoch at lr 1e-5.
4. The dev gate (dev carved from the synthetic questions, as the loop carves it) keeps the base
   unless the fine-tuned model beats it; WiSE-FT (the fine-tuned weights averaged with the
   base's) is measured beside it as a diagnostic.
5. ``cold_start_plus_real``: the same with the real training queries added (dev carved from the
   real ones), to show what real data is worth over synthetic.

Everything is evaluated on the 300 test queries with a paired permutation test against the base.
The last line is one JSON object naming the systems ``base``, ``cold_start`` and
``cold_start_plus_real``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from flywheel.data.beir import load_beir
from flywheel.datasets.splits import check_leakage, split_queries
from flywheel.evaluation import compare, evaluate
from flywheel.models import DEFAULT_BASE_MODEL, resolve_model
from flywheel.pipeline.cold_start import plan_cold_start
from flywheel.pipeline.config import LoopConfig
from flywheel.pipeline.mining import embedder_rows, mine_negatives
from flywheel.pipeline.splits import prepare_splits
from flywheel.retrieval.dense import DenseRetriever
from flywheel.retrieval.embedders import Embedder
from flywheel.training.embedder import train_embedder

ROOT = Path(__file__).resolve().parents[1]
METRICS = ["ndcg@10", "recall@100"]


def average_weights(base: str, tuned: str, alpha: float, out: Path) -> str:
    """WiSE-FT: ``(1 - alpha) * base + alpha * tuned``, saved as a model folder."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(tuned, device="cpu")
    base_state = SentenceTransformer(resolve_model(base), device="cpu").state_dict()
    state = model.state_dict()
    for name, value in state.items():
        if value.dtype.is_floating_point and name in base_state:
            state[name] = (1 - alpha) * base_state[name] + alpha * value
    model.load_state_dict(state)
    model.save(str(out))
    return str(out)


def dense(model: str, dataset, queries) -> dict:
    return DenseRetriever(dataset.corpus, Embedder(model)).search(queries, k=100)


def loop_training(dataset, config: LoopConfig, base: Embedder, out: Path, say):
    """The loop's path from a dataset to a fine-tuned embedder: splits, mining, rows, training."""
    splits = prepare_splits(dataset, config)
    texts = dataset.texts()
    mined = mine_negatives(
        config, splits, base=base, doc_ids=list(dataset.corpus), texts=texts, say=say
    )
    rows = embedder_rows(config, splits, mined, texts, say, positive_texts=dataset.positive_texts)
    trained = train_embedder(
        rows, base_model=config.base_model, out_dir=out, config=config.embedder, dev=None
    )
    return str(trained.model_path), splits, len(rows)


def gate(candidates: dict[str, str], dataset, dev_q, dev_qrels, say) -> tuple[str, dict]:
    """Dev nDCG@10 of every candidate; a trained one wins only if it beats the base."""
    scores = {
        name: evaluate(dev_qrels, dense(model, dataset, dev_q), ["ndcg@10"]).mean["ndcg@10"]
        for name, model in candidates.items()
    }
    best = max(scores, key=lambda n: (scores[n], n == "base"))
    if scores[best] <= scores["base"]:
        best = "base"
    say(f"dev nDCG@10: {', '.join(f'{n} {s:.4f}' for n, s in scores.items())} -> {best}")
    return best, scores


def gated_system(
    name: str,
    data,
    config: LoopConfig,
    base: Embedder,
    dataset,
    test_q,
    runs: dict,
    timings: dict,
    args,
    out: Path,
    say,
    *,
    key: str | None = None,
) -> dict:
    """Train as the loop does, let the dev gate choose (the base unless the fine-tuned model
    beats it), test the choice as ``name`` and the other candidates as diagnostics (WiSE-FT,
    the fine-tuned weights averaged with the base's, is never chosen: a diagnostic)."""
    key = key or name
    t = time.perf_counter()
    tuned, splits, n_rows = loop_training(data, config, base, out / key, say)
    averaged = average_weights(DEFAULT_BASE_MODEL, tuned, args.alpha, out / f"{key}_wise")
    timings[f"{key}_train_s"] = time.perf_counter() - t
    t = time.perf_counter()
    models = {"base": DEFAULT_BASE_MODEL, "fine-tuned": tuned, "averaged": averaged}
    candidates = {"base": DEFAULT_BASE_MODEL, "fine-tuned": tuned}
    chosen, scores = gate(candidates, dataset, splits.dev_q, splits.dev_qrels, say)
    scores["averaged (diagnostic)"] = evaluate(
        splits.dev_qrels, dense(averaged, dataset, splits.dev_q), ["ndcg@10"]
    ).mean["ndcg@10"]
    runs[name] = runs["base"] if chosen == "base" else dense(models[chosen], dataset, test_q)
    for candidate in ("fine-tuned", "averaged"):  # diagnostics: every candidate on test
        if candidate != chosen:
            runs[f"{name} [{candidate}, diagnostic]"] = dense(models[candidate], dataset, test_q)
    timings[f"{key}_eval_s"] = time.perf_counter() - t
    origin = "real queries carved from train" if "dev" in data.qrels else "synthetic questions"
    return {
        "selected": chosen,
        "dev_ndcg@10": scores,
        "dev": f"{len(splits.dev_q)} {origin}",
        "train_rows": n_rows,
        "train_queries": len(splits.train_q),
        "dev_queries": len(splits.dev_q),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets-dir", default=str(ROOT / ".." / "shared" / "datasets"))
    parser.add_argument("--out", default="flywheel-out/cold-start-scifact")
    parser.add_argument("--alpha", type=float, default=0.5, help="WiSE-FT mixing weight")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--skip-real", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.WARNING)
    console = Console(width=max(Console().width, 130))  # system names are long
    say = lambda line: console.print(f"[dim]{line}[/]")  # noqa: E731
    out = Path(args.out)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()

    dataset = load_beir(Path(args.datasets_dir) / "scifact")
    test_q, test_qrels = dataset.split("test")
    base = Embedder(DEFAULT_BASE_MODEL)
    runs = {"base": dense(DEFAULT_BASE_MODEL, dataset, test_q)}
    timings["base_s"] = time.perf_counter() - t0

    # 1-2: pseudo-questions and filters, exactly as `flywheel run` plans them (train qrels unused)
    t = time.perf_counter()
    config = LoopConfig(dataset="scifact", out_dir=out, seed=args.seed)
    no_train = replace(dataset, qrels={"test": test_qrels})
    cold = plan_cold_start(no_train, config, say=say, embedder=base)
    assert cold is not None
    report = cold.result.report
    timings["generate_filter_s"] = time.perf_counter() - t

    # 3-4: the loop's splits (dev carved from the synthetic questions), mining and training
    context = (base, dataset, test_q, runs, timings, args, out, say)
    gates = {"cold_start": gated_system("cold_start", cold.dataset, cold.config, *context)}

    if not args.skip_real:
        real_q, real_qrels = dataset.split("train")
        leaked = check_leakage(real_q, test_q, force=True).leaked_qids
        real_q = {q: s for q, s in real_q.items() if q not in leaked}
        rsplit = split_queries(real_q, dev_fraction=0.1, seed=args.seed)
        qrels = {
            "train": {
                **cold.dataset.qrels["train"],
                **{q: real_qrels[q] for q in rsplit.train_qids},
            },
            "dev": {q: real_qrels[q] for q in rsplit.dev_qids},
            "test": test_qrels,
        }
        mixed = replace(cold.dataset, qrels=qrels)
        gates["cold_start_plus_real"] = gated_system(
            "cold_start_plus_real", mixed, cold.config, *context, key="plus_real"
        )
    comparison = compare(test_qrels, runs, metrics=METRICS, baseline="base")
    table = Table(title="SciFact test (300 queries): cold start from offline pseudo-questions")
    table.add_column("system", no_wrap=True)
    for column in ("nDCG@10", "recall@100", "Δ nDCG@10", "p (vs base)", "dev gate"):
        table.add_column(column)
    figures: dict[str, dict] = {}
    for system in comparison.systems:
        o = comparison.outcomes.get(system, {}).get("ndcg@10")
        gate_note = gates.get(system, {}).get("selected", "")
        table.add_row(
            escape(system),  # "[averaged, diagnostic]" is not markup
            f"{comparison.mean(system, 'ndcg@10'):.4f}",
            f"{comparison.mean(system, 'recall@100'):.4f}",
            "" if o is None else f"{o.delta:+.4f}",
            "" if o is None else f"{o.p_value:.3g}",
            gate_note,
        )
        figures[system] = {
            "ndcg@10": comparison.mean(system, "ndcg@10"),
            "recall@100": comparison.mean(system, "recall@100"),
            "p_value_vs_base": None if o is None else o.p_value,
        }
    console.print(table)
    console.print(
        "Filters: "
        + ", ".join(f"{k} rejected {v}" for k, v in report.rejected.items())
        + f"; {report.kept} of {report.candidates} kept from {cold.result.sampled} sampled "
        f"passages, {len(cold.result.kept)} used ({gates['cold_start']['train_queries']} train / "
        f"{gates['cold_start']['dev_queries']} dev)"
    )
    console.print("Timings (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))
    summary = {
        "dataset": "scifact",
        "systems": figures,
        "gates": gates,
        "filters": report.to_dict(),
        "pairs_used": len(cold.result.kept),
        "passages_sampled": cold.result.sampled,
        "config": {
            "lr": cold.config.embedder.learning_rate,
            "alpha": args.alpha,
            "epochs": cold.config.embedder.epochs,
            "loss": "mnrl",
            "negatives": "base ranks 3-30, TopK-PercPos 0.95",
            "seed": args.seed,
        },
        "reference": {"naive_ict_ndcg@10": 0.632, "published_base_ndcg@10": 0.645},
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
    }
    print(json.dumps(summary, default=float))


if __name__ == "__main__":
    main()
