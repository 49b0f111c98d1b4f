from __future__ import annotations

import copy

import pytest
from ranx import Run as RanxRun
from ranx import fuse

from flywheel.errors import ConfigError
from flywheel.retrieval import rrf, weighted_fusion

RUN_A = {"q1": {"d1": 3.0, "d2": 2.0, "d3": 1.0}, "q2": {"d4": 0.9, "d5": 0.1}}
RUN_B = {"q1": {"d3": 0.8, "d1": 0.5, "d4": 0.2}, "q2": {"d5": 0.7, "d6": 0.3}}


def test_rrf_by_hand():
    fused = rrf([RUN_A, RUN_B], k=60)
    q1 = fused["q1"]
    assert q1["d1"] == pytest.approx(1 / 61 + 1 / 62)
    assert q1["d3"] == pytest.approx(1 / 63 + 1 / 61)
    assert q1["d2"] == pytest.approx(1 / 62)
    assert q1["d4"] == pytest.approx(1 / 63)
    assert list(q1) == ["d1", "d3", "d2", "d4"]  # best first
    assert set(fused["q2"]) == {"d4", "d5", "d6"}


def test_rrf_weights_and_missing_queries():
    fused = rrf([RUN_A, {"q3": {"x": 1.0}}], k=0, weights=[2.0, 0.5])
    assert fused["q1"]["d1"] == pytest.approx(2.0)  # 2 / (0 + 1)
    assert fused["q1"]["d3"] == pytest.approx(2.0 / 3)
    assert fused["q3"] == {"x": pytest.approx(0.5)}


def test_weighted_minmax_by_hand_missing_doc_gets_zero():
    fused = weighted_fusion([RUN_A, RUN_B], [0.7, 0.3])
    # RUN_A q1 minmax: d1 1, d2 .5, d3 0; RUN_B q1: d3 1, d1 .5, d4 0; missing -> 0
    assert fused["q1"]["d1"] == pytest.approx(0.7 * 1 + 0.3 * 0.5)
    assert fused["q1"]["d2"] == pytest.approx(0.7 * 0.5)
    assert fused["q1"]["d3"] == pytest.approx(0.3)
    assert fused["q1"]["d4"] == pytest.approx(0.0)
    assert list(fused["q1"])[0] == "d1"


def test_weighted_zscore_missing_doc_gets_run_minimum():
    run_a = {"q": {"a": 1.0, "b": 3.0}}  # z: a -1, b +1
    run_b = {"q": {"c": 10.0, "a": 20.0}}  # z: c -1, a +1
    fused = weighted_fusion([run_a, run_b], [1.0, 1.0], norm="zscore")
    assert fused["q"] == pytest.approx({"a": 0.0, "b": 0.0, "c": -2.0})


def test_fusion_never_mutates_inputs_and_validates():
    before = copy.deepcopy([RUN_A, RUN_B])
    rrf([RUN_A, RUN_B])
    weighted_fusion([RUN_A, RUN_B], [1, 1], norm="zscore")
    assert [RUN_A, RUN_B] == before
    with pytest.raises(ConfigError, match="2 weights for 1 runs"):
        rrf([RUN_A], weights=[1, 2])
    with pytest.raises(ConfigError, match="choose one of: minmax, zscore"):
        weighted_fusion([RUN_A], [1], norm="l2")


def test_parity_with_ranx_fuse():
    ranx_runs = [RanxRun(copy.deepcopy(RUN_A)), RanxRun(copy.deepcopy(RUN_B))]
    ours = rrf([RUN_A, RUN_B], k=60)
    theirs = fuse(ranx_runs, method="rrf", params={"k": 60}).to_dict()
    for qid in ours:
        assert ours[qid] == pytest.approx(theirs[qid])

    ours = weighted_fusion([RUN_A, RUN_B], [0.6, 0.4], norm="minmax")
    params = {"weights": [0.6, 0.4]}
    theirs = fuse(ranx_runs, method="wsum", norm="min-max", params=params).to_dict()
    for qid in ours:
        assert ours[qid] == pytest.approx(theirs[qid])
