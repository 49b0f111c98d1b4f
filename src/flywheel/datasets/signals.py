"""Turn logged interactions into relevance labels with a click model fitted to the log itself.

Three steps, each its own module:

1. :func:`~flywheel.datasets.interactions.extract` counts, per (qid, chunk_id), impressions and
   clicks per rank and every other signal per session;
2. :func:`~flywheel.datasets.propensity.estimate_propensity` estimates how often each rank is
   looked at (position-based click model by EM, from pairs shown at several ranks);
3. :func:`~flywheel.datasets.click_model.fit_relevance` fits a latent "relevant or not" per pair,
   learning how reliable each signal is from the log (EM), and gives ``P(relevant)``.

What each signal is evidence of (all weighed by learned rates; none overrides the others):

==================  ===========================================================================
signal              evidence, and its source
==================  ===========================================================================
click / ignored     each impression at rank r: clicked with ``theta_r * alpha_R`` (ClickEvent,
                    or a DwellEvent; ignored = shown, not clicked: weak where rarely looked at)
long_dwell          the dwell category of a click (>= ``long_dwell_ms``) ...
quick_bounce        ... (< ``short_dwell_ms``), or neither (a plain click)
skipped_above       an unclicked impression above a clicked one, against one below
thumbs_up / _down   a vote per session (DocumentFeedbackEvent), its error rate learned
cited[_upvoted|     per answer that cited anything: cited in an answer voted up / without a
_downvoted] /       vote / voted down (CitationEvent, AnswerFeedbackEvent), or shown (rank <=
not_cited           ``context_depth``) and not cited
preferred / not_    each PreferenceEvent, won or lost
preferred
more_like_this      a session's MoreLikeThisEvent on it, against sessions without
reformulation       liked after the user rewrote this query, same session
==================  ===========================================================================

A pair is **positive** when ``P(relevant) >= positive_threshold`` (0.5) and its own observations
point that way (log-odds > ``min_positive_log_odds``, 0); **negative** when
``P(relevant) <= negative_threshold`` (0.1) *and* its own observations point that way with
log-odds <= ``-min_negative_log_odds`` (1) over at least ``min_negative_evidence`` sessions (the
prior alone never makes a label: a result shown once at rank 9 and not clicked stays neutral);
**neutral** otherwise. Grades come from the posterior, ``min(5, floor(6 * P))`` (P >= 0.5 gives
3-5, a negative 0); neutral pairs get no grade, so they never reach training data as negatives.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from flywheel.data.events import Event
from flywheel.data.types import Qrels
from flywheel.datasets.click_model import RelevanceFit, fit_relevance
from flywheel.datasets.interactions import (
    LIKED,
    SIGNALS,
    ExtractOptions,
    Interactions,
    Signal,
    extract,
)
from flywheel.datasets.propensity import (
    PropensityCurve,
    PropensityMethod,
    estimate_propensity,
    fixed_propensity,
)

logger = logging.getLogger(__name__)

__all__ = [
    "BehaviouralNegative",
    "Conflict",
    "EventLabels",
    "Label",
    "LabelPolicy",
    "Polarity",
    "Signal",
    "labels_from_events",
]


class Polarity(StrEnum):
    POSITIVE = "positive"
    NEGATIVE = "negative"
    NEUTRAL = "neutral"


#: Behaviours that make a negative a *behavioural* one, and the name a triplet source gets.
BEHAVIOURS: dict[Signal, str] = {
    Signal.THUMBS_DOWN: "thumbs_down",
    Signal.QUICK_BOUNCE: "bounced",
    Signal.SKIPPED_ABOVE: "skipped_above",
    Signal.NOT_CITED: "not_cited",
    Signal.NOT_PREFERRED: "not_preferred",
}
_POSITIVE_LOOKING = LIKED | {Signal.CITED_UPVOTED, Signal.REFORMULATION}


@dataclass(frozen=True)
class LabelPolicy:
    """How events become labels. Every threshold is here so a dataset card can record it.

    ``long_dwell_ms`` defaults to 30 s, the satisfied-click threshold common in web search
    logs (Fox et al., 2005); ``short_dwell_ms`` to 5 s, a bounce. ``context_depth`` limits
    ``not_cited`` to the results the generator saw (None: all retrieved results);
    ``max_rank``: deeper results were not on screen (no impression), and propensities are
    estimated for ranks 1..max_rank. ``propensity``: your own ``{rank: theta}`` table instead of
    the estimate (all 1.0: no position-bias correction). ``prior_strength``: pseudo-observations
    behind each prior rate of the click model (more: slower to trust the log's own rates).
    """

    long_dwell_ms: int = 30_000
    short_dwell_ms: int = 5_000
    context_depth: int | None = None
    max_rank: int = 20
    skip_above: bool = True
    not_cited: bool = True
    reformulations: bool = True
    propensity_method: PropensityMethod = PropensityMethod.EM
    propensity: Mapping[int, float] | None = None
    propensity_floor: float = 0.01
    min_rank_support: int = 30
    positive_threshold: float = 0.5
    negative_threshold: float = 0.1
    min_negative_evidence: int = 1
    min_negative_log_odds: float = 1.0
    min_positive_log_odds: float = 0.0
    prior_strength: float = 10.0

    def extract_options(self) -> ExtractOptions:
        return ExtractOptions(
            long_dwell_ms=self.long_dwell_ms, short_dwell_ms=self.short_dwell_ms,
            max_rank=self.max_rank, context_depth=self.context_depth,
            skip_above=self.skip_above, not_cited=self.not_cited,
            reformulations=self.reformulations,
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data["propensity_method"] = str(self.propensity_method)
        data["propensity"] = dict(self.propensity) if self.propensity else None
        return data


@dataclass(frozen=True)
class Label:
    """The judgment of one (qid, chunk_id) pair: ``relevance`` is the posterior ``P(relevant)``.

    ``evidence``: sessions with any observation of the pair; ``log_odds``: how far its own
    observations move the odds of relevance (natural log; the prior left out);
    ``ctr`` and ``ctr_interval``: the position-debiased click rate (clicks over expected
    examinations) with a 90% Wilson interval, ``None`` without impressions; ``signal``: the signal
    that pushed hardest towards the label's polarity; ``signal_counts``: sessions per signal.
    """

    qid: str
    chunk_id: str
    polarity: Polarity
    grade: int | None
    signal: Signal
    signals: tuple[Signal, ...]
    count: int
    relevance: float
    evidence: int
    log_odds: float
    ctr: float | None = None
    ctr_interval: tuple[float, float] | None = None
    signal_counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Conflict:
    """A pair with both positive-looking and negative-looking signals, and how it came out."""

    qid: str
    chunk_id: str
    signals: dict[str, int]
    resolved: Polarity


@dataclass(frozen=True)
class BehaviouralNegative:
    """A negative label with the behaviour(s) that made it (``reasons``, strongest first)."""

    qid: str
    chunk_id: str
    reasons: tuple[str, ...]
    relevance: float
    evidence: int


@dataclass
class EventLabels:
    """Labels from a log: positives, negatives, graded judgments and the fitted models."""

    labels: dict[tuple[str, str], Label]
    pairs_doc_doc: list[tuple[str, str]]
    preferences: list[tuple[str, str, str]]  # (qid, winner, loser)
    conflicts: list[Conflict]
    counts: Counter[str]  # sessions per signal, all pairs
    propensity: PropensityCurve | None = None
    model: dict[str, Any] = field(default_factory=dict)
    sources: Counter[str] = field(default_factory=Counter)  # events per kind

    def _with(self, polarity: Polarity) -> list[Label]:
        return [lab for lab in self.labels.values() if lab.polarity == polarity]

    @property
    def positives(self) -> list[Label]:
        return self._with(Polarity.POSITIVE)

    @property
    def negatives(self) -> list[Label]:
        return self._with(Polarity.NEGATIVE)

    @property
    def neutral(self) -> list[Label]:
        return self._with(Polarity.NEUTRAL)

    @property
    def graded(self) -> Qrels:
        """``{qid: {chunk_id: grade}}`` for positives and negatives (neutral pairs have none)."""
        out: Qrels = {}
        for label in self.labels.values():
            if label.grade is not None:
                out.setdefault(label.qid, {})[label.chunk_id] = label.grade
        return out

    def as_qrels(self, *, min_grade: int = 3) -> Qrels:
        """Positives with grade >= ``min_grade`` as judgments, e.g. to mine negatives for them."""
        out: Qrels = {}
        for label in self.positives:
            if label.grade is not None and label.grade >= min_grade:
                out.setdefault(label.qid, {})[label.chunk_id] = label.grade
        return out

    def relevance(self) -> dict[tuple[str, str], float]:
        """``P(relevant)`` of every pair in the log, neutral ones included."""
        return {key: label.relevance for key, label in self.labels.items()}

    def behavioural_negatives(self) -> list[BehaviouralNegative]:
        """Negatives that some user behaviour pointed at (bounced, skipped_above, thumbs_down,
        not_cited, not_preferred), strongest reason first; negatives made by non-clicks alone
        are left out."""
        out = []
        for label in self.negatives:
            reasons = tuple(
                BEHAVIOURS[Signal(s)]
                for s in label.signal_counts
                if Signal(s) in BEHAVIOURS and label.signal_counts[s] > 0
            )
            if reasons:
                out.append(BehaviouralNegative(
                    label.qid, label.chunk_id, reasons, label.relevance, label.evidence
                ))  # fmt: skip
        return out

    def propensity_plot_data(self) -> dict[str, list]:
        """Columns for :func:`flywheel.reports.plots.propensity_curve`; empty without a curve."""
        return self.propensity.plot_data() if self.propensity is not None else {}

    def to_dict(self) -> dict[str, Any]:
        behavioural = self.behavioural_negatives()
        behaviours: Counter[str] = Counter(r for n in behavioural for r in n.reasons)
        by_signal: Counter[str] = Counter(str(p.signal) for p in self.positives)
        return {
            "signals": dict(sorted(self.counts.items())),
            "sources": dict(sorted(self.sources.items())),
            "pairs": len(self.labels),
            "positives": len(self.positives),
            "negatives": len(self.negatives),
            "neutral": len(self.neutral),
            "graded_pairs": sum(len(v) for v in self.graded.values()),
            "positives_by_signal": dict(sorted(by_signal.items())),
            "negatives_by_behaviour": dict(sorted(behaviours.items())),
            "behavioural_negatives": len(behavioural),
            "doc_doc_pairs": len(self.pairs_doc_doc),
            "conflicts": len(self.conflicts),
            "propensity": self.propensity.to_dict() if self.propensity is not None else None,
            "model": self.model,
        }  # fmt: skip


def _grade(p: float) -> int:
    return min(5, int(6 * p))


def _polarity(p: float, log_odds: float, evidence: int, policy: LabelPolicy) -> Polarity:
    if p >= policy.positive_threshold and log_odds > policy.min_positive_log_odds:
        return Polarity.POSITIVE
    if (
        p <= policy.negative_threshold
        and evidence >= policy.min_negative_evidence
        and log_odds <= -policy.min_negative_log_odds
    ):
        return Polarity.NEGATIVE
    return Polarity.NEUTRAL


def _debiased_ctr(data: Interactions, curve: PropensityCurve):
    """Clicks over expected examinations per pair, with a 90% Wilson score interval (the
    expected examinations as trials)."""
    n = len(data.pairs)
    theta = curve.lookup(data.cell_rank)
    clicks = np.bincount(data.cell_pair, data.cell_clicks.astype(float), minlength=n)
    trials = np.maximum(np.bincount(data.cell_pair, data.cell_shown * theta, minlength=n), clicks)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(trials > 0, clicks / trials, np.nan)
        z2 = 1.645**2
        centre = (rate + z2 / (2 * trials)) / (1 + z2 / trials)
        half = (
            np.sqrt(z2)
            / (1 + z2 / trials)
            * np.sqrt(rate * (1 - rate) / trials + z2 / (4 * trials**2))
        )
    return rate, np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def _labels(
    data: Interactions, fit: RelevanceFit, curve: PropensityCurve, policy: LabelPolicy
) -> tuple[dict[tuple[str, str], Label], list[Conflict]]:
    rate, low, high = _debiased_ctr(data, curve)
    labels: dict[tuple[str, str], Label] = {}
    conflicts: list[Conflict] = []
    for i, (qid, chunk) in enumerate(data.pairs):
        row = data.counts[i]
        seen = {str(s): int(row[j]) for j, s in enumerate(SIGNALS) if row[j]}
        p, odds, evidence = float(fit.posterior[i]), float(fit.log_odds[i]), int(data.sessions[i])
        polarity = _polarity(p, odds, evidence, policy)
        sign = -1.0 if polarity == Polarity.NEGATIVE else 1.0
        present = [j for j, s in enumerate(fit.signals) if str(s) in seen]
        strongest = (
            fit.signals[max(present, key=lambda j: sign * fit.contributions[i, j])]
            if present
            else Signal(next(iter(seen)))
        )
        has_rate = not np.isnan(rate[i])
        labels[(qid, chunk)] = Label(
            qid=qid, chunk_id=chunk, polarity=polarity,
            grade=None if polarity == Polarity.NEUTRAL else _grade(p),
            signal=strongest, signals=tuple(Signal(s) for s in seen), count=sum(seen.values()),
            relevance=round(p, 6), evidence=evidence, log_odds=round(odds, 4),
            ctr=round(float(rate[i]), 4) if has_rate else None,
            ctr_interval=(round(float(low[i]), 4), round(float(high[i]), 4)) if has_rate else None,
            signal_counts=seen,
        )  # fmt: skip
        kinds = {Signal(s) for s in seen}
        if kinds & _POSITIVE_LOOKING and kinds & set(BEHAVIOURS):
            conflicts.append(Conflict(qid, chunk, dict(sorted(seen.items())), polarity))
    return labels, conflicts


def labels_from_events(events: Iterable[Event], policy: LabelPolicy | None = None) -> EventLabels:
    """Fit the click model of ``policy`` (default :class:`LabelPolicy`) to ``events`` and label
    every (qid, chunk_id) pair they mention."""
    policy = policy or LabelPolicy()
    events = list(events)
    data = extract(events, policy.extract_options())
    curve = (
        fixed_propensity(policy.propensity)
        if policy.propensity
        else estimate_propensity(
            data, method=policy.propensity_method, max_rank=policy.max_rank,
            floor=policy.propensity_floor, min_support=policy.min_rank_support,
        )
    )  # fmt: skip
    if not data.pairs:
        return EventLabels({}, [], [], [], Counter(), curve, {}, Counter(data.event_kinds))
    fit = fit_relevance(data, curve, prior_strength=policy.prior_strength)
    labels, conflicts = _labels(data, fit, curve, policy)
    logger.info(
        "labels from %d events: %d pairs, %d positive, %d negative",
        len(events), len(labels),
        sum(lab.polarity == Polarity.POSITIVE for lab in labels.values()),
        sum(lab.polarity == Polarity.NEGATIVE for lab in labels.values()),
    )  # fmt: skip
    return EventLabels(
        labels, data.pairs_doc_doc, data.preferences, conflicts, Counter(data.signal_totals()),
        curve, fit.to_dict(), Counter(data.event_kinds),
    )  # fmt: skip
