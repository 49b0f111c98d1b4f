"""What every command shares: the ``--db`` option, opening the store, printing reports."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from flywheel.store import IngestReport, Store

console = Console()

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Store URL or SQLite file (default: $FLYWHEEL_DB, else ./flywheel.db).",
        show_default=False,
    ),
]


def open_store(db: str | None) -> Store:
    """The store named by ``--db`` (or the environment); created and migrated if new."""
    from flywheel.store import Store  # SQLAlchemy and Alembic load only when a command runs

    return Store(db)


def print_report(report: IngestReport) -> None:
    console.print(escape(report.summary()))  # file names are not Rich markup
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
