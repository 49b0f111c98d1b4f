"""Position bias: how likely a user is to look at rank r at all, estimated from the log itself.

The position-based click model (PBM; Craswell et al., 2008; Chuklin, Markov & de Rijke, *Click
Models for Web Search*, ch. 4) writes ``P(click | q, d, r) = theta_r * gamma_qd``: examination
depends on the rank only, attractiveness on the pair only. ``theta`` is identified by pairs that
were shown at *several* ranks across sessions (a reshuffled list, a second ranker, a new index):
the same document clicked less often lower down says how much less rank r is looked at. Pairs
seen at one rank only fit any ``theta`` and are left out. Estimators (``PropensityMethod``):

``em``       the PBM fitted by expectation-maximisation on those pairs (Chuklin et al. 4.2),
             with ``gamma`` shared through a few latent attractiveness classes whose shares
             depend on the pair's usual rank (:func:`fit_pbm_mixture`; a free ``gamma`` per
             sparsely seen pair biases ``theta``). The default.
``harvest``  intervention harvesting (Agarwal et al., WSDM 2019; Fang et al., 2019): for every two
             ranks k, k' at which one (query, document) was shown, the click rates at k and k'
             are pooled; ``theta`` is fitted to all rank pairs with one relevance per rank pair
             (the "all-pairs" extremum estimator, by the same EM).
``ctr``      click-through rate per rank over rank 1's: no interventions needed, but it folds
             the fall of relevance with rank into the propensity (a lower bound on ``theta``).

Every curve is normalised to ``theta_1 = 1`` and floored at ``floor``. A rank whose
intervention data are thin (fewer than ``min_support`` impressions of multi-rank pairs) takes its
value from its neighbours (log-linear between them, the last one beyond) and is listed in
``carried``; with too few multi-rank pairs the model is not identified: the curve falls back to
``ctr`` and says ``identified=False`` (a tiny log: ``1/r``, see :func:`estimate_propensity`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from flywheel.datasets.interactions import Interactions

logger = logging.getLogger(__name__)


class PropensityMethod(StrEnum):
    EM = "em"
    HARVEST = "harvest"
    CTR = "ctr"


@dataclass(frozen=True)
class PropensityCurve:
    """Examination probability per rank, ``theta[1] == 1``.

    ``support[r]``: impressions at rank r of pairs shown at several ranks (what identifies
    ``theta[r]``); ``carried``: ranks filled in from neighbours for lack of support.
    """

    theta: dict[int, float]
    method: str
    support: dict[int, int] = field(default_factory=dict)
    carried: tuple[int, ...] = ()
    identified: bool = True
    iterations: int = 0

    def __call__(self, rank: int) -> float:
        """``theta`` at ``rank``; 1.0 for rank 0 (unknown: clicked, so examined); ranks past
        the table take its last value."""
        if rank <= 0 or not self.theta:
            return 1.0
        return self.theta.get(rank, self.theta[max(self.theta)])

    def lookup(self, ranks: np.ndarray) -> np.ndarray:
        table = np.ones(max(max(self.theta, default=0), int(ranks.max(initial=0))) + 1)
        for rank, value in self.theta.items():
            table[rank] = value
        last = self.theta[max(self.theta)] if self.theta else 1.0
        table[max(self.theta, default=0) + 1 :] = last
        table[0] = 1.0
        return table[ranks]

    def plot_data(self) -> dict[str, list]:
        """Columns for a plot (:func:`flywheel.reports.plots.propensity_curve`)."""
        ranks = sorted(self.theta)
        return {
            "rank": ranks,
            "propensity": [self.theta[r] for r in ranks],
            "support": [self.support.get(r, 0) for r in ranks],
            "carried": [r in self.carried for r in ranks],
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "identified": self.identified,
            "theta": {str(r): round(v, 4) for r, v in sorted(self.theta.items())},
            "support": {str(r): v for r, v in sorted(self.support.items())},
            "carried": list(self.carried),
            "iterations": self.iterations,
        }


def fit_pbm(
    group: np.ndarray,
    rank: np.ndarray,
    shown: np.ndarray,
    clicks: np.ndarray,
    *,
    n_ranks: int,
    theta0: np.ndarray | None = None,
    max_iter: int = 1000,
    tol: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray, int]:
    """EM for ``P(click) = theta[rank] * gamma[group]`` over cells of (group, rank) counts,
    one free ``gamma`` per group (for groups with many observations each, like harvesting's rank
    pairs). ``shown`` and ``clicks`` may be fractional (pooled click rates); both parameters get
    Beta(1, 1) smoothing. Returns ``(theta, gamma, iterations)``, ``theta`` indexed by rank
    (index 0 unused), not normalised; stops when ``theta / theta[1]`` moves less than ``tol``.
    """
    n_groups = int(group.max(initial=-1)) + 1
    theta = np.full(n_ranks + 1, 0.5) if theta0 is None else theta0.copy()
    gamma = np.full(n_groups, 0.5)
    skips = shown - clicks
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 (the count is returned)
        t, g = theta[rank], gamma[group]
        denom = np.maximum(1.0 - t * g, 1e-12)
        examined = clicks + skips * t * (1.0 - g) / denom  # expected examinations per cell
        relevant = clicks + skips * (1.0 - t) * g / denom  # expected attractive per cell
        new_theta = (np.bincount(rank, examined, n_ranks + 1) + 1.0) / (
            np.bincount(rank, shown, n_ranks + 1) + 2.0
        )
        gamma = (np.bincount(group, relevant, n_groups) + 1.0) / (
            np.bincount(group, shown, n_groups) + 2.0
        )
        change = float(np.max(np.abs(new_theta / new_theta[1] - theta / theta[1])))
        theta = new_theta
        if change < tol:
            break
    return theta, gamma, it


def fit_pbm_mixture(
    group: np.ndarray,
    rank: np.ndarray,
    shown: np.ndarray,
    clicks: np.ndarray,
    *,
    n_ranks: int,
    bucket: np.ndarray,
    classes: int = 3,
    max_iter: int = 1000,
    tol: float = 1e-4,
) -> tuple[np.ndarray, int]:
    """EM for the PBM with attractiveness shared through ``classes`` latent classes.

    A free ``gamma`` per (query, document) seen a handful of times is an incidental parameter:
    its noise biases ``theta`` (to about CTR(r)/CTR(1) here). Instead each pair belongs to one of
    ``classes`` attractiveness levels, with class shares per ``bucket`` of the pair (its usual
    rank: the ranker's own view of relevance, as features share relevance in Wang et al.'s
    regression EM). Returns ``(theta, iterations)``, ``theta`` indexed by rank, not normalised.
    """
    n_groups = int(group.max(initial=-1)) + 1
    n_buckets = int(bucket.max(initial=0)) + 1
    theta = np.full(n_ranks + 1, 0.5)
    level = np.linspace(0.1, 0.8, classes)
    share = np.full((n_buckets, classes), 1.0 / classes)
    skips = shown - clicks
    shown_per_rank = np.bincount(rank, shown, n_ranks + 1)
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 (the count is returned)
        t = theta[rank][:, None]
        p = np.clip(t * level[None, :], 1e-9, 1 - 1e-9)
        cell_loglik = clicks[:, None] * np.log(p) + skips[:, None] * np.log1p(-p)
        loglik = _sum_by(group, cell_loglik, n_groups)
        loglik += np.log(share)[bucket]
        loglik -= loglik.max(axis=1, keepdims=True)
        q = np.exp(loglik)
        q /= q.sum(axis=1, keepdims=True)  # P(class | pair's clicks)
        qc = q[group]
        weighted = qc * (clicks[:, None] + skips[:, None] * t * (1 - level) / (1 - p))
        new_theta = (np.bincount(rank, weighted.sum(axis=1), n_ranks + 1) + 1.0) / (
            shown_per_rank + 2.0
        )  # weighted.sum(axis=1): expected examinations per cell
        level = (np.einsum("c,ck->k", clicks, qc) + 0.5) / (weighted.sum(axis=0) + 1.0)
        share = _sum_by(bucket, q, n_buckets) + 1.0
        share /= share.sum(axis=1, keepdims=True)
        change = float(np.max(np.abs(new_theta / new_theta[1] - theta / theta[1])))
        theta = new_theta
        if change < tol:
            break
    return theta, it


def _sum_by(index: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Rows of ``values`` (n, k) summed per ``index`` value: (size, k). bincount per column,
    not a matrix product: tiny BLAS calls stall on a busy machine."""
    return np.stack([np.bincount(index, values[:, j], size) for j in range(values.shape[1])], 1)


