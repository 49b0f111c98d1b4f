"""The report's figures, drawn with matplotlib's Agg backend (no display needed).

Each function returns a ``matplotlib.figure.Figure``; :func:`figure_to_data_uri` turns one into
an inline base64 PNG so the report stays a single file.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def figure_to_data_uri(fig: Any, *, dpi: int = 110) -> str:
    """PNG bytes of ``fig`` as a ``data:`` URI; closes the figure."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    _pyplot().close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def recall_curves(curves: Mapping[str, Mapping[int, float]], *, title: str = "Recall@k") -> Any:
    """One line per system: recall at each cutoff k (log-scaled x axis)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for system, points in curves.items():
        ks = sorted(points)
        ax.plot(ks, [points[k] for k in ks], marker="o", label=system)
    ax.set_xscale("log")
    ax.set_xlabel("k (documents retrieved)")
    ax.set_ylabel("recall@k")
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    ax.set_title(title)
    ax.legend()
    return fig


def win_loss(differences: Mapping[str, Sequence[float]], *, metric: str, baseline: str) -> Any:
    """Per-query differences (variant - baseline), sorted, one panel per variant."""
    plt = _pyplot()
    n = max(1, len(differences))
    fig, axes = plt.subplots(n, 1, figsize=(6.4, 2.4 * n), squeeze=False)
    for ax, (variant, diffs) in zip(axes[:, 0], differences.items(), strict=False):
        values = sorted(diffs, reverse=True)
        colors = ["#2a9d8f" if d > 0 else "#e76f51" if d < 0 else "#adb5bd" for d in values]
        ax.bar(range(len(values)), values, color=colors, width=1.0)
        ax.axhline(0, color="black", linewidth=0.6)
        wins = sum(d > 0 for d in values)
        losses = sum(d < 0 for d in values)
        ax.set_title(f"{variant} vs {baseline}: {wins} wins, {losses} losses ({metric})")
        ax.set_xticks([])
        ax.set_ylabel(f"Δ {metric}")
    fig.tight_layout()
    return fig


def impact_effort(points: Sequence[Mapping[str, Any]], *, title: str = "Impact / effort") -> Any:
    """The 2x2 chart: effort on x, impact on y; quick wins top left."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 5.0))
    ax.axvline(0.5, color="grey", linewidth=0.8)
    ax.axhline(0.5, color="grey", linewidth=0.8)
    for x, y, label in (
        (0.25, 0.97, "quick wins"),
        (0.75, 0.97, "big bets"),
        (0.25, 0.03, "fill-ins"),
        (0.75, 0.03, "money pits"),
    ):
        ax.text(x, y, label, ha="center", va="center", color="grey", transform=ax.transAxes)
    for point in points:
        measured = point.get("measured")
        ax.scatter(
            point["effort"],
            point["impact"],
            s=80,
            color="#264653" if measured else "#e9c46a",
            edgecolor="black",
            zorder=3,
        )
        ax.annotate(
            point["name"],
            (point["effort"], point["impact"]),
            xytext=(5, 5),
            textcoords="offset points",
            fontsize=8,
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("effort (normalised)")
    ax.set_ylabel("impact (normalised; dark = measured)")
    ax.set_title(title)
    return fig


def quality_cost(
    points: Sequence[Mapping[str, Any]], *, metric: str, title: str = "Quality against cost"
) -> Any:
    """Two panels: ``metric`` against API cost per 1,000 queries, and against latency p50.

    Each point is ``{name, quality, cost_per_1k (None for local), latency_ms, hosted}``. Local
    models sit at $0 of API cost (labelled with their measured time), hosted ones at their price.
    """
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.6, 4.0), sharey=True)
    for point in points:
        hosted = bool(point.get("hosted"))
        color = "#e76f51" if hosted else "#2a9d8f"
        cost = point.get("cost_per_1k") or 0.0
        left.scatter(cost, point["quality"], s=70, color=color, edgecolor="black", zorder=3)
        left.annotate(
            point["name"],
            (cost, point["quality"]),
            xytext=(5, 4),
            textcoords="offset points",
            fontsize=8,
        )
        if point.get("latency_ms") is not None:
            right.scatter(
                point["latency_ms"],
                point["quality"],
                s=70,
                color=color,
                edgecolor="black",
                zorder=3,
            )
            right.annotate(
                point["name"],
                (point["latency_ms"], point["quality"]),
                xytext=(5, 4),
                textcoords="offset points",
                fontsize=8,
            )
    left.set_xlabel("API cost per 1,000 queries (USD; local models = 0)")
    left.set_ylabel(metric)
    right.set_xlabel("latency p50 per query (ms)")
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
    fig.suptitle(title + " (green: local, orange: hosted)")
    fig.tight_layout()
    return fig


def propensity_curve(
    curves: Mapping[str, Mapping[str, Sequence[Any]]],
    *,
    truth: Mapping[int, float] | None = None,
    title: str = "Examination by rank (position bias)",
) -> Any:
    """One line per estimate of ``theta_r`` (``PropensityCurve.plot_data()`` or
    ``EventLabels.propensity_plot_data()``: columns ``rank, propensity, carried``); ranks carried
    from neighbours for lack of data are drawn hollow. ``truth`` (a simulation's) is dashed."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for name, data in curves.items():
        ranks, values = list(data["rank"]), list(data["propensity"])
        carried = list(data.get("carried", [False] * len(ranks)))
        (line,) = ax.plot(ranks, values, marker="o", label=name)
        hollow = [i for i, c in enumerate(carried) if c]
        if hollow:
            ax.scatter([ranks[i] for i in hollow], [values[i] for i in hollow], s=60,
                       facecolor="white", edgecolor=line.get_color(), zorder=3)  # fmt: skip
    if truth:
        ranks = sorted(truth)
        ax.plot(ranks, [truth[r] for r in ranks], linestyle="--", color="black", label="truth")
    ax.set_xlabel("rank")
    ax.set_ylabel("P(examined) relative to rank 1")
    ax.set_ylim(0, 1.05)
    ax.grid(True, alpha=0.3)
    ax.set_title(title)
    ax.legend()
    return fig
