"""``flywheel judge run|agreement``: LLM relevance grades, and how well they agree with people."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from flywheel.cli._common import DbOption, console, open_store, typer_app
from flywheel.cli._hosted import (
    ApiKey,
    BaseUrl,
    Concurrency,
    DryRun,
    MaxCost,
    Prices,
    hosted_client,
    record_usage,
)
from flywheel.errors import ConfigError, ProviderError
from flywheel.hosted.client import BUDGET_REASON

app = typer_app(
    help="Grade (query, passage) pairs with an LLM; measure agreement.", no_args_is_help=True
)

DEFAULT_MODEL = "openai:gpt-4o-mini"


@app.command("run")
def run(
    source: Annotated[str, typer.Option("--from", help="Pairs from: topk, logs or negatives.")] = (
        "topk"
    ),
    model: Annotated[
        str | None,
        typer.Option(
            help=f"provider:model (default: $FLYWHEEL_JUDGE_MODEL, else {DEFAULT_MODEL}).",
            show_default=False,
        ),
    ] = None,
    k: Annotated[int, typer.Option(help="Passages per query.")] = 10,
    split: Annotated[str | None, typer.Option(help="Only queries judged in this split.")] = None,
    max_queries: Annotated[int | None, typer.Option(help="Sample this many queries.")] = None,
    retriever: Annotated[str, typer.Option(help="Retriever for topk/negatives.")] = "bm25",
    scale: Annotated[int, typer.Option(help="3 (TREC 0-3, UMBRELA) or 5 (0-5).")] = 3,
    template: Annotated[Path | None, typer.Option(help="Your Jinja2 rubric.")] = None,
    dry_run: DryRun = False,
    max_cost: MaxCost = None,
    concurrency: Concurrency = 4,
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
    prices: Prices = None,
    db: DbOption = None,
) -> None:
    """Grade pairs and store the grades as label source 'llm' (below human and benchmark)."""
    from flywheel.judging import estimate_judging, judge_pairs, pairs_from_store, store_judgments
    from flywheel.judging.judge import judge_kind

    model = model or os.environ.get("FLYWHEEL_JUDGE_MODEL") or DEFAULT_MODEL
    client = hosted_client(
        model,
        judge_kind(model),
        api_key=api_key,
        base_url=base_url,
        max_cost=max_cost,
        concurrency=concurrency,
        prices=prices,
        dry_run=dry_run,
    )
    store = open_store(db)
    pairs = pairs_from_store(
        store, source, k=k, split=split, max_queries=max_queries, retriever=retriever
    )
    console.print(f"{len(pairs)} pairs from {source} ({len({p.qid for p in pairs})} queries)")
    if dry_run:
        console.print(
            "dry run: " + estimate_judging(pairs, client, scale=scale, template=template).summary()
        )
        return
    started = datetime.now(UTC)
    try:
        result = judge_pairs(pairs, client, scale=scale, template=template)
    finally:
        record_usage(store, "judge", client, started, source=source, pairs=len(pairs))
    written = store_judgments(store, result)
    console.print(
        result.summary() + f"; {written} grades stored as source 'llm' (scale 0-{result.scale})"
    )
    for reason, count in _count(r for _, r in result.rejected).items():
        console.print(f"  rejected: {count} x {reason}")
    unsent = _count(r for _, r in result.not_sent if r != BUDGET_REASON)
    if unsent:  # the provider never answered: say why, and do not suggest the next step
        reasons = "; ".join(f"{count} x {reason}" for reason, count in unsent.items())
        raise ProviderError(
            f"{sum(unsent.values())} of {len(pairs)} pairs were not graded: {reasons}; check "
            "the provider is reachable (--base-url / OPENAI_BASE_URL) and run the same command "
            "again (answers received are cached)"
        )
    console.print(
        "next: flywheel judge agreement  (where people graded the same pairs); "
        "flywheel dataset build uses them (grade >= 2 is a positive)"
    )


def _count(reasons: Iterable[str]) -> dict[str, int]:
    """Reasons, most frequent first, cut at the first ':' so variants of one failure group."""
    counts: dict[str, int] = {}
    for reason in reasons:
        key = reason.split(":")[0]
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


@app.command("agreement")
def agreement(
    split: Annotated[str | None, typer.Option(help="Only this split's human labels.")] = None,
    weights: Annotated[str, typer.Option(help="Kappa weights: quadratic, linear or none.")] = (
        "quadratic"
    ),
    scale: Annotated[
        int | None,
        typer.Option(
            help="The grading scale used (3 or 5); default: the one stored with the grades.",
            show_default=False,
        ),
    ] = None,
    system: Annotated[
        list[str] | None,
        typer.Option(help="Retriever spec to rank (repeat, >= 3) for Kendall's tau."),
    ] = None,
    db: DbOption = None,
) -> None:
    """Weighted Cohen's kappa and confusion matrix of LLM vs human labels; Kendall's tau of
    system rankings under each."""
    from flywheel.evaluation import ranking_agreement
    from flywheel.judging import label_agreement

    store = open_store(db)
    human = store.qrels(split=split, sources=["human", "benchmark"])
    llm = store.qrels(sources=["llm"])
    if scale is None:
        recorded = {r.scale for r in store.judgments(sources=["llm"]) if r.scale is not None}
        if len(recorded) > 1:
            raise ConfigError(
                f"the stored LLM grades are on several scales ({sorted(recorded)}); pass --scale"
            )
        scale = recorded.pop() if recorded else 3
    result = label_agreement(
        human, llm, weights=None if weights == "none" else weights, scale=scale
    )
    console.print(
        f"{result.pairs} pairs graded by both: weighted kappa ({result.weights}) "
        f"{result.kappa:.3f}, exact agreement {result.exact:.1%}"
    )
    table = Table(title="Confusion (rows: human grade, columns: LLM grade)")
    table.add_column("human \\ llm")
    for label in result.labels:
        table.add_column(str(label), justify="right")
    for label, row in zip(result.labels, result.confusion, strict=True):
        table.add_row(str(label), *(str(v) for v in row))
    console.print(table)
    if system:
        from flywheel.retrieval.registry import build_retriever

        corpus = store.corpus()
        queries = {q: t for q, t in store.queries().items() if q in human and q in llm}
        runs = {spec: build_retriever(spec, corpus).search(queries, k=100) for spec in system}
        ranking = ranking_agreement(runs, human, llm)
        for name in runs:
            console.print(
                f"  {name}: {ranking.metric} human {ranking.human[name]:.4f}, "
                f"llm {ranking.llm[name]:.4f}"
            )
        console.print(
            f"Kendall's tau of the system rankings: {ranking.tau:.3f} (p={ranking.p_value:.3g})"
        )
