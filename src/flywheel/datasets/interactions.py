"""Logged events as count arrays: what each (query, chunk) pair was shown, clicked, voted.

The click model (:mod:`flywheel.datasets.click_model`) and the propensity estimators
(:mod:`flywheel.datasets.propensity`) work on numbers, not event objects: this module reads the
events once, session by session, and counts per pair

- impressions and clicks per rank (``cells``: one row per (pair, rank)); a pair shown twice in
  one session counts once, at its best rank; a :class:`DwellEvent` on a chunk is a click too;
- every other signal per session (:class:`Signal`), e.g. ``thumbs_up`` 2 = two sessions voted up.

Only results at rank <= ``max_rank`` are impressions: deeper ones were never on screen. A click
on a chunk that no :class:`RetrievalEvent` showed at rank <= ``max_rank`` gets rank 0 (unknown;
examined for sure).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

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


class Signal(StrEnum):
    """One kind of evidence about a (query, chunk) pair, counted once per session."""

    CLICK = "click"  # clicked (a ClickEvent, or dwell on it)
    IGNORED = "ignored"  # shown at rank <= max_rank, not clicked
    LONG_DWELL = "long_dwell"  # a click with dwell >= long_dwell_ms
    QUICK_BOUNCE = "quick_bounce"  # a click with dwell < short_dwell_ms
    SKIPPED_ABOVE = "skipped_above"  # not clicked, ranked above a clicked result
    THUMBS_UP = "thumbs_up"
    THUMBS_DOWN = "thumbs_down"
    CITED_UPVOTED = "cited_upvoted"  # cited in an answer that got a thumbs-up
    CITED = "cited"  # cited, answer without feedback
    CITED_DOWNVOTED = "cited_downvoted"  # cited in an answer that got a thumbs-down
    NOT_CITED = "not_cited"  # shown (rank <= context_depth), the answer cited others
    PREFERRED = "preferred"  # PreferenceEvent winner
    NOT_PREFERRED = "not_preferred"  # PreferenceEvent loser
    MORE_LIKE_THIS = "more_like_this"  # MoreLikeThisEvent target
    REFORMULATION = "reformulation"  # liked after the user rewrote this query, same session


SIGNALS: tuple[Signal, ...] = tuple(Signal)
_COLUMN = {s: i for i, s in enumerate(SIGNALS)}
#: What makes a chunk "liked" in a session (reformulations and more-like-this pairs use it).
LIKED = frozenset({
    Signal.LONG_DWELL, Signal.THUMBS_UP, Signal.CITED_UPVOTED, Signal.CITED,
    Signal.PREFERRED, Signal.MORE_LIKE_THIS,
})  # fmt: skip


@dataclass(frozen=True)
class ExtractOptions:
    long_dwell_ms: int = 30_000
    short_dwell_ms: int = 5_000
    max_rank: int = 20
    context_depth: int | None = None
    skip_above: bool = True
    not_cited: bool = True
    reformulations: bool = True


@dataclass
class Interactions:
    """Counts per pair. ``pairs[i]`` is ``(qid, chunk_id)``; arrays are indexed by ``i``."""

    pairs: list[tuple[str, str]]
    cell_pair: np.ndarray  # (cells,) pair index
    cell_rank: np.ndarray  # (cells,) rank, 0 = unknown
    cell_shown: np.ndarray  # (cells,) impressions (sessions)
    cell_clicks: np.ndarray  # (cells,) sessions with a click
    counts: np.ndarray  # (pairs, len(SIGNALS)) sessions with each signal
    sessions: np.ndarray  # (pairs,) sessions with any observation of the pair
    skip_pair: np.ndarray  # (skip cells,) unclicked impressions in sessions with a click:
    skip_rank: np.ndarray  # pair, rank,
    skip_trials: np.ndarray  # how many,
    skip_hits: np.ndarray  # how many of them above a clicked result
    pairs_doc_doc: list[tuple[str, str]] = field(default_factory=list)
    preferences: list[tuple[str, str, str]] = field(default_factory=list)
    event_kinds: Counter[str] = field(default_factory=Counter)

    def count(self, signal: Signal) -> np.ndarray:
        return self.counts[:, _COLUMN[signal]]

    def signal_totals(self) -> dict[str, int]:
        totals = self.counts.sum(axis=0)
        return {str(s): int(totals[i]) for i, s in enumerate(SIGNALS) if totals[i]}


class _Builder:
    def __init__(self) -> None:
        self.index: dict[tuple[str, str], int] = {}
        self.occ: list[tuple[int, int]] = []  # (pair, signal column), once per session
        self.session_of: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.impressions: list[tuple[int, int, int]] = []  # (pair, rank, clicked)
        self.skips: list[tuple[int, int, int]] = []  # (pair, rank, skipped above a click)

    def pair(self, qid: str, chunk: str, session: str) -> int:
        i = self.index.setdefault((qid, chunk), len(self.index))
        self.session_of[(qid, chunk)].add(session)
        return i

    def add(self, qid: str, chunk: str, signal: Signal, session: str) -> None:
        self.occ.append((self.pair(qid, chunk, session), _COLUMN[signal]))


def _session(
    b: _Builder,
    session: str,
    qid: str,
    group: list[Event],
    opt: ExtractOptions,
    *,
    clickable: bool = True,
) -> dict[str, set[Signal]]:
    """Signals of one (session, query); returns them per chunk for the liked-ness checks.

    ``clickable=False`` (no session of this query ever logged a click: a chat answer with
    citations, say) counts no impressions: a result nobody could click says nothing by not
    being clicked."""
    seen: dict[str, set[Signal]] = defaultdict(set)

    def add(chunk: str, signal: Signal) -> None:
        if signal not in seen[chunk]:
            seen[chunk].add(signal)
            b.add(qid, chunk, signal, session)

    shown: dict[str, int] = {}
    for e in group:
        if isinstance(e, RetrievalEvent):
            for chunk, rank, _ in e.results:
                shown[chunk] = min(rank, shown.get(chunk, rank))
    clicks: set[str] = set()
    dwell: dict[str, int] = {}
    for e in group:
        if isinstance(e, ClickEvent):
            clicks.add(e.chunk_id)
        elif isinstance(e, DwellEvent):
            clicks.add(e.chunk_id)
            dwell[e.chunk_id] = max(e.dwell_ms, dwell.get(e.chunk_id, 0))
    for chunk in sorted(clicks):
        add(chunk, Signal.CLICK)
        ms = dwell.get(chunk)
        if ms is not None and ms >= opt.long_dwell_ms:
            add(chunk, Signal.LONG_DWELL)
        elif ms is not None and ms < opt.short_dwell_ms:
            add(chunk, Signal.QUICK_BOUNCE)
        if chunk not in shown or shown[chunk] > opt.max_rank:  # no impression to count
            b.impressions.append((b.pair(qid, chunk, session), 0, 1))
    deepest = max((shown[c] for c in clicks if c in shown and shown[c] <= opt.max_rank), default=0)
    for chunk, rank in shown.items():
        if rank > opt.max_rank or not clickable:
            continue
        i = b.pair(qid, chunk, session)
        clicked = chunk in clicks
        b.impressions.append((i, rank, int(clicked)))
        if clicked:
            continue
        add(chunk, Signal.IGNORED)
        if opt.skip_above and deepest:
            b.skips.append((i, rank, int(rank < deepest)))
            if rank < deepest:
                add(chunk, Signal.SKIPPED_ABOVE)
    cited = {c for e in group if isinstance(e, CitationEvent) for c in e.chunk_ids}
    verdicts = [e.positive for e in group if isinstance(e, AnswerFeedbackEvent)]
    verdict = verdicts[-1] if verdicts else None  # the latest verdict counts
    cite = {True: Signal.CITED_UPVOTED, False: Signal.CITED_DOWNVOTED}.get(verdict, Signal.CITED)
    for chunk in cited:
        add(chunk, cite)
    if cited and opt.not_cited:
        for chunk, rank in shown.items():
            if chunk not in cited and (opt.context_depth is None or rank <= opt.context_depth):
                add(chunk, Signal.NOT_CITED)
    votes: dict[str, bool] = {}
    for e in group:
        if isinstance(e, DocumentFeedbackEvent):
            votes[e.chunk_id] = e.positive  # the latest vote counts
        elif isinstance(e, MoreLikeThisEvent):
            add(e.chunk_id, Signal.MORE_LIKE_THIS)
    for chunk, up in votes.items():
        add(chunk, Signal.THUMBS_UP if up else Signal.THUMBS_DOWN)
    return seen


def _cells(rows: list[tuple[int, int, int]], max_rank: int):
    """(pair, rank, hit) rows -> per (pair, rank): pair, rank, rows, hits."""
    arr = np.asarray(rows, dtype=np.int64).reshape(-1, 3)
    key = arr[:, 0] * (max_rank + 1) + arr[:, 1]
    cells, inverse = np.unique(key, return_inverse=True)
    trials = np.bincount(inverse, minlength=len(cells)).astype(np.int64)
    hits = np.bincount(inverse, weights=arr[:, 2], minlength=len(cells)).astype(np.int64)
    return cells // (max_rank + 1), cells % (max_rank + 1), trials, hits


def extract(events: list[Event], options: ExtractOptions | None = None) -> Interactions:
    """Count every signal of ``events`` per (qid, chunk_id); see the module docstring."""
    opt = options or ExtractOptions()
    b = _Builder()
    groups: dict[tuple[str, str], list[Event]] = defaultdict(list)
    kinds: Counter[str] = Counter()
    ordered = sorted(events, key=lambda e: e.timestamp)
    for event in ordered:
        groups[(event.session_id, event.qid)].append(event)
        kinds[str(event.kind)] += 1
    clickable = {e.qid for e in ordered if isinstance(e, ClickEvent | DwellEvent)}
    liked: dict[tuple[str, str], list[str]] = {}
    for (session, qid), group in groups.items():
        seen = _session(b, session, qid, group, opt, clickable=qid in clickable)
        liked[(session, qid)] = [c for c, found in seen.items() if found & LIKED]
    preferences: list[tuple[str, str, str]] = []
    pairs_doc_doc: list[tuple[str, str]] = []
    for e in ordered:
        if isinstance(e, PreferenceEvent):  # each comparison counts
            b.add(e.qid, e.winner, Signal.PREFERRED, e.session_id)
            b.add(e.qid, e.loser, Signal.NOT_PREFERRED, e.session_id)
            preferences.append((e.qid, e.winner, e.loser))
        elif isinstance(e, MoreLikeThisEvent):
            pairs_doc_doc += [
                (e.chunk_id, c) for c in liked.get((e.session_id, e.qid), []) if c != e.chunk_id
            ]
        elif isinstance(e, ReformulationEvent) and opt.reformulations:
            for chunk in liked.get((e.session_id, e.qid), []):
                b.add(e.previous_qid, chunk, Signal.REFORMULATION, e.session_id)
    n = len(b.index)
    counts = np.zeros((n, len(SIGNALS)), dtype=np.int64)
    if b.occ:
        occ = np.asarray(b.occ, dtype=np.int64)
        np.add.at(counts, (occ[:, 0], occ[:, 1]), 1)
    cell_pair, cell_rank, shown, clicked = _cells(b.impressions, opt.max_rank)
    skip_pair, skip_rank, skip_trials, skip_hits = _cells(b.skips, opt.max_rank)
    pairs = list(b.index)
    sessions = np.array([len(b.session_of[p]) for p in pairs], dtype=np.int64)
    return Interactions(
        pairs=pairs,
        cell_pair=cell_pair,
        cell_rank=cell_rank,
        cell_shown=shown,
        cell_clicks=clicked,
        counts=counts,
        sessions=sessions,
        skip_pair=skip_pair,
        skip_rank=skip_rank,
        skip_trials=skip_trials,
        skip_hits=skip_hits,
        pairs_doc_doc=pairs_doc_doc,
        preferences=preferences,
        event_kinds=kinds,
    )
