"""Candidate features for the learned re-ranker, checked against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from flywheel.data.types import Document
from flywheel.errors import ConfigError
from flywheel.retrieval import rrf
from flywheel.retrieval.features import CandidateFeaturizer, build_features

CORPUS = {
    "a": Document("a", "Air flows over the wings; the wing flow separates.", title="Wing flow"),
    "b": Document("b", "Boats drift down rivers.", title="Fish"),
    "c": Document("c", "", title=""),
    "d": Document("d", "Flows of rivers.", title="Rivers"),
}
QUERIES = {"q1": "wing flows", "q2": "fish", "q3": "nothing retrieved"}
RUNS = {
    "bm25": {"q1": {"a": 3.0, "b": 1.0}},
    "dense": {"q1": {"b": 0.9, "c": 0.5}, "q2": {"c": 0.1}},
}


@pytest.fixture
def features():
    return build_features(QUERIES, CORPUS, RUNS, depth=5)


def row(features, qid: str, doc_id: str) -> dict[str, float]:
    index = next(
        r
        for r, (q, d) in enumerate(zip(features.row_qids(), features.doc_ids, strict=True))
        if q == qid and d == doc_id
    )
    return dict(zip(features.names, features.matrix[index].tolist(), strict=True))


def test_candidates_are_the_union_in_fused_order_and_empty_queries_drop(features):
    assert features.qids == ("q1", "q2")  # q3: no run retrieved anything
    assert features.doc_ids == ("b", "a", "c", "c")  # q1: b in both runs, then a, c
    assert features.group_sizes().tolist() == [3, 1]
    assert features.n_rows == 4 and features.matrix.shape == (4, len(features.names))


def test_run_scores_ranks_and_missing_sentinels(features):
    b, a, c = row(features, "q1", "b"), row(features, "q1", "a"), row(features, "q1", "c")
    assert (a["bm25:score"], a["bm25:rank"], a["bm25:present"]) == (3.0, 1.0, 1.0)
    assert (b["bm25:score"], b["bm25:rank"]) == (1.0, 2.0)
    # c is missing from bm25: the query's lowest bm25 score, rank past max(list, depth), absent
    assert (c["bm25:score"], c["bm25:rank"], c["bm25:present"]) == (1.0, 6.0, 0.0)
    assert (a["dense:score"], a["dense:rank"], a["dense:present"]) == (0.5, 6.0, 0.0)
    # per-query normalisation over the candidates the run retrieved: two values -> z = +-1
    assert (a["bm25:z"], b["bm25:z"], c["bm25:z"]) == (1.0, -1.0, -1.0)
    assert (a["bm25:minmax"], b["bm25:minmax"], c["bm25:minmax"]) == (1.0, 0.0, 0.0)
    assert (b["dense:minmax"], c["dense:minmax"]) == (1.0, 0.0)
    lone = row(features, "q2", "c")  # one retrieved document: z 0, max-min 1
    assert (lone["dense:z"], lone["dense:minmax"]) == (0.0, 1.0)


def test_rrf_column_equals_the_fusion_module(features):
    fused = rrf(list(RUNS.values()))
    for qid, doc_id in zip(features.row_qids(), features.doc_ids, strict=True):
        values = row(features, qid, doc_id)
        assert values["rrf"] == pytest.approx(fused[qid][doc_id])
    assert row(features, "q1", "b")["runs:present"] == 2.0


def test_lexical_features_use_bm25_terms(features):
    a, b = row(features, "q1", "a"), row(features, "q1", "b")
    # "wing flows" -> stems {wing, flow}; a's title "Wing flow" holds both
    assert a["query:terms"] == 2.0
    assert (a["title:overlap"], a["title:all_terms"], a["body:overlap"]) == (1.0, 1.0, 1.0)
    # body "Air flows over the wings; the wing flow separates.": flow x2, wing x2
    assert a["body:tf"] == pytest.approx(2 * math.log1p(2))
    # lengths in half-octaves, floor(2 * log2(1 + n)): title 2 tokens -> 3; title + body
    # (air flow over wing wing flow separ; "over" is not a bm25s stop word) 9 tokens -> 6
    assert a["title:length"] == 3.0 and a["doc:length"] == 6.0
    assert (b["title:overlap"], b["body:overlap"], b["body:tf"]) == (0.0, 0.0, 0.0)
    assert row(features, "q2", "c")["doc:length"] == 0.0


def test_signals_and_extra_runs_are_columns_with_present_flags():
    features = build_features(
        QUERIES,
        CORPUS,
        RUNS,
        extra_runs={"cross-encoder": {"q1": {"a": 4.0, "c": 2.0}}},
        pair_signals={"ctr": {"q1": {"a": 0.25}}},
        doc_signals={"citations": {"c": 3.0}},
    )
    assert features.doc_ids == ("b", "a", "c", "c")  # extra runs add no candidates
    a, c = row(features, "q1", "a"), row(features, "q1", "c")
    assert (a["cross-encoder:score"], a["cross-encoder:present"]) == (4.0, 1.0)
    assert row(features, "q1", "b")["cross-encoder:score"] == 2.0  # missing -> lowest
    assert a["rrf"] == pytest.approx(1 / 61)  # the extra run casts no RRF vote
    assert (a["pair:ctr"], a["pair:ctr:present"], c["pair:ctr:present"]) == (0.25, 1.0, 0.0)
    assert (c["doc:citations"], c["doc:citations:present"]) == (3.0, 1.0)
    assert row(features, "q2", "c")["doc:citations"] == 3.0
    assert (a["doc:citations"], a["doc:citations:present"]) == (0.0, 0.0)


def test_depth_limits_each_runs_candidates():
    run = {"q1": {d: float(10 - i) for i, d in enumerate("abcd")}}
    features = CandidateFeaturizer(CORPUS, depth=2).build({"q1": "x"}, {"bm25": run})
    assert features.doc_ids == ("a", "b")
    assert features.column("bm25:rank").tolist() == [1.0, 2.0]


def test_select_labels_and_to_run(features):
    assert features.labels({"q1": {"a": 2, "b": -1}, "q2": {"c": 1}}).tolist() == [0, 2, 0, 1]
    sub = features.select(["q2", "missing", "q1"])
    assert sub.qids == ("q2", "q1") and sub.doc_ids == ("c", "b", "a", "c")
    np.testing.assert_array_equal(sub.matrix[0], features.matrix[3])
    run = features.to_run(np.array([0.0, 0.0, 1.0, 5.0]))
    assert list(run["q1"]) == ["c", "b", "a"]  # the tie keeps the fused order: b before a
    assert run["q1"]["b"] > run["q1"]["a"]
    with pytest.raises(ConfigError, match="4 candidate rows"):
        features.to_run(np.zeros(3))


def test_aligned_reorders_and_reports_missing_columns(features):
    names = list(reversed(features.names))
    np.testing.assert_array_equal(features.aligned(names), features.matrix[:, ::-1])
    with pytest.raises(ConfigError, match="lack pair:ctr"):
        features.aligned([*features.names, "pair:ctr"])


def test_bad_inputs_fail_with_the_fix():
    with pytest.raises(ConfigError, match="not in the corpus"):
        build_features(QUERIES, CORPUS, {"bm25": {"q1": {"zzz": 1.0}}})
    with pytest.raises(ConfigError, match="at least one"):
        build_features(QUERIES, CORPUS, {})
    with pytest.raises(ConfigError, match="used twice"):
        build_features(QUERIES, CORPUS, RUNS, extra_runs={"bm25": {}})
    inputs = (QUERIES, RUNS)
    featurizer = CandidateFeaturizer(CORPUS)
    assert featurizer.build(*inputs).names == build_features(QUERIES, CORPUS, RUNS).names
