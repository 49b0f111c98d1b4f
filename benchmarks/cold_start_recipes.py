"""Which cold-start recipe? Measured on SciFact's *training* queries, never on test.

    flock /tmp/flywheel-heavy.lock env HF_HUB_OFFLINE=1 \
        .venv/bin/python benchmarks/cold_start_recipes.py --recipes title ict ict-inbatch

How the defaults of ``flywheel run``'s cold start were chosen. Each recipe generates offline
pseudo-questions from the corpus (the qrels are never read to make them), fine-tunes
all-MiniLM-L6-v2 and averages the result with the base weights (WiSE-FT). Every model is then
scored three ways:

* ``real dev``: nDCG@10 of SciFact's 809 *training* queries - real users' questions the
  recipe never saw. This is the development set for the recipe; the test queries are left to
  ``benchmarks/cold_start_scifact.py``.
* ``syn dev``: held-out synthetic questions against the corpus as it is (their source document
  still contains the question sentence, so this is easy).
* ``syn dev masked``: the same questions with the sentence removed from their source document
  in the corpus - the task the model was trained on, held out. A gate a user without real
  queries can run; the table shows which synthetic gate agrees with the real one.

Results per recipe are kept as JSON under ``--out``, so a rerun skips finished recipes.
The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cold_start_scifact as cs  # noqa: E402

from flywheel.data.beir import load_beir  # noqa: E402
from flywheel.data.types import Document  # noqa: E402
from flywheel.datasets.hard_negatives import HardNegativeConfig, mine_hard_negatives  # noqa: E402
from flywheel.datasets.splits import split_queries  # noqa: E402
from flywheel.datasets.triplets import build_triplets  # noqa: E402
from flywheel.evaluation import evaluate  # noqa: E402
from flywheel.models import DEFAULT_BASE_MODEL  # noqa: E402
from flywheel.retrieval.dense import DenseRetriever  # noqa: E402
from flywheel.retrieval.embedders import Embedder  # noqa: E402
from flywheel.synth.filters import FilterConfig, apply_filters  # noqa: E402
from flywheel.synth.offline import GENERATORS  # noqa: E402
from flywheel.synth.sampling import sample_passages  # noqa: E402
from flywheel.synth.types import SyntheticPair  # noqa: E402
from flywheel.training.config import EmbedderTrainConfig  # noqa: E402
from flywheel.training.embedder import train_embedder  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# name -> generator, pairs used, learning rate, epochs, mined hard negatives?
RECIPES: dict[str, dict] = {
    "ict": {"generator": "ict", "pairs": 1000, "lr": 1e-5, "epochs": 1, "negatives": True},
    "ict-inbatch": {"generator": "ict", "pairs": 1000, "lr": 1e-5, "epochs": 1, "negatives": False},
    "ict-2k": {"generator": "ict", "pairs": 2000, "lr": 1e-5, "epochs": 1, "negatives": True},
    "ict-lr5e-6": {"generator": "ict", "pairs": 1000, "lr": 5e-6, "epochs": 1, "negatives": True},
    "title": {"generator": "title", "pairs": 1000, "lr": 1e-5, "epochs": 1, "negatives": True},
    "crop": {"generator": "crop", "pairs": 1000, "lr": 1e-5, "epochs": 1, "negatives": True},
}


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


def score(model: str, corpus, queries, qrels) -> float:
    run = DenseRetriever(corpus, Embedder(model)).search(queries, k=100)
    return evaluate(qrels, run, ["ndcg@10"]).mean["ndcg@10"]


def masked_corpus(corpus, dev_pairs):
    """The corpus with each dev question's sentence removed from its source document."""
    out = dict(corpus)
    for pair in dev_pairs:
        doc = corpus[pair.doc_id]
        body = doc.text.replace(pair.question, " ").strip()
        out[pair.doc_id] = Document(doc.doc_id, body, doc.title)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets-dir", default=str(ROOT / ".." / "shared" / "datasets"))
    parser.add_argument("--out", default="flywheel-out/cold-start-recipes")
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    console = Console(width=max(Console().width, 120))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    dataset = load_beir(Path(args.datasets_dir) / "scifact")
    real_q, real_qrels = dataset.split("train")
    test_q, _ = dataset.split("test")
    texts = dataset.texts()
    doc_ids = list(dataset.corpus)
    base = Embedder(DEFAULT_BASE_MODEL)
    doc_emb = base.encode_documents(doc_ids, [texts[d] for d in doc_ids])
    sampled = sample_passages(doc_ids, 3000, embeddings=doc_emb, clusters=16, seed=args.seed)
    bodies = {d: dataset.corpus[d].text for d in sampled}

    results: dict[str, dict] = {}
    base_file = out / "base.json"
    for name in args.recipes:
        recipe = RECIPES[name]
        done = out / f"{name}.json"
        if done.exists():
            results[name] = json.loads(done.read_text())
            continue
        t0 = time.perf_counter()
        if recipe["generator"] == "title":
            candidates = [
                SyntheticPair(dataset.corpus[d].title, d, dataset.corpus[d].text, "title")
                for d in sampled
                if dataset.corpus[d].title
            ]
        else:
            candidates = GENERATORS[recipe["generator"]](bodies, sampled, seed=args.seed)
            for pair in candidates:
                title = dataset.corpus[pair.doc_id].title
                pair.positive = f"{title} {pair.positive}".strip() if title else pair.positive
        kept, _, report = apply_filters(
            candidates, FilterConfig(), eval_queries=test_q, embed=base.encode_queries
        )
        pairs = kept[: recipe["pairs"]]
        split = split_queries({p.qid: p.question for p in pairs}, dev_fraction=0.1, seed=args.seed)
        dev_ids = set(split.dev_qids)
        train = [p for p in pairs if p.qid not in dev_ids]
        dev = [p for p in pairs if p.qid in dev_ids]
        dev_q = {p.qid: p.question for p in dev}
        dev_qrels = {p.qid: {p.doc_id: 1} for p in dev}
        if recipe["negatives"]:
            rows = rows_for(train, {}, {}, texts, base, doc_ids, doc_emb, args.seed)
        else:
            rows = [{"anchor": p.question, "positive": p.positive} for p in train]
        ns = argparse.Namespace(lr=recipe["lr"])
        tuned = fine_tune(rows, out / name, ns, epochs=recipe["epochs"])
        averaged = cs.average_weights(DEFAULT_BASE_MODEL, tuned, args.alpha, out / f"{name}-wise")
        masked = masked_corpus(dataset.corpus, dev)
        figures = {}
        models = {"base": DEFAULT_BASE_MODEL, "fine-tuned": tuned, "averaged": averaged}
        for label, model in models.items():
            if label == "base" and base_file.exists():  # the same for every recipe
                real = json.loads(base_file.read_text())["real_dev"]
            else:
                real = score(model, dataset.corpus, real_q, real_qrels)
                if label == "base":
                    base_file.write_text(json.dumps({"real_dev": real}))
            figures[label] = {
                "real_dev": real,
                "syn_dev": score(model, dataset.corpus, dev_q, dev_qrels),
                "syn_dev_masked": score(model, masked, dev_q, dev_qrels),
            }
        results[name] = {
            "recipe": recipe,
            "rows": len(rows),
            "filters": report.to_dict(),
            "models": figures,
            "seconds": round(time.perf_counter() - t0, 1),
        }
        done.write_text(json.dumps(results[name], default=float))

    table = Table(title="Cold-start recipes on SciFact (nDCG@10; real dev = 809 training queries)")
    for column in ("recipe", "model", "real dev", "syn dev", "syn dev masked", "rows"):
        table.add_column(column)
    for name, result in results.items():
        for label, fig in result["models"].items():
            table.add_row(
                name,
                label,
                f"{fig['real_dev']:.4f}",
                f"{fig['syn_dev']:.4f}",
                f"{fig['syn_dev_masked']:.4f}",
                str(result["rows"]),
            )
    console.print(table)
    print(json.dumps({"dataset": "scifact", "split": "train (as dev)", "recipes": results}))


if __name__ == "__main__":
    main()
