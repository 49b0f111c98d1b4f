"""The metric registry: ``"ndcg@10"`` resolves here, and plugins can add their own metrics.

A metric is a function ``(JudgedRanks, k | None) -> np.ndarray`` with one value per query.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from flywheel._internal.plugins import METRICS, load_plugins
from flywheel.errors import UnknownComponentError
from flywheel.evaluation.metric_spec import MetricSpec
from flywheel.evaluation.metrics import binary, ndcg
from flywheel.evaluation.metrics.ranks import JudgedRanks

MetricFn = Callable[[JudgedRanks, "int | None"], np.ndarray]

_METRICS: dict[str, MetricFn] = {
    "hits": binary.hits,
    "recall": binary.recall,
    "precision": binary.precision,
    "hit_rate": binary.hit_rate,
    "success": binary.hit_rate,  # trec_eval's name for hit rate
    "mrr": binary.reciprocal_rank,
    "map": binary.average_precision,
    "ndcg": ndcg.ndcg,
    "dcg": ndcg.dcg,
}


def register_metric(name: str, fn: MetricFn, *, replace: bool = False) -> None:
    """Add a metric under ``name`` (lower case, no ``@``); ``replace=True`` to override one."""
    key = name.lower()
    if "@" in key:
        raise ValueError(f"metric names carry no cutoff: register '{key.split('@')[0]}'")
    if key in _METRICS and not replace:
        raise ValueError(f"metric '{key}' already exists; pass replace=True to override it")
    _METRICS[key] = fn


def _load_plugins() -> None:
    load_plugins(METRICS, lambda name, fn: register_metric(name, fn))


def known_metrics() -> list[str]:
    """Every registered metric name (use them with an optional ``@k`` cutoff), entry-point
    plugins (``flywheel.metrics``) included."""
    _load_plugins()
    return sorted(_METRICS)


def resolve_metric(spec: str | MetricSpec) -> tuple[MetricSpec, MetricFn]:
    """Parse ``spec`` and find its function, or raise naming every known metric."""
    parsed = spec if isinstance(spec, MetricSpec) else MetricSpec.parse(spec)
    fn = _METRICS.get(parsed.name)
    if fn is None:
        _load_plugins()
        fn = _METRICS.get(parsed.name)
    if fn is None:
        raise UnknownComponentError("metric", str(spec), [f"{m}@k" for m in known_metrics()])
    return parsed, fn
