"""Behavioural negatives: a document users keep skipping becomes a triplet negative, under the
same false-negative guard as a mined one; and a store with logs but no training judgment builds."""

from __future__ import annotations

import numpy as np
from ds_helpers import fake_encode

from flywheel.data.events import ClickEvent, DwellEvent, RetrievalEvent
from flywheel.data.types import Document, RetrievalDataset
from flywheel.datasets import BuildOptions, HardNegativeConfig, build_dataset, load_dataset
from flywheel.datasets._selection import MinedExample, MiningStats
from flywheel.datasets.behavioural import add_behavioural_negatives
from flywheel.datasets.hard_negatives import MinedNegatives

DOCS = {
    "pos": "how long cats sleep each day",
    "skip": "cats and their owners",
    "other": "tropical fish tanks",
    "far": "engine oil for cars",
}


def _sessions(clock, n: int = 12) -> list:
    """``skip`` at rank 1 is passed over every time; ``pos`` at rank 2 is clicked and read."""
    events = []
    for s in range(n):
        sid = f"s{s}"
        ranked = [("skip", 1, 2.0), ("pos", 2, 1.5), ("other", 3, 1.0)]
        events += [
            RetrievalEvent(session_id=sid, qid="q", results=tuple(ranked), timestamp=clock()),
            ClickEvent(session_id=sid, qid="q", chunk_id="pos", rank=2, timestamp=clock()),
            DwellEvent(session_id=sid, qid="q", chunk_id="pos", dwell_ms=90_000, timestamp=clock()),
        ]
    return events


def _dataset() -> RetrievalDataset:
    corpus = {d: Document(d, t) for d, t in DOCS.items()}
    queries = {"q": "how long do cats sleep", "t": "fish tanks", "u": "car engines"}
    return RetrievalDataset("cats", corpus, queries, {"test": {"t": {"other": 1}, "u": {"far": 1}}})


def test_a_skipped_document_becomes_the_triplet_negative(clock, tmp_path) -> None:
    out = build_dataset(
        _dataset(),
        tmp_path / "triplets",
        kind="triplets",
        options=BuildOptions(dev_fraction=0.0, near_duplicate_threshold=None),
        config=HardNegativeConfig(range_min=0, range_max=3, relative_margin=None),
        events=_sessions(clock),
        encode=fake_encode,
    )
    saved = load_dataset(out)
    [row] = saved.splits["train"]  # no training judgment anywhere: the logs made it
    assert (row["anchor"], row["positive"], row["negative"]) == (
        "how long do cats sleep",
        DOCS["pos"],
        DOCS["skip"],
    )
    assert saved.card.mining["metadata"]["negatives_by_source"] == {"events:skipped_above": 1}


def test_behavioural_negatives_pass_the_false_negative_guard() -> None:
    """A logged negative the base model scores as high as the positive is a likely false
    negative: dropped by the 5% margin, and the mined negative stays."""
    mined = MinedNegatives(
        [MinedExample("q", "p", 0.8, ("m",), (0.5,), (4,))], HardNegativeConfig(), MiningStats()
    )
    scores = {"p": 0.8, "close": 0.79, "far": 0.3}

    def score(qid, doc_ids):  # noqa: ANN001, ANN202
        return np.array([scores[d] for d in doc_ids])

    config = HardNegativeConfig(relative_margin=0.05)
    close = add_behavioural_negatives(
        mined, {"q": "x"}, {"q": {"p": 1}}, {"q": {"close": "events:quick_bounce"}},
        score=score, config=config,
    )  # fmt: skip
    assert close.examples[0].negative_ids == ("m",)
    assert close.metadata["behavioural_dropped_by_guards"] == 1
    far = add_behavioural_negatives(
        mined, {"q": "x"}, {"q": {"p": 1}}, {"q": {"far": "events:thumbs_down"}},
        score=score, config=config,
    )  # fmt: skip
    assert far.examples[0].negative_ids == ("far",)
    assert far.metadata["negatives_by_source"] == {"events:thumbs_down": 1}
