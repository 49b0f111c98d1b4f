"""Each label-policy rule on a small event log whose labels are worked out by hand."""

from __future__ import annotations

import pytest

from flywheel.data.events import (
    AnswerFeedbackEvent,
    CitationEvent,
    ClickEvent,
    DocumentFeedbackEvent,
    DwellEvent,
    MoreLikeThisEvent,
    PreferenceEvent,
    ReformulationEvent,
    RetrievalEvent,
)
from flywheel.datasets import LabelPolicy, labels_from_events
from flywheel.datasets.propensity import estimate_propensity
from flywheel.datasets.signals import ConflictResolution, Polarity, Signal


def shown(session, qid, chunks, t):
    return RetrievalEvent(
        session_id=session, qid=qid, timestamp=t(),
        results=tuple((c, rank, 1.0 / rank) for rank, c in enumerate(chunks, start=1)),
    )  # fmt: skip


def thumbs(session, qid, chunk, positive, t):
    return DocumentFeedbackEvent(
        session_id=session, qid=qid, chunk_id=chunk, positive=positive, timestamp=t()
    )


def grades(labels):
    return {
        (lab.qid, lab.chunk_id): (str(lab.polarity), lab.grade) for lab in labels.labels.values()
    }


def test_clicks_dwell_skip_above_and_ignored(clock):
    events = [
        shown("s1", "q1", ["d1", "d2", "d3", "d4"], clock),
        ClickEvent(session_id="s1", qid="q1", chunk_id="d3", rank=3, timestamp=clock()),
        DwellEvent(session_id="s1", qid="q1", chunk_id="d3", dwell_ms=40_000, timestamp=clock()),
    ]
    labels = labels_from_events(events)
    assert grades(labels) == {
        ("q1", "d3"): ("positive", 4),  # long dwell
        ("q1", "d1"): ("negative", 1),  # skipped above d3
        ("q1", "d2"): ("negative", 1),
        ("q1", "d4"): ("neutral", 1),  # shown, below the click, untouched
    }
    assert labels.counts == {"long_dwell": 1, "skipped_above": 2, "ignored": 1}
    assert [lab.chunk_id for lab in labels.positives] == ["d3"]
    assert labels.graded == {"q1": {"d3": 4, "d1": 1, "d2": 1, "d4": 1}}
    no_skip = labels_from_events(events, LabelPolicy(skip_above=False, ignored=False))
    assert grades(no_skip) == {("q1", "d3"): ("positive", 4)}


def test_dwell_thresholds(clock):
    def one(ms):
        return labels_from_events([
            shown("s", "q", ["a"], clock),
            ClickEvent(session_id="s", qid="q", chunk_id="a", rank=1, timestamp=clock()),
            DwellEvent(session_id="s", qid="q", chunk_id="a", dwell_ms=ms, timestamp=clock()),
        ]).labels[("q", "a")]  # fmt: skip

    assert (one(30_000).signal, one(30_000).grade) == (Signal.LONG_DWELL, 4)
    assert (one(4_999).signal, one(4_999).polarity) == (Signal.QUICK_BOUNCE, Polarity.NEGATIVE)
    assert (one(10_000).signal, one(10_000).polarity) == (Signal.CLICK, Polarity.NEUTRAL)
    strict = LabelPolicy(long_dwell_ms=60_000)
    event_log = [
        shown("s", "q", ["a"], clock),
        ClickEvent(session_id="s", qid="q", chunk_id="a", rank=1, timestamp=clock()),
        DwellEvent(session_id="s", qid="q", chunk_id="a", dwell_ms=40_000, timestamp=clock()),
    ]
    assert labels_from_events(event_log, strict).labels[("q", "a")].signal == Signal.CLICK


def test_citations_and_answer_feedback(clock):
    events = [
        shown("s2", "q2", ["a", "b", "c"], clock),
        CitationEvent(session_id="s2", qid="q2", chunk_ids=("a",), timestamp=clock()),
        AnswerFeedbackEvent(session_id="s2", qid="q2", positive=True, timestamp=clock()),
        shown("s3", "q3", ["a", "b"], clock),
        CitationEvent(session_id="s3", qid="q3", chunk_ids=("b",), timestamp=clock()),
        shown("s4", "q4", ["a"], clock),
        CitationEvent(session_id="s4", qid="q4", chunk_ids=("a",), timestamp=clock()),
        AnswerFeedbackEvent(session_id="s4", qid="q4", positive=False, timestamp=clock()),
    ]
    assert grades(labels_from_events(events)) == {
        ("q2", "a"): ("positive", 5),  # cited + thumbs-up answer
        ("q2", "b"): ("negative", 1),  # retrieved, not cited
        ("q2", "c"): ("negative", 1),
        ("q3", "b"): ("positive", 3),  # cited, no feedback
        ("q3", "a"): ("negative", 1),
        # q4/a: cited in a thumbs-down answer: neutral without a grade -> no label at all
    }
    shallow = labels_from_events(events, LabelPolicy(context_depth=2))
    assert ("q2", "c") not in shallow.labels


