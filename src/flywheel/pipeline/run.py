"""``flywheel run``: the loop on one dataset, from raw judgments to a measured, gated lift.

Stages: load (and ingest into the store), carve a dev split from the training side, baselines
(BM25, base dense, hybrid), mine hard negatives with the base model, fine-tune the embedder,
train a re-ranker, evaluate every combination on the test split, then pick the pipeline by its
*dev* score - the test split is only ever measured, never used to choose - and write a report.
Models named with ``compare_models`` / ``compare_rerankers`` (a provider's, a bigger local one)
are measured beside them but never selected (:mod:`flywheel.pipeline.comparisons`); every dense
system gets latency p50/p95 and cost (:mod:`flywheel.evaluation.cost`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flywheel._internal.io import write_json
from flywheel.data.beir import load_beir
from flywheel.data.types import Run
from flywheel.evaluation import Comparison, compare, evaluate
from flywheel.evaluation.cost import CostProfile, measure
from flywheel.pipeline.cold_start import plan_cold_start
from flywheel.pipeline.comparisons import (
    check_comparisons,
    embedder_comparisons,
    first_stage_of,
    is_comparison,
    reranker_comparisons,
    versus_best_comparison,
)
from flywheel.pipeline.config import LoopConfig
from flywheel.pipeline.mining import embedder_rows, mine_negatives
from flywheel.pipeline.reference import REFERENCE, train_reference, versus_reference
from flywheel.pipeline.reranking import SKIPPED_RERANKER, train_and_apply_reranker
from flywheel.pipeline.resolve import resolve_dataset
from flywheel.pipeline.splits import prepare_splits
from flywheel.pipeline.stages import (
    Measured,
    Timings,
    dense_run,
    hybrid_cost,
    loop_embedder,
    peak_memory_mb,
    restrict,
)
from flywheel.retrieval.bm25 import BM25Retriever
from flywheel.retrieval.fusion import rrf

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
    reference: dict[str, Any] | None
    peak_memory_mb: float
    verdicts: list[str] = field(default_factory=list)
    # latency p50/p95 and cost per measured system (dense ones, BM25, comparisons; fused and
    # re-ranked loop systems are not timed per query)
    costs: dict[str, dict[str, Any]] = field(default_factory=dict)
    comparisons: dict[str, Any] | None = None  # the selected pipeline vs the best comparison
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
            "reference": self.reference,
            "timings": self.timings,
            "peak_memory_mb": self.peak_memory_mb,
            "verdicts": self.verdicts,
            "costs": self.costs,
            "comparisons": self.comparisons,
            "report_path": str(self.report_path) if self.report_path else None,
        }


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


def _add_cost(costs: dict[str, dict[str, Any]], name: str, profile: CostProfile | None) -> None:
    if profile is not None:
        costs[name] = profile.to_dict()


def run_flywheel(config: LoopConfig, *, say: Callable[[str], None] = logger.info) -> LoopResult:
    """Run the whole loop; see the module docstring. Writes under ``config.out_dir``."""
    check_comparisons(config)  # a missing key fails now, not after training
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
        cold = plan_cold_start(dataset, config, say=say)  # no training queries: synthetic ones
        if cold is not None:
            dataset, config = cold.dataset, cold.config
        splits = prepare_splits(dataset, config)
        texts = dataset.texts()
    sizes = splits.sizes(len(dataset.corpus))
    say(
        f"{dataset.name}: {sizes['corpus']} documents; queries train {sizes['train']}, "
        f"dev {sizes['dev']} ({splits.dev_origin}), test {sizes['test']}"
    )
    if splits.leaked:
        say(f"dropped {len(splits.leaked)} training queries that repeat a dev/test query")
    eval_q = splits.eval_q
    k = config.retrieve_k
    lat = config.latency_queries
    hybrid_args = {"k": k, "rrf_k": config.hybrid_rrf_k, "latency_queries": lat}
    costs: dict[str, dict[str, Any]] = {}

    with timings.stage("baseline"):
        lexical = Measured(
            *measure(
                lambda: BM25Retriever(dataset.corpus),
                eval_q,
                k=k,
                corpus_texts=[],
                latency_queries=lat,
            )
        )
        bm25 = lexical.run
        base = loop_embedder(config, config.base_model)
        base_measured = dense_run(
            base, dataset.corpus, {**eval_q, **splits.train_q}, k=k, latency_queries=lat
        )
        base_run = base_measured.run
        costs["bm25"], costs[BASELINE] = lexical.cost.to_dict(), base_measured.cost.to_dict()
        hybrid = hybrid_cost(base_measured, lexical, eval_q, **hybrid_args)
        _add_cost(costs, "base hybrid", hybrid)
        del base_measured  # its document embeddings need not stay in memory through training
    runs: dict[str, Run] = {
        "bm25": bm25,
        BASELINE: restrict(base_run, eval_q),
        "base hybrid": rrf([restrict(base_run, eval_q), bm25], k=config.hybrid_rrf_k),
    }

    with timings.stage("mine"):
        mined = mine_negatives(
            config, splits, base=base, doc_ids=list(dataset.corpus), texts=texts, say=say
        )
        rows = embedder_rows(
            config, splits, mined, texts, say, positive_texts=dataset.positive_texts
        )

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
        tuned = loop_embedder(config, str(trained.model_path))
        tuned_measured = dense_run(tuned, dataset.corpus, eval_q, k=k, latency_queries=lat)
        tuned_run = tuned_measured.run
        runs["fine-tuned dense"] = tuned_run
        costs["fine-tuned dense"] = tuned_measured.cost.to_dict()
        hybrid = hybrid_cost(tuned_measured, lexical, eval_q, **hybrid_args)
        _add_cost(costs, "fine-tuned hybrid", hybrid)
        runs["fine-tuned hybrid"] = rrf([tuned_run, bm25], k=config.hybrid_rrf_k)

    reranker_info = None
    if config.reranker.should_train():
        reranker_info = train_and_apply_reranker(
            config,
            splits,
            runs=runs,
            base_run=base_run,
            texts=texts,
            timings=timings,
            out=out,
            say=say,
        )

    if config.reference_recipe:
        runs[REFERENCE], reference_cost = train_reference(
            config,
            splits,
            corpus=dataset.corpus,
            texts=texts,
            timings=timings,
            out=out,
            say=say,
        )
        costs[REFERENCE] = reference_cost.to_dict()

    compared, compared_costs = embedder_comparisons(
        config, dataset.corpus, eval_q, timings=timings, say=say
    )
    runs.update(compared)
    costs.update({n: c.to_dict() for n, c in compared_costs.items()})

    dev_scores = {
        name: evaluate(splits.dev_qrels, restrict(run, splits.dev_q), metrics).mean
        for name, run in runs.items()
    }
    verdicts = [cold.note] if cold is not None else []
    ok_embedder, line = _gate(
        "fine-tuned embedder", dev_scores, "fine-tuned dense", BASELINE, metric
    )
    verdicts.append(line)
    _record_gate(trained.manifest_path, ok_embedder, line, dev_scores, metric)
    eligible = [n for n in runs if not is_comparison(n) and (ok_embedder or "fine-tuned" not in n)]
    if reranker_info is None and config.reranker.enabled is None:
        say(SKIPPED_RERANKER)
        verdicts.append(SKIPPED_RERANKER)
    if reranker_info is not None:
        verdicts.append(reranker_info["verdict"])
        if not reranker_info["accepted"]:
            eligible = [n for n in eligible if "re-rank" not in n]
    selected = max(eligible, key=lambda n: dev_scores[n][metric])
    verdicts.append(f"selected on dev {metric}: {selected} ({dev_scores[selected][metric]:.4f})")

    if config.compare_rerankers:  # over what the loop ships, so the question is "add it?"
        first = first_stage_of(selected)
        compared, compared_costs = reranker_comparisons(
            config,
            first_stage=first,
            first_run=restrict(runs[first], eval_q),
            queries=eval_q,
            texts=texts,
            timings=timings,
            say=say,
        )
        runs.update(compared)
        costs.update({n: c.to_dict() for n, c in compared_costs.items()})
        for name, run in compared.items():
            dev_scores[name] = evaluate(splits.dev_qrels, restrict(run, splits.dev_q), metrics).mean

    with timings.stage("compare"):
        order = [BASELINE, *[n for n in runs if n != BASELINE]]
        test = compare(
            splits.test_qrels,
            {n: restrict(runs[n], splits.test_q) for n in order},
            metrics=metrics,
            baseline=BASELINE,
        )
    reference = None
    if config.reference_recipe:
        reference = versus_reference(
            splits.test_qrels, runs, selected=selected, queries=splits.test_q, metric=metric
        )
        verdicts.append(reference["verdict"])
        say(reference["verdict"])
    versus = versus_best_comparison(
        splits.test_qrels,
        runs,
        dev_scores=dev_scores,
        costs=costs,
        selected=selected,
        queries=splits.test_q,
        metric=metric,
    )
    if versus is not None:
        verdicts.append(versus["verdict"])
        say(versus["verdict"])
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
        reference=reference,
        timings=dict(timings.seconds),
        peak_memory_mb=peak_memory_mb(),
        verdicts=verdicts,
        costs=costs,
        comparisons=versus,
        runs=runs,
    )
    from flywheel.pipeline.report import write_loop_report

    with timings.stage("report"):
        result.report_path = write_loop_report(
            result, out / "report.html", dataset=dataset, queries=splits.test_q
        )
    result.timings = dict(timings.seconds)
    result.summary_path = out / "summary.json"
    write_json(result.summary_path, result.to_dict())
    return result
