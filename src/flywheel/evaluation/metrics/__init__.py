"""Retrieval metrics, vectorised with numpy; names resolve through :mod:`.registry`."""

from flywheel.evaluation.metrics.ranks import JudgedRanks, judged_ranks
from flywheel.evaluation.metrics.registry import known_metrics, register_metric, resolve_metric

__all__ = ["JudgedRanks", "judged_ranks", "known_metrics", "register_metric", "resolve_metric"]
