"""``flywheel run``: the loop on one dataset, from raw judgments to a measured, gated lift.

Stages: load (and ingest into the store), carve a dev split from the training side, baselines
(BM25, base dense, hybrid), mine hard negatives with the base model, fine-tune the embedder,
train a re-ranker, evaluate every combination on the test split, then pick the pipeline by its
*dev* score - the test split is only ever measured, never used to choose - and write a report.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from flywheel._internal.io import write_json
from flywheel.data.beir import load_beir
from flywheel.data.types import Qrels, Queries, RetrievalDataset, Run
from flywheel.datasets.graded import build_graded_pairs
from flywheel.datasets.hard_negatives import HardNegativeConfig, mine_from_run, mine_hard_negatives
from flywheel.datasets.pairs import build_pairs
from flywheel.datasets.splits import check_leakage, split_queries
from flywheel.datasets.triplets import build_triplets
from flywheel.evaluation import Comparison, compare, evaluate
from flywheel.pipeline.config import LoopConfig
from flywheel.pipeline.resolve import resolve_dataset
from flywheel.pipeline.stages import Timings, dense_run, peak_memory_mb, rerank_runs, restrict
from flywheel.retrieval.bm25 import BM25Retriever
from flywheel.retrieval.embedders import Embedder
from flywheel.retrieval.fusion import rrf
from flywheel.retrieval.rerank import CrossEncoderReranker

logger = logging.getLogger(__name__)

BASELINE = "base dense"


@dataclass
class LoopResult:
    """Everything the loop measured. ``selected`` was chosen on dev; ``test`` only reports."""

    dataset: str
    config: dict[str, Any]
    split_sizes: dict[str, int]
    dev_scores: dict[str, dict[str, float]]
    test: Comparison
    selected: str
    embedder: dict[str, Any]
    embedder_accepted: bool
    reranker: dict[str, Any] | None
    timings: dict[str, float]
    peak_memory_mb: float
    verdicts: list[str] = field(default_factory=list)
    runs: dict[str, Run] = field(default_factory=dict, repr=False)
    report_path: Path | None = None
    summary_path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "config": self.config,
            "split_sizes": self.split_sizes,
            "dev_scores": self.dev_scores,
            "test": self.test.to_dict(),
            "selected": self.selected,
            "embedder": self.embedder,
            "embedder_accepted": self.embedder_accepted,
            "reranker": self.reranker,
            "timings": self.timings,
            "peak_memory_mb": self.peak_memory_mb,
            "verdicts": self.verdicts,
            "report_path": str(self.report_path) if self.report_path else None,
        }


def _carve_dev(
    dataset: RetrievalDataset, config: LoopConfig
) -> tuple[Queries, Qrels, Queries, Qrels]:
    """Training queries and a dev split: the dataset's own dev split when it has one, else
    ``dev_fraction`` of the training queries (near-duplicates kept on one side)."""
    queries, qrels = dataset.split(config.train_split)
    if config.max_train_queries and len(queries) > config.max_train_queries:
        keep = random.Random(config.seed).sample(sorted(queries), config.max_train_queries)
        queries = {q: queries[q] for q in sorted(keep)}
    if config.dev_split in dataset.qrels and config.dev_split != config.test_split:
        dev_q, dev_qrels = dataset.split(config.dev_split)
        return queries, {q: qrels[q] for q in queries}, dev_q, dev_qrels
    split = split_queries(queries, dev_fraction=config.dev_fraction, seed=config.seed)
    train_q = {q: queries[q] for q in split.train_qids}
    dev_q = {q: queries[q] for q in split.dev_qids}
    return train_q, {q: qrels[q] for q in train_q}, dev_q, {q: qrels[q] for q in dev_q}


def _gate(
    name: str, dev: dict[str, dict[str, float]], new: str, old: str, metric: str
) -> tuple[bool, str]:
    a, b = dev[new][metric], dev[old][metric]
    if a > b:
        return True, f"{name}: dev {metric} {b:.4f} -> {a:.4f}; accepted."
    return False, (
        f"{name}: dev {metric} {b:.4f} -> {a:.4f}, not better; the {old} stays "
        "(the trained model is kept on disk but replaces nothing)."
    )


def _mine_embedder_negatives(config, dataset, base, train_q, train_qrels, texts, say):
    """Mine in the configured window; positives whose window holds no candidate below the
    false-negative threshold (typically those the base model ranks poorly - the most useful
    ones to train on) get the hardest valid negative from a wider window instead of being
    dropped, as sentence-transformers does by filtering before it windows."""
    ids = list(dataset.corpus)
    doc_emb = base.encode_documents(ids, [texts[d] for d in ids])
    query_emb = base.encode_queries(list(train_q.values()))
    settings = HardNegativeConfig(**config.mining.model_dump(), seed=config.seed)
    mined = mine_hard_negatives(
        train_q,
        train_qrels,
        texts,
        query_embeddings=query_emb,
        doc_embeddings=doc_emb,
        doc_ids=ids,
        query_ids=list(train_q),
        config=settings,
        model_name=config.base_model,
    )
    need = settings.num_negatives
    done = {(e.qid, e.positive_id) for e in mined.examples if len(e.negative_ids) >= need}
    short = {
        q for q, rel in train_qrels.items() for d, g in rel.items() if g > 0 and (q, d) not in done
    }
    if not short or settings.range_max >= len(ids) - 1:
        return mined
    wide = replace(settings, range_max=min(len(ids) - 1, settings.range_max * 10), sampling="top")
    order = [q for q in train_q if q in short]
    position = {q: i for i, q in enumerate(train_q)}
    rows = [position[q] for q in order]
    extra = mine_hard_negatives(
        {q: train_q[q] for q in order},
        {q: train_qrels[q] for q in order},
        texts,
        query_embeddings=query_emb[rows],
        doc_embeddings=doc_emb,
        doc_ids=ids,
        query_ids=order,
        config=wide,
        model_name=config.base_model,
    )
    added = [
        e
        for e in extra.examples
        if len(e.negative_ids) >= need and (e.qid, e.positive_id) not in done
    ]
    say(
        f"{len(added)} positives without a valid negative in ranks {settings.range_min}-"
        f"{settings.range_max} got one from ranks up to {wide.range_max}"
    )
    kept = [e for e in mined.examples if (e.qid, e.positive_id) in done]
    return replace(mined, examples=kept + added, metadata={**mined.metadata, "widened": len(added)})


def _record_gate(
    manifest: Path, accepted: bool, verdict: str, dev: dict[str, dict[str, float]], metric: str
) -> None:
    """Write the loop's dev gate into the model's manifest, so the artifact says whether it won."""
    data = json.loads(Path(manifest).read_text())
    data["accepted"] = accepted
    data["verdict"] = verdict
    data["loop_gate"] = {
        "accepted": accepted,
        "metric": metric,
        "base_dev": dev[BASELINE][metric],
        "trained_dev": dev["fine-tuned dense"][metric],
        "dev_corpus": "full corpus",
    }
    write_json(manifest, data)


def run_flywheel(config: LoopConfig, *, say: Callable[[str], None] = logger.info) -> LoopResult:
    """Run the whole loop; see the module docstring. Writes under ``config.out_dir``."""
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    timings = Timings()
    metric = config.primary_metric
    metrics = list(dict.fromkeys([metric, *config.metrics]))

    with timings.stage("load"):
        folder = resolve_dataset(config.dataset, work_dir=out)
        dataset = load_beir(folder)
        if config.db:
            from flywheel.store import Store

            with Store(config.db) as store:
                store.ingest_beir(folder)
        test_q, test_qrels = dataset.split(config.test_split)
        train_q, train_qrels, dev_q, dev_qrels = _carve_dev(dataset, config)
        leaked = check_leakage(train_q, {**dev_q, **test_q}, force=True).leaked_qids
        train_q = {q: t for q, t in train_q.items() if q not in leaked}
        train_qrels = {q: r for q, r in train_qrels.items() if q not in leaked}
        texts = dataset.texts()
        dev_origin = (
            f"the dataset's '{config.dev_split}' split"
            if config.dev_split in dataset.qrels
            else f"carved from {config.train_split}"
        )
    sizes = {
        "corpus": len(dataset.corpus),
        "train": len(train_q),
        "dev": len(dev_q),
        "test": len(test_q),
    }
    say(
        f"{dataset.name}: {sizes['corpus']} documents; queries train {sizes['train']}, "
        f"dev {sizes['dev']} ({dev_origin}), test {sizes['test']}"
    )
    eval_q = {**dev_q, **test_q}
    k = config.retrieve_k

    with timings.stage("baseline"):
        bm25 = BM25Retriever(dataset.corpus).search(eval_q, k=k)
        base = Embedder(
            config.base_model, batch_size=config.encode_batch_size, device=config.device
        )
        base_run, _ = dense_run(base, dataset.corpus, {**eval_q, **train_q}, k=k)
    runs: dict[str, Run] = {
        "bm25": bm25,
        BASELINE: restrict(base_run, eval_q),
        "base hybrid": rrf([restrict(base_run, eval_q), bm25], k=config.hybrid_rrf_k),
    }

    with timings.stage("mine"):
        mined = _mine_embedder_negatives(config, dataset, base, train_q, train_qrels, texts, say)
        rows = build_triplets(mined, train_q, texts, num_negatives=config.mining.num_negatives)
        pairs = build_pairs(train_q, train_qrels, texts)
        if len(rows) < 0.5 * len(pairs):
            # too few survive the false-negative filter: in-batch negatives alone beat a
            # training set that silently drops most positives
            say(
                f"only {len(rows)} of {len(pairs)} positives got a hard negative; training on "
                "pairs with in-batch negatives"
            )
            rows = pairs
        else:
            say(f"{len(rows)} triplets from {len(train_q)} training queries")

    from flywheel.training.embedder import train_embedder

    with timings.stage("train embedder"):
        trained = train_embedder(
            rows,
            base_model=config.base_model,
            out_dir=out / "embedder",
            config=config.embedder,
            dev=None,
            dataset_card={"mining": mined.to_dict()},
        )
    with timings.stage("evaluate fine-tuned"):
        tuned = Embedder(
            str(trained.model_path), batch_size=config.encode_batch_size, device=config.device
        )
        tuned_run, _ = dense_run(tuned, dataset.corpus, eval_q, k=k)
        runs["fine-tuned dense"] = tuned_run
        runs["fine-tuned hybrid"] = rrf([tuned_run, bm25], k=config.hybrid_rrf_k)

    reranker_info = None
    if config.reranker.enabled:
        reranker_info = _reranker_stage(
            config,
            runs,
            base_run,
            train_q,
            train_qrels,
            dev_q,
            dev_qrels,
            eval_q,
            texts,
            timings,
            out,
            say,
        )

    dev_scores = {
        name: evaluate(dev_qrels, restrict(run, dev_q), metrics).mean for name, run in runs.items()
    }
    verdicts = []
    ok_embedder, line = _gate(
        "fine-tuned embedder", dev_scores, "fine-tuned dense", BASELINE, metric
    )
    verdicts.append(line)
    _record_gate(trained.manifest_path, ok_embedder, line, dev_scores, metric)
    eligible = [n for n in runs if ok_embedder or "fine-tuned" not in n]
    if reranker_info is not None:
        verdicts.append(reranker_info["verdict"])
        if not reranker_info["accepted"]:
            eligible = [n for n in eligible if "re-rank" not in n]
    selected = max(eligible, key=lambda n: dev_scores[n][metric])
    verdicts.append(f"selected on dev {metric}: {selected} ({dev_scores[selected][metric]:.4f})")

    with timings.stage("compare"):
        order = [BASELINE, *[n for n in runs if n != BASELINE]]
        test = compare(
            test_qrels,
            {n: restrict(runs[n], test_q) for n in order},
            metrics=metrics,
            baseline=BASELINE,
        )
    result = LoopResult(
        dataset=dataset.name,
        config=json.loads(config.model_dump_json()),
        split_sizes=sizes,
        dev_scores=dev_scores,
        test=test,
        selected=selected,
        embedder={k: (str(v) if isinstance(v, Path) else v) for k, v in vars(trained).items()},
        embedder_accepted=ok_embedder,
        reranker=reranker_info,
        timings=dict(timings.seconds),
        peak_memory_mb=peak_memory_mb(),
        verdicts=verdicts,
        runs=runs,
    )
    from flywheel.pipeline.report import write_loop_report

    with timings.stage("report"):
        result.report_path = write_loop_report(
            result, out / "report.html", dataset=dataset, queries=test_q
        )
    result.timings = dict(timings.seconds)
    result.summary_path = out / "summary.json"
    write_json(result.summary_path, result.to_dict())
    return result


def _reranker_stage(
    config, runs, base_run, train_q, train_qrels, dev_q, dev_qrels, eval_q, texts, timings, out, say
):
    """Train a cross-encoder on judged positives + top-ranked negatives; re-rank first stages."""
    from flywheel.training.devset import DevSet
    from flywheel.training.reranker import train_reranker

    settings = config.reranker
    with timings.stage("train reranker"):
        window = HardNegativeConfig(
            range_min=0,
            range_max=settings.negative_window,
            num_negatives=settings.negatives_per_query,
            relative_margin=config.mining.relative_margin,
            seed=config.seed,
        )
        mined = mine_from_run(train_q, train_qrels, restrict(base_run, train_q), config=window)
        rows = build_graded_pairs(train_q, train_qrels, texts, mined=mined)
        first_dev = restrict(runs["base hybrid"], dev_q)
        dev_texts = {
            d: texts[d] for ranked in first_dev.values() for d in list(ranked)[: settings.depth]
        }
        dev_texts.update({d: texts[d] for rel in dev_qrels.values() for d in rel if d in texts})
        trained = train_reranker(
            rows,
            base_model=settings.base_model or config.base_model,
            out_dir=out / "reranker",
            config=settings.train.model_copy(update={"rerank_depth": settings.depth}),
            dev=DevSet(dev_q, dev_texts, dev_qrels),
            dev_candidates=first_dev,
        )
    say(f"re-ranker: {len(rows)} graded pairs; {trained.verdict}")
    info = {
        "model_path": str(trained.model_path),
        "pairs": len(rows),
        "accepted": trained.accepted,
        "verdict": f"re-ranker: {trained.verdict}",
        "first_stage_dev": trained.first_stage_dev_score,
        "trained_dev": trained.trained_dev_score,
        "train_seconds": trained.train_seconds,
        "depth": settings.depth,
        "applied": trained.accepted or settings.evaluate_rejected,
    }
    if not info["applied"]:
        info["verdict"] += " Not applied to the test split (rejected on dev)."
        return info
    with timings.stage("re-rank"):
        reranker = CrossEncoderReranker(
            str(trained.model_path), depth=settings.depth, device=config.device
        )
        firsts = {n: restrict(r, eval_q) for n, r in runs.items() if n != "bm25"}
        for name, run in rerank_runs(reranker, eval_q, firsts, texts, depth=settings.depth).items():
            runs[f"{name} + re-rank"] = run
    return info
