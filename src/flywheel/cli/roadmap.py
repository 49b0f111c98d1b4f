"""``flywheel roadmap FILE``: rank improvement candidates and draw the impact/effort chart."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from flywheel.cli._common import DbOption, console, open_store


def roadmap(
    file: Annotated[Path, typer.Argument(help="Candidates, TOML ([[candidates]]) or YAML.")],
    report: Annotated[
        Path | None, typer.Option(help="Write the 2x2 chart and table as HTML.")
    ] = None,
    db: DbOption = None,
) -> None:
    """Quick wins first, dependencies respected; measured experiment gains replace estimates."""
    from flywheel.roadmap import fill_measured, load_candidates, rank

    candidates = load_candidates(file)
    if any(c.experiment for c in candidates):
        needs_store = any(c.experiment and not c.experiment.endswith(".json") for c in candidates)
        candidates = fill_measured(
            candidates, open_store(db) if needs_store else None, base=file.parent
        )
    ranked = rank(candidates)
    table = Table(title=f"Roadmap ({file.name})")
    for column in ("#", "candidate", "quadrant", "impact", "effort", "risk", "score", "after"):
        table.add_column(column)
    for r in ranked:
        c = r.candidate
        table.add_row(
            str(r.position),
            c.name,
            r.quadrant.value,
            c.impact_label(),
            f"{c.effort:g}",
            f"{c.risk:.0%}",
            f"{c.score:.3g}",
            ", ".join(c.dependencies),
        )
    console.print(table)
    if report is not None:
        from flywheel.reports.roadmap import write_roadmap_report

        title = "Roadmap" if file.stem.lower() == "roadmap" else f"Roadmap: {file.stem}"
        console.print(f"wrote {write_roadmap_report(ranked, report, title=title)}")
