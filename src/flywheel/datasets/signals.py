"""Turn logged interactions into relevance labels, by a written-down, configurable policy.

Each event yields *signal occurrences* on a (qid, chunk_id) pair; the :class:`LabelPolicy`'s
rule table says, per :class:`Signal`, whether it means relevant, not relevant or nothing
(neutral), which grade it is worth, and how much it is trusted (precedence). All occurrences
of a pair, across sessions and users, are then resolved into one :class:`Label`.

Default rules (``LabelPolicy.rules``; change any row):

==================  ========  =====  ==========  =============================================
signal              label     grade  precedence  from
==================  ========  =====  ==========  =============================================
thumbs_up           positive  5      100         DocumentFeedbackEvent(positive=True)
thumbs_down         negative  0      100         DocumentFeedbackEvent(positive=False)
preferred           positive  4      80          PreferenceEvent winner
not_preferred       negative  1      80          PreferenceEvent loser
cited_upvoted       positive  5      60          cited in an answer that got a thumbs-up
cited               positive  3      60          CitationEvent (answer without feedback)
not_cited           negative  1      60          shown (rank <= context_depth), answer cited others
cited_downvoted     neutral   -      60          cited in an answer that got a thumbs-down
more_like_this      positive  4      50          MoreLikeThisEvent target
long_dwell          positive  4      40          click, then dwell >= long_dwell_ms (30 s)
quick_bounce        negative  1      40          click, then dwell < short_dwell_ms (5 s)
skipped_above       negative  1      30          unclicked, ranked above a clicked result
reformulation       positive  3      20          positive of the rewritten query, same session
click               neutral   2      10          click without a decisive dwell
ignored             neutral   1      0           shown (rank <= ignored_depth), nothing else
==================  ========  =====  ==========  =============================================

Conflicts (a pair with both positive and negative occurrences) are resolved by precedence:
explicit feedback > preference > citation > more-like-this > dwell > skip-above >
reformulation. At equal precedence the label with the larger total weight wins; a tie drops
the pair. ``conflict="drop"`` drops every conflicting pair instead. Both are counted in
:attr:`EventLabels.conflicts`. A label's grade is the best grade (positives) or worst grade
(negatives) among the winning occurrences; a pair with only neutral occurrences gets the
highest neutral grade and appears in ``graded`` only.

Click-derived signals (``long_dwell``, ``click``) can be weighted by inverse propensity
(:mod:`flywheel.datasets.propensity`) with ``propensity_weighting=True``.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from flywheel.data.events import (
    AnswerFeedbackEvent,
    CitationEvent,
    ClickEvent,
    DocumentFeedbackEvent,
    DwellEvent,
    Event,
    MoreLikeThisEvent,
    PreferenceEvent,
    ReformulationEvent,
    RetrievalEvent,
)
from flywheel.data.types import Qrels
from flywheel.datasets.propensity import estimate_propensity, propensity_weight

logger = logging.getLogger(__name__)


class Signal(StrEnum):
    THUMBS_UP = "thumbs_up"
    THUMBS_DOWN = "thumbs_down"
    PREFERRED = "preferred"
    NOT_PREFERRED = "not_preferred"
    CITED_UPVOTED = "cited_upvoted"
    CITED = "cited"
    NOT_CITED = "not_cited"
    CITED_DOWNVOTED = "cited_downvoted"
    MORE_LIKE_THIS = "more_like_this"
    LONG_DWELL = "long_dwell"
    QUICK_BOUNCE = "quick_bounce"
    SKIPPED_ABOVE = "skipped_above"
    REFORMULATION = "reformulation"
    CLICK = "click"
    IGNORED = "ignored"


class Polarity(StrEnum):
    POSITIVE = "positive"
    NEGATIVE = "negative"
    NEUTRAL = "neutral"


class ConflictResolution(StrEnum):
    PRECEDENCE = "precedence"  # most trusted signal wins; equal trust -> larger weight; tie drops
    DROP = "drop"  # any conflict drops the pair


@dataclass(frozen=True)
class SignalRule:
    polarity: Polarity
    grade: int | None
    precedence: int


P, N, Z = Polarity.POSITIVE, Polarity.NEGATIVE, Polarity.NEUTRAL
DEFAULT_RULES: dict[Signal, SignalRule] = {
    Signal.THUMBS_UP: SignalRule(P, 5, 100),
    Signal.THUMBS_DOWN: SignalRule(N, 0, 100),
    Signal.PREFERRED: SignalRule(P, 4, 80),
    Signal.NOT_PREFERRED: SignalRule(N, 1, 80),
    Signal.CITED_UPVOTED: SignalRule(P, 5, 60),
    Signal.CITED: SignalRule(P, 3, 60),
    Signal.NOT_CITED: SignalRule(N, 1, 60),
    Signal.CITED_DOWNVOTED: SignalRule(Z, None, 60),
    Signal.MORE_LIKE_THIS: SignalRule(P, 4, 50),
    Signal.LONG_DWELL: SignalRule(P, 4, 40),
    Signal.QUICK_BOUNCE: SignalRule(N, 1, 40),
    Signal.SKIPPED_ABOVE: SignalRule(N, 1, 30),
    Signal.REFORMULATION: SignalRule(P, 3, 20),
    Signal.CLICK: SignalRule(Z, 2, 10),
    Signal.IGNORED: SignalRule(Z, 1, 0),
}
_CLICK_SIGNALS = {Signal.LONG_DWELL, Signal.CLICK}


@dataclass(frozen=True)
class LabelPolicy:
    """How events become labels. Every threshold is here so a dataset card can record it.

    ``long_dwell_ms`` defaults to 30 s, the satisfied-click threshold common in web search
    logs (Fox et al., 2005); ``short_dwell_ms`` to 5 s, a bounce. ``context_depth`` limits
    ``not_cited`` to the results the generator saw (None: all retrieved results).
    """

    long_dwell_ms: int = 30_000
    short_dwell_ms: int = 5_000
    context_depth: int | None = None
    ignored_depth: int = 10
    skip_above: bool = True
    not_cited: bool = True
    ignored: bool = True
    reformulations: bool = True
    propensity_weighting: bool = False
    propensity: Mapping[int, float] | None = None  # your own table; else estimated from the log
    propensity_floor: float = 0.05
    conflict: ConflictResolution = ConflictResolution.PRECEDENCE
    rules: Mapping[Signal, SignalRule] = field(default_factory=lambda: dict(DEFAULT_RULES))

    def with_rule(self, signal: Signal | str, **changes: Any) -> LabelPolicy:
        """A copy with one rule changed: ``policy.with_rule("cited", grade=4)``."""
        rules = dict(self.rules)
        rules[Signal(signal)] = replace(rules[Signal(signal)], **changes)
        return replace(self, rules=rules)

    def to_dict(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "rules"}
        data["conflict"] = str(self.conflict)
        data["propensity"] = dict(self.propensity) if self.propensity else None
        data["rules"] = {
            str(s): {"polarity": str(r.polarity), "grade": r.grade, "precedence": r.precedence}
            for s, r in self.rules.items()
        }
        return data


@dataclass(frozen=True)
class Label:
    """The resolved judgment of one (qid, chunk_id) pair."""

    qid: str
    chunk_id: str
    polarity: Polarity
    grade: int | None
    signal: Signal  # the strongest winning signal
    signals: tuple[Signal, ...]  # every signal seen on the pair
    count: int  # winning occurrences
    weight: float  # sum of the winning occurrences' weights (inverse propensity or 1)


@dataclass(frozen=True)
class Conflict:
    qid: str
    chunk_id: str
    signals: dict[str, int]
    resolved: Polarity | None  # None: dropped


@dataclass
class EventLabels:
    """Labels from a log: positives, negatives, graded judgments and what was in conflict."""

    labels: dict[tuple[str, str], Label]
    pairs_doc_doc: list[tuple[str, str]]
    preferences: list[tuple[str, str, str]]  # (qid, winner, loser)
    conflicts: list[Conflict]
    counts: Counter[str]
    propensity: dict[int, float] | None = None

    @property
    def positives(self) -> list[Label]:
        return [lab for lab in self.labels.values() if lab.polarity == Polarity.POSITIVE]

    @property
    def negatives(self) -> list[Label]:
        return [lab for lab in self.labels.values() if lab.polarity == Polarity.NEGATIVE]

    @property
    def graded(self) -> Qrels:
        """``{qid: {chunk_id: grade}}`` for every pair with a grade (neutral ones included)."""
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "signals": dict(sorted(self.counts.items())),
            "positives": len(self.positives),
            "negatives": len(self.negatives),
            "graded_pairs": sum(len(v) for v in self.graded.values()),
            "doc_doc_pairs": len(self.pairs_doc_doc),
            "conflicts": len(self.conflicts),
            "conflicts_dropped": sum(c.resolved is None for c in self.conflicts),
        }


@dataclass(frozen=True)
class _Occurrence:
    signal: Signal
    session_id: str
    weight: float = 1.0


def _collect(events: list[Event], policy: LabelPolicy, table: dict[int, float] | None):
    """Signal occurrences per (qid, chunk_id), doc-doc pairs and preferences."""
    occ: dict[tuple[str, str], list[_Occurrence]] = defaultdict(list)
    by_session: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for event in sorted(events, key=lambda e: e.timestamp):
        by_session[(event.session_id, event.qid)].append(event)
    preferences: list[tuple[str, str, str]] = []
    mlt: list[tuple[str, str, str]] = []  # (session, qid, target)

    def add(qid: str, chunk: str, signal: Signal, session: str, weight: float = 1.0) -> None:
        occ[(qid, chunk)].append(_Occurrence(signal, session, weight))

    for (session, qid), group in by_session.items():
        shown: dict[str, int] = {}
        for e in group:
            if isinstance(e, RetrievalEvent):
                for chunk, rank, _ in e.results:
                    shown[chunk] = min(rank, shown.get(chunk, rank))
        touched: set[str] = set()
        verdict = [e.positive for e in group if isinstance(e, AnswerFeedbackEvent)]
        answer_up = verdict[-1] if verdict else None  # the latest verdict counts
        cited = {c for e in group if isinstance(e, CitationEvent) for c in e.chunk_ids}
        cite_signal = {True: Signal.CITED_UPVOTED, False: Signal.CITED_DOWNVOTED}.get(
            answer_up, Signal.CITED
        )
        for chunk in cited:
            add(qid, chunk, cite_signal, session)
        touched |= cited
        if cited and policy.not_cited:
            for chunk, rank in shown.items():
                if chunk not in cited and (
                    policy.context_depth is None or rank <= policy.context_depth
                ):
                    add(qid, chunk, Signal.NOT_CITED, session)
        dwell: dict[str, int] = {}
        for e in group:
            if isinstance(e, DwellEvent):
                dwell[e.chunk_id] = max(e.dwell_ms, dwell.get(e.chunk_id, 0))
        clicks: dict[str, int | None] = {}
        for e in group:
            if isinstance(e, ClickEvent):
                clicks.setdefault(e.chunk_id, e.rank)
            elif isinstance(e, DwellEvent):
                clicks.setdefault(e.chunk_id, shown.get(e.chunk_id))
        for chunk, rank in clicks.items():
            ms = dwell.get(chunk)
            if ms is not None and ms >= policy.long_dwell_ms:
                signal = Signal.LONG_DWELL
            elif ms is not None and ms < policy.short_dwell_ms:
                signal = Signal.QUICK_BOUNCE
            else:
                signal = Signal.CLICK
            weight = 1.0
            if policy.propensity_weighting and signal in _CLICK_SIGNALS:
                weight = propensity_weight(table, rank, policy.propensity_floor)
            add(qid, chunk, signal, session, weight)
        touched |= set(clicks)
        click_ranks = [r for r in clicks.values() if r is not None]
        if policy.skip_above and click_ranks:
            deepest = max(click_ranks)
            for chunk, rank in shown.items():
                if rank < deepest and chunk not in clicks:
                    add(qid, chunk, Signal.SKIPPED_ABOVE, session)
                    touched.add(chunk)
        for e in group:
            if isinstance(e, DocumentFeedbackEvent):
                add(
                    qid, e.chunk_id, Signal.THUMBS_UP if e.positive else Signal.THUMBS_DOWN, session
                )
                touched.add(e.chunk_id)
            elif isinstance(e, PreferenceEvent):
                add(qid, e.winner, Signal.PREFERRED, session)
                add(qid, e.loser, Signal.NOT_PREFERRED, session)
                preferences.append((qid, e.winner, e.loser))
                touched |= {e.winner, e.loser}
            elif isinstance(e, MoreLikeThisEvent):
                add(qid, e.chunk_id, Signal.MORE_LIKE_THIS, session)
                mlt.append((session, qid, e.chunk_id))
                touched.add(e.chunk_id)
        if policy.ignored:
            for chunk, rank in shown.items():
                if chunk not in touched and rank <= policy.ignored_depth and not cited:
                    add(qid, chunk, Signal.IGNORED, session)

    by_qid: dict[str, list[tuple[str, list[_Occurrence]]]] = defaultdict(list)
    for (qid, chunk), found in occ.items():
        by_qid[qid].append((chunk, found))

    def liked(qid: str, session: str) -> list[str]:
        """Chunks with a positive occurrence for ``qid`` in ``session``."""
        return [
            chunk
            for chunk, found in by_qid.get(qid, [])
            if any(
                o.session_id == session and policy.rules[o.signal].polarity == Polarity.POSITIVE
                for o in found
            )
        ]

    if policy.reformulations:
        for e in events:
            if isinstance(e, ReformulationEvent):
                for chunk in liked(e.qid, e.session_id):
                    add(e.previous_qid, chunk, Signal.REFORMULATION, e.session_id)
    pairs = [
        (target, chunk)
        for session, qid, target in mlt
        for chunk in liked(qid, session)
        if chunk != target
    ]
    return occ, pairs, preferences


def _resolve(
    qid: str, chunk: str, found: list[_Occurrence], policy: LabelPolicy
) -> tuple[Label | None, Conflict | None]:
    rules = policy.rules
    polar = [o for o in found if rules[o.signal].polarity != Polarity.NEUTRAL]
    signals = tuple(dict.fromkeys(o.signal for o in found))
    conflict = len({rules[o.signal].polarity for o in polar}) > 1
    winner: Polarity | None
    if not polar:
        winner = Polarity.NEUTRAL
        winning = [o for o in found if rules[o.signal].grade is not None]
    elif not conflict:
        winner = rules[polar[0].signal].polarity
        winning = polar
    elif policy.conflict == ConflictResolution.DROP:
        winner, winning = None, []
    else:
        top = max(rules[o.signal].precedence for o in polar)
        level = [o for o in polar if rules[o.signal].precedence == top]
        weights: Counter[Polarity] = Counter()
        for o in level:
            weights[rules[o.signal].polarity] += o.weight
        ranked = weights.most_common()
        if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
            winner, winning = None, []
        else:
            winner = ranked[0][0]
            winning = [o for o in polar if rules[o.signal].polarity == winner]
    record = None
    if conflict:
        counts = Counter(str(o.signal) for o in found)
        record = Conflict(qid, chunk, dict(sorted(counts.items())), winner)
    if winner is None or not winning:
        return None, record
    grades = [rules[o.signal].grade for o in winning if rules[o.signal].grade is not None]
    grade = (min(grades) if winner == Polarity.NEGATIVE else max(grades)) if grades else None
    strongest = max(winning, key=lambda o: (rules[o.signal].precedence, rules[o.signal].grade or 0))
    label = Label(
        qid=qid,
        chunk_id=chunk,
        polarity=winner,
        grade=grade,
        signal=strongest.signal,
        signals=signals,
        count=len(winning),
        weight=round(sum(o.weight for o in winning), 6),
    )
    return label, record


def labels_from_events(events: Iterable[Event], policy: LabelPolicy | None = None) -> EventLabels:
    """Apply ``policy`` (default :class:`LabelPolicy`) to a list of events from the store."""
    policy = policy or LabelPolicy()
    events = list(events)
    table = None
    if policy.propensity_weighting:
        table = (
            dict(policy.propensity)
            if policy.propensity
            else estimate_propensity(events, floor=policy.propensity_floor)
        )
    occ, pairs, preferences = _collect(events, policy, table)
    counts: Counter[str] = Counter(str(o.signal) for found in occ.values() for o in found)
    labels: dict[tuple[str, str], Label] = {}
    conflicts: list[Conflict] = []
    for (qid, chunk), found in occ.items():
        label, conflict = _resolve(qid, chunk, found, policy)
        if label is not None:
            labels[(qid, chunk)] = label
        if conflict is not None:
            conflicts.append(conflict)
    logger.info(
        "labels from %d events: %d labels, %d conflicts", len(events), len(labels), len(conflicts)
    )
    return EventLabels(labels, pairs, preferences, conflicts, counts, table)
