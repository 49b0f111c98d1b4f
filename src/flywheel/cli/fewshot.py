"""``flywheel fewshot build|show|list|prompt|experiment``: the few-shot library from the shell."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from flywheel.cli._common import DbOption, console, open_store, typer_app
from flywheel.cli._hosted import ApiKey, BaseUrl, DryRun, MaxCost, Prices, record_usage

app = typer_app(
    help="Build a versioned few-shot library from evaluation examples and prompt with it.",
    no_args_is_help=True,
)

NameOption = Annotated[str, typer.Option("--name", help="Library name (versions share it).")]
VersionOption = Annotated[
    int | None, typer.Option("--version", help="Library version (default: the newest).")
]


@app.command("build")
def build(
    examples: Annotated[
        Path | None,
        typer.Option(
            "--examples",
            help="Read examples from this JSONL/CSV/Parquet file instead of the store's queries.",
        ),
    ] = None,
    name: NameOption = "default",
    source: Annotated[
        str, typer.Option(help="Store queries of this source (eval, synthetic, live, all).")
    ] = "eval",
    model: Annotated[str, typer.Option(help="Embedding model (any sentence-transformers).")] = (
        "sentence-transformers/all-MiniLM-L6-v2"
    ),
    intent_field: Annotated[
        str | None, typer.Option(help="Label column of --examples (default: intent or label).")
    ] = None,
    grouping: Annotated[
        str, typer.Option(help="auto (labels if all have one), labels, kmeans, agglomerative.")
    ] = "auto",
    k: Annotated[int | None, typer.Option("--groups", help="Fixed number of clusters.")] = None,
    per_group: Annotated[int, typer.Option(help="Representatives per group.")] = 2,
    require_evidence: Annotated[
        bool, typer.Option(help="Need positive feedback or a relevant judgment.")
    ] = True,
    require_answer: Annotated[bool, typer.Option(help="Need a reference answer.")] = True,
    require_reasoning: Annotated[bool, typer.Option(help="Need reasoning.")] = True,
    min_words: Annotated[int, typer.Option(help="Fewest words in a question.")] = 2,
    max_words: Annotated[int, typer.Option(help="Most words in a question.")] = 128,
    outlier_z: Annotated[
        float, typer.Option(help="Outlier cut (robust z of nearest-neighbour similarity); 0: off.")
    ] = 3.5,
    rotate: Annotated[
        bool, typer.Option(help="Prefer examples the previous version did not show.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Clustering seed.")] = 0,
    db: DbOption = None,
) -> None:
    """Filter, group and choose representatives; store the result as a new library version."""
    from flywheel.errors import NotFoundError
    from flywheel.fewshot.build import build_library
    from flywheel.fewshot.examples import examples_from_file, examples_from_store
    from flywheel.fewshot.grouping import GroupingConfig
    from flywheel.fewshot.library import BuildConfig, FewShotLibrary
    from flywheel.fewshot.quality import QualityConfig
    from flywheel.retrieval.embedders import Embedder

    config = BuildConfig(
        quality=QualityConfig(
            require_evidence=require_evidence,
            require_answer=require_answer,
            require_reasoning=require_reasoning,
            min_question_words=min_words,
            max_question_words=max_words,
            outlier_z=outlier_z or None,
        ),
        grouping=GroupingConfig(method=grouping, k=k, seed=seed),
        per_group=per_group,
        rotate=rotate,
    )
    store = open_store(db)
    items = (
        examples_from_file(examples, intent_field=intent_field)
        if examples is not None
        else examples_from_store(store, source=None if source == "all" else source)
    )
    previous = None
    try:
        previous = FewShotLibrary.load(store, name)
    except NotFoundError:
        pass
    library = build_library(
        items, embedder=Embedder(model), config=config, name=name, previous=previous
    )
    library = library.save(store)
    s = library.summary
    excluded = ", ".join(f"{r} {n}" for r, n in sorted(s["excluded"].items())) or "none"
    console.print(
        f"library [bold]{library.library_id}[/]: {s['examples']} examples, {s['kept']} kept "
        f"(excluded: {excluded}); {len(library.groups)} groups by {s['grouping']['method']}; "
        f"{s['representatives']} representatives"
    )
    console.print(f'next: flywheel fewshot show --name {name}; flywheel fewshot prompt "QUESTION"')


@app.command("list")
def list_versions(db: DbOption = None) -> None:
    """Every stored library version, with its number of logged prompt uses."""
    from flywheel.fewshot.library import list_libraries

    rows = list_libraries(open_store(db))
    if not rows:
        console.print("no few-shot library yet; build one with: flywheel fewshot build")
        return
    table = Table(title="Few-shot libraries")
    for column in ("library", "created", "examples", "kept", "groups", "uses", "embedder"):
        table.add_column(column)
    for r in rows:
        s = r["summary"]
        table.add_row(
            r["library_id"],
            f"{r['created_at']:%Y-%m-%d %H:%M}",
            str(s.get("examples", "")),
            str(s.get("kept", "")),
            str(len(s.get("groups", []))),
            str(r["uses"]),
            r["embedder"],
        )
    console.print(table)


@app.command("show")
def show(
    name: NameOption = "default",
    version: VersionOption = None,
    exclusions: Annotated[
        int, typer.Option(help="Excluded examples to list (0: counts only).")
    ] = 20,
    group: Annotated[str | None, typer.Option(help="Only this group id.")] = None,
    db: DbOption = None,
) -> None:
    """The library's groups, chosen examples and exclusions, each with its reason."""
    from flywheel.fewshot.library import FewShotLibrary

    library = FewShotLibrary.load(open_store(db), name, version)
    s = library.summary
    grouping = s["grouping"]
    console.print(
        f"[bold]{library.library_id}[/] built {library.created_at:%Y-%m-%d %H:%M} with "
        f"{library.embedder_model}: {s['examples']} examples, {s['kept']} kept, "
        f"{len(library.groups)} groups ({grouping['method']})"
        + (f", rotated from v{library.parent_version}" if s.get("rotated_out") else "")
    )
    if grouping.get("silhouette"):
        scores = ", ".join(f"{k}: {v:.3f}" for k, v in grouping["silhouette"].items())
        console.print(f"silhouette by number of groups (best chosen): {scores}")
    reps = library.representatives()
    table = Table(title="Groups and their representatives")
    for column in ("group", "name / terms", "size", "rank", "example", "why"):
        table.add_column(column, overflow="fold")
    for g in library.groups:
        if group is not None and g["group_id"] != group:
            continue
        chosen = reps.get(g["group_id"], [])
        for i, entry in enumerate(chosen or [None]):
            table.add_row(
                g["group_id"] if i == 0 else "",
                (f"{g['name']}\n[dim]{', '.join(g['terms'])}[/]") if i == 0 else "",
                str(g["size"]) if i == 0 else "",
                str(entry.rank) if entry else "",
                entry.example.question if entry else "",
                entry.detail if entry else "",
            )
    console.print(table)
    counts = Table(title="Exclusions by reason")
    counts.add_column("reason")
    counts.add_column("examples", justify="right")
    for reason, n in sorted(s["excluded"].items(), key=lambda kv: -kv[1]):
        counts.add_row(reason, str(n))
    console.print(counts)
    if exclusions and library.exclusions:
        listed = Table(title=f"Excluded examples (first {exclusions})")
        for column in ("qid", "reason", "detail", "question"):
            listed.add_column(column, overflow="fold")
        for entry in library.exclusions[:exclusions]:
            listed.add_row(entry.example.qid, entry.reason, entry.detail, entry.example.question)
        console.print(listed)


