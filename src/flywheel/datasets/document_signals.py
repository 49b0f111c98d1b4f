"""What the logs say about a document as a whole: behaviour features for the learned re-ranker.

A document users keep clicking, dwelling on and citing for many queries is more often the answer
for the next query too; one they bounce from is less often. The click model already estimates each
shown (query, document) pair's relevance, debiased for position; per document this aggregates it
over the logged queries that showed it:

- ``log_relevance``: mean estimated relevance (the click model's posterior);
- ``log_ctr``: mean position-debiased click-through rate, where the pair had impressions;
- ``log_positive`` / ``log_negative``: how many of those queries labelled it relevant / not;
- ``log_sessions``: ``log(1 + sessions that showed it)``, its exposure.

Evaluation queries never count, nor training queries dropped as their near-duplicates: in a
store with logs and no judgments the dev labels *are* log labels, so their own logs in a feature
would hand the re-ranker its answers (and the dev gate a flattering score).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection

from flywheel.datasets.signals import EventLabels, Polarity

NAMES = ("log_relevance", "log_ctr", "log_positive", "log_negative", "log_sessions")


def document_signals(
    labels: EventLabels, *, exclude_qids: Collection[str]
) -> dict[str, dict[str, float]]:
    """``{name: {doc_id: value}}`` over every labelled pair whose query is not excluded (see the
    module docstring); a document no remaining query showed has no entry (the feature's
    ``:present`` flag is then 0)."""
    excluded = set(exclude_qids)
    relevance: dict[str, list[float]] = defaultdict(list)
    ctr: dict[str, list[float]] = defaultdict(list)
    positive: dict[str, float] = defaultdict(float)
    negative: dict[str, float] = defaultdict(float)
    sessions: dict[str, int] = defaultdict(int)
    for label in labels.labels.values():
        if label.qid in excluded:
            continue
        doc = label.chunk_id
        relevance[doc].append(label.relevance)
        if label.ctr is not None:
            ctr[doc].append(label.ctr)
        positive[doc] += label.polarity == Polarity.POSITIVE
        negative[doc] += label.polarity == Polarity.NEGATIVE
        sessions[doc] += label.evidence
    return {
        "log_relevance": {d: sum(v) / len(v) for d, v in relevance.items()},
        "log_ctr": {d: sum(v) / len(v) for d, v in ctr.items()},
        "log_positive": {d: positive[d] for d in relevance},
        "log_negative": {d: negative[d] for d in relevance},
        "log_sessions": {d: math.log1p(sessions[d]) for d in relevance},
    }
