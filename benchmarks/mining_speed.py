"""Hard-negative mining speed: rag-flywheel vs sentence-transformers' ``mine_hard_negatives``.

Same data (SciFact train: 809 queries, 919 positives, 5,183 documents), same model
(all-MiniLM-L6-v2), same settings (range_min=10, range_max=100, relative_margin=0.05,
num_negatives=1, sampling "top", FAISS IndexFlatIP), same process. Three numbers:

1. mining only - both get the *same* precomputed embeddings (sentence-transformers through a
   model wrapper whose ``encode_*`` looks the vectors up), so only search + filtering + row
   building is timed; best of ``--repeats``.
2. embedding included, as each is used: rag-flywheel reads document embeddings from its
   on-disk cache (the corpus is never encoded twice) and encodes the queries; sentence-
   transformers encodes corpus and queries on every call (unless given ``cache_folder``).
   Its encode time is measured with ``--st-cold`` (one real call), otherwise estimated as our
   cold encode of the same texts with the same model plus its mining-only time.
3. the cold encode itself, once, for scale.

Fairness caveats are printed with the numbers. The two also differ in one semantic detail:
sentence-transformers applies the rank window after the margin filter, rag-flywheel before it
(so ``range_min=10`` always skips the ten best non-positive candidates), so the chosen
negatives differ; how many agree is printed.

Run (encoding the full corpus takes minutes on a small CPU; use --max-corpus for a check)::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/mining_speed.py [--max-corpus 1000] [--st-cold]

Large corpora (where the >= 2x aim applies): ``--synthetic 100000`` mines a synthetic corpus of
that many documents (random unit vectors, 384 dimensions, one positive per query), each miner
in its own forked process so its peak memory (``ru_maxrss``, and the rise over the process's
size before mining) is its own. No model is loaded::

    nice -n 10 .venv/bin/python benchmarks/mining_speed.py --synthetic 100000 --queries 2000

The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import random
import resource
import statistics
import time
from pathlib import Path

import numpy as np

from flywheel.data.beir import load_beir
from flywheel.datasets import HardNegativeConfig, build_triplets, mine_hard_negatives
from flywheel.models import DEFAULT_BASE_MODEL, resolve_model

SCIFACT = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "scifact"
SETTINGS = {"range_min": 10, "range_max": 100, "relative_margin": 0.05, "num_negatives": 1}


class PrecomputedModel:
    """A SentenceTransformer stand-in whose ``encode_*`` return precomputed vectors by text."""

    def __init__(self, model, vectors: dict[str, np.ndarray]) -> None:
        self._model = model
        self._vectors = vectors

    def _lookup(self, texts, **_):
        return np.stack([self._vectors[t] for t in texts])

    encode_document = _lookup
    encode_query = _lookup

    def __getattr__(self, name):
        return getattr(self._model, name)


def load_data(path: Path, max_corpus: int | None, seed: int = 0):
    data = load_beir(path)
    queries, qrels = data.split("train")
    texts = data.texts()
    if max_corpus and max_corpus < len(texts):
        positives = {d for docs in qrels.values() for d in docs if d in texts}
        others = sorted(set(texts) - positives)
        random.Random(seed).shuffle(others)
        keep = positives | set(others[: max(0, max_corpus - len(positives))])
        texts = {d: t for d, t in texts.items() if d in keep}
    return queries, qrels, texts


def timed(fn, repeats: int):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SCIFACT)
    parser.add_argument("--model", default=DEFAULT_BASE_MODEL)
    parser.add_argument("--max-corpus", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--st-cold", action="store_true", help="time one real ST call")
    parser.add_argument(
        "--fake-embeddings", action="store_true",
        help="random vectors instead of encoding: a quick check of mining-only speed",
    )  # fmt: skip
    parser.add_argument(
        "--synthetic",
        type=int,
        default=None,
        metavar="DOCS",
        help="mine a synthetic corpus of DOCS documents (no model, no data)",
    )
    parser.add_argument("--queries", type=int, default=2000, help="queries with --synthetic")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.WARNING)
    if args.synthetic:
        print(json.dumps(synthetic(args.synthetic, args.queries, args.repeats), sort_keys=True))
        return
    figures = scifact(args)
    print(json.dumps(figures, sort_keys=True, default=float))


def scifact(args: argparse.Namespace) -> dict:
    """The SciFact comparison (module docstring); returns its figures."""

    from sentence_transformers import SentenceTransformer
    from sentence_transformers.util import mine_hard_negatives as st_mine

    from datasets import Dataset
    from flywheel.retrieval.embedders import Embedder

    queries, qrels, texts = load_data(args.data, args.max_corpus)
    qids = [q for q in queries if any(d in texts for d in qrels.get(q, {}))]
    doc_ids = list(texts)
    print(
        f"data: {len(qids)} queries, {sum(len(qrels[q]) for q in qids)} positives, "
        f"{len(doc_ids)} documents; model {args.model}; torch threads {_threads()}"
    )

    if args.fake_embeddings:
        rng = np.random.default_rng(0)
        doc_emb = _unit(rng.standard_normal((len(doc_ids), 384)).astype(np.float32))
        query_emb = _unit(rng.standard_normal((len(qids), 384)).astype(np.float32))
        t_docs_first = t_docs_cached = t_queries = float("nan")
    else:
        embedder = Embedder(args.model)
        start = time.perf_counter()
        doc_emb = embedder.encode_documents(doc_ids, [texts[d] for d in doc_ids])
        t_docs_first = time.perf_counter() - start
        start = time.perf_counter()
        query_emb = embedder.encode_queries([queries[q] for q in qids])
        t_queries = time.perf_counter() - start
        start = time.perf_counter()
        doc_emb = Embedder(args.model).encode_documents(doc_ids, [texts[d] for d in doc_ids])
        t_docs_cached = time.perf_counter() - start
        print(
            f"encode: corpus first call {t_docs_first:.1f}s (cold unless cached by an earlier "
            f"run), corpus from cache {t_docs_cached:.2f}s, queries {t_queries:.1f}s"
        )

    config = HardNegativeConfig(**SETTINGS)
    sub_queries = {q: queries[q] for q in qids}

    def ours():
        mined = mine_hard_negatives(
            sub_queries, qrels, texts, query_embeddings=query_emb, doc_embeddings=doc_emb,
            doc_ids=doc_ids, config=config, query_ids=qids,
        )  # fmt: skip
        return mined, build_triplets(mined, sub_queries, texts)

    pairs = [(queries[q], texts[d]) for q in qids for d in qrels[q] if d in texts]
    dataset = Dataset.from_dict(
        {"anchor": [a for a, _ in pairs], "positive": [p for _, p in pairs]}
    )
    corpus = [texts[d] for d in doc_ids]
    vectors = {texts[d]: doc_emb[i] for i, d in enumerate(doc_ids)}
    vectors.update({queries[q]: query_emb[i] for i, q in enumerate(qids)})
    model = SentenceTransformer(resolve_model(args.model))

    def st(m):
        return st_mine(
            dataset, m, corpus=corpus, range_min=10, range_max=100, relative_margin=0.05,
            num_negatives=1, sampling_strategy="top", use_faiss=True, verbose=False,
        )  # fmt: skip

    ours_best, ours_median, (mined, rows) = timed(ours, args.repeats)
    st_best, st_median, st_rows = timed(lambda: st(PrecomputedModel(model, vectors)), args.repeats)
    ours_neg = {(r["anchor"], r["positive"]): r["negative"] for r in rows}
    st_neg = {(r["anchor"], r["positive"]): r["negative"] for r in st_rows}
    both = set(ours_neg) & set(st_neg)
    same = sum(ours_neg[key] == st_neg[key] for key in both)
    print(
        f"rows: ours {len(rows)}, sentence-transformers {len(st_rows)}; same negative for "
        f"{same} of {len(both)} shared (query, positive) pairs (the windows differ, see above); "
        f"ours dropped {mined.stats.dropped_margin} candidates by the margin"
    )
    print(
        f"mining only (best of {args.repeats}): ours {ours_best * 1000:.0f} ms "
        f"(median {ours_median * 1000:.0f}), sentence-transformers {st_best * 1000:.0f} ms "
        f"(median {st_median * 1000:.0f}) -> {st_best / ours_best:.1f}x"
    )
    figures = {
        "dataset": str(args.data.name),
        "queries": len(qids),
        "documents": len(doc_ids),
        "rows_ours": len(rows),
        "rows_st": len(st_rows),
        "same_negative": same,
        "shared_pairs": len(both),
        "mining_ms_ours_best": ours_best * 1000,
        "mining_ms_ours_median": ours_median * 1000,
        "mining_ms_st_best": st_best * 1000,
        "mining_ms_st_median": st_median * 1000,
        "mining_speedup": st_best / ours_best,
        "fake_embeddings": bool(args.fake_embeddings),
    }
    if args.fake_embeddings:
        return figures
    figures |= {
        "encode_corpus_first_s": t_docs_first,
        "encode_corpus_cached_s": t_docs_cached,
        "encode_queries_s": t_queries,
    }
    ours_total = t_docs_cached + t_queries + ours_best
    cold = t_docs_first > 5 * t_docs_cached + 1.0
    if args.st_cold:
        start = time.perf_counter()
        st(model)
        st_total = time.perf_counter() - start
        how = "measured"
    elif cold:
        st_total = t_docs_first + t_queries + st_best
        how = "estimated as our cold corpus encode + query encode + its mining time"
    else:
        print(
            "embedding included: the corpus was cached before this run, so its cold encode time "
            "is unknown; rerun with a fresh FLYWHEEL_CACHE, or with --st-cold"
        )
        st_total = None
    if st_total is not None:
        print(
            f"embedding included: ours {ours_total:.1f}s (cached corpus + query encode + "
            f"mining), sentence-transformers {st_total:.1f}s ({how}) -> "
            f"{st_total / ours_total:.1f}x"
        )
        figures |= {"total_s_ours": ours_total, "total_s_st": st_total, "total_st_how": how}
    print(
        "caveats: ST is given no cache_folder (its default); with a warm cache_folder its "
        "total approaches its mining-only time. Ours needs no option: the retrieval "
        "engine's embedding cache is shared by evaluation and mining. The machine is shared, "
        "so compare best-of times, not single runs."
    )
    return figures


DIM = 384


def _synthetic_data(n_docs: int, n_queries: int, seed: int = 0):
    """Documents as random unit vectors; each query is a noisy copy of its one positive, so
    the positive ranks high and the window below it holds real near neighbours."""
    rng = np.random.default_rng(seed)
    doc_emb = _unit(rng.standard_normal((n_docs, DIM)).astype(np.float32))
    positives = rng.choice(n_docs, size=n_queries, replace=False)
    noise = rng.standard_normal((n_queries, DIM)).astype(np.float32)
    query_emb = _unit(doc_emb[positives] + 0.8 * noise / np.sqrt(DIM))
    doc_ids = [f"d{i}" for i in range(n_docs)]
    texts = {d: f"synthetic document {i}" for i, d in enumerate(doc_ids)}
    queries = {f"q{i}": f"synthetic query {i}" for i in range(n_queries)}
    qrels = {f"q{i}": {doc_ids[p]: 1} for i, p in enumerate(positives)}
    return queries, qrels, texts, doc_ids, doc_emb, query_emb


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _mine_in_child(which: str, n_docs: int, n_queries: int, repeats: int, out) -> None:
    queries, qrels, texts, doc_ids, doc_emb, query_emb = _synthetic_data(n_docs, n_queries)
    qids = list(queries)
    if which == "ours":
        config = HardNegativeConfig(**SETTINGS)

        def run():
            mined = mine_hard_negatives(
                queries, qrels, texts, query_embeddings=query_emb, doc_embeddings=doc_emb,
                doc_ids=doc_ids, config=config, query_ids=qids,
            )  # fmt: skip
            return build_triplets(mined, queries, texts)
    else:
        from sentence_transformers.util import mine_hard_negatives as st_mine

        from datasets import Dataset

        vectors = {texts[d]: doc_emb[i] for i, d in enumerate(doc_ids)}
        vectors.update({queries[q]: query_emb[i] for i, q in enumerate(qids)})
        from sentence_transformers import SentenceTransformer

        model = PrecomputedModel(SentenceTransformer(resolve_model(DEFAULT_BASE_MODEL)), vectors)
        pairs = [(queries[q], texts[d]) for q in qids for d in qrels[q]]
        dataset = Dataset.from_dict({"anchor": [a for a, _ in pairs],
                                     "positive": [p for _, p in pairs]})  # fmt: skip
        corpus = [texts[d] for d in doc_ids]

        def run():
            return st_mine(
                dataset, model, corpus=corpus, range_min=10, range_max=100,
                relative_margin=0.05, num_negatives=1, sampling_strategy="top", use_faiss=True,
                verbose=False, batch_size=4096,
            )  # fmt: skip

    before = _rss_mb()
    best, median, rows = timed(run, repeats)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.put({"best_s": best, "median_s": median, "rows": len(rows), "rss_before_mb": before,
             "peak_rss_mb": peak, "peak_rise_mb": peak - before})  # fmt: skip


def synthetic(n_docs: int, n_queries: int, repeats: int) -> dict:
    """Mining only, on a corpus of ``n_docs``; each miner in a fresh process (peak memory)."""
    context = multiprocessing.get_context("fork")
    results = {}
    for which in ("ours", "sentence-transformers"):
        queue = context.Queue()
        child = context.Process(
            target=_mine_in_child, args=(which, n_docs, n_queries, max(1, repeats), queue)
        )
        child.start()
        while True:
            try:
                results[which] = queue.get(timeout=5)
                break
            except Exception:  # noqa: BLE001 - queue.Empty: is the child still working?
                if not child.is_alive():
                    raise SystemExit(f"{which}: the mining process failed (see above)") from None
        child.join()
    ours, st = results["ours"], results["sentence-transformers"]
    print(f"synthetic corpus: {n_docs:,} documents, {n_queries:,} queries, dim {DIM}; "
          f"mining only, best of {max(1, repeats)}; torch threads {_threads()}")  # fmt: skip
    print(f"{'miner':<24}{'best s':>9}{'median s':>10}{'rows':>8}{'peak MB':>9}{'rise MB':>9}")
    for name, r in results.items():
        print(f"{name:<24}{r['best_s']:>9.2f}{r['median_s']:>10.2f}{r['rows']:>8}"
              f"{r['peak_rss_mb']:>9.0f}{r['peak_rise_mb']:>9.0f}")  # fmt: skip
    speedup = st["best_s"] / ours["best_s"]
    print(f"-> ours {speedup:.1f}x faster at {n_docs:,} documents")
    return {
        "dataset": "synthetic",
        "documents": n_docs,
        "queries": n_queries,
        "dim": DIM,
        "repeats": max(1, repeats),
        "ours": ours,
        "sentence_transformers": st,
        "mining_speedup": speedup,
    }


def _unit(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def _threads() -> int:
    import torch

    return torch.get_num_threads()


if __name__ == "__main__":
    main()
