"""The roadmap's HTML page: the impact/effort 2x2 chart and the ranked table."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from flywheel.reports import plots
from flywheel.reports.report import Report
from flywheel.roadmap import RankedCandidate


def add_roadmap(report: Report, ranked: Sequence[RankedCandidate]) -> Report:
    """Add the 2x2 chart (normalised impact vs effort) and the ranked table to ``report``."""
    max_impact = max((r.candidate.impact_used for r in ranked), default=0.0) or 1.0
    max_effort = max((r.candidate.effort for r in ranked), default=1.0)
    points = [
        {
            "name": r.candidate.name,
            "impact": r.candidate.impact_used / max_impact,
            "effort": r.candidate.effort / max_effort,
            "measured": r.candidate.measured_impact is not None,
        }
        for r in ranked
    ]
    report.add_figure(
        "Impact / effort",
        plots.impact_effort(points),
        caption="Quick wins (top left) first; dark points carry a measured gain.",
    )
    rows = [
        [
            r.position,
            r.candidate.name,
            r.quadrant.value,
            f"{r.candidate.impact_used:.3g}",
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
