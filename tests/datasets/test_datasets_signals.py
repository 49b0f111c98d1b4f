"""Labels from a click model, on small hand-made logs whose answers are clear by construction."""

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
from flywheel.datasets.signals import Polarity, Signal


def shown(session, qid, chunks, t):
    return RetrievalEvent(
        session_id=session, qid=qid, timestamp=t(),
        results=tuple((c, rank, 1.0 / rank) for rank, c in enumerate(chunks, start=1)),
    )  # fmt: skip


def click(session, qid, chunk, rank, ms, t):
    return [
        ClickEvent(session_id=session, qid=qid, chunk_id=chunk, rank=rank, timestamp=t()),
        DwellEvent(session_id=session, qid=qid, chunk_id=chunk, dwell_ms=ms, timestamp=t()),
    ]


def thumbs(session, qid, chunk, positive, t):
    return DocumentFeedbackEvent(
        session_id=session, qid=qid, chunk_id=chunk, positive=positive, timestamp=t()
    )


def polarities(labels):
    return {lab.chunk_id: str(lab.polarity) for lab in labels.labels.values()}


def test_clicks_dwell_skip_above_and_ignored(clock):
    events = []
    for s in range(5):  # five users read d3 for 40 s, passing over d1 and d2
        events += [shown(f"s{s}", "q1", ["d1", "d2", "d3", "d4"], clock)]
        events += click(f"s{s}", "q1", "d3", 3, 40_000, clock)
    labels = labels_from_events(events)
    assert polarities(labels) == {
        "d3": "positive",
        "d1": "negative",  # skipped above d3 five times
        "d2": "negative",
        "d4": "neutral",  # below the clicks, rarely looked at: no evidence either way
    }
    d3, d1 = labels.labels[("q1", "d3")], labels.labels[("q1", "d1")]
    assert d3.grade >= 3 and d3.relevance >= 0.5 and d3.evidence == 5
    assert d3.signal == Signal.LONG_DWELL or d3.signal == Signal.CLICK
    assert d1.grade == 0 and d1.relevance <= 0.1 and d1.log_odds < -1
    assert d1.signal_counts == {"ignored": 5, "skipped_above": 5}
    assert labels.labels[("q1", "d4")].grade is None
    assert labels.counts == {"click": 5, "long_dwell": 5, "ignored": 15, "skipped_above": 10}
    assert labels.graded == {"q1": {"d3": d3.grade, "d1": 0, "d2": 0}}
    assert [(n.chunk_id, n.reasons) for n in labels.behavioural_negatives()] == [
        ("d1", ("skipped_above",)),
        ("d2", ("skipped_above",)),
    ]
    no_skip = labels_from_events(events, LabelPolicy(skip_above=False))
    assert no_skip.labels[("q1", "d1")].relevance > d1.relevance  # one signal fewer against it
    assert "skipped_above" not in no_skip.counts


def test_dwell_categories_and_thresholds(clock):
    events = []
    for s in range(4):
        events += [shown(f"s{s}", "q", ["a", "b"], clock)]
        events += click(f"s{s}", "q", "a", 1, 40_000, clock)
        events += click(f"s{s}", "q", "b", 2, 1_000, clock)
    labels = labels_from_events(events)
    a, b = labels.labels[("q", "a")], labels.labels[("q", "b")]
    assert (str(a.polarity), str(b.polarity)) == ("positive", "negative")
    assert b.signal == Signal.QUICK_BOUNCE
    assert [n.reasons for n in labels.behavioural_negatives()] == [("bounced",)]
    strict = labels_from_events(events, LabelPolicy(long_dwell_ms=60_000))  # 40 s: a plain click
    assert strict.labels[("q", "a")].relevance < a.relevance
    assert "long_dwell" not in strict.counts


def test_one_thumbs_down_does_not_silence_many_long_reads(clock):
    events = []
    for s in range(8):  # eight sessions read x at length
        events += [shown(f"r{s}", "q", ["x", "y"], clock)]
        events += click(f"r{s}", "q", "x", 1, 60_000, clock)
    events += [shown("v", "q", ["x", "y"], clock), thumbs("v", "q", "x", False, clock)]
    labels = labels_from_events(events)
    x = labels.labels[("q", "x")]
    assert x.polarity == Polarity.POSITIVE and x.grade >= 4
    assert x.signal_counts["thumbs_down"] == 1
    assert [c.chunk_id for c in labels.conflicts] == ["x"]
    assert labels.conflicts[0].resolved == Polarity.POSITIVE


def test_one_noisy_long_read_does_not_outvote_several_thumbs_down(clock):
    events = [shown("r", "q", ["y", "z"], clock), *click("r", "q", "y", 1, 60_000, clock)]
    for s in range(4):
        events += [shown(f"v{s}", "q", ["y", "z"], clock), thumbs(f"v{s}", "q", "y", False, clock)]
    for s in range(4):  # z: read and liked, so the log holds both kinds of pair
        events += [shown(f"w{s}", "q", ["z", "y"], clock), *click(f"w{s}", "q", "z", 1, 50_000,
                                                                  clock)]  # fmt: skip
        events += [thumbs(f"w{s}", "q", "z", True, clock)]
    labels = labels_from_events(events)
    y = labels.labels[("q", "y")]
    assert y.polarity == Polarity.NEGATIVE and y.grade == 0
    assert y.signal == Signal.THUMBS_DOWN
    assert labels.labels[("q", "z")].polarity == Polarity.POSITIVE
    assert ("thumbs_down" in n.reasons for n in labels.behavioural_negatives() if n.chunk_id == "y")


