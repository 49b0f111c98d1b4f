"""``flywheel run`` and ``flywheel demo``: the whole loop in one command."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from flywheel.cli._common import make_console
from flywheel.retrieval.rerank import RerankBackend as InferenceBackend

console = make_console()


def _cost_cells(cost: dict | None) -> tuple[str, str]:
    """p50 latency, and dollars per 1,000 queries for a hosted system (local: "local")."""
    if not cost:
        return "", ""
    p50 = cost.get("latency_p50_ms")
    per_1k = cost.get("cost_per_1k_queries_usd")
    price = ("unknown" if per_1k is None else f"${per_1k:.4f}") if cost.get("hosted") else "local"
    return ("" if p50 is None else f"{p50:.1f} ms"), price


def _print_result(result) -> None:  # noqa: ANN001 - LoopResult, imported lazily
    metric = result.config["primary_metric"]
    table = Table(title=f"{result.dataset}: test split ({result.split_sizes['test']} queries)")
    columns = ("system", f"dev {metric}", f"test {metric}", "95% CI", "vs base dense", "p")
    for col in (*columns, "p50 latency", "per 1k queries"):
        table.add_column(col)
    comp = result.test
    for name in comp.systems:
        low, high = comp.ci[name][metric]
        outcome = comp.outcomes.get(name, {}).get(metric)
        mark = " <- selected on dev" if name == result.selected else ""
        table.add_row(
            name + mark,
            f"{result.dev_scores[name][metric]:.4f}",
            f"{comp.mean(name, metric):.4f}",
            f"[{low:.3f}, {high:.3f}]",
            f"{outcome.delta:+.4f}" if outcome else "",
            f"{outcome.p_value:.3g}" if outcome else "",
            *_cost_cells(result.costs.get(name)),
        )
    console.print(table)
    for line in result.verdicts:
        console.print(f"- {line}")
    console.print("stage timings: " + ", ".join(f"{k} {v:.0f}s" for k, v in result.timings.items()))
    peaks = result.peak_memory_by_stage
    console.print(
        "peak memory (MB) after each stage: " + ", ".join(f"{k} {v:.0f}" for k, v in peaks.items())
    )
    console.print(f"report: [bold]{result.report_path}[/]   summary: {result.summary_path}")


def run(
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset", "-d", help="BEIR folder, BEIR name, or 'demo', ingested into the store"
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="output folder (models, report, summary.json)")] = Path(
        "flywheel-out"
    ),
    base: Annotated[
        str, typer.Option(help="base embedding model")
    ] = "sentence-transformers/all-MiniLM-L6-v2",
    epochs: Annotated[int, typer.Option(help="embedder epochs")] = 3,
    lr: Annotated[float, typer.Option(help="embedder learning rate")] = 5e-5,
    batch_size: Annotated[int, typer.Option(help="embedder batch size")] = 32,
    reranker: Annotated[
        bool | None,
        typer.Option(
            "--reranker/--no-reranker",
            help="train a re-ranker; default: only when --reranker-base names a cross-encoder",
        ),
    ] = None,
    reranker_base: Annotated[
        str | None, typer.Option(help="cross-encoder to fine-tune (folder or Hub id)")
    ] = None,
    learned_reranker: Annotated[
        bool,
        typer.Option(
            "--learned-reranker/--no-learned-reranker",
            help="LambdaMART over the first stages' candidates, learned on dev and kept only if "
            "it wins there (needs no pretrained cross-encoder)",
        ),
    ] = True,
    search_budget: Annotated[
        float | None,
        typer.Option(
            help="minutes for a search over the embedder's recipe (learning rate, epochs, hard "
            "or in-batch negatives), each candidate scored on dev; default: one recipe"
        ),
    ] = None,
    rerank_depth: Annotated[int, typer.Option(help="re-rank the top N")] = 20,
    rerank_negatives: Annotated[
        int, typer.Option(help="negatives per query for re-ranker training")
    ] = 4,
    max_train_queries: Annotated[
        int | None, typer.Option(help="subsample training queries")
    ] = None,
    reference_recipe: Annotated[
        bool,
        typer.Option(
            help="also train plain MNRL on the training pairs and test the result against it"
        ),
    ] = False,
    backend: Annotated[
        InferenceBackend,
        typer.Option(help="inference: torch, or ort-int8 (ONNX Runtime int8, ~2x on CPU)"),
    ] = InferenceBackend.TORCH,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, ... (default: auto)")] = None,
    db: Annotated[
        str | None,
        typer.Option(
            help="the store to run on: its documents, queries, judgments, LLM grades and logged "
            "events (with --dataset: ingested into it first; default: a fresh store in --out)"
        ),
    ] = None,
    events: Annotated[
        bool, typer.Option("--events/--no-events", help="train on labels from logged events")
    ] = True,
    leak_threshold: Annotated[
        float,
        typer.Option(
            help="a training query at this cosine (base model) or closer to a dev/test query is "
            "never trained on; 0 keeps only the exact and normalised-text checks"
        ),
    ] = 0.9,
    test_split: Annotated[
        str, typer.Option(help="judged split to measure on (never trained on)")
    ] = "test",
    compare: Annotated[
        list[str] | None,
        typer.Option(
            "--compare",
            help="also measure this embedder (openai:text-embedding-3-small, a folder or Hub "
            "id) beside the loop's systems; never selected; repeatable",
        ),
    ] = None,
    cold_start_model: Annotated[
        str | None,
        typer.Option(
            help="with no training query, have this model write the synthetic questions "
            "(openai:gpt-4o-mini, or local:gemma-3-270m run here, no key); default: offline "
            "pseudo-questions"
        ),
    ] = None,
    compare_reranker: Annotated[
        list[str] | None,
        typer.Option(
            "--compare-reranker",
            help="also measure this re-ranker (cohere:rerank-v3.5, a cross-encoder) over the "
            "selected pipeline's first stage; never selected; repeatable",
        ),
    ] = None,
) -> None:
    """Run the whole flywheel on a store (or a dataset ingested into one) and report the
    measured lift on its test split. Training labels come from judgments, LLM grades and logged
    events; a store with logs and no training judgments is enough."""
    if dataset is None and db is None:
        raise typer.BadParameter("pass --db URL (a store) or --dataset DIR|NAME")
    from flywheel.pipeline import LoopConfig, run_flywheel

    if cold_start_model:
        from flywheel.hosted import parse_model

        parse_model(cold_start_model, kind="chat")  # a bad name fails now, not after an hour
    from flywheel.training.config import EmbedderTrainConfig

    logging.basicConfig(level=logging.WARNING)
    for handler in logging.getLogger().handlers:  # bm25s sets its own logger to DEBUG
        handler.setLevel(logging.WARNING)
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    config = LoopConfig(
        dataset=dataset,
        out_dir=out,
        base_model=base,
        db=db,
        use_events=events,
        learned_reranker=learned_reranker,
        search_budget_minutes=search_budget,
        test_split=test_split,
        near_duplicate_threshold=leak_threshold or None,
        device=device,
        max_train_queries=max_train_queries,
        reference_recipe=reference_recipe,
        inference_backend=backend.value,
        compare_models=compare or [],
        compare_rerankers=compare_reranker or [],
        cold_start_generator="llm" if cold_start_model else "ict",
        cold_start_model=cold_start_model,
        embedder=EmbedderTrainConfig(
            epochs=epochs, learning_rate=lr, batch_size=batch_size, eval_each_epoch=False
        ),
    )
    config.reranker.enabled = reranker
    config.reranker.base_model = reranker_base
    config.reranker.depth = rerank_depth
    config.reranker.negatives_per_query = rerank_negatives
    result = run_flywheel(config, say=lambda line: console.print(f"[dim]{line}[/]"))
    _print_result(result)


def demo(
    out: Annotated[Path, typer.Option(help="output folder")] = Path("flywheel-out/demo"),
) -> None:
    """Generate the medications dataset and run the whole loop on it (a few minutes on 2 cores)."""
    console.print(
        "[bold]rag-flywheel demo[/]: medications x aspects, generated offline. A "
        "question about a drug's side effects must find that drug's side-effects passage, "
        "not its indications; train and test use different drugs."
    )
    # two negatives per query keep the re-ranker's CPU time to a few minutes
    run(dataset="demo", out=out, rerank_negatives=2)
