"""``flywheel report RUN --out FILE``: one self-contained HTML report of a stored experiment run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flywheel.cli._common import DbOption, console, open_store


def report(
    run_id: Annotated[str, typer.Argument(help="A run id from `flywheel experiment list`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write.")] = Path(
        "report.html"
    ),
    db: DbOption = None,
    title: Annotated[str | None, typer.Option(help="The report's title.")] = None,
) -> None:
    """Write the metric table, recall curves, per-query wins/losses and the verdict of RUN."""
    from flywheel.data.beir import read_corpus
    from flywheel.evaluation.experiment import ExperimentResult
    from flywheel.evaluation.experiment_spec import resolve_dataset
    from flywheel.reports import write_report

    record = open_store(db).get_experiment_run(run_id)
    result = ExperimentResult.from_stored(record.spec, record.results, run_id=record.run_id)
    corpus = None
    try:  # document titles make the "changed most" table readable; optional
        source = result.spec.source
        folder = resolve_dataset(result.spec.dataset, Path(source).parent if source else None)
        corpus = read_corpus(folder / "corpus.jsonl")
    except (FileNotFoundError, OSError):
        console.print("dataset not found here: the report shows doc ids without titles")
    path = write_report(result, out, title=title, corpus=corpus)
    console.print(f"wrote {path}")
