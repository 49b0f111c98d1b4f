"""The ``flywheel`` command: a thin shell over the library. One module per command group."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape

from flywheel._internal.progress import silence_third_party_bars
from flywheel.cli import (
    batch,
    chunk,
    dataset,
    experiment,
    fewshot,
    ingest,
    init,
    judge,
    report,
    roadmap,
    run,
    serve,
    status,
    synth,
    train,
)
from flywheel.cli._common import make_console
from flywheel.errors import FlywheelError
from flywheel.settings import ensure_offline

app = typer.Typer(
    rich_markup_mode=None,
    name="flywheel",
    help="Turn a RAG system's evaluation data and logged interactions into better retrieval.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
err = make_console(stderr=True)


def _print_version(value: bool) -> None:
    if value:
        from flywheel import __version__

        typer.echo(f"flywheel {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Turn a RAG system's evaluation data and logged interactions into better retrieval."""


# --- command groups register here (one line each) ---------------------------------------
# (modules import lazily-heavy libraries only inside their commands)
app.add_typer(experiment.app, name="experiment")
app.command("report")(report.report)
app.command("roadmap")(roadmap.roadmap)
app.command("init")(init.init)
app.add_typer(ingest.app, name="ingest")
app.command("status")(status.status)
app.command("chunk")(chunk.chunk)
app.add_typer(dataset.app, name="dataset")
app.add_typer(train.app, name="train")
app.command("run")(run.run)
app.command("demo")(run.demo)
app.command("serve")(serve.serve)
app.add_typer(judge.app, name="judge")
app.add_typer(synth.app, name="synth")
app.add_typer(fewshot.app, name="fewshot")
app.add_typer(batch.app, name="batch")


def main() -> None:
    """Console-script entry point: FlywheelErrors become one clear line and exit code 1."""
    ensure_offline()
    silence_third_party_bars()
    try:
        app()
    except FlywheelError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        sys.exit(1)
