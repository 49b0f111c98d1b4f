"""The roadmap's HTML page: the impact/effort 2x2 chart and the ranked table."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from flywheel.reports import plots
from flywheel.reports.report import Report
from flywheel.roadmap import RankedCandidate


def add_roadmap(report: Report, ranked: Sequence[RankedCandidate]) -> Report:
    """Add the 2x2 chart (impact in % gain against effort in person-days) and the ranked table:
    measured candidates sit at their measured gain, with its p-value; estimates say so."""
    points = [
        {
            "name": r.candidate.name,
            "impact": r.candidate.impact_used,
            "effort": r.candidate.effort,
            "measured": r.candidate.measured,
            "p_value": r.candidate.measured_p_value,
        }
        for r in ranked
    ]
    report.add_figure(
        "Impact / effort",
        plots.impact_effort(points),
        caption="Quick wins (top left) first. Filled points sit at a gain measured by an "
        "experiment or a flywheel run (with its p-value); hollow points are estimates.",
    )
    rows = [
        [
            r.position,
            r.candidate.name,
            r.quadrant.value,
            r.candidate.impact_label(),
            f"{r.candidate.effort:g}",
            f"{r.candidate.risk:.0%}",
            f"{r.candidate.score:.3g}",
            ", ".join(r.candidate.dependencies),
        ]
        for r in ranked
    ]
    return report.add_table(
        "Ranked candidates",
        ["#", "candidate", "quadrant", "impact", "effort", "risk", "score", "after"],
        rows,
    )


def write_roadmap_report(
    ranked: Sequence[RankedCandidate], path: str | Path, *, title: str = "Roadmap"
) -> Path:
    return add_roadmap(Report(title), ranked).write(path)
