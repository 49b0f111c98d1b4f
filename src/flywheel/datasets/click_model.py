"""Relevance of each (query, chunk) pair as a latent variable, with signal reliabilities learned
from the log itself.

A Dawid-Skene style latent class model (Dawid & Skene, 1979; naive Bayes over signals): each
pair is relevant (R = 1) or not (R = 0), with prior ``pi``; given R, every observation is
independent:

- each impression at rank r is clicked with ``theta_r * alpha_R`` (the position-based click
  model; ``theta`` from :mod:`flywheel.datasets.propensity`, so a skipped rank-9 result says
  little and a skipped rank-1 result says much);
- the prior ``pi`` depends on the pair's usual rank (the ranker's own opinion), learned too;
- each :class:`~flywheel.datasets.interactions.Family` of other signals (dwell category of a
  click, thumbs, citation outcome, skipped-above, preference, more-like-this, reformulation) is a
  categorical draw with rates depending on R.

EM fits ``pi``, ``alpha`` and every rate to the log, so a signal that is often wrong (thumbs
given at random, noisy dwell) ends up with close rates under both classes and little weight,
and no single signal can silence the rest: the posterior adds up every observation's log
likelihood ratio. Dirichlet priors (``prior_strength`` pseudo-observations around
:data:`FAMILIES`' means) orient the classes (the positive-looking outcome starts as "relevant"),
decide on tiny logs and keep every rate off 0 and 1. A family none of whose informative signals
occurs in the log is left out (a log without dwell times says nothing about dwell).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from flywheel.datasets.interactions import Interactions, Signal
from flywheel.datasets.propensity import PropensityCurve, usual_rank

logger = logging.getLogger(__name__)

Counts = Callable[[Interactions], np.ndarray]


@dataclass(frozen=True)
class Family:
    """One categorical observation: its categories (a :class:`Signal` each, or ``None`` for
    "the rest"), how to count them per pair, and the prior rates under R = 1 and R = 0."""

    name: str
    categories: tuple[Signal | None, ...]
    counts: Counts
    relevant: tuple[float, ...]
    not_relevant: tuple[float, ...]


def _columns(*signals: Signal) -> Counts:
    return lambda d: np.stack([d.count(s) for s in signals], axis=1)


def _dwell(d: Interactions) -> np.ndarray:
    long, short = d.count(Signal.LONG_DWELL), d.count(Signal.QUICK_BOUNCE)
    return np.stack([long, short, d.count(Signal.CLICK) - long - short], axis=1)


def _per_session(signal: Signal) -> Counts:
    return lambda d: np.stack([d.count(signal), d.sessions - d.count(signal)], axis=1)


FAMILIES: tuple[Family, ...] = (
    Family("dwell", (Signal.LONG_DWELL, Signal.QUICK_BOUNCE, None), _dwell,
           (0.6, 0.1, 0.3), (0.15, 0.5, 0.35)),
    Family("thumbs", (Signal.THUMBS_UP, Signal.THUMBS_DOWN),
           _columns(Signal.THUMBS_UP, Signal.THUMBS_DOWN), (0.9, 0.1), (0.1, 0.9)),
    Family("citation", (Signal.CITED_UPVOTED, Signal.CITED, Signal.CITED_DOWNVOTED,
                        Signal.NOT_CITED),
           _columns(Signal.CITED_UPVOTED, Signal.CITED, Signal.CITED_DOWNVOTED,
                    Signal.NOT_CITED),
           (0.15, 0.45, 0.05, 0.35), (0.02, 0.08, 0.05, 0.85)),
    Family("preference", (Signal.PREFERRED, Signal.NOT_PREFERRED),
           _columns(Signal.PREFERRED, Signal.NOT_PREFERRED), (0.8, 0.2), (0.2, 0.8)),
    Family("more_like_this", (Signal.MORE_LIKE_THIS, None), _per_session(Signal.MORE_LIKE_THIS),
           (0.2, 0.8), (0.02, 0.98)),
    Family("reformulation", (Signal.REFORMULATION, None), _per_session(Signal.REFORMULATION),
           (0.2, 0.8), (0.02, 0.98)),
)  # fmt: skip
#: Prior click rates of an examined result, (not relevant, relevant).
CLICK_PRIOR = (0.1, 0.5)
#: Prior rates of "skipped above a click" for an unclicked result, (not relevant, relevant).
SKIP_PRIOR = (0.2, 0.1)
#: Pseudo-pairs pulling each usual rank's share of relevant pairs towards the overall share.
BUCKET_SHRINKAGE = 20.0


@dataclass
class RelevanceFit:
    """Posterior ``P(relevant)`` per pair and the learned model.

    ``log_odds``: the log likelihood ratio of the pair's own observations (the prior left out);
    ``contributions[:, j]``: the part of it owed to ``signals[j]``.
    """

    posterior: np.ndarray
    log_odds: np.ndarray
    contributions: np.ndarray
    signals: tuple[Signal, ...]
    prior: float
    alpha: tuple[float, float]
    rates: dict[str, dict[str, dict[str, float]]]
    iterations: int
    converged: bool

    def to_dict(self) -> dict[str, Any]:
        """The learned reliabilities: what each signal's rate is among relevant and other pairs."""
        return {
            "relevant_share": round(self.prior, 4),
            "click_given_examined": {
                "relevant": round(self.alpha[1], 4), "not_relevant": round(self.alpha[0], 4)
            },
            "rates": self.rates,
            "iterations": self.iterations,
            "converged": self.converged,
        }  # fmt: skip


