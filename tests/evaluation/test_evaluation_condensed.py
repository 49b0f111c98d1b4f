"""Condensed lists: with labels from logs, a document nobody was shown is unjudged, not wrong."""

from __future__ import annotations

import numpy as np
import pytest

from flywheel.evaluation import evaluate
from flywheel.evaluation.condensed import condense
from flywheel.testing import FakeEmbedder
from flywheel.training.devset import DevSet
from flywheel.training.evaluators import DenseDevEvaluator

# q was shown a, b, c (logs: a relevant, b and c passed over); "new" was never shown
QRELS = {"q": {"a": 1}, "r": {"x": 1}}
JUDGED = {"q": {"a", "b", "c"}}


def test_an_unshown_document_above_the_answer_costs_nothing_on_a_condensed_list() -> None:
    new = {"q": {"new": 4.0, "a": 3.0, "b": 2.0}, "r": {"y": 2.0, "x": 1.0}}
    plain = evaluate(QRELS, new, ["ndcg@10"]).per_query["ndcg@10"]["q"]
    assert plain < 1.0  # scored the usual way, the unshown document counts as non-relevant
    condensed = condense(new, JUDGED)
    assert condensed["q"] == {"a": 3.0, "b": 2.0}  # order and scores kept
    assert condensed["r"] == new["r"]  # a query with full judgments is unchanged
    scores = evaluate(QRELS, condensed, ["ndcg@10"]).per_query["ndcg@10"]
    assert scores["q"] == pytest.approx(1.0)
    assert scores["r"] < 1.0  # ... and still pays for its own misses
    assert new["q"]["new"] == 4.0  # nothing modified


def test_the_dev_gate_ranks_only_judged_texts_for_a_condensed_query() -> None:
    texts = {"a": "cats purr", "b": "dogs bark", "c": "fish swim", "new": "kittens purr loudly"}
    dev = DevSet({"q": "which animal purrs"}, texts, {"q": {"a": 1}}, judged=JUDGED)
    model = FakeEmbedder().model
    run = DenseDevEvaluator(dev).run(model)
    assert set(run["q"]) == {"a", "b", "c"}
    full = DenseDevEvaluator(DevSet(dev.queries, texts, dev.qrels)).run(model)
    assert set(full["q"]) == set(texts)
    assert dev.describe()["condensed_queries"] == 1
    assert np.isfinite(list(run["q"].values())).all()
