"""``flywheel ingest``: load a BEIR folder, one file of corpus/queries/judgments/events, or
exported traces (OTLP JSON, Phoenix, Langfuse).

The file format follows the ending (.jsonl, .csv, .tsv, .parquet); docs/store.md lists the
fields of each kind. One transaction per file: a bad record fails the whole file unless
``--skip-invalid`` is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from flywheel.cli._common import DbOption, console, open_store, print_report, typer_app
from flywheel.errors import ConfigError, UnknownComponentError

app = typer_app(
    help="Load data into the store (re-running the same file changes nothing).",
    no_args_is_help=True,
)

ReplaceOption = Annotated[
    bool, typer.Option("--replace", help="Overwrite stored records whose content changed.")
]


@app.command("beir")
def beir(
    folder: Annotated[
        str,
        typer.Argument(
            help="Folder with corpus.jsonl, queries.jsonl, qrels/; or a dataset name under "
            "$FLYWHEEL_DATASETS (as in experiment specs)."
        ),
    ],
    replace: ReplaceOption = False,
    db: DbOption = None,
) -> None:
    """Load a BEIR dataset: judgments keep their split (the qrels file name), source benchmark."""
    from flywheel.evaluation.experiment_spec import resolve_dataset

    try:
        path = resolve_dataset(folder)
    except FileNotFoundError as exc:
        raise ConfigError(str(exc)) from None
    reports = open_store(db).ingest_beir(path, replace=replace)
    for report in reports.values():
        print_report(report)
    console.print("next: flywheel status")


def _file_command(kind: str, default_source: str | None, summary: str) -> None:
    def command(
        file: Annotated[Path, typer.Argument(help=".jsonl, .csv, .tsv or .parquet")],
        skip_invalid: Annotated[
            bool,
            typer.Option(
                "--skip-invalid",
                help="Store the good records; write bad ones to FILE.rejects.jsonl.",
            ),
        ] = False,
        replace: ReplaceOption = False,
        source: str | None = typer.Option(  # noqa: B008 (help text depends on the kind)
            None, help=f"Source of records that name none (default: {default_source})."
        ),
        split: Annotated[
            str | None, typer.Option(help="Split of judgments that name none (judgments only).")
        ] = None,
        db: DbOption = None,
    ) -> None:
        report = open_store(db).ingest_file(
            kind, file, skip_invalid=skip_invalid, replace=replace, source=source, split=split
        )
        print_report(report)
        if report.rejected:
            console.print(
                f"[yellow]{report.rejected} records rejected[/]; reasons in "
                f"{escape(str(report.rejects_path))}"
            )

    command.__doc__ = summary
    app.command(kind)(command)


_file_command("corpus", None, "Load documents: doc_id, text, optional title and metadata.")
_file_command(
    "queries",
    "eval",
    "Load queries: qid, text, optional intent, source, answer (or reference_answer), reasoning.",
)
_file_command(
    "judgments",
    "human",
    "Load grades 0-5: qid, doc_id or chunk_id, grade, optional source and split.",
)
_file_command(
    "events",
    None,
    "Load logged interactions: kind, session_id, qid, timestamp, and the kind's fields.",
)


@app.command("traces")
def traces(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Trace exports (.jsonl, .json, .parquet): OTLP JSON, Phoenix spans and span "
            "annotations, Langfuse traces, observations and scores. Give spans and their "
            "annotations together."
        ),
    ],
    trace_format: Annotated[
        str, typer.Option("--format", help="auto | otlp | phoenix | langfuse")
    ] = "auto",
    missing_docs: Annotated[
        str,
        typer.Option(
            help="Documents the spans name but the store lacks: 'report' fails the import, "
            "'add' stores them from the spans' content."
        ),
    ] = "report",
    db: DbOption = None,
) -> None:
    """Load exported traces: retriever spans become retrievals, cited documents citations,
    thumbs and relevance annotations feedback and judgments (docs/integrations.md)."""
    from flywheel.traces import MissingDocs, ingest_trace_files

    if missing_docs not in [m.value for m in MissingDocs]:
        raise UnknownComponentError("--missing-docs choice", missing_docs, list(MissingDocs))
    report = ingest_trace_files(
        open_store(db), files, trace_format=trace_format, missing_docs=missing_docs
    )
    console.print(report.summary())
    for reason, count in sorted(report.skipped.items()):
        console.print(f"[yellow]skipped:[/] {count} {reason}")
    console.print("next: flywheel dataset build triplets --out DIR")
