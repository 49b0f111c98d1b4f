"""``flywheel run``: the loop over one store, from judgments and logs to a measured, gated lift.

Stages: load the store (``--dataset`` ingests into one first; :mod:`flywheel.pipeline.data`),
training labels from every source (:mod:`flywheel.datasets.training_labels`: judgments, LLM
grades, logs through the click model), split by query with the near-duplicate leak check,
baselines (BM25, base dense, hybrid), mine hard negatives with the base model and put
behavioural ones first, fine-tune the embedder (kept only past training's own dev gate), train a
re-ranker, evaluate every combination on the test split, then pick the pipeline by its *dev*
score - the test split is only ever measured, never used to choose - and write a report.
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
from typing import TYPE_CHECKING, Any

from flywheel._internal.io import write_json
from flywheel.data.types import RetrievalDataset, Run
from flywheel.datasets.document_signals import document_signals
from flywheel.datasets.label_quality import label_agreement
from flywheel.datasets.pairs import build_pairs
from flywheel.datasets.training_labels import TrainingLabels, assemble_training_labels
from flywheel.evaluation import Comparison, compare
from flywheel.evaluation.cost import CostProfile, measure
from flywheel.pipeline.cold_start import plan_cold_start
from flywheel.pipeline.comparisons import (
    check_comparisons,
    embedder_comparisons,
    reranker_comparisons,
    versus_best_comparison,
)
from flywheel.pipeline.config import LoopConfig
from flywheel.pipeline.data import LoopData, load_loop_data
from flywheel.pipeline.gate import base_gate_score, gate_devset, share_gate_vectors
from flywheel.pipeline.learned_rerank import LEARNED, train_learned_reranker
from flywheel.pipeline.mining import embedder_rows, mine_negatives
from flywheel.pipeline.recipe_search import DEFAULT, Recipe, recipe_slug, search_recipes
from flywheel.pipeline.reference import REFERENCE, train_reference, versus_reference
from flywheel.pipeline.reranking import SKIPPED_RERANKER, train_and_apply_reranker
from flywheel.pipeline.splits import held_out_queries, prepare_splits
from flywheel.pipeline.stages import (
    Measured,
    Timings,
    dense_run,
    hybrid_cost,
    loop_embedder,
    peak_memory_mb,
    restrict,
)
from flywheel.pipeline.systems import Embedder, Role, System, reranked
from flywheel.retrieval.bm25 import BM25Retriever
from flywheel.retrieval.fusion import rrf

if TYPE_CHECKING:
    from flywheel.training.embedder import EmbedderTrainResult

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
    peak_memory_by_stage: dict[str, float] = field(default_factory=dict)  # MB when each ended
    # training labels per source and per log signal, the split record (leak check included) and
    # each system's typed description
    labels: dict[str, Any] = field(default_factory=dict)
    splits: dict[str, Any] = field(default_factory=dict)
    learned_reranker: dict[str, Any] | None = None
    recipe_search: list[dict[str, Any]] = field(default_factory=list)
    systems: dict[str, dict[str, Any]] = field(default_factory=dict)
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
            "peak_memory_by_stage": self.peak_memory_by_stage,
            "verdicts": self.verdicts,
            "labels": self.labels,
            "learned_reranker": self.learned_reranker,
            "recipe_search": self.recipe_search,
            "splits": self.splits,
            "systems": self.systems,
            "costs": self.costs,
            "comparisons": self.comparisons,
            "report_path": str(self.report_path) if self.report_path else None,
        }


def _labels(data: LoopData, config: LoopConfig, *, eval_qids: set[str]) -> TrainingLabels:
    """Training labels from every source the store holds (see
    :mod:`flywheel.datasets.training_labels`); evaluation queries get none."""
    judged = data.dataset.qrels.get(config.train_split, {})
    return assemble_training_labels(
        judged,
        events=data.events,
        llm=data.llm,
        eval_qids=eval_qids,
        known_qids=data.dataset.queries,
        min_grade=config.event_min_grade,
    )


def _log_label_checks(labels: TrainingLabels, dataset: RetrievalDataset) -> dict[str, Any]:
    """How far the log labels agree with the people, on every logged pair of a judged query
    (any split: judged pairs are never trained on from logs, but they measure the labeller),
    and the estimated position-bias curve for the report's plot."""
    events = labels.events
    if events is None or not events.labels:
        return {}
    judged: dict[str, dict[str, int]] = {}
    for qrels in dataset.qrels.values():
        for qid, docs in qrels.items():
            judged.setdefault(qid, {}).update(docs)
    out: dict[str, Any] = {"propensity_curve": events.propensity_plot_data()}
    agreement = label_agreement(events, judged)
    if agreement["pairs"]:
        out["agreement_with_judgments"] = agreement
    return out


