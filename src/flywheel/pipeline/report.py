"""The loop's HTML report: verdicts first, then the test comparison, latency and cost (with
quality against cost as one picture: the fine-tuned model beside a provider's), stage timings
and a roadmap."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from flywheel.data.types import Queries, RetrievalDataset
from flywheel.reports import Report, plots
from flywheel.reports.report import esc
from flywheel.reports.roadmap import add_roadmap
from flywheel.roadmap import Candidate, rank

if TYPE_CHECKING:
    from flywheel.pipeline.run import LoopResult


def loop_roadmap(result: LoopResult) -> list[Candidate]:
    """What to try next, with impact measured on dev where the loop measured it (never test)."""
    metric = result.config["primary_metric"]
    dev = result.dev_scores

    def gain(new: str, old: str) -> float | None:
        if new in dev and old in dev:
            return round(max(dev[new][metric] - dev[old][metric], 0.0), 4)
        return None

    candidates = [
        Candidate(
            name="fine-tuned embedder",
            impact=0.05,
            effort=2,
            risk="medium",
            measured_impact=gain("fine-tuned dense", "base dense"),
            description="contrastive fine-tune on judged pairs + mined hard negatives",
        ),
        Candidate(
            name="hybrid with BM25",
            impact=0.02,
            effort=1,
            risk="low",
            measured_impact=gain("fine-tuned hybrid", "fine-tuned dense"),
            description="reciprocal rank fusion of dense and BM25",
        ),
        Candidate(
            name="trained re-ranker",
            impact=0.03,
            effort=3,
            risk="high",
            dependencies=["hybrid with BM25"],
            measured_impact=gain("fine-tuned hybrid + re-rank", "fine-tuned hybrid"),
            description="cross-encoder over the top of the first stage",
        ),
        Candidate(
            name="labels from logged interactions",
            impact=0.04,
            effort=3,
            risk="medium",
            dependencies=["fine-tuned embedder"],
            description="citations, clicks with dwell, thumbs: more training pairs",
        ),
        Candidate(
            name="second round of mining with the fine-tuned model",
            impact=0.01,
            effort=1,
            risk="medium",
            dependencies=["fine-tuned embedder"],
        ),
        Candidate(
            name="larger base model",
            impact=0.03,
            effort=2,
            risk="low",
            description="e.g. a bge-base-sized encoder; slower on CPU",
        ),
        Candidate(
            name="ONNX / OpenVINO int8 inference",
            impact=0.0,
            effort=1,
            risk="low",
            description="2-4x CPU throughput at about the same quality",
        ),
    ]
    return candidates


def _label_sections(report: Report, labels: dict) -> None:
    """Where the training labels came from, how far the log labels agree with people, and the
    position-bias curve the click model estimated."""
    if not labels:
        return
    rows = [["positives", k, v] for k, v in labels.get("positives", {}).items()]
    rows += [
        ["positives from logs", k, v] for k, v in labels.get("positives_by_signal", {}).items()
    ]
    rows += [
        ["negatives in triplets", k, v] for k, v in labels.get("negatives_by_source", {}).items()
    ]
    if rows:
        report.add_table("Training labels by source", ["label", "source", "count"], rows)
    agreement = labels.get("agreement_with_judgments")
    if agreement:
        keys = ["pairs", "precision", "recall", "f1", "negatives_not_relevant", "auc"]
        report.add_table(
            "Log labels against your judgments (logged pairs of judged queries; unjudged counts as"
            " not relevant)",
            keys,
            [[agreement.get(k) if agreement.get(k) is not None else "n/a" for k in keys]],
        )
    curve = labels.get("propensity_curve")
    if curve and curve.get("rank"):
        report.add_figure(
            "Position bias estimated from the logs",
            plots.propensity_curve({"estimated": curve}),
            caption="Examination probability by rank relative to rank 1, fitted to the logs "
            "(hollow: too little data at that rank, carried from its neighbours).",
        )


def write_loop_report(
    result: LoopResult, path: Path, *, dataset: RetrievalDataset, queries: Queries
) -> Path:
    metric = result.config["primary_metric"]
    report = Report(f"rag-flywheel run on {result.dataset}")
    items = "".join(f"<li>{esc(v)}</li>" for v in result.verdicts)
    sizes = ", ".join(f"{k} {v}" for k, v in result.split_sizes.items())
    notes = (
        " Systems named 'compare: ...' are other models measured beside the loop's own; they are"
        " never selected."
        if any(system["role"] == "comparison" for system in result.systems.values())
        else ""
    )
    if result.costs:
        notes += (
            " Latency and cost are measured for BM25, each dense model and each comparison (a"
            " compared re-ranker: its re-ranking step alone); fused and re-ranked loop systems"
            " cost the sum of their parts."
        )
    report.add_section(
        "Verdict",
        f"<ul>{items}</ul><p>Sizes: {esc(sizes)}. The pipeline was "
        f"chosen on the dev split (never the test split); the test split "
        f"below was only measured.{esc(notes)}</p>",
    )
    _label_sections(report, result.labels)
    if len(result.recipe_search) > 1:
        report.add_table(
            "Recipe search (each candidate scored on dev; the best was kept)",
            ["recipe", "lr", "epochs", "hard negatives", f"dev {metric}", "minutes"],
            [
                [t["recipe"], t["learning_rate"] or "default", t["epochs"] or "default",
                 "yes" if t["hard_negatives"] else "in-batch only",
                 f"{t['dev']:.4f}" if t["dev"] is not None else "n/a", f"{t['seconds'] / 60:.1f}"]
                for t in result.recipe_search
            ],
        )  # fmt: skip
    learned = result.learned_reranker or {}
    if learned.get("importances"):
        report.add_figure(
            "What the learned re-ranker relies on",
            plots.feature_importances(learned["importances"]),
            caption=learned["verdict"],
        )
    dev_rows = [
        [n, *(f"{s[m]:.4f}" for m in result.test.metrics)] for n, s in result.dev_scores.items()
    ]
    report.add_comparison(
        result.test, metric=metric, queries=queries, corpus=dataset.corpus, runs=result.runs
    )
    report.add_table(
        "Dev split (used for every decision)", ["system", *result.test.metrics], dev_rows
    )
    if result.costs:  # quality on the test split; hybrids and the loop's re-rankers are untimed
        report.add_costs(result.test, result.costs, metric=metric)
    peaks = result.peak_memory_by_stage
    timing_rows = [[k, f"{v:.1f}", f"{peaks[k]:.0f}" if k in peaks else ""]
                   for k, v in result.timings.items()]  # fmt: skip
    timing_rows.append(["whole loop", f"{sum(result.timings.values()):.1f}",
                        f"{result.peak_memory_mb:.0f}"])  # fmt: skip
    report.add_table("Stage timings", ["stage", "seconds", "peak memory so far (MB)"], timing_rows)
    add_roadmap(report, rank(loop_roadmap(result)))
    return report.write(path)