@app.command("prompt")
def prompt(
    query: Annotated[str, typer.Argument(help="The live question.")],
    k: Annotated[int, typer.Option("-k", "--k", help="Examples in the prompt.")] = 4,
    static: Annotated[bool, typer.Option("--static", help="One fixed prompt for all.")] = False,
    template: Annotated[
        str, typer.Option(help="Packaged template (default, qa) or a .jinja file.")
    ] = "default",
    name: NameOption = "default",
    version: VersionOption = None,
    explain: Annotated[bool, typer.Option(help="Print why each example was chosen.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the prompt as JSON.")] = False,
    log: Annotated[bool, typer.Option(help="Record this use (library version) in the store.")] = (
        True
    ),
    db: DbOption = None,
) -> None:
    """A prompt for QUERY: its likely intent's examples first, then neighbours by MMR."""
    from flywheel.fewshot.library import FewShotLibrary

    store = open_store(db)
    library = FewShotLibrary.load(store, name, version)
    result = library.prompt(
        query, k=k, static=static, template=template, store=store if log else None, context="cli"
    )
    if as_json:
        print(
            json.dumps(
                {
                    "prompt": result.text,
                    "library": result.library,
                    "intent": result.intent_name,
                    "mode": result.mode,
                    "examples": [e.qid for e in result.examples],
                    "reasons": result.reasons,
                    "use_id": result.use_id,
                }
            )
        )
        return
    console.print(result.text, markup=False, highlight=False)
    if explain:
        table = Table(
            title=f"{result.library}, {result.mode}"
            + (f", likely intent '{result.intent_name}'" if result.intent_name else "")
        )
        for column in ("#", "qid", "cosine", "why"):
            table.add_column(column, overflow="fold")
        for i, (example, score, why) in enumerate(
            zip(result.examples, result.scores, result.reasons, strict=True), start=1
        ):
            table.add_row(str(i), example.qid, f"{score:.3f}", why)
        console.print(table)


