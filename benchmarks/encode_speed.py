"""Document encoding speed (docs/s) of all-MiniLM-L6-v2 at max_seq_length 256, per backend,
and with ``--quality`` the retrieval quality each backend keeps (SciFact test nDCG@10).

Encodes a fixed sample of SciFact abstracts (title + text) with the embedding cache off, after
a short warm-up, for the torch backend, the ONNX Runtime backends made here (``ort`` fp32 and
``ort-int8``), and sentence-transformers' own ONNX / OpenVINO when ``optimum`` is installed.
Backends are timed in turns (``--rounds``), so a busy machine slows them alike; the figure is the
median round. ``--quality`` then encodes the whole corpus per backend (cached) and scores dense
retrieval on the 300 test queries. The LAST line is one JSON object
``{"scifact/<backend>/docs_per_s": ..., "scifact/<backend>/ndcg@10": ..., ...}``.

    python benchmarks/encode_speed.py                       # 200 docs, speed only
    python benchmarks/encode_speed.py --quality --backends torch ort-int8
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from flywheel.data.beir import load_beir, read_corpus
from flywheel.errors import FlywheelError
from flywheel.evaluation import evaluate
from flywheel.retrieval import DenseRetriever, Embedder

QUALITY_METRICS = ["ndcg@10", "recall@100"]
DEFAULT_DATASETS = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets"
BACKENDS = ["torch", "ort", "ort-int8", "onnx", "openvino"]


def load(backend: str, ids: list[str], texts: list[str], batch_size: int) -> Embedder | str:
    """A warmed-up uncached embedder, or the error text when the backend cannot load."""
    embedder = Embedder(
        backend=backend, batch_size=batch_size, max_seq_length=256, use_cache=False, device="cpu"
    )
    try:
        embedder.encode_documents(ids[:8], texts[:8])  # warm-up: load, export, first calls
    except (FlywheelError, ImportError, OSError) as exc:
        return str(exc)
    return embedder


def time_rounds(
    embedders: dict[str, Embedder], ids: list[str], texts: list[str], rounds: int
) -> dict[str, dict]:
    """Median docs/s per backend over ``rounds`` turns, every backend once per turn."""
    seconds: dict[str, list[float]] = {name: [] for name in embedders}
    for _ in range(rounds):
        for name, embedder in embedders.items():
            start = time.perf_counter()
            embedder.encode_documents(ids, texts)
            seconds[name].append(time.perf_counter() - start)
    out = {}
    for name, values in seconds.items():
        middle = statistics.median(values)
        out[name] = {
            "docs_per_s": round(len(texts) / middle, 2),
            "seconds": round(middle, 2),
            "docs": len(texts),
            "truncation_rate": round(embedders[name].truncation_rate or 0.0, 4),
        }
    return out


def quality(datasets: Path, backend: str, batch_size: int) -> dict[str, float]:
    """Dense retrieval on SciFact test with this backend (whole corpus, embedding cache on)."""
    dataset = load_beir(datasets / "scifact")
    queries, qrels = dataset.split("test")
    embedder = Embedder(backend=backend, batch_size=batch_size, max_seq_length=256, device="cpu")
    run = DenseRetriever(dataset.corpus, embedder).search(queries, k=100)
    return {m: round(float(v), 4) for m, v in evaluate(qrels, run, QUALITY_METRICS).mean.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--backends", nargs="+", default=BACKENDS, choices=BACKENDS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quality", action="store_true", help="also score SciFact test")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch

    corpus = read_corpus(args.datasets / "scifact" / "corpus.jsonl")
    ids = sorted(random.Random(args.seed).sample(sorted(corpus), args.docs))
    texts = [corpus[doc_id].text_for_encoding for doc_id in ids]
    loaded = {b: load(b, ids, texts, args.batch_size) for b in args.backends}
    ready = {b: e for b, e in loaded.items() if isinstance(e, Embedder)}
    results: dict[str, dict] = {b: {"error": e} for b, e in loaded.items() if isinstance(e, str)}
    results.update(time_rounds(ready, ids, texts, args.rounds))
    if args.quality:
        for backend in ready:
            results[backend].update(quality(args.datasets, backend, args.batch_size))

    table = Table(
        title=f"Encoding {args.docs} SciFact docs (median of {args.rounds} rounds), "
        f"torch threads={torch.get_num_threads()}"
    )
    columns = ["backend", "docs/s", "x torch", "seconds"]
    columns += [f"test {m}" for m in QUALITY_METRICS] if args.quality else []
    for column in [*columns, "note"]:
        table.add_column(column)
    base_speed = results.get("torch", {}).get("docs_per_s")
    figures: dict[str, float | str] = {}
    for backend in args.backends:
        result = results[backend]
        speed = result.get("docs_per_s")
        ratio = round(speed / base_speed, 2) if speed and base_speed else None
        row = [backend, str(speed or "-"), f"{ratio:.2f}" if ratio else "-"]
        row.append(str(result.get("seconds", "-")))
        row += [str(result.get(m, "-")) for m in QUALITY_METRICS] if args.quality else []
        note = result.get("error", f"truncated {result.get('truncation_rate', 0):.0%}")
        table.add_row(*row, escape(note))
        for key, value in result.items():
            figures[f"scifact/{backend}/{key}"] = value
        if ratio:
            figures[f"scifact/{backend}/speedup_vs_torch"] = ratio
    Console(width=max(Console().width, 110)).print(table)
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