def test_explicit_feedback_beats_clicks_and_conflicts_are_counted(clock):
    events = [
        shown("s5", "q5", ["x", "y"], clock),
        ClickEvent(session_id="s5", qid="q5", chunk_id="x", rank=1, timestamp=clock()),
        DwellEvent(session_id="s5", qid="q5", chunk_id="x", dwell_ms=1_000, timestamp=clock()),
        thumbs("s5", "q5", "x", True, clock),
    ]  # fmt: skip
    labels = labels_from_events(events)
    assert (labels.labels[("q5", "x")].polarity, labels.labels[("q5", "x")].grade) == (
        "positive",
        5,
    )
    assert [(c.chunk_id, c.resolved) for c in labels.conflicts] == [("x", Polarity.POSITIVE)]
    assert labels.conflicts[0].signals == {"quick_bounce": 1, "thumbs_up": 1}
    dropped = labels_from_events(events, LabelPolicy(conflict=ConflictResolution.DROP))
    assert ("q5", "x") not in dropped.labels
    assert dropped.conflicts[0].resolved is None


def test_equal_precedence_tie_is_dropped_and_majority_wins(clock):
    def vote(session, positive):
        return DocumentFeedbackEvent(
            session_id=session, qid="q", chunk_id="t", positive=positive, timestamp=clock()
        )

    tie = labels_from_events([vote("a", True), vote("b", False)])
    assert ("q", "t") not in tie.labels and tie.conflicts[0].resolved is None
    majority = labels_from_events([vote("a", True), vote("b", False), vote("c", False)])
    assert (majority.labels[("q", "t")].polarity, majority.labels[("q", "t")].grade) == (
        "negative", 0,
    )  # fmt: skip


def test_preferences_reformulations_and_more_like_this(clock):
    events = [
        PreferenceEvent(session_id="s6", qid="q6", winner="w", loser="l", timestamp=clock()),
        ReformulationEvent(session_id="s7", qid="q7b", previous_qid="q7a", timestamp=clock()),
        thumbs("s7", "q7b", "r", True, clock),
        MoreLikeThisEvent(session_id="s8", qid="q8", chunk_id="m1", timestamp=clock()),
        thumbs("s8", "q8", "m2", True, clock),
    ]  # fmt: skip
    labels = labels_from_events(events)
    assert grades(labels) == {
        ("q6", "w"): ("positive", 4),
        ("q6", "l"): ("negative", 1),
        ("q7b", "r"): ("positive", 5),
        ("q7a", "r"): ("positive", 3),  # the original query inherits the rewrite's positive
        ("q8", "m1"): ("positive", 4),
        ("q8", "m2"): ("positive", 5),
    }
    assert labels.preferences == [("q6", "w", "l")]
    assert labels.pairs_doc_doc == [("m1", "m2")]
    assert labels.as_qrels(min_grade=4) == {
        "q6": {"w": 4},
        "q7b": {"r": 5},
        "q8": {"m1": 4, "m2": 5},
    }
    off = labels_from_events(events, LabelPolicy(reformulations=False))
    assert ("q7a", "r") not in off.labels


def test_position_bias_estimate_and_inverse_propensity_weights(clock):
    events = []
    for i in range(100):  # 100 impressions of ranks 1-3; clicks: rank1 50, rank2 25, rank3 10
        events.append(shown(f"s{i}", f"q{i}", ["a", "b", "c"], clock))
        for rank, chunk, every in ((1, "a", 2), (2, "b", 4), (3, "c", 10)):
            if i % every == 0:
                events.append(
                    ClickEvent(session_id=f"s{i}", qid=f"q{i}", chunk_id=chunk, rank=rank)
                )
    table = estimate_propensity(events, max_rank=3)
    assert table == pytest.approx({1: 1.0, 2: 0.5, 3: 0.2})
    policy = LabelPolicy(propensity_weighting=True, skip_above=False, ignored=False)
    labels = labels_from_events(events, policy)
    assert labels.labels[("q0", "c")].weight == pytest.approx(5.0)  # 1 / 0.2
    assert labels.labels[("q0", "b")].weight == pytest.approx(2.0)
    assert {r: labels.propensity[r] for r in (1, 2, 3)} == pytest.approx({1: 1.0, 2: 0.5, 3: 0.2})
    assert labels_from_events(events, LabelPolicy()).labels[("q0", "c")].weight == 1.0


def test_policy_rules_are_configurable_and_recorded():
    policy = LabelPolicy().with_rule("cited", grade=4)
    assert policy.rules[Signal.CITED].grade == 4
    assert LabelPolicy().rules[Signal.CITED].grade == 3
    recorded = policy.to_dict()
    assert recorded["rules"]["cited"] == {"polarity": "positive", "grade": 4, "precedence": 60}
    assert recorded["long_dwell_ms"] == 30_000