def _active(data: Interactions) -> list[tuple[Family, np.ndarray]]:
    active = []
    for family in FAMILIES:
        counts = family.counts(data).astype(float)
        informative = [i for i, s in enumerate(family.categories) if s is not None]
        if counts[:, informative].sum() > 0:
            active.append((family, counts))
    return active


@dataclass
class _Params:
    alpha: np.ndarray  # (2,) click rate of an examined result, by class
    skip: np.ndarray  # (2, ranks + 1) rate of "skipped above a click", by class and rank
    rates: list[np.ndarray]  # per active family, (2, categories)


class _Model:
    """The data of one fit, and its log-likelihood terms per pair and class."""

    def __init__(self, data: Interactions, curve: PropensityCurve) -> None:
        self.n = len(data.pairs)
        self.families = _active(data)
        self.theta = curve.lookup(data.cell_rank)
        self.pair, self.clicks = data.cell_pair, data.cell_clicks.astype(float)
        self.misses = (data.cell_shown - data.cell_clicks).astype(float)
        self.skip_pair, self.skip_rank = data.skip_pair, data.skip_rank
        self.skipped = data.skip_hits.astype(float)
        self.kept = (data.skip_trials - data.skip_hits).astype(float)
        self.ranks = int(data.skip_rank.max(initial=0)) + 1

    def terms(self, p: _Params) -> list[tuple[Signal, np.ndarray]]:
        """Log-likelihood per pair and class, split by the signal it is owed to."""
        out = []
        click, miss = np.zeros((self.n, 2)), np.zeros((self.n, 2))
        skip = np.zeros((self.n, 2))
        for r in (0, 1):
            prob = np.clip(self.theta * p.alpha[r], 1e-9, 1 - 1e-9)
            click[:, r] = np.bincount(self.pair, self.clicks * np.log(prob), minlength=self.n)
            miss[:, r] = np.bincount(self.pair, self.misses * np.log1p(-prob), minlength=self.n)
            sigma = p.skip[r, self.skip_rank]
            skip[:, r] = np.bincount(
                self.skip_pair,
                self.skipped * np.log(sigma) + self.kept * np.log1p(-sigma),
                minlength=self.n,
            )
        out += [(Signal.CLICK, click), (Signal.IGNORED, miss), (Signal.SKIPPED_ABOVE, skip)]
        for (family, counts), rate in zip(self.families, p.rates, strict=True):
            logs = np.log(rate)
            for i, s in enumerate(family.categories):
                # "the rest": a plain click's dwell goes to click, a missing X against X
                target = s or (Signal.CLICK if family.name == "dwell" else family.categories[0])
                out.append((target, counts[:, i : i + 1] * logs[:, i][None, :]))
        return out

    def m_step(self, post: np.ndarray, p: _Params, strength: float) -> _Params:
        """MAP rates with Beta/Dirichlet priors of ``strength`` pseudo-observations. Sums are
        plain numpy reductions: tiny BLAS calls stall on a busy machine."""
        w = np.stack([1.0 - post, post])  # (2, n)
        rates = []
        for family, counts in self.families:
            pseudo = np.array([family.not_relevant, family.relevant]) * strength
            mass = np.einsum("rn,nk->rk", w, counts) + pseudo
            rates.append(mass / mass.sum(axis=1, keepdims=True))
        alpha, skip = p.alpha.copy(), p.skip.copy()
        wc, ws = w[:, self.pair], w[:, self.skip_pair]
        for r in (0, 1):
            t, a = self.theta, alpha[r]
            examined = self.clicks + self.misses * t * (1 - a) / np.maximum(1 - t * a, 1e-12)
            alpha[r] = ((wc[r] * self.clicks).sum() + strength * CLICK_PRIOR[r]) / (
                (wc[r] * examined).sum() + strength
            )
            hits = np.bincount(self.skip_rank, ws[r] * self.skipped, self.ranks)
            trials = np.bincount(self.skip_rank, ws[r] * (self.skipped + self.kept), self.ranks)
            skip[r] = (hits + strength * SKIP_PRIOR[r]) / (trials + strength)
        return _Params(alpha, skip, rates)


