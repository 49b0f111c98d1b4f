"""Behaviour per document for the learned re-ranker, and never from an evaluation query's logs."""

from __future__ import annotations

import math

from flywheel.data.events import ClickEvent, DwellEvent, RetrievalEvent
from flywheel.datasets.document_signals import NAMES, document_signals
from flywheel.datasets.signals import labels_from_events


def _sessions(clock, qid: str, read: str, passed: str, n: int = 12) -> list:
    """``passed`` at rank 1 is skipped every time; ``read`` at rank 2 is clicked and read."""
    events = []
    for s in range(n):
        sid = f"{qid}-{s}"
        ranked = ((passed, 1, 2.0), (read, 2, 1.5))
        events += [
            RetrievalEvent(session_id=sid, qid=qid, results=ranked, timestamp=clock()),
            ClickEvent(session_id=sid, qid=qid, chunk_id=read, rank=2, timestamp=clock()),
            DwellEvent(session_id=sid, qid=qid, chunk_id=read, dwell_ms=90_000, timestamp=clock()),
        ]
    return events


def test_documents_read_for_other_queries_score_higher_and_eval_logs_never_count(clock) -> None:
    events = _sessions(clock, "train", read="good", passed="bad")
    events += _sessions(clock, "dev", read="answer", passed="good")  # an evaluation query
    labels = labels_from_events(events)
    signals = document_signals(labels, exclude_qids={"dev"})
    assert set(signals) == set(NAMES)
    relevance = signals["log_relevance"]
    assert relevance["good"] > 0.5 > relevance["bad"]
    assert signals["log_positive"]["good"] == 1 and signals["log_negative"]["bad"] == 1
    assert signals["log_sessions"]["good"] == math.log1p(12)
    # the dev query's own answer and its skip of "good" leave no trace in any feature
    assert all("answer" not in values for values in signals.values())
    assert signals["log_negative"]["good"] == 0
    with_dev = document_signals(labels, exclude_qids=())
    assert "answer" in with_dev["log_relevance"]  # (it would, were dev not excluded)


def test_queries_labelled_from_logs_know_which_documents_they_judged(clock) -> None:
    from flywheel.datasets.training_labels import assemble_training_labels

    events = _sessions(clock, "logged", read="good", passed="bad")
    labels = assemble_training_labels(
        {"judged": {"d1": 2}}, events=events, eval_qids=set()
    )
    judged = labels.judged_from_logs(["logged", "judged", "unknown"])
    # the logged query judged what it was shown; a person's judgments are not condensed
    assert judged == {"logged": {"good", "bad"}}
