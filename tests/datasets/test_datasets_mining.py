"""Hard-negative mining on hand-made 2-d embeddings whose dot products are known exactly."""

from __future__ import annotations

import numpy as np
import pytest
from ds_helpers import unit

from flywheel.datasets import HardNegativeConfig, build_triplets, mine_from_run, mine_hard_negatives
from flywheel.errors import ConfigError, UnknownComponentError

# Scores against the query [1, 0]: the positive p scores 0.80.
# these cases were written for taking the top of the window (the default samples at random)
TOP = "top"
SCORES = {"p": 0.80, "a": 0.90, "b": 0.78, "c": 0.70, "d": 0.60, "e": 0.50, "f": 0.40, "g": 0.30}


def _mine(config: HardNegativeConfig, scores=SCORES, qrels=None, **kwargs):
    doc_ids = list(scores)
    docs = np.array([unit(s) for s in scores.values()], dtype=np.float32)
    return mine_hard_negatives(
        {"q": "query"},
        qrels or {"q": {"p": 1}},
        {d: f"text {d}" for d in doc_ids},
        query_embeddings=np.array([[1.0, 0.0]], dtype=np.float32),
        doc_embeddings=docs,
        doc_ids=doc_ids,
        config=config,
        **kwargs,
    )


def test_topk_percpos_drops_candidates_above_95_percent_of_positive():
    # 0.95 * 0.80 = 0.76: a (0.90) and b (0.78) are likely false negatives; c, d remain.
    mined = _mine(HardNegativeConfig(sampling=TOP, range_min=0, range_max=10, num_negatives=2))
    (example,) = mined.examples
    assert example.negative_ids == ("c", "d")
    assert example.negative_scores == pytest.approx((0.70, 0.60), abs=1e-6)
    assert example.positive_score == pytest.approx(0.80, abs=1e-6)
    assert mined.stats.dropped_margin == 2
    assert mined.stats.dropped_false_negative == 2


def test_known_positive_is_never_a_negative():
    mined = _mine(
        HardNegativeConfig(
            sampling=TOP, range_min=0, range_max=7, num_negatives=7, relative_margin=None
        )
    )
    (example,) = mined.examples
    assert "p" not in example.negative_ids
    assert example.negative_ids == ("a", "b", "c", "d", "e", "f", "g")
    assert mined.stats.dropped_positive == 1


def test_rank_window_is_respected():
    # Non-positive ranks: a0 b1 c2 d3 e4 f5 g6; window [2, 4) holds c and d only.
    config = HardNegativeConfig(
        sampling=TOP, range_min=2, range_max=4, num_negatives=2, relative_margin=None
    )
    assert _mine(config).examples[0].negative_ids == ("c", "d")
    assert _mine(config).examples[0].negative_ranks == (2, 3)
    randomly = HardNegativeConfig(
        range_min=3, range_max=6, num_negatives=1, relative_margin=None, sampling="random"
    )
    for seed in range(10):
        chosen = _mine(HardNegativeConfig(**{**randomly.to_dict(), "seed": seed, "band": None}))
        assert chosen.examples[0].negative_ids[0] in {"d", "e", "f"}


def test_random_sampling_is_reproducible_per_seed():
    config = HardNegativeConfig(
        range_min=0, range_max=7, num_negatives=3, relative_margin=None, sampling="random"
    )
    first = _mine(config).examples[0].negative_ids
    assert _mine(config).examples[0].negative_ids == first
    others = {_mine(HardNegativeConfig(**{**config.to_dict(), "seed": s, "band": None}))
              .examples[0].negative_ids for s in range(8)}  # fmt: skip
    assert len(others) > 1  # the seed matters


def test_absolute_margin_max_score_and_band():
    absolute = HardNegativeConfig(
        sampling=TOP, range_min=0, range_max=7, relative_margin=None, absolute_margin=0.15
    )
    assert _mine(absolute).examples[0].negative_ids == ("d",)  # 0.80 - 0.15 = 0.65
    capped = HardNegativeConfig(
        sampling=TOP, range_min=0, range_max=7, relative_margin=None, max_score=0.55
    )
    assert _mine(capped).examples[0].negative_ids == ("e",)
    # band (0.6, 0.8) of 0.80 keeps scores in [0.48, 0.64]: d (0.60) and e (0.50)
    band = HardNegativeConfig(
        range_min=0, range_max=7, num_negatives=2, relative_margin=None, sampling="band",
        band=(0.6, 0.8),
    )  # fmt: skip
    mined = _mine(band)
    assert mined.examples[0].negative_ids == ("d", "e")
    assert mined.stats.dropped_band == 5


