from __future__ import annotations

import numpy as np
import pytest

from flywheel.errors import ConfigError
from flywheel.fewshot import (
    DynamicConfig,
    LibrarySelector,
    NearestNeighbourSelector,
    RandomSelector,
    mmr,
)
from flywheel.fewshot.examples import Example
from flywheel.fewshot.selectors import ExamplePool, StaticSelector, representatives


def _unit(*rows: list[float]) -> np.ndarray:
    m = np.array(rows, dtype=np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def test_mmr_by_hand() -> None:
    # a and b are near-duplicates, c is different but less relevant.
    vectors = _unit([1, 0], [0.99, 0.141], [0, 1])
    relevance = np.array([0.9, 0.85, 0.5])
    assert mmr(relevance, vectors, 2, lambda_=1.0) == [0, 1]  # pure relevance
    # lambda 0.5: after a, b scores 0.5*0.85 - 0.5*0.99 < 0; c scores 0.5*0.5 - 0.5*0 = 0.25.
    assert mmr(relevance, vectors, 2, lambda_=0.5) == [0, 2]
    # an already selected vector counts as redundancy from the start
    assert mmr(relevance, vectors, 1, lambda_=0.5, selected=[vectors[0]]) == [2]


def test_mmr_group_penalty_spreads_over_groups() -> None:
    vectors = _unit([1, 0], [0.9, 0.436], [0.8, 0.6])
    relevance = np.array([0.9, 0.8, 0.7])
    groups = ["x", "x", "y"]
    assert mmr(relevance, vectors, 2, lambda_=0.7) == [0, 1]
    assert mmr(relevance, vectors, 2, lambda_=0.7, groups=groups, group_penalty=0.5) == [0, 2]
    with pytest.raises(ConfigError):
        mmr(relevance, vectors, 1, lambda_=2.0)


def test_representatives_are_nearest_the_centre_then_diverse() -> None:
    # symmetric around [1, 0]: row 2 lies on the centre; rows 0/1 are near-copies of it
    vectors = _unit([1, 0.1], [1, -0.1], [1, 0], [0.8, 0.6], [0.8, -0.6])
    central = representatives(vectors, 2, lambda_=0.7)
    assert [row for row, _ in central] == [2, 0]
    assert central[0][1] == pytest.approx(1.0, abs=1e-6)
    # weighting diversity more, the second pick leaves the near-copies for a different member
    diverse = representatives(vectors, 2, lambda_=0.3)
    assert [row for row, _ in diverse] == [2, 3]


def _pool() -> ExamplePool:
    vectors = _unit(
        [1, 0, 0], [0.95, 0.31, 0], [0.9, 0, 0.43], [0, 1, 0], [0, 0.95, 0.31], [0, 0, 1]
    )
    examples = [Example(f"e{i}", f"question {i}") for i in range(6)]
    return ExamplePool(examples, vectors, ["a", "a", "a", "b", "b", "c"])


def test_nearest_neighbour_baseline_is_the_k_most_similar() -> None:
    pool = _pool()
    selection = NearestNeighbourSelector(pool).select("q", _unit([1, 0.2, 0])[0], 3)
    assert selection.indices == [1, 0, 2]
    assert selection.items[0].why.startswith("nearest neighbour, cosine")


def test_random_baseline_is_reproducible_per_query_and_static_when_asked() -> None:
    pool = _pool()
    vector = _unit([1, 0, 0])[0]
    a = RandomSelector(pool, seed=1).select("q1", vector, 3).indices
    assert a == RandomSelector(pool, seed=1).select("q1", vector, 3).indices
    assert len(set(a)) == 3
    static = RandomSelector(pool, seed=1, per_query=False)
    assert static.select("q1", vector, 3).indices == static.select("q2", vector, 3).indices


def test_library_selector_puts_the_likely_intents_representative_first() -> None:
    pool = _pool()
    reps = {"a": [0], "b": [3], "c": [5]}
    selector = LibrarySelector(
        pool, reps, DynamicConfig(vote_neighbours=3, max_gap=None), group_names={"a": "alpha"}
    )
    query = _unit([0.9, 0.44, 0])[0]  # nearest: e1 (a), then e0 (a), e3/e4 (b)
    selection = selector.select("q", query, 3)
    assert selection.intent == "a"
    assert selection.indices[0] == 0  # the representative of a, not the nearest (e1)
    assert "likely intent 'alpha'" in selection.items[0].why
    # the group penalty sends the next picks to other groups before a second 'a'
    assert pool.groups[selection.indices[1]] != "a"
    assert len(set(selection.indices)) == 3


def test_likely_intent_is_the_similarity_weighted_vote() -> None:
    pool = _pool()
    selector = LibrarySelector(pool, {}, DynamicConfig(vote_neighbours=3))
    intent, share = selector.likely_intent(np.array([0.1, 0.1, 0.1, 0.9, 0.8, 0.0]))
    assert intent == "b" and share == pytest.approx(1.7 / 1.8, abs=1e-4)


def test_static_selector_gives_every_query_the_same_examples() -> None:
    pool = _pool()
    selector = StaticSelector(pool, [0, 3, 5], ["r0", "r3", "r5"])
    assert selector.select("x", _unit([1, 0, 0])[0], 2).indices == [0, 3]
    assert selector.select("y", _unit([0, 0, 1])[0], 2).indices == [0, 3]


def test_pool_sizes_must_agree() -> None:
    with pytest.raises(ConfigError, match="one of each per example"):
        ExamplePool([Example("a", "b")], np.zeros((2, 3)), ["g"])