def usual_rank(pair: np.ndarray, rank: np.ndarray, shown: np.ndarray, n_pairs: int) -> np.ndarray:
    """Per pair, the rank it was shown at most often (0: never shown)."""
    out = np.zeros(n_pairs, dtype=np.int64)
    if len(pair) == 0:
        return out
    order = np.lexsort((rank, -shown, pair))
    first = np.r_[True, pair[order][1:] != pair[order][:-1]]
    out[pair[order][first]] = rank[order][first]
    return out


def _multi_rank_cells(data: Interactions, max_rank: int) -> np.ndarray:
    """Mask of the cells whose pair was shown at two or more ranks in 1..max_rank."""
    known = (data.cell_rank >= 1) & (data.cell_rank <= max_rank)
    ranks_per_pair = np.bincount(data.cell_pair[known], minlength=len(data.pairs))
    return known & (ranks_per_pair[data.cell_pair] >= 2)


def _ctr_ratio(data: Interactions, max_rank: int) -> np.ndarray:
    known = (data.cell_rank >= 1) & (data.cell_rank <= max_rank)
    r = data.cell_rank[known]
    shown = np.bincount(r, data.cell_shown[known], max_rank + 1)
    clicks = np.bincount(r, data.cell_clicks[known], max_rank + 1)
    ctr = (clicks + 0.5) / (shown + 1.0)
    return ctr / ctr[1]


