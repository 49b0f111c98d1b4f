"""``flywheel synth questions``: synthetic (question, passage) pairs for a cold start."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

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
from flywheel.models import DEFAULT_BASE_MODEL

app = typer_app(help="Synthetic training data for a cold start.", no_args_is_help=True)


@app.command("questions")
def questions(
    corpus: Annotated[
        str | None,
        typer.Option(
            help="A BEIR folder or dataset name (ingested first); default: the store's corpus.",
            show_default=False,
        ),
    ] = None,
    n: Annotated[int, typer.Option("--n", help="Questions to keep.")] = 100,
    offline: Annotated[
        bool, typer.Option(help="No LLM: pseudo-questions cut from the corpus.")
    ] = False,
    generator: Annotated[str, typer.Option(help="Offline generator: ict or crop.")] = "ict",
    model: Annotated[str, typer.Option(help="provider:model of the LLM generator.")] = (
        "openai:gpt-4o-mini"
    ),
    template: Annotated[Path | None, typer.Option(help="Your Jinja2 prompt.")] = None,
    embedder: Annotated[
        str, typer.Option(help="Model for clustering, near-duplicate and leak checks.")
    ] = DEFAULT_BASE_MODEL,
    no_embed: Annotated[
        bool,
        typer.Option(
            "--no-embed", help="Skip embeddings: no clusters, text-only duplicate and leak checks."
        ),
    ] = False,
    round_trip: Annotated[
        int | None, typer.Option(help="Keep a question only if BM25 finds its source in the top K.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 42,
    dry_run: DryRun = False,
    max_cost: MaxCost = None,
    concurrency: Concurrency = 4,
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
    prices: Prices = None,
    db: DbOption = None,
) -> None:
    """Write synthetic questions into the store (source 'synthetic', train split only)."""
    from flywheel.synth import FilterConfig, SynthConfig, synthesize, write_synthetic

    config = SynthConfig(
        n=n,
        generator=generator if offline else "llm",
        seed=seed,
        filters=FilterConfig(round_trip_k=round_trip),
    )
    config.validate()
    client = (
        None
        if offline
        else hosted_client(
            model,
            "chat",
            api_key=api_key,
            base_url=base_url,
            max_cost=max_cost,
            concurrency=concurrency,
            prices=prices,
            dry_run=dry_run,
        )
    )
    store = open_store(db)
    if corpus is not None:
        from flywheel.evaluation.experiment_spec import resolve_dataset

        try:
            folder = resolve_dataset(corpus)
        except FileNotFoundError as exc:
            raise typer.BadParameter(str(exc), param_hint="--corpus") from None
        for kind, report in store.ingest_beir(folder).items():
            console.print(f"ingest {kind}: {report.summary()}")
    documents = store.corpus()
    if not documents:
        raise typer.BadParameter("the store has no documents; pass --corpus", param_hint="--corpus")
    judged = store.judgments()
    synthetic = set(store.queries(source="synthetic"))
    eval_qids = {j.qid for j in judged if j.split != "train" and j.qid not in synthetic}
    train_qids = {j.qid for j in judged if j.split == "train" and j.qid not in synthetic}
    all_queries = store.queries()
    eval_queries = {q: all_queries[q] for q in eval_qids if q in all_queries}
    real = {q: all_queries[q] for q in train_qids if q in all_queries}
    real_pairs = sorted(
        {
            (all_queries[j.qid], documents[j.doc_id].text_for_encoding)
            for j in judged
            if j.qid in real and j.grade > 0 and j.doc_id in documents
        }
    )
    real |= store.queries(source="live")
    if dry_run:
        if client is None:
            console.print("dry run: the offline generator calls no model and costs nothing")
            return
        from flywheel.synth.llm import estimate_llm_questions
        from flywheel.synth.sampling import sample_passages

        ids = sample_passages(list(documents), int(n * config.oversample), seed=seed)
        texts = {d: documents[d].text_for_encoding for d in ids}
        console.print("dry run: " + estimate_llm_questions(texts, ids, client).summary())
        return
    embed = None if no_embed else _embedder(embedder)
    search = None
    if round_trip:
        from flywheel.retrieval.registry import build_retriever

        bm25 = build_retriever("bm25", documents)
        search = lambda q: bm25.search(q, k=round_trip)  # noqa: E731
    started = datetime.now(UTC)
    run_id = f"synth-{started:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    try:
        result = synthesize(
            documents,
            config,
            eval_queries=eval_queries,
            embed_documents=embed.encode_documents if embed else None,
            embed_queries=embed.encode_queries if embed else None,
            client=client,
            real_queries=real,
            template=template,
            search=search,
            real_pairs=real_pairs,
        )
    finally:
        if client is not None:
            record_usage(store, "synth questions", client, started, run=run_id)
    counts = write_synthetic(store, result, run_id=run_id, corpus=documents)
    console.print(result.summary())
    console.print(
        f"stored {counts['kept']} questions (source 'synthetic', split 'train'), "
        f"{counts['positives']} positive passages they train against instead of their document, "
        f"and {counts['rejected']} rejections with their reasons (run {run_id})"
    )
    for rejection in result.rejected[:5]:
        console.print(
            f"  [dim]{rejection.reason}: {rejection.pair.question[:70]!r} - "
            f"{rejection.detail[:80]}[/]"
        )
    console.print("next: flywheel run --dataset ... uses them when there are no training queries")


def _embedder(name: str):
    from flywheel.retrieval.embedders import Embedder

    return Embedder(name)
