from __future__ import annotations

import numpy as np
import pytest
from fs_helpers import TOPICS, planted

from flywheel.errors import ConfigError
from flywheel.fewshot import GroupingConfig, group_examples
from flywheel.fewshot.grouping import candidate_ks, characteristic_terms


def _topic(qid: str) -> str:
    return qid.split("-")[0]


@pytest.mark.parametrize("method", ["kmeans", "agglomerative"])
def test_clustering_finds_the_planted_topics_and_silhouette_picks_three(embedder, method) -> None:
    examples = planted(10, labels=False)
    vectors = embedder.encode_queries([e.question for e in examples])
    grouping = group_examples(
        [e.question for e in examples],
        [e.intent for e in examples],
        vectors,
        GroupingConfig(method=method, k_max=8),
    )
    assert grouping.method == method
    assert grouping.k == 3
    assert max(grouping.silhouette, key=grouping.silhouette.get) == 3
    assert set(grouping.silhouette) == set(range(2, 9))  # every k tried is kept
    for group in grouping.groups:  # each cluster is exactly one planted topic
        topics = {_topic(examples[i].qid) for i in group.members}
        assert len(topics) == 1 and len(group.members) == 10
        (topic,) = topics
        assert set(group.terms) <= set(TOPICS[topic])  # named by its own words
        assert group.source == "cluster" and group.name == " / ".join(group.terms[:3])
    assert [g.group_id for g in grouping.groups] == ["c00", "c01", "c02"]


def test_given_labels_are_the_groups_largest_first(embedder) -> None:
    examples = planted(4)[:-1]  # account has 3, the others 4
    vectors = embedder.encode_queries([e.question for e in examples])
    grouping = group_examples([e.question for e in examples], [e.intent for e in examples], vectors)
    assert grouping.method == "labels" and grouping.silhouette == {}
    assert [(g.group_id, len(g.members)) for g in grouping.groups] == [
        ("billing", 4),
        ("shipping", 4),
        ("account", 3),
    ]
    assert grouping.assignment(len(examples))[-1] == "account"


def test_labels_required_but_missing_is_a_clear_error(embedder) -> None:
    with pytest.raises(ConfigError, match="have no intent"):
        group_examples(["a b", "c d"], ["x", None], np.eye(2), GroupingConfig(method="labels"))


def test_ctfidf_prefers_terms_unique_to_a_group() -> None:
    terms = characteristic_terms(
        [["refund my card", "refund the card fee"], ["track my parcel", "parcel card"]], n_terms=2
    )
    # "card" is in both groups, so it is less characteristic than "refund" / "parcel".
    assert terms[0][0] == "refund"
    assert terms[1][0] == "parcel"


def test_candidate_ks_are_log_spaced_and_bounded() -> None:
    ks = candidate_ks(1000, GroupingConfig(k_min=2, k_max=100, k_steps=5))
    assert ks[0] == 2 and ks[-1] == 100 and len(ks) == 5 and ks == sorted(ks)
    assert candidate_ks(10, GroupingConfig()) == [2]  # n // 4 caps the search


def test_a_fixed_k_skips_the_search(embedder) -> None:
    examples = planted(6, labels=False)
    vectors = embedder.encode_queries([e.question for e in examples])
    grouping = group_examples(
        [e.question for e in examples], [None] * len(examples), vectors, GroupingConfig(k=2)
    )
    assert grouping.k == 2 and list(grouping.silhouette) == [2]