def _em(data: Interactions, max_rank: int) -> tuple[np.ndarray, int]:
    mask = _multi_rank_cells(data, max_rank)
    pair, rank = data.cell_pair[mask], data.cell_rank[mask]
    shown = data.cell_shown[mask].astype(float)
    pairs, group = np.unique(pair, return_inverse=True)
    bucket = usual_rank(group, rank, shown, len(pairs))
    return fit_pbm_mixture(
        group, rank, shown, data.cell_clicks[mask].astype(float), n_ranks=max_rank,
        bucket=bucket,
    )  # fmt: skip


def _harvest(data: Interactions, max_rank: int) -> tuple[np.ndarray, int]:
    """All-pairs intervention harvesting: one relevance per rank pair {k, k'}."""
    mask = _multi_rank_cells(data, max_rank)
    pair, rank = data.cell_pair[mask], data.cell_rank[mask]
    ctr = data.cell_clicks[mask] / data.cell_shown[mask]
    order = np.lexsort((rank, pair))
    pair, rank, ctr = pair[order], rank[order], ctr[order]
    starts = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
    sizes = np.diff(np.r_[starts, len(pair)])
    left, right = [], []
    for m in np.unique(sizes):  # every two ranks of one pair, grouped by the pair's rank count
        i, j = np.triu_indices(m, k=1)
        base = starts[sizes == m][:, None]
        left.append((base + i).ravel())
        right.append((base + j).ravel())
    a, b = np.concatenate(left), np.concatenate(right)
    rank_pair = rank[a] * (max_rank + 1) + rank[b]
    _, group = np.unique(rank_pair, return_inverse=True)
    cells_group = np.r_[group, group]
    cells_rank = np.r_[rank[a], rank[b]]
    cells_ctr = np.r_[ctr[a], ctr[b]]
    key = cells_group * (max_rank + 1) + cells_rank
    uniq, inv = np.unique(key, return_inverse=True)
    start = np.clip(_ctr_ratio(data, max_rank), 0.05, 1.0) * 0.9
    theta, _, it = fit_pbm(
        uniq // (max_rank + 1), uniq % (max_rank + 1),
        np.bincount(inv, minlength=len(uniq)).astype(float), np.bincount(inv, cells_ctr),
        n_ranks=max_rank, theta0=start,
    )  # fmt: skip
    return theta, it


