"""A tiny user simulator for the click-model tests: a position-based click model with known truth.

Each query has ``list_size`` candidate documents in a fixed base order (relevant ones tend to
rank high); a share of sessions see the list shuffled, so the same document appears at several
ranks. A user examines rank r with ``theta[r]``, clicks an examined document with ``click_rel``
or ``click_irr``; a relevant click dwells long (``long_rel``), an irrelevant one bounces
(``bounce_irr``), and ``dwell_noise`` of dwell times are drawn at random. ``thumbs`` of sessions
vote on every clicked document, ``thumbs_error`` of the votes wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from flywheel.data.events import ClickEvent, DocumentFeedbackEvent, DwellEvent, RetrievalEvent


@dataclass
class Sim:
    queries: int = 150
    sessions: int = 20
    list_size: int = 10
    shuffle: float = 0.5
    theta_power: float = 1.0  # theta[r] = 1 / r ** theta_power
    click_rel: float = 0.8
    click_irr: float = 0.15
    long_rel: float = 0.85
    bounce_irr: float = 0.8
    dwell_noise: float = 0.0
    thumbs: float = 0.2
    thumbs_error: float = 0.1
    seed: int = 0

    def theta(self, rank: int) -> float:
        return 1.0 / rank**self.theta_power

    def run(self):
        """``(events, truth)`` with ``truth = {qid: {doc_id: 1}}`` for the relevant documents."""
        rng = np.random.default_rng(self.seed)
        clock = datetime(2025, 1, 1, tzinfo=UTC)
        events, truth = [], {}
        step = timedelta(seconds=1)
        for q in range(self.queries):
            qid = f"q{q}"
            docs = [f"{qid}-d{i}" for i in range(self.list_size)]
            rel = {d for i, d in enumerate(docs) if rng.random() < 0.5 / (1 + 0.4 * i)}
            truth[qid] = {d: 1 for d in rel}
            for s in range(self.sessions):
                sid = f"{qid}-s{s}"
                shown = list(rng.permutation(docs)) if rng.random() < self.shuffle else docs
                clock += step
                results = tuple((d, r, 1.0 / r) for r, d in enumerate(shown, start=1))
                events.append(RetrievalEvent(session_id=sid, qid=qid, results=results,
                                             timestamp=clock))  # fmt: skip
                votes = rng.random() < self.thumbs
                for r, d in enumerate(shown, start=1):
                    relevant = d in rel
                    p = self.theta(r) * (self.click_rel if relevant else self.click_irr)
                    if rng.random() >= p:
                        continue
                    clock += step
                    events.append(ClickEvent(session_id=sid, qid=qid, chunk_id=d, rank=r,
                                             timestamp=clock))  # fmt: skip
                    if rng.random() < self.dwell_noise:
                        long = rng.random() < 0.5
                    elif relevant:
                        long = rng.random() < self.long_rel
                    else:
                        long = rng.random() >= self.bounce_irr
                    ms = int(rng.uniform(40_000, 120_000) if long else rng.uniform(500, 4_000))
                    clock += step
                    events.append(DwellEvent(session_id=sid, qid=qid, chunk_id=d, dwell_ms=ms,
                                             timestamp=clock))  # fmt: skip
                    if votes:
                        up = relevant if rng.random() >= self.thumbs_error else not relevant
                        clock += step
                        vote = DocumentFeedbackEvent(
                            session_id=sid, qid=qid, chunk_id=d, positive=up, timestamp=clock
                        )
                        events.append(vote)
        return events, truth