@app.command("experiment")
def experiment(
    spec: Annotated[Path, typer.Argument(help="The LLM experiment's TOML spec.")],
    save: Annotated[bool, typer.Option(help="Store the run (--no-save: just print).")] = True,
    dry_run: DryRun = False,
    max_cost: MaxCost = None,
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
    prices: Prices = None,
    db: DbOption = None,
) -> None:
    """Ask a hosted or OpenAI-compatible model every held-out question with each prompt variant,
    score the answers and compare the variants (paired tests), as pre-registered in SPEC."""
    from flywheel.evaluation.compare import Comparison
    from flywheel.fewshot.llm_eval import (
        estimate_llm_experiment,
        experiment_client,
        load_llm_spec,
        run_llm_experiment,
        summary_lines,
    )

    parsed = load_llm_spec(spec)
    client = experiment_client(
        parsed,
        api_key=api_key,
        base_url=base_url,
        max_cost=max_cost,
        prices=prices,
        require_key=not dry_run,
    )
    store = open_store(db)
    if dry_run:
        console.print("dry run: " + estimate_llm_experiment(parsed, client, store=store).summary())
        return
    started = datetime.now(UTC)
    try:
        result = run_llm_experiment(parsed, store=store, client=client, save=save)
    finally:
        record_usage(store, "fewshot experiment", client, started, experiment=parsed.name)
    console.print(Comparison.from_dict(result["comparison"]).rich_table())
    for line in summary_lines(parsed, result):
        console.print(line)
    if result.get("run_id"):
        console.print(f"stored as run [bold]{result['run_id']}[/] (flywheel experiment list)")


@app.command("experiment-show")
def experiment_show(
    run_id: Annotated[str, typer.Argument(help="A run id from `flywheel experiment list`.")],
    db: DbOption = None,
) -> None:
    """A stored few-shot LLM experiment: its comparison table and verdicts."""
    from flywheel.errors import ConfigError
    from flywheel.evaluation.compare import Comparison
    from flywheel.fewshot.llm_eval import KIND, parse_llm_spec, summary_lines, usage_line

    record = open_store(db).get_experiment_run(run_id)
    if record.spec.get("kind") != KIND:
        raise ConfigError(
            f"run {run_id} is not a few-shot LLM experiment; show it with: "
            f"flywheel experiment show {run_id}"
        )
    spec = parse_llm_spec(dict(record.spec), source=record.spec.get("source"))
    console.print(
        f"[bold]{record.name}[/] run {record.run_id} ({record.created_at:%Y-%m-%d %H:%M}, "
        f"model {record.versions.get('model', '?')})"
    )
    console.print(Comparison.from_dict(record.results["comparison"]).rich_table())
    for line in summary_lines(spec, record.results):
        console.print(line)
    console.print(usage_line(record.results))
