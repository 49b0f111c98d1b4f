"""``flywheel status``: what the store holds and where the flywheel stands."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from flywheel.cli._common import DbOption, console, open_store


def _table(title: str, columns: tuple[str, ...], rows: list[tuple]) -> Table:
    table = Table(title=title, title_justify="left")
    for index, column in enumerate(columns):
        table.add_column(column, justify="right" if index else "left")
    for row in rows or [("(none)", *("" for _ in columns[1:]))]:
        table.add_row(*(str(cell) for cell in row))
    return table


def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
    db: DbOption = None,
) -> None:
    """Counts of documents, chunks, queries, judgments and events, and the next stage."""
    store = open_store(db)
    info = store.status()
    if as_json:
        typer.echo(json.dumps({"store": store.url, **info.to_dict()}, indent=2))
        return
    console.print(f"store: {store.url}")
    console.print(
        _table(
            "documents and chunks",
            ("what", "count"),
            [("documents", info.documents)]
            + [(f"chunks: {name}", n) for name, n in info.chunks.items()],
        )
    )
    console.print(_table("queries", ("source", "count"), list(info.queries.items())))
    grades = sorted({g for by_grade in info.judgments.values() for g in by_grade})
    console.print(
        _table(
            "judgments",
            ("source", *(f"grade {g}" for g in grades), "total"),
            [
                (source, *(by_grade.get(g, 0) for g in grades), sum(by_grade.values()))
                for source, by_grade in info.judgments.items()
            ],
        )
    )
    console.print(_table("events", ("kind", "count"), list(info.events.items())))
    if info.hosted:
        console.print(
            _table(
                "hosted model usage",
                ("command", "model", "runs", "calls", "cached", "retries", "tokens", "cost"),
                [
                    (
                        h["command"],
                        h["model"],
                        h["runs"],
                        h["calls"],
                        h["cached_calls"],
                        h["retries"],
                        f"{h['input_tokens'] + h['output_tokens']:,}",
                        "unknown" if h["cost_usd"] is None else f"${h['cost_usd']:.4f}",
                    )
                    for h in info.hosted
                ],
            )
        )
    reached = ", ".join(info.reached) or "none yet"
    console.print(f"judged queries: {info.judged_queries}; stages reached: {reached}")
    if info.next_stage:
        console.print(f"next stage: {info.next_stage}; missing: {info.missing}")
    else:
        console.print(f"[green]{info.missing}[/]")
