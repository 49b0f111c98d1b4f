"""What every command shares: the ``--db`` option, opening the store, printing reports."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console, ConsoleDimensions
from rich.markup import escape

if TYPE_CHECKING:
    from flywheel.store import IngestReport, Store

PIPED_WIDTH = 200  # columns for tables written to a file or a pipe (CI logs, tee)


class PipeAwareConsole(Console):
    """A Rich console that draws wide when its output is not a terminal.

    Rich falls back to 80 columns when piped, so tables written to a log cut system names to
    ``fine-t…``; a file has no width to respect, so draw at ``PIPED_WIDTH`` unless ``COLUMNS``
    says otherwise. On a terminal it behaves as Rich does.
    """

    @property
    def size(self) -> ConsoleDimensions:
        dims = super().size
        if self.is_terminal or self._width is not None or "COLUMNS" in os.environ:
            return dims
        return ConsoleDimensions(max(dims.width, PIPED_WIDTH), dims.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size


def make_console(*, stderr: bool = False) -> Console:
    """The console every command prints through (see :class:`PipeAwareConsole`)."""
    return PipeAwareConsole(stderr=stderr)


def typer_app(help: str, **kwargs) -> typer.Typer:  # noqa: A002 - Typer's own keyword
    """A command group. Help is Click's plain layout: Rich's help tables shrink option names to
    ``--relative-mar…`` on an 80-column terminal, Click's wraps the help text instead."""
    return typer.Typer(help=help, rich_markup_mode=None, **kwargs)


console = make_console()

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
