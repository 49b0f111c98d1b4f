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
    cols = 1 if n <= 2 else 2  # four variants: a 2x2 grid, not a column four panels tall
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.4 * cols, 2.4 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax, (variant, diffs) in zip(axes.flat, differences.items(), strict=False):
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
    """The 2x2 chart: effort (person-days) on x, impact (relative gain, %) on y; quick wins top
    left. Each point is ``{name, impact, effort, measured, p_value}``; measured points are
    filled and labelled with their p-value, estimates hollow and labelled "est.". Points and
    labels stay inside the frame: the axes leave a margin and labels near the right or top
    edge point inwards."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 5.0))
    efforts = [float(p["effort"]) for p in points] or [1.0]
    impacts = [100 * float(p["impact"]) for p in points] or [1.0]
    x_max = max(efforts) * 1.25
    y_low = min(0.0, min(impacts))
    y_high = max(max(impacts), 0.0) or 1.0
    pad = 0.18 * (y_high - y_low)
    ax.set_xlim(0, x_max)
    ax.set_ylim(y_low - (pad if y_low < 0 else 0.08 * (y_high - y_low)), y_high + pad)
    x_mid, y_mid = max(efforts) / 2, y_high / 2
    ax.axvline(x_mid, color="grey", linewidth=0.8)
    ax.axhline(y_mid, color="grey", linewidth=0.8)
    for x, y, label in (
        (0.02, 0.98, "quick wins"),
        (0.98, 0.98, "big bets"),
        (0.02, 0.02, "fill-ins"),
        (0.98, 0.02, "money pits"),
    ):
        ax.text(x, y, label, ha="left" if x < 0.5 else "right", va="top" if y > 0.5 else "bottom",
                color="grey", transform=ax.transAxes)  # fmt: skip
    for point, effort, impact in zip(points, efforts, impacts, strict=True):
        measured = bool(point.get("measured"))
        ax.scatter(effort, impact, s=80, zorder=3, edgecolor="black", linewidth=1.0,
                   color="#264653" if measured else "white")  # fmt: skip
        p_value = point.get("p_value")
        if measured:
            label = f"{point['name']} ({impact:+.1f}%"
            label += f", p={p_value:.2g})" if p_value is not None else ")"
        else:
            label = f"{point['name']} (est. {impact:+.1f}%)"
        right = effort > 0.55 * x_max
        ax.annotate(
            label,
            (effort, impact),
            xytext=(-7 if right else 7, -10 if impact > y_high else 5),
            textcoords="offset points",
            ha="right" if right else "left",
            fontsize=8,
            annotation_clip=True,
        )
    ax.set_xlabel("effort (person-days)")
    ax.set_ylabel("impact: gain on the primary metric (%)")
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
    any_hosted = any(p.get("hosted") and p.get("cost_per_1k") is not None for p in points)
    if any_hosted:
        fig, (left, right) = plt.subplots(1, 2, figsize=(9.6, 4.0), sharey=True)
    else:  # every system local: an API-cost axis would hold one value, 0; show latency only
        fig, right = plt.subplots(figsize=(6.4, 4.0))
        left = None
    for point in points:
        hosted = bool(point.get("hosted"))
        color = "#e76f51" if hosted else "#2a9d8f"
        if left is not None:
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
    right.set_xlabel("latency p50 per query (ms)")
    axes = [right]
    if left is not None:
        left.set_xlabel("API cost per 1,000 queries (USD; local models = 0)")
        left.set_ylabel(metric)
        axes.insert(0, left)
        fig.suptitle(title + " (green: local, orange: hosted)")
    else:
        right.set_ylabel(metric)
        fig.suptitle(f"{title}: every system is local (no API cost), quality against latency")
    for ax in axes:
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def feature_importances(
    importances: Mapping[str, float],
    *,
    top: int = 20,
    kind: str = "gain",
    title: str = "Learned re-ranker: feature importance",
) -> Any:
    """Horizontal bars of the ``top`` features by importance (LightGBM's total ``kind``),
    largest at the top, each as a share of the total: which signals the ranking rests on."""
    plt = _pyplot()
    ranked = sorted(importances.items(), key=lambda item: (-item[1], item[0]))[: max(1, top)]
    total = sum(importances.values()) or 1.0
    names = [name for name, _ in reversed(ranked)]
    shares = [value / total for _, value in reversed(ranked)]
    fig, ax = plt.subplots(figsize=(6.4, 0.3 * len(names) + 1.2))
    ax.barh(range(len(names)), shares, color="#264653")
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlabel(f"share of total {kind}")
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_title(title)
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