def test_multiple_positives_use_the_weakest_for_the_margin():
    # positives p (0.80) and f (0.40): margin vs 0.40 -> 0.38; only g (0.30) survives.
    mined = _mine(
        HardNegativeConfig(sampling=TOP, range_min=0, range_max=6), qrels={"q": {"p": 1, "f": 2}}
    )
    assert [e.positive_id for e in mined.examples] == ["p", "f"]
    assert all(e.negative_ids == ("g",) for e in mined.examples)
    each = HardNegativeConfig(
        sampling=TOP, range_min=0, range_max=6, margin_reference="each_positive"
    )
    by_positive = {
        e.positive_id: e.negative_ids for e in _mine(each, qrels={"q": {"p": 1, "f": 2}}).examples
    }
    assert by_positive == {"p": ("c",), "f": ("g",)}


def test_cross_encoder_filter_drops_what_it_scores_relevant():
    def scorer(pairs):
        return [0.9 if passage == "text c" else 0.1 for _, passage in pairs]

    config = HardNegativeConfig(sampling=TOP, range_min=0, range_max=7, num_negatives=1)
    mined = _mine(config, cross_encoder=scorer)
    assert mined.examples[0].negative_ids == ("d",)
    assert mined.stats.dropped_cross_encoder == 1


def test_triplet_rows_and_short_rows():
    mined = _mine(HardNegativeConfig(sampling=TOP, range_min=0, range_max=10, num_negatives=2))
    texts = {d: f"text {d}" for d in SCORES}
    assert build_triplets(mined, {"q": "query"}, texts, num_negatives=1) == [
        {"anchor": "query", "positive": "text p", "negative": "text c"}
    ]
    rows = build_triplets(mined, {"q": "query"}, texts, num_negatives=2)
    assert list(rows[0]) == ["anchor", "positive", "negative_1", "negative_2"]
    assert build_triplets(mined, {"q": "query"}, texts, num_negatives=3) == []  # only 2 found


def test_mine_from_run_uses_the_runs_positive_score():
    run = {"q": {"p": 10.0, "x": 9.8, "y": 9.0, "z": 5.0}, "r": {"x": 3.0, "y": 2.0}}
    qrels = {"q": {"p": 1}, "r": {"p": 1}}
    config = HardNegativeConfig(sampling=TOP, range_min=0, range_max=3, num_negatives=1)
    mined = mine_from_run({"q": "one", "r": "two"}, qrels, run, config=config)
    by_qid = {e.qid: e for e in mined.examples}
    assert by_qid["q"].negative_ids == ("y",)  # 9.8 > 0.95 * 10 = 9.5 dropped
    # r: the positive was not retrieved and no score given -> filters skipped, counted
    assert by_qid["r"].negative_ids == ("x",)
    assert mined.stats.positive_score_unknown == 1
    given = mine_from_run(
        {"r": "two"}, qrels, run, config=config, positive_scores={"r": {"p": 3.1}}
    )
    assert given.examples[0].negative_ids == ("y",)  # 3.0 > 0.95 * 3.1 = 2.945


def test_bad_configs_fail_before_work():
    with pytest.raises(ConfigError, match="range_max"):
        HardNegativeConfig(range_min=10, range_max=10)
    with pytest.raises(ConfigError, match="window"):
        HardNegativeConfig(range_min=0, range_max=2, num_negatives=3)
    with pytest.raises(ConfigError, match="band"):
        HardNegativeConfig(sampling="band")
    with pytest.raises(UnknownComponentError, match="known: band, random, top"):
        HardNegativeConfig(sampling="hardest")
    config = HardNegativeConfig(band=(0.5, 0.9), sampling="band")
    assert HardNegativeConfig.from_dict(config.to_dict()) == config


def test_embedding_rows_must_match():
    with pytest.raises(ConfigError, match="query embeddings"):
        mine_hard_negatives(
            {"q": "x", "r": "y"}, {"q": {"p": 1}}, None,
            query_embeddings=np.zeros((1, 2), dtype=np.float32),
            doc_embeddings=np.zeros((1, 2), dtype=np.float32), doc_ids=["p"],
        )  # fmt: skip