def fit_relevance(
    data: Interactions,
    curve: PropensityCurve,
    *,
    prior_strength: float = 10.0,
    max_iter: int = 300,
    tol: float = 1e-6,
) -> RelevanceFit:
    """Fit the latent relevance model to ``data`` with examination ``curve`` (held fixed)."""
    model = _Model(data, curve)
    n = model.n
    params = _Params(
        np.array(CLICK_PRIOR, dtype=float),
        np.repeat(np.array(SKIP_PRIOR)[:, None], model.ranks, axis=1),
        [np.array([f.not_relevant, f.relevant], dtype=float) for f, _ in model.families],
    )
    shown = data.cell_rank > 0
    bucket = usual_rank(model.pair[shown], data.cell_rank[shown], data.cell_shown[shown], n)
    per_bucket = np.bincount(bucket)
    pi = np.full(len(per_bucket), 0.3)
    post = np.full(n, 0.3)
    converged, it = False, 0
    for it in range(1, max_iter + 1):
        llr = sum(t[:, 1] - t[:, 0] for _, t in model.terms(params))
        new_post = _sigmoid(np.log(pi / (1 - pi))[bucket] + llr)
        change = float(np.max(np.abs(new_post - post), initial=0.0))
        post = new_post
        pi = _bucket_prior(post, bucket, per_bucket)
        params = model.m_step(post, params, prior_strength)
        if change < tol and it > 1:
            converged = True
            break
    terms = model.terms(params)
    signals = tuple(dict.fromkeys(s for s, _ in terms))
    contributions = np.zeros((n, len(signals)))
    for s, t in terms:
        contributions[:, signals.index(s)] += t[:, 1] - t[:, 0]
    llr = contributions.sum(axis=1)
    post = _sigmoid(np.log(pi / (1 - pi))[bucket] + llr)
    learned = {
        family.name: {
            str(s or "other"): {
                "relevant": round(float(rate[1, i]), 4),
                "not_relevant": round(float(rate[0, i]), 4),
            }
            for i, s in enumerate(family.categories)
        }
        for (family, _), rate in zip(model.families, params.rates, strict=True)
    }
    prior = float(post.mean())
    logger.info("relevance model: %d pairs, %d iterations, relevant %.3f", n, it, prior)
    if params.alpha[1] <= params.alpha[0]:
        logger.warning(
            "the click model's 'relevant' class is clicked less than the other (%.3f <= %.3f): "
            "the log may not separate relevant results; check the labels against judgments",
            params.alpha[1], params.alpha[0],
        )  # fmt: skip
    return RelevanceFit(
        post, llr, contributions, signals, prior,
        (float(params.alpha[0]), float(params.alpha[1])), learned, it, converged,
    )  # fmt: skip


def _bucket_prior(post: np.ndarray, bucket: np.ndarray, per_bucket: np.ndarray) -> np.ndarray:
    """Share of relevant pairs per usual rank, shrunk towards the overall share by
    :data:`BUCKET_SHRINKAGE` pseudo-pairs, so a rank with few pairs cannot talk itself into
    any prior."""
    overall = (post.sum() + 1.0) / (len(post) + 3.0)  # Beta(1, 2): most results are not
    return (np.bincount(bucket, post, len(per_bucket)) + BUCKET_SHRINKAGE * overall) / (
        per_bucket + BUCKET_SHRINKAGE
    )


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))