def test_citations_and_answer_feedback(clock):
    events = []
    for s in range(3):
        events += [
            shown(f"s{s}", "q2", ["a", "b", "c"], clock),
            CitationEvent(session_id=f"s{s}", qid="q2", chunk_ids=("a",), timestamp=clock()),
            AnswerFeedbackEvent(session_id=f"s{s}", qid="q2", positive=True, timestamp=clock()),
        ]
    events += [
        shown("t", "q4", ["a"], clock),
        CitationEvent(session_id="t", qid="q4", chunk_ids=("a",), timestamp=clock()),
        AnswerFeedbackEvent(session_id="t", qid="q4", positive=False, timestamp=clock()),
    ]
    labels = labels_from_events(events)
    got = {(lab.qid, lab.chunk_id): str(lab.polarity) for lab in labels.labels.values()}
    assert got[("q2", "a")] == "positive"
    assert got[("q2", "b")] == got[("q2", "c")] == "negative"  # never cited in three answers
    assert got[("q4", "a")] != "positive"  # cited once, in an answer the user voted down
    assert labels.counts["cited_upvoted"] == 3 and labels.counts["not_cited"] == 6
    reasons = {n.chunk_id: n.reasons for n in labels.behavioural_negatives()}
    assert reasons == {"b": ("not_cited",), "c": ("not_cited",)}
    shallow = labels_from_events(events, LabelPolicy(context_depth=2))
    beyond = shallow.labels.get(("q2", "c"))  # past the context and never clickable: no label
    assert beyond is None or "not_cited" not in beyond.signal_counts


def test_results_nobody_could_click_are_no_evidence_against(clock):
    """A chat app logs retrievals, citations and answer votes, never clicks: its shown results
    are not "not clicked". One answer citing a document, voted up, makes it a positive."""
    events = [
        shown("s", "q", ["a", "b", "c"], clock),
        CitationEvent(session_id="s", qid="q", chunk_ids=("a",), timestamp=clock()),
        AnswerFeedbackEvent(session_id="s", qid="q", positive=True, timestamp=clock()),
    ]
    labels = labels_from_events(events)
    assert labels.labels[("q", "a")].polarity == Polarity.POSITIVE
    assert "ignored" not in labels.labels[("q", "a")].signal_counts


def test_preferences_reformulations_and_more_like_this(clock):
    events = [
        PreferenceEvent(session_id="s6", qid="q6", winner="w", loser="l", timestamp=clock()),
        ReformulationEvent(session_id="s7", qid="q7b", previous_qid="q7a", timestamp=clock()),
        thumbs("s7", "q7b", "r", True, clock),
        MoreLikeThisEvent(session_id="s8", qid="q8", chunk_id="m1", timestamp=clock()),
        thumbs("s8", "q8", "m2", True, clock),
    ]  # fmt: skip
    labels = labels_from_events(events)
    rel = labels.relevance()
    assert rel[("q6", "w")] > 0.5 > rel[("q6", "l")]
    assert labels.labels[("q7a", "r")].signals == (Signal.REFORMULATION,)
    assert rel[("q7a", "r")] > 0.5  # the original query inherits the rewrite's liked result
    assert labels.labels[("q8", "m1")].polarity == Polarity.POSITIVE
    assert labels.preferences == [("q6", "w", "l")]
    assert labels.pairs_doc_doc == [("m1", "m2")]
    assert set(labels.as_qrels(min_grade=3)) >= {"q6", "q7b", "q8"}
    off = labels_from_events(events, LabelPolicy(reformulations=False))
    assert ("q7a", "r") not in off.labels


def test_report_counts_model_and_policy_record(clock):
    events = [shown("s", "q", ["a", "b"], clock), *click("s", "q", "a", 1, 40_000, clock)]
    labels = labels_from_events(events)
    report = labels.to_dict()
    assert report["sources"] == {"click": 1, "dwell": 1, "retrieval": 1}
    assert report["signals"] == {"click": 1, "ignored": 1, "long_dwell": 1}
    assert report["pairs"] == 2 and report["positives"] == 1
    assert report["propensity"]["method"] == "prior"  # a two-event log cannot identify it
    assert report["propensity"]["identified"] is False
    assert set(report["model"]["rates"]) == {"dwell"}  # only families the log holds
    assert labels.propensity_plot_data()["rank"][:3] == [1, 2, 3]
    recorded = LabelPolicy(positive_threshold=0.6).to_dict()
    assert recorded["positive_threshold"] == 0.6 and recorded["long_dwell_ms"] == 30_000
    assert recorded["propensity_method"] == "em"


def test_own_propensity_table_and_empty_log():
    table = {1: 1.0, 2: 0.5}
    labels = labels_from_events([], LabelPolicy(propensity=table))
    assert labels.labels == {} and labels.propensity.theta == table
    assert labels.propensity.method == "given"
    assert labels_from_events([]).to_dict()["pairs"] == 0


@pytest.mark.parametrize("threshold", [0.5, 0.7])
def test_positive_threshold_moves_the_cut(clock, threshold):
    events = [shown("s", "q", ["a"], clock), *click("s", "q", "a", 1, 40_000, clock)]
    label = labels_from_events(events, LabelPolicy(positive_threshold=threshold)).labels[("q", "a")]
    assert (label.polarity == Polarity.POSITIVE) == (label.relevance >= threshold)
