"""Self-contained HTML reports (tables and inline matplotlib figures)."""

from flywheel.reports.report import Report, write_report

__all__ = ["Report", "write_report"]
