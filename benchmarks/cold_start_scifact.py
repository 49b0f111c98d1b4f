"""Cold start on SciFact: fine-tune MiniLM on offline pseudo-questions, as if no queries existed.

    flock /tmp/flywheel-heavy.lock env HF_HUB_OFFLINE=1 \
        .venv/bin/python benchmarks/cold_start_scifact.py

1. Inverse-cloze pseudo-questions from passages sampled across the corpus (stratified by
   document and k-means cluster of the base embeddings); the train qrels are never read.
2. Filters: copied spans (vs the masked positive), near-duplicates (base-model cosine >= 0.95),
   leaks (cosine >= 0.9 with a test query); counts kept and rejected per filter.
3. Hard negatives from the base model (ranks 3-30, TopK-PercPos 95%), MNRL, 1 epoch, low lr.
4. WiSE-FT: the fine-tuned weights averaged with the base's (alpha), the dev gate (dev carved
   from the synthetic pairs) picks among base / fine-tuned / averaged: the base stays unless a
   trained model beats it on dev.
5. The same with the real training queries added (dev carved from the real ones).

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
from pathlib import Path

from rich.console import Console
from rich.table import Table

from flywheel.data.beir import load_beir
from flywheel.datasets.hard_negatives import HardNegativeConfig, mine_hard_negatives
from flywheel.datasets.splits import check_leakage, split_queries
from flywheel.datasets.triplets import build_triplets
from flywheel.evaluation import compare, evaluate
from flywheel.models import DEFAULT_BASE_MODEL, resolve_model
from flywheel.retrieval.dense import DenseRetriever
from flywheel.retrieval.embedders import Embedder
from flywheel.synth.filters import FilterConfig, apply_filters
from flywheel.synth.offline import inverse_cloze
from flywheel.synth.sampling import sample_passages
from flywheel.synth.types import SyntheticPair
from flywheel.training.config import EmbedderTrainConfig
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


def rows_for(pairs: list[SyntheticPair], real_q, real_qrels, texts, base, doc_ids, doc_emb, seed):
    """(anchor, positive, negative) rows: hard negatives mined with the base model; synthetic
    positives are the masked passages, real ones the judged documents."""
    queries = {p.qid: p.question for p in pairs} | dict(real_q)
    qrels = {p.qid: {p.doc_id: 1} for p in pairs} | {q: real_qrels[q] for q in real_q}
    mined = mine_hard_negatives(
        queries,
        qrels,
        texts,
        query_embeddings=base.encode_queries(list(queries.values())),
        query_ids=list(queries),
        doc_embeddings=doc_emb,
        doc_ids=doc_ids,
        config=HardNegativeConfig(range_min=3, range_max=30, relative_margin=0.05, seed=seed),
        model_name=DEFAULT_BASE_MODEL,
    )
    rows = build_triplets(mined, queries, texts, num_negatives=1)
    masked = {p.question: p.positive for p in pairs}
    for row in rows:
        if row["anchor"] in masked:
            row["positive"] = masked[row["anchor"]]
    return rows


def fine_tune(rows, out: Path, args, epochs: int = 1) -> str:
    result = train_embedder(
        rows,
        base_model=DEFAULT_BASE_MODEL,
        out_dir=out,
        config=EmbedderTrainConfig(
            epochs=epochs,
            learning_rate=args.lr,
            batch_size=32,
            eval_each_epoch=False,
            max_seq_length=256,
        ),
        dev=None,
    )
    return str(result.model_path)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets-dir", default=str(ROOT / ".." / "shared" / "datasets"))
    parser.add_argument("--out", default="flywheel-out/cold-start-scifact")
    parser.add_argument("--candidates", type=int, default=2500, help="passages sampled")
    parser.add_argument("--pairs", type=int, default=1000, help="synthetic pairs trained on")
    parser.add_argument("--lr", type=float, default=1e-5)
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
    texts = dataset.texts()
    doc_ids = list(dataset.corpus)
    base = Embedder(DEFAULT_BASE_MODEL)
    doc_emb = base.encode_documents(doc_ids, [texts[d] for d in doc_ids])
    runs = {
        "base": DenseRetriever(dataset.corpus, base, doc_embeddings=doc_emb).search(test_q, k=100)
    }
    timings["base_s"] = time.perf_counter() - t0

    # 1-2: pseudo-questions and filters (train qrels unused)
    t = time.perf_counter()
    sampled = sample_passages(
        doc_ids, args.candidates, embeddings=doc_emb, clusters=16, seed=args.seed
    )
    bodies = {d: dataset.corpus[d].text for d in sampled}
    candidates = inverse_cloze(bodies, sampled, seed=args.seed)
    for pair in candidates:  # the positive keeps the title, as encoded documents do
        title = dataset.corpus[pair.doc_id].title
        pair.positive = f"{title} {pair.positive}".strip() if title else pair.positive
    kept, rejected, report = apply_filters(
        candidates, FilterConfig(), eval_queries=test_q, embed=base.encode_queries
    )
    pairs = kept[: args.pairs]
    timings["generate_filter_s"] = time.perf_counter() - t
    say(
        f"{report.candidates} ICT candidates from {len(sampled)} passages; rejected "
        f"{report.rejected}; {report.kept} kept, {len(pairs)} used"
    )

    split = split_queries({p.qid: p.question for p in pairs}, dev_fraction=0.1, seed=args.seed)
    dev_ids = set(split.dev_qids)
    syn_train = [p for p in pairs if p.qid not in dev_ids]
    syn_dev_q = {p.qid: p.question for p in pairs if p.qid in dev_ids}
    syn_dev_qrels = {p.qid: {p.doc_id: 1} for p in pairs if p.qid in dev_ids}

    t = time.perf_counter()
    rows = rows_for(syn_train, {}, {}, texts, base, doc_ids, doc_emb, args.seed)
    tuned = fine_tune(rows, out / "cold_start", args)
    averaged = average_weights(DEFAULT_BASE_MODEL, tuned, args.alpha, out / "cold_start_wise")
    timings["cold_start_train_s"] = time.perf_counter() - t
    t = time.perf_counter()
    models = {"base": DEFAULT_BASE_MODEL, "fine-tuned": tuned, "averaged": averaged}
    chosen, dev_scores = gate(models, dataset, syn_dev_q, syn_dev_qrels, say)
    runs["cold_start"] = (
        runs["base"] if chosen == "base" else dense(models[chosen], dataset, test_q)
    )
    for name in ("fine-tuned", "averaged"):  # diagnostics: every candidate on test
        if name != chosen:
            runs[f"cold_start [{name}, diagnostic]"] = dense(models[name], dataset, test_q)
    timings["cold_start_eval_s"] = time.perf_counter() - t
    gates = {"cold_start": {"selected": chosen, "dev_ndcg@10": dev_scores, "dev": "synthetic"}}

    if not args.skip_real:
        t = time.perf_counter()
        real_q, real_qrels = dataset.split("train")
        leaked = check_leakage(real_q, test_q, force=True).leaked_qids
        real_q = {q: s for q, s in real_q.items() if q not in leaked}
        rsplit = split_queries(real_q, dev_fraction=0.1, seed=args.seed)
        r_train = {q: real_q[q] for q in rsplit.train_qids}
        r_dev = {q: real_q[q] for q in rsplit.dev_qids}
        rows = rows_for(pairs, r_train, real_qrels, texts, base, doc_ids, doc_emb, args.seed)
        tuned_r = fine_tune(rows, out / "plus_real", args)
        averaged_r = average_weights(
            DEFAULT_BASE_MODEL, tuned_r, args.alpha, out / "plus_real_wise"
        )
        timings["plus_real_train_s"] = time.perf_counter() - t
        t = time.perf_counter()
        models = {"base": DEFAULT_BASE_MODEL, "fine-tuned": tuned_r, "averaged": averaged_r}
        chosen_r, dev_r = gate(models, dataset, r_dev, {q: real_qrels[q] for q in r_dev}, say)
        runs["cold_start_plus_real"] = (
            runs["base"] if chosen_r == "base" else dense(models[chosen_r], dataset, test_q)
        )
        for name in ("fine-tuned", "averaged"):
            if name != chosen_r:
                runs[f"cold_start_plus_real [{name}, diagnostic]"] = dense(
                    models[name], dataset, test_q
                )
        timings["plus_real_eval_s"] = time.perf_counter() - t
        gates["cold_start_plus_real"] = {
            "selected": chosen_r,
            "dev_ndcg@10": dev_r,
            "dev": "real (carved from train)",
        }

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
            system,
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
        + f"; {report.kept} of {report.candidates} kept, {len(pairs)} used "
        f"({len(syn_train)} train / {len(syn_dev_q)} dev)"
    )
    console.print("Timings (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))
    summary = {
        "dataset": "scifact",
        "systems": figures,
        "gates": gates,
        "filters": report.to_dict(),
        "pairs_used": len(pairs),
        "config": {
            "lr": args.lr,
            "alpha": args.alpha,
            "epochs": 1,
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
