"""Metrics on tiny hand-made data with hand-computed expected values."""

from __future__ import annotations

import copy
import math

import pytest

from flywheel.errors import ConfigError, UnknownComponentError
from flywheel.evaluation import evaluate, known_metrics, register_metric

QRELS = {
    "q1": {"a": 2, "b": 1, "c": 0, "d": 3},
    "q2": {"e": 0},  # no relevant document
    "q3": {"f": 1},  # missing from the run
}
RUN = {
    "q1": {"a": 0.9, "x": 0.8, "b": 0.7, "d": 0.1, "c": 0.05},
    "q2": {"e": 1.0},
    "q4": {"a": 1.0},  # not judged: ignored
}


def score(metric: str, qid: str = "q1") -> float:
    return evaluate(QRELS, RUN, [metric]).per_query[metric][qid]


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("recall@1", 1 / 3),
        ("recall@3", 2 / 3),
        ("recall@10", 1.0),
        ("precision@3", 2 / 3),
        ("precision@10", 3 / 10),  # divides by k even with 5 retrieved (trec_eval P_10)
        ("precision", 3 / 5),  # no cutoff: divides by the number retrieved
        ("hit_rate@1", 1.0),
        ("success@1", 1.0),
        ("hits@3", 2.0),
        ("mrr@10", 1.0),
        ("map@10", (1 / 1 + 2 / 3 + 3 / 4) / 3),
        ("map@3", (1 / 1 + 2 / 3) / 3),  # divides by all 3 relevant documents
        # DCG@3 = 2/log2(2) + 1/log2(4) = 2.5; ideal = 3/1 + 2/log2(3) + 1/log2(4)
        ("ndcg@3", 2.5 / (3 + 2 / math.log2(3) + 0.5)),
        # DCG@10 adds d (grade 3) at rank 4: 3/log2(5); c (grade 0) adds nothing
        ("ndcg@10", (2.5 + 3 / math.log2(5)) / (3 + 2 / math.log2(3) + 0.5)),
        ("ndcg@1", 2 / 3),
    ],
)
def test_hand_computed_values(metric: str, expected: float) -> None:
    assert score(metric) == pytest.approx(expected, abs=1e-12)


def test_queries_without_relevant_or_missing_from_run_score_zero_and_count_in_mean() -> None:
    result = evaluate(QRELS, RUN, ["ndcg@10", "recall@10"])
    assert set(result.per_query["ndcg@10"]) == {"q1", "q2", "q3"}  # q4 ignored
    assert result.per_query["ndcg@10"]["q2"] == 0.0
    assert result.per_query["recall@10"]["q3"] == 0.0
    assert result.mean["recall@10"] == pytest.approx(1 / 3)


def test_ties_broken_by_doc_id_descending_like_trec_eval() -> None:
    qrels = {"q": {"n": 1}}
    run = {"q": {"m": 1.0, "n": 1.0, "z": 1.0, "top": 2.0}}
    # order: top (2.0), then the 1.0 ties by doc_id descending: z, n, m -> n is at rank 3
    assert evaluate(qrels, run, ["mrr@10"]).mean["mrr@10"] == pytest.approx(1 / 3)
    shuffled = {"q": {"z": 1.0, "top": 2.0, "n": 1.0, "m": 1.0}}
    assert evaluate(qrels, shuffled, ["mrr@10"]).mean["mrr@10"] == pytest.approx(1 / 3)


def test_graded_relevance_threshold() -> None:
    qrels = {"q": {"a": 1, "b": 2}}
    run = {"q": {"a": 2.0, "b": 1.0}}
    result = evaluate(qrels, run, ["recall@1", "mrr@10"], relevance_threshold=2)
    assert result.mean == {"recall@1": 0.0, "mrr@10": 0.5}


def test_inputs_are_not_mutated_and_result_round_trips() -> None:
    qrels, run = copy.deepcopy(QRELS), copy.deepcopy(RUN)
    result = evaluate(qrels, run, ["ndcg@10", "map@100"])
    assert qrels == QRELS and run == RUN
    again = type(result).from_dict(result.to_dict())
    assert again.mean == result.mean and again.per_query == result.per_query


def test_empty_run_scores_zero() -> None:
    result = evaluate({"q": {"a": 1}}, {}, ["ndcg@10", "precision", "mrr"])
    assert result.mean == {"ndcg@10": 0.0, "precision": 0.0, "mrr": 0.0}


def test_unknown_metric_lists_known_ones() -> None:
    with pytest.raises(UnknownComponentError) as info:
        evaluate(QRELS, RUN, ["ndgc@10"])
    assert "ndcg@k" in str(info.value) and "recall@k" in str(info.value)


@pytest.mark.parametrize("bad", ["ndcg@ten", "ndcg@0", "@5"])
def test_bad_cutoff_is_a_config_error(bad: str) -> None:
    with pytest.raises(ConfigError):
        evaluate(QRELS, RUN, [bad])


def test_plugin_metric_registers_and_resolves() -> None:
    def retrieved_count(ranks, k):
        return ranks.n_retrieved.astype(float) if k is None else ranks.n_retrieved.clip(max=k) * 1.0

    register_metric("test_retrieved", retrieved_count, replace=True)
    assert "test_retrieved" in known_metrics()
    assert score("test_retrieved@3") == 3.0
    with pytest.raises(ValueError):
        register_metric("ndcg", retrieved_count)
