"""Training labels from everything a store holds - judgments, LLM grades, logged behaviour -
merged by trust, with where every label came from.

A team usually has a few dozen judged evaluation queries, no training judgments, and weeks of
logs. So the training side of a dataset is the union of three sources, most trusted first:

1. judgments of the training split (human or benchmark);
2. LLM grades (:class:`~flywheel.judging.labels.LLMLabels`): a grade at or above its threshold
   is a positive, a lower grade above 0 is "related" and kept out of the negatives;
3. labels from logs (:func:`~flywheel.datasets.signals.labels_from_events`): positives at or
   above ``min_grade``, and behavioural negatives (bounced, skipped above a click, thumbs
   down, shown but never cited) that the triplet builder uses beside mined ones.

A pair labelled by a more trusted source is never relabelled by a less trusted one. Evaluation
queries (``eval_qids``) get no training label at all, whatever the logs say about them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from flywheel.data.events import Event
from flywheel.data.types import Qrels
from flywheel.datasets.signals import EventLabels, LabelPolicy, Polarity, labels_from_events
from flywheel.judging.labels import LLMLabels

JUDGED = "judgments"
LLM = "llm"
EVENTS = "events"


@dataclass
class TrainingLabels:
    """Positives, behavioural negatives and pairs to keep out of the negatives, per query.

    ``positives`` ``{qid: {doc_id: grade}}`` (grade > 0) feed mining and training rows;
    ``negatives`` ``{qid: {doc_id: signal}}`` are documents a source called non-relevant
    (a judged 0, an LLM 0 or a behavioural negative) - real negatives, not mined guesses;
    ``exclude`` are documents that are neither (an LLM's "related"): never a negative.
    ``origin`` says which source gave each positive, ``counts`` how many labels each source and
    each log signal gave.
    """

    positives: Qrels = field(default_factory=dict)
    negatives: dict[str, dict[str, str]] = field(default_factory=dict)
    exclude: dict[str, set[str]] = field(default_factory=dict)
    origin: dict[tuple[str, str], str] = field(default_factory=dict)
    events: EventLabels | None = None
    llm: LLMLabels | None = None

    @property
    def qids(self) -> list[str]:
        """Queries with at least one positive: the training side."""
        return [q for q, docs in self.positives.items() if any(g > 0 for g in docs.values())]

    def behavioural(self) -> dict[str, dict[str, str]]:
        """Negatives from logged behaviour only, ``{qid: {doc_id: "events:<signal>"}}``: the ones
        the triplet builder puts first. A judged or LLM 0 stays an ordinary mining candidate."""
        out = {
            q: {d: s for d, s in docs.items() if s.startswith(f"{EVENTS}:")}
            for q, docs in self.negatives.items()
        }
        return {q: docs for q, docs in out.items() if docs}

    def judged_from_logs(self, qids: Iterable[str]) -> dict[str, set[str]]:
        """For each of ``qids`` labelled from logs: every document it has a label for, positive
        or negative - what evaluation over log labels may score (the rest was never shown)."""
        out: dict[str, set[str]] = {}
        for qid in qids:
            positives = self.positives.get(qid, {})
            if any(self.origin.get((qid, d)) == EVENTS for d in positives):
                out[qid] = set(positives) | set(self.negatives.get(qid, {}))
        return out

    def restrict(self, qids: Iterable[str]) -> Qrels:
        """Positives of ``qids`` only (a split's qrels)."""
        return {q: dict(self.positives[q]) for q in qids if q in self.positives}

    def counts(self) -> dict[str, Any]:
        """Labels per source and per log signal, for the dataset card and the loop's report."""
        positives = Counter(self.origin.values())
        negatives = Counter(
            signal.split(":", 1)[0] for docs in self.negatives.values() for signal in docs.values()
        )
        by_signal = Counter(
            signal.split(":", 1)[1]
            for docs in self.negatives.values()
            for signal in docs.values()
            if signal.startswith(f"{EVENTS}:")
        )
        out: dict[str, Any] = {
            "queries": len(self.qids),
            "positives": dict(sorted(positives.items())),
            "negatives": dict(sorted(negatives.items())),
            "behavioural_negatives_by_signal": dict(sorted(by_signal.items())),
            "excluded_pairs": sum(len(v) for v in self.exclude.values()),
        }
        if self.events is not None:
            out["positives_by_signal"] = dict(
                sorted(
                    Counter(
                        str(label.signal)
                        for label in self.events.positives
                        if self.origin.get((label.qid, label.chunk_id)) == EVENTS
                    ).items()
                )
            )
            out["event_labels"] = self.events.to_dict()
        return out


def _negative_signal(labels: EventLabels, qid: str, doc_id: str) -> str:
    label = labels.labels[(qid, doc_id)]
    return f"{EVENTS}:{label.signal}"


def assemble_training_labels(
    judged: Qrels,
    *,
    events: Sequence[Event] | None = None,
    policy: LabelPolicy | None = None,
    llm: LLMLabels | None = None,
    eval_qids: Iterable[str] = (),
    known_qids: Iterable[str] | None = None,
    min_grade: int = 3,
    event_labels: EventLabels | None = None,
) -> TrainingLabels:
    """Merge the three sources by trust (see the module docstring).

    ``judged`` is the training split's qrels; ``eval_qids`` the dev/test queries that must stay
    unlabelled; ``known_qids`` (default: all) the queries the dataset holds text for - a logged
    query without text cannot be trained on. ``event_labels`` skips re-fitting the click model
    when the caller has it already.
    """
    held_out = set(eval_qids)
    known = None if known_qids is None else set(known_qids)
    out = TrainingLabels(llm=llm)

    def usable(qid: str) -> bool:
        return qid not in held_out and (known is None or qid in known)

    for qid, docs in judged.items():
        if not usable(qid):
            continue
        for doc_id, grade in docs.items():
            if grade > 0:
                out.positives.setdefault(qid, {})[doc_id] = grade
                out.origin[(qid, doc_id)] = JUDGED
            else:
                out.negatives.setdefault(qid, {})[doc_id] = JUDGED

    def taken(qid: str, doc_id: str) -> bool:
        return (qid, doc_id) in out.origin or doc_id in out.negatives.get(qid, {})

    if llm is not None and len(llm):
        for qid, grades in llm.grades.items():
            if not usable(qid):
                continue
            for doc_id in grades:
                if taken(qid, doc_id):
                    continue
                if llm.is_relevant(qid, doc_id):
                    out.positives.setdefault(qid, {})[doc_id] = llm.training_grades()[qid][doc_id]
                    out.origin[(qid, doc_id)] = LLM
                elif doc_id in llm.related().get(qid, set()):
                    out.exclude.setdefault(qid, set()).add(doc_id)
                else:
                    out.negatives.setdefault(qid, {})[doc_id] = LLM

    if event_labels is None and events:
        event_labels = labels_from_events(events, policy)
    out.events = event_labels
    if event_labels is not None:
        for (qid, doc_id), label in event_labels.labels.items():
            if not usable(qid) or taken(qid, doc_id):
                continue
            if label.polarity == Polarity.POSITIVE and (label.grade or 0) >= min_grade:
                out.positives.setdefault(qid, {})[doc_id] = int(label.grade or min_grade)
                out.origin[(qid, doc_id)] = EVENTS
            elif label.polarity == Polarity.NEGATIVE:
                out.negatives.setdefault(qid, {})[doc_id] = _negative_signal(
                    event_labels, qid, doc_id
                )
            else:  # some evidence either way, not enough for a label: never a negative
                out.exclude.setdefault(qid, set()).add(doc_id)
    for qid, docs in out.exclude.items():
        docs -= set(out.positives.get(qid, {}))
    return out
