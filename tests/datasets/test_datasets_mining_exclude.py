"""Mining with ``exclude``: documents judged neither positive nor negative (an LLM's "related")."""

from __future__ import annotations

import numpy as np
from ds_helpers import unit

from flywheel.datasets import HardNegativeConfig, mine_from_run, mine_hard_negatives

# Scores against the query [1, 0]; p is the positive, a and c are "related" (excluded).
SCORES = {"p": 0.95, "a": 0.90, "b": 0.80, "c": 0.70, "d": 0.60, "e": 0.50}
CONFIG = HardNegativeConfig(range_min=0, range_max=2, num_negatives=2, relative_margin=None)


def test_dense_mining_skips_excluded_documents_and_keeps_the_window_full():
    doc_ids = list(SCORES)
    mined = mine_hard_negatives(
        {"q": "query"}, {"q": {"p": 1}}, None,
        query_embeddings=np.array([[1.0, 0.0]], dtype=np.float32),
        doc_embeddings=np.array([unit(s) for s in SCORES.values()], dtype=np.float32),
        doc_ids=doc_ids, config=CONFIG, exclude={"q": {"a", "c", "p"}, "other": {"b"}},
    )  # fmt: skip
    (example,) = mined.examples
    # without exclude: (a, b); a and c leave the list like the positive, so the two-wide
    # window [0, 2) holds b and d, and k grew by the excluded count to still reach d
    assert example.negative_ids == ("b", "d")
    assert example.negative_ranks == (0, 1)
    assert mined.stats.dropped_positive == 1 and mined.stats.dropped_excluded == 2


def test_run_mining_skips_excluded_documents_per_query():
    run = {"q": dict(SCORES), "r": dict(SCORES)}
    qrels = {"q": {"p": 1}, "r": {"p": 1}}
    plain = mine_from_run({"q": "x", "r": "y"}, qrels, run, config=CONFIG)
    assert [e.negative_ids for e in plain.examples] == [("a", "b"), ("a", "b")]
    mined = mine_from_run({"q": "x", "r": "y"}, qrels, run, config=CONFIG, exclude={"q": {"a"}})
    assert [e.negative_ids for e in mined.examples] == [("b", "c"), ("a", "b")]  # only q's
    assert mined.stats.dropped_excluded == 1 and plain.stats.dropped_excluded == 0