def _ctr(data: Interactions, max_rank: int) -> tuple[np.ndarray, int]:
    return _ctr_ratio(data, max_rank), 0


ESTIMATORS: dict[PropensityMethod, Callable[[Interactions, int], tuple[np.ndarray, int]]] = {
    PropensityMethod.EM: _em,
    PropensityMethod.HARVEST: _harvest,
    PropensityMethod.CTR: _ctr,
}


def _carry(theta: np.ndarray, ok: np.ndarray, max_rank: int) -> dict[int, float]:
    """Ranks without support: log-linear between the nearest supported ranks, else the last."""
    ranks = np.arange(1, max_rank + 1)
    known = ranks[ok[1:]]
    logs = np.log(theta[known])
    filled = np.exp(np.interp(ranks, known, logs))  # flat beyond the ends
    return {int(r): float(v) for r, v in zip(ranks, filled, strict=True)}


def _support(data: Interactions, max_rank: int, *, interventions: bool) -> np.ndarray:
    if interventions:
        mask = _multi_rank_cells(data, max_rank)
    else:
        mask = (data.cell_rank >= 1) & (data.cell_rank <= max_rank)
    return np.bincount(data.cell_rank[mask], data.cell_shown[mask], max_rank + 1).astype(int)


def estimate_propensity(
    data: Interactions,
    *,
    method: PropensityMethod | str = PropensityMethod.EM,
    max_rank: int = 20,
    floor: float = 0.01,
    min_support: int = 30,
) -> PropensityCurve:
    """Examination per rank 1..``max_rank`` from ``data`` (:func:`~flywheel.datasets.
    interactions.extract`) by ``method``; see the module docstring.

    Without enough interventions (rank 1 and one other rank supported) ``em`` and ``harvest``
    fall back to ``ctr`` and the curve says ``identified=False``: a lower bound on examination
    over-corrects less than no correction at all, which calls every unclicked deep result
    irrelevant. Without ``min_support`` impressions at rank 1 even for that (a tiny log), the
    curve is the prior ``theta_r = 1/r`` (method ``prior``), a common shape of examination in
    search result lists (Joachims et al., 2017, use ``1/r**eta``).
    """
    method = PropensityMethod(method)
    support_arr = _support(data, max_rank, interventions=method != PropensityMethod.CTR)
    ok = support_arr >= min_support
    identified = bool(ok[1] and ok.sum() >= 2)
    used = method
    if not identified and method != PropensityMethod.CTR:
        logger.info(
            "position bias not identified by %s: too few (query, document) pairs shown at "
            "several ranks; falling back to CTR(r)/CTR(1), a lower bound", method,
        )  # fmt: skip
        used = PropensityMethod.CTR
        support_arr = _support(data, max_rank, interventions=False)
        ok = support_arr >= min_support
    support = {r: int(support_arr[r]) for r in range(1, max_rank + 1)}
    if not ok[1] or ok.sum() < 2:
        logger.info("too few impressions to estimate position bias: assuming theta_r = 1/r")
        theta = {r: max(floor, 1.0 / r) for r in range(1, max_rank + 1)}
        return PropensityCurve(theta, "prior", support, tuple(range(2, max_rank + 1)), False)
    raw, iterations = ESTIMATORS[used](data, max_rank)
    raw = np.clip(raw / raw[1], floor, 1.0)
    theta = _carry(raw, ok, max_rank)
    carried = tuple(r for r in range(1, max_rank + 1) if not ok[r])
    logger.info("propensity (%s): %s", used, {r: round(v, 3) for r, v in theta.items()})
    return PropensityCurve(
        theta, str(used), support, carried, identified and used == method, iterations
    )


def fixed_propensity(table: Mapping[int, float]) -> PropensityCurve:
    """A curve from your own table (e.g. from a randomisation experiment)."""
    top = table.get(1, 1.0) or 1.0
    return PropensityCurve({int(r): float(v) / top for r, v in table.items()}, "given")