def _system_record(system: System) -> dict[str, Any]:
    return {
        "embedder": str(system.embedder),
        "role": str(system.role),
        "reranker": system.reranker,
        "first_stage": system.first_stage,
    }


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
        data = load_loop_data(config, out=out, say=say)
        dataset = data.dataset
        base = loop_embedder(config, config.base_model)
        test_q, own_dev = held_out_queries(dataset, config)
        labels = _labels(data, config, eval_qids={*test_q, *own_dev})
        cold = None
        if not labels.qids:  # nothing to train on from any source: synthetic questions
            cold = plan_cold_start(dataset, config, say=say, embedder=base)
        if cold is not None:
            dataset, config = cold.dataset, cold.config
            labels = assemble_training_labels(
                dataset.qrels[config.train_split], eval_qids={*test_q, *own_dev}
            )
        splits = prepare_splits(dataset, labels, config, embed=base.encode_queries)
        texts = dataset.texts()
    sizes = splits.sizes(len(dataset.corpus))
    label_counts = labels.counts()
    label_counts.update(_log_label_checks(labels, dataset))
    say(
        f"{dataset.name}: {sizes['corpus']} documents; queries train {sizes['train']}, "
        f"dev {sizes['dev']} ({splits.dev_origin}), test {sizes['test']}; training positives "
        "by source: " + ", ".join(f"{k} {v}" for k, v in label_counts["positives"].items())
    )
    if splits.leaked:
        say(f"dropped {len(splits.leaked)} training queries that repeat or paraphrase a "
            "dev/test query")  # fmt: skip
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
    systems = {
        "bm25": System("bm25", Embedder.NONE),
        BASELINE: System(BASELINE, Embedder.BASE),
        "base hybrid": System("base hybrid", Embedder.BASE),
    }

    with timings.stage("mine"):
        mined = mine_negatives(
            config, splits, base=base, doc_ids=list(dataset.corpus), texts=texts, say=say,
            labels=labels,
        )  # fmt: skip
        rows = embedder_rows(
            config, splits, mined, texts, say, positive_texts=dataset.positive_texts
        )
        label_counts["negatives_by_source"] = mined.metadata.get(
            "negatives_by_source", {"mined": sum(len(e.negative_ids) for e in mined.examples)}
        )

    from flywheel.training.embedder import train_embedder  # torch: only when the loop trains
    from flywheel.training.evaluators import DenseDevEvaluator

    devset = gate_devset(splits, texts, [runs[BASELINE], bm25], depth=config.gate_pool_depth)
    base_score = base_gate_score(  # from the cache, not encoded again
        devset, base, metric=metric, max_seq_length=config.embedder.max_seq_length
    )
    gates: dict[Recipe, DenseDevEvaluator] = {}  # each recipe's evaluator, with its pool vectors

    def train(recipe: Recipe) -> EmbedderTrainResult:
        batch = config.embedder.batch_size
        gates[recipe] = DenseDevEvaluator(devset, metric=metric, batch_size=batch)
        changes = {"learning_rate": recipe.learning_rate, "epochs": recipe.epochs}
        settings = config.embedder.model_copy(
            update={k: v for k, v in changes.items() if v is not None}
        )
        use = rows
        if not recipe.hard_negatives:
            use = build_pairs(
                splits.train_q, splits.train_qrels, texts, positive_texts=dataset.positive_texts
            )
        where = out / "embedder" if recipe == DEFAULT else out / "search" / recipe_slug(recipe)
        return train_embedder(
            use,
            base_model=config.base_model,
            out_dir=where,
            config=settings,
            evaluator=gates[recipe],
            base_dev_score=base_score,
            metric=metric,
            dataset_card={"mining": mined.to_dict(), "labels": label_counts},
        )

    with timings.stage("train embedder"):
        best, trials = search_recipes(
            train,
            budget_minutes=config.search_budget_minutes,
            default_epochs=config.embedder.epochs,
            say=say,
        )
        trained = best.result
    search_record = [t.to_dict() for t in trials]
    ok_embedder = trained.accepted
    with timings.stage("evaluate fine-tuned"):
        tuned = loop_embedder(config, str(trained.model_path))
        share_gate_vectors(gates[best.recipe], tuned)
        tuned_measured = dense_run(tuned, dataset.corpus, eval_q, k=k, latency_queries=lat)
        tuned_run = tuned_measured.run
        runs["fine-tuned dense"] = tuned_run
        costs["fine-tuned dense"] = tuned_measured.cost.to_dict()
        hybrid = hybrid_cost(tuned_measured, lexical, eval_q, **hybrid_args)
        _add_cost(costs, "fine-tuned hybrid", hybrid)
        runs["fine-tuned hybrid"] = rrf([tuned_run, bm25], k=config.hybrid_rrf_k)
        del tuned_measured
    systems["fine-tuned dense"] = System("fine-tuned dense", Embedder.FINE_TUNED)
    systems["fine-tuned hybrid"] = System("fine-tuned hybrid", Embedder.FINE_TUNED)

    reranker_info = None
    if config.reranker.should_train():
        firsts = list(runs)
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
        for name in firsts:
            if f"{name} + re-rank" in runs:
                systems[f"{name} + re-rank"] = reranked(
                    systems[name], f"{name} + re-rank", "cross-encoder"
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
        systems[REFERENCE] = System(REFERENCE, Embedder.OTHER, role=Role.REFERENCE)

    compared, compared_costs = embedder_comparisons(
        config, dataset.corpus, eval_q, timings=timings, say=say
    )
    runs.update(compared)
    costs.update({n: c.to_dict() for n, c in compared_costs.items()})
    systems.update({n: System(n, Embedder.OTHER, role=Role.COMPARISON) for n in compared})

    dev_scores = {name: splits.dev_scores(run, metrics) for name, run in runs.items()}
    verdicts = [cold.note] if cold is not None else []
    if len(trials) > 1:
        verdicts.append(
            f"recipe search: {len(trials)} recipes in {sum(t.seconds for t in trials) / 60:.0f} "
            f"min, each scored on dev; kept '{best.recipe.name}' (dev {metric} "
            f"{trained.trained_dev_score:.4f})"
        )
    verdicts.append(f"fine-tuned embedder: {trained.verdict}")
    if reranker_info is None and config.reranker.enabled is None:
        say(SKIPPED_RERANKER)
        verdicts.append(SKIPPED_RERANKER)
    if reranker_info is not None:
        verdicts.append(reranker_info["verdict"])
    accepted = {"cross-encoder"} if reranker_info and reranker_info["accepted"] else set()
    learned_info = None
    # after an offline cold start dev cannot choose: the loop ships a fixed pipeline
    fixed = cold.fixed_selection(ok_embedder) if cold is not None else None
    if config.learned_reranker and fixed:
        verdicts.append(
            "learned re-ranker: not trained - its dev queries are text cut from the documents, "
            "on which lexical features are near perfect"
        )
    elif config.learned_reranker:
        firsts = [
            n
            for n, sy in systems.items()
            if sy.reranker is None
            and sy.eligible(embedder_accepted=ok_embedder, rerankers_accepted=())
        ]
        first = max(firsts, key=lambda n: dev_scores[n][metric])
        features_from = {"bm25": bm25, BASELINE: runs[BASELINE]}
        if ok_embedder:
            features_from["fine-tuned dense"] = runs["fine-tuned dense"]
        # an accepted cross-encoder's scores (over the base hybrid) are one more feature
        cross = {}
        if "cross-encoder" in accepted and "base hybrid + re-rank" in runs:
            cross["cross-encoder"] = runs["base hybrid + re-rank"]
        behaviour = None  # what users did with each document, for training queries only
        if labels.events is not None and labels.events.labels:
            behaviour = document_signals(labels.events, exclude_qids={*eval_q, *splits.leaked})
        learned_info, learned_run = train_learned_reranker(
            config, splits, features_from=features_from, extra_runs=cross, doc_signals=behaviour,
            first_stage=first,
            first_run=runs[first], corpus=dataset.corpus, timings=timings, out=out, say=say,
        )  # fmt: skip
        verdicts.append(learned_info["verdict"])
        if learned_run is not None:
            runs[LEARNED] = learned_run
            systems[LEARNED] = reranked(systems[first], LEARNED, "learned")
            dev_scores[LEARNED] = splits.dev_scores(learned_run, metrics)
            accepted.add("learned")
    eligible = [
        n
        for n, system in systems.items()
        if system.eligible(embedder_accepted=ok_embedder, rerankers_accepted=accepted)
    ]
    if fixed:
        selected = fixed
        verdicts.append(
            f"selected without dev: {selected} - the synthetic dev questions are sentences of "
            f"the documents (BM25 dev {metric} {dev_scores['bm25'][metric]:.4f}), so dev cannot "
            "weigh lexical against dense evidence; the hybrid is the robust default"
        )
    else:
        selected = max(eligible, key=lambda n: dev_scores[n][metric])
        verdicts.append(
            f"selected on dev {metric}: {selected} ({dev_scores[selected][metric]:.4f})"
        )

    if config.compare_rerankers:  # over what the loop ships, so the question is "add it?"
        first = systems[selected].first_stage or selected
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
        systems.update({n: reranked(systems[first], n, n, role=Role.COMPARISON) for n in compared})
        for name, run in compared.items():
            dev_scores[name] = splits.dev_scores(run, metrics)

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
        learned_reranker=learned_info,
        recipe_search=search_record,
        labels=label_counts,
        splits=splits.split_record,
        systems={n: _system_record(sy) for n, sy in systems.items()},
        reference=reference,
        timings=dict(timings.seconds),
        peak_memory_by_stage=dict(timings.peak_mb),
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
    result.peak_memory_by_stage = dict(timings.peak_mb)
    result.summary_path = out / "summary.json"
    write_json(result.summary_path, result.to_dict())
    return result
