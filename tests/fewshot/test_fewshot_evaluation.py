from __future__ import annotations

import numpy as np
import pytest
from fs_helpers import planted

from flywheel.fewshot import (
    BuildConfig,
    DynamicConfig,
    Example,
    NearestNeighbourSelector,
    RandomSelector,
    build_library,
    evaluate_selectors,
)
from flywheel.fewshot.evaluation import selection_figures
from flywheel.fewshot.selectors import ExamplePool, Selected, Selection


def test_selection_figures_by_hand() -> None:
    vectors = np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32)
    selection = Selection([Selected(0, 1, ""), Selected(1, 1, ""), Selected(2, 0, "")])
    figures = selection_figures(selection, "a", ["a", "a", "b"], vectors)
    # pairs: (0,1) distance 0, (0,2) 1, (1,2) 1 -> diversity 2/3; intents a, a, b
    assert figures == pytest.approx(
        {"coverage": 1.0, "redundancy": 1 / 3, "diversity": 2 / 3, "precision": 2 / 3}
    )
    assert selection_figures(selection, "z", ["a", "a", "b"], vectors)["coverage"] == 0.0
    assert selection_figures(Selection([]), "a", [], vectors)["coverage"] == 0.0


def test_library_covers_more_intents_than_nearest_neighbours(embedder) -> None:
    """Queries that mix two topics: nearest neighbours repeat one topic, the library spreads."""
    train = planted(10)
    library = build_library(train, embedder=embedder, config=BuildConfig(per_group=2))
    pool_entries = library.pool
    pool = ExamplePool(
        [e.example for e in pool_entries],
        embedder.encode_documents(
            [e.example.qid for e in pool_entries], [e.example.question for e in pool_entries]
        ),
        [e.group_id or "" for e in pool_entries],
    )
    # each query: three billing words and one shipping word; its intent is shipping half the time
    rng = np.random.default_rng(1)
    queries, intents = [], []
    for i in range(20):
        billing = rng.choice(["invoice", "payment", "charge", "refund", "bill", "card"], 3, False)
        queries.append(" ".join([*billing, "parcel"]))
        intents.append("billing" if i % 2 else "shipping")
    vectors = embedder.encode_queries(queries)
    truth = {e.qid: e.intent for e in train}
    report = evaluate_selectors(
        {
            "nearest": NearestNeighbourSelector(pool),
            "random": RandomSelector(pool),
            # no relevance gap: the planted shipping word is the only hint, far below billing
            "library": library.selector(embedder, config=DynamicConfig(max_gap=None)),
        },
        queries,
        vectors,
        intents,
        truth,
        k=3,
        n_resamples=500,
    )
    assert report.mean("nearest", "coverage") == pytest.approx(0.5)  # billing only
    assert report.mean("library", "coverage") == 1.0
    assert report.mean("library", "redundancy") < report.mean("nearest", "redundancy")
    outcome = report.comparison.outcomes["library"]["coverage"]
    assert (outcome.wins, outcome.losses) == (10, 0) and outcome.p_value < 0.05
    data = report.to_dict()
    assert data["k"] == 3 and data["queries"] == 20 and "library" in data["p_value"]


def test_truth_is_looked_up_by_qid_so_hidden_labels_still_score(embedder) -> None:
    train = planted(5, labels=False)
    truth = {e.qid: e.qid.split("-")[0] for e in train}
    pool = ExamplePool(train, embedder.encode_queries([e.question for e in train]), [""] * 15)
    query = [Example("x", "refund invoice charge bill")]
    report = evaluate_selectors(
        {"nearest": NearestNeighbourSelector(pool)},
        [query[0].question],
        embedder.encode_queries([query[0].question]),
        ["billing"],
        truth,
        k=1,
        n_resamples=100,
    )
    assert report.mean("nearest", "coverage") == 1.0
