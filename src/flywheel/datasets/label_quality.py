"""How far labels from logs can be trusted: agreement with people's judgments, and a naive
baseline to beat.

:func:`label_agreement` compares :class:`~flywheel.datasets.signals.EventLabels` with judgments
(``qrels``) on the pairs both know. Judgment lists usually name only relevant documents, so by
default a logged pair of a *judged query* that the qrels leave out counts as not relevant (the
TREC convention); ``judged_only=True`` compares only pairs the qrels list.

:func:`click_through_labels` is the baseline every click model should beat: a pair is positive
when its raw click-through rate reaches ``threshold`` (no position-bias correction), negative
otherwise.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from flywheel.data.events import Event
from flywheel.data.types import Qrels
from flywheel.datasets.interactions import ExtractOptions, Signal, extract
from flywheel.datasets.signals import EventLabels, Label, Polarity


def label_agreement(
    labels: EventLabels, qrels: Qrels, *, min_grade: int = 1, judged_only: bool = False
) -> dict[str, Any]:
    """Precision, recall and F1 of the positives, the share of negatives truly not relevant and
    the AUC of ``P(relevant)``, over logged pairs whose query is judged (grade >= ``min_grade``
    is relevant). Rates with an empty denominator are ``None``."""
    truth, score, polarity = [], [], []
    for (qid, chunk), label in labels.labels.items():
        if qid not in qrels or (judged_only and chunk not in qrels[qid]):
            continue
        truth.append(qrels[qid].get(chunk, 0) >= min_grade)
        score.append(label.relevance)
        polarity.append(label.polarity)
    y = np.array(truth, dtype=bool)
    pos = np.array([p == Polarity.POSITIVE for p in polarity], dtype=bool)
    neg = np.array([p == Polarity.NEGATIVE for p in polarity], dtype=bool)

    def ratio(a: int, b: int) -> float | None:
        return round(a / b, 4) if b else None

    hits = int((pos & y).sum())
    precision, recall = ratio(hits, int(pos.sum())), ratio(hits, int(y.sum()))
    f1 = (
        round(2 * precision * recall / (precision + recall), 4)
        if precision and recall
        else (0.0 if precision is not None and recall is not None else None)
    )
    auc = round(float(roc_auc_score(y, score)), 4) if 0 < y.sum() < len(y) else None
    return {
        "pairs": len(y),
        "relevant": int(y.sum()),
        "positives": int(pos.sum()),
        "negatives": int(neg.sum()),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "negatives_not_relevant": ratio(int((neg & ~y).sum()), int(neg.sum())),
        "auc": auc,
    }


def click_through_labels(
    events: Iterable[Event], threshold: float, *, max_rank: int = 20
) -> EventLabels:
    """Naive labels: raw CTR (sessions with a click / sessions shown) >= ``threshold`` is a
    positive (grade 3), else a negative (grade 0); ``relevance`` is the CTR itself. Pairs that
    were never shown (rank <= ``max_rank``) are left out."""
    data = extract(list(events), ExtractOptions(max_rank=max_rank))
    known = data.cell_rank > 0
    n = len(data.pairs)
    shown = np.bincount(data.cell_pair[known], data.cell_shown[known], minlength=n)
    clicks = np.bincount(data.cell_pair[known], data.cell_clicks[known], minlength=n)
    labels: dict[tuple[str, str], Label] = {}
    for i, (qid, chunk) in enumerate(data.pairs):
        if shown[i] == 0:
            continue
        ctr = float(clicks[i] / shown[i])
        positive = ctr >= threshold
        labels[(qid, chunk)] = Label(
            qid=qid, chunk_id=chunk,
            polarity=Polarity.POSITIVE if positive else Polarity.NEGATIVE,
            grade=3 if positive else 0, signal=Signal.CLICK, signals=(Signal.CLICK,),
            count=int(clicks[i]), relevance=ctr, evidence=int(shown[i]), log_odds=0.0, ctr=ctr,
        )  # fmt: skip
    counts = Counter({"click": int(clicks.sum()), "shown": int(shown.sum())})
    return EventLabels(labels, [], [], [], counts, None, {}, Counter(data.event_kinds))
