"""``flywheel experiment run|list|show|compare``: pre-registered experiments, stored runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from flywheel.cli._common import DbOption, console, open_store, typer_app
from flywheel.errors import ConfigError

app = typer_app(
    help="Run pre-registered experiments and look at stored runs.", no_args_is_help=True
)


def _print_result(result) -> None:
    table = result.comparison.rich_table()
    if result.label_fill:
        table.title = f"Comparison ({result.labels} labels)"
        table.caption = f"{table.caption}\n{result.label_fill.note()}."
    console.print(table)
    if result.human_comparison is not None:
        human = result.human_comparison.rich_table()
        human.title = "Comparison (human labels only)"
        console.print(human)
    if result.costs:
        from flywheel.evaluation.cost import COST_HEADER, cost_rows

        costs = Table(title="Latency and cost")
        for column in COST_HEADER:
            costs.add_column(column)
        for row in cost_rows(result.costs):
            costs.add_row(*row)
        console.print(costs)
    style = {"criterion met": "green", "not met": "red", "inconclusive": "yellow"}[
        result.verdict.value
    ]
    for line in result.summary().splitlines()[:-1]:
        console.print(line)
    console.print(f"[bold {style}]{result.verdict_line()}[/]")


def _load(store, run_id: str):
    from flywheel.evaluation.experiment import ExperimentResult

    record = store.get_experiment_run(run_id)
    if record.spec.get("kind") == "fewshot-llm":
        raise ConfigError(
            f"run {run_id} is a few-shot LLM experiment; show it with: "
            f"flywheel fewshot experiment-show {run_id}"
        )
    return record, ExperimentResult.from_stored(record.spec, record.results, run_id=record.run_id)


@app.command("run")
def run(
    spec: Annotated[Path, typer.Argument(help="The experiment's TOML spec.")],
    db: DbOption = None,
    report: Annotated[Path | None, typer.Option(help="Also write an HTML report here.")] = None,
    save: Annotated[bool, typer.Option(help="Store the run (--no-save: just print).")] = True,
    fill_unjudged: Annotated[
        str | None,
        typer.Option(
            help="Also score on the store's grades of this label source (llm) for retrieved "
            "pairs no person judged; sets the spec's fill_unjudged (recorded with the run).",
            show_default=False,
        ),
    ] = None,
    llm_min_grade: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=5,
            help="With filled labels: the lowest LLM grade that counts as relevant (lower "
            "grades fill as not relevant); sets the spec's llm_min_grade (default 2, as in "
            "flywheel dataset build).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Validate SPEC, run every variant, compare against the baseline, judge and store the run."""
    from flywheel.evaluation.experiment import run_experiment
    from flywheel.evaluation.experiment_spec import UnjudgedFill, load_spec

    parsed = load_spec(spec)  # every check happens here, before any work
    if fill_unjudged is not None:
        try:
            fill = UnjudgedFill(fill_unjudged)
        except ValueError:
            known = ", ".join(f.value for f in UnjudgedFill)
            raise ConfigError(
                f"--fill-unjudged: unknown label source '{fill_unjudged}'; use one of: {known}"
            ) from None
        parsed = parsed.model_copy(update={"fill_unjudged": fill})
    if llm_min_grade is not None:
        parsed = parsed.model_copy(update={"llm_min_grade": llm_min_grade})
    store = open_store(db) if save or parsed.fill_unjudged or parsed.from_store else None
    result = run_experiment(parsed, store=store, save=save)
    _print_result(result)
    if result.run_id:
        console.print(
            f"stored as run [bold]{result.run_id}[/]; "
            f"next: flywheel report {result.run_id} --out report.html"
        )
    if report is not None:
        from flywheel.reports import write_report

        console.print(f"report: {write_report(result, report)}")


def _list_row(r) -> dict[str, str]:  # noqa: ANN001 - ExperimentRunRecord
    fill = r.results.get("label_fill")
    return {
        "run_id": r.run_id,
        "experiment": r.name,
        "created": f"{r.created_at:%Y-%m-%d %H:%M}",
        "primary_metric": r.spec.get("primary_metric", ""),
        "labels": f"human + {fill['source']} ({fill['filled_pairs']} filled)" if fill else "human",
        "verdict": str(r.results.get("verdict", "")),
        "commit": (r.git_commit or "")[:10],
    }


@app.command("list")
def list_runs(
    db: DbOption = None,
    name: Annotated[str | None, typer.Option(help="Only runs of this experiment.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON array (full run ids) instead of a table.")
    ] = False,
) -> None:
    """Stored experiment runs, oldest first, with their verdicts."""
    rows = [_list_row(r) for r in open_store(db).list_experiment_runs(name)]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        console.print("no experiment runs yet; run one with: flywheel experiment run SPEC.toml")
        return
    table = Table(title="Experiment runs")
    for column in rows[0]:
        # ids are what users copy into show/compare/report: never cut; the rest folds, never "…"
        no_wrap = column in ("run_id", "created")
        table.add_column(column.replace("_", " "), no_wrap=no_wrap, overflow="fold")
    for row in rows:
        table.add_row(*row.values())
    console.print(table)


@app.command("show")
def show(
    run_id: Annotated[
        str,
        typer.Argument(
            help="A run id from `flywheel experiment list`, a unique start of one, or 'latest'."
        ),
    ],
    db: DbOption = None,
) -> None:
    """A stored run's table, verdict, timings and versions."""
    record, result = _load(open_store(db), run_id)
    console.print(
        f"[bold]{record.name}[/] run {record.run_id} "
        f"({record.created_at:%Y-%m-%d %H:%M}, commit {(record.git_commit or '-')[:10]})"
    )
    _print_result(result)
    timings = ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items())
    console.print(f"timings (s): {timings}")
    console.print("versions: " + ", ".join(f"{k} {v}" for k, v in sorted(record.versions.items())))


@app.command("compare")
def compare_runs(
    run_a: Annotated[str, typer.Argument(help="The reference run (its baseline is the baseline).")],
    run_b: Annotated[str, typer.Argument(help="The run to compare with it.")],
    db: DbOption = None,
) -> None:
    """Compare two stored runs' variants on their shared metrics and queries (paired tests).

    Runs on different corpora are refused; runs on different query sets are compared on the
    queries both scored, with a warning."""
    from flywheel.evaluation.stored_compare import compare_runs

    store = open_store(db)
    record_a, a = _load(store, run_a)
    record_b, b = _load(store, run_b)
    paired = compare_runs(a, b)
    console.print(f"A = {record_a.run_id} ({a.spec.name}), B = {record_b.run_id} ({b.spec.name})")
    for warning in paired.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    for tag, result in (("A", a), ("B", b)):
        if result.label_fill:
            console.print(
                f"[yellow]{tag} is scored on {result.labels} labels:[/] {result.label_fill.note()}"
            )
    console.print(paired.comparison.rich_table())
