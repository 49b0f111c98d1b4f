"""The learned re-ranker (LightGBM LambdaMART): learning, artifacts, label gain, gate, leakage."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ltr_helpers import NAMES, noisy_run, synthetic

from flywheel.errors import ConfigError, LeakageError
from flywheel.evaluation import evaluate
from flywheel.reports.plots import feature_importances, figure_to_data_uri
from flywheel.retrieval.features import CandidateFeatures
from flywheel.training import ltr_gate
from flywheel.training.ltr import (
    LTRConfig,
    LTRReranker,
    cross_fit_folds,
    exponential_gain,
    shared_document_groups,
    train_ltr_reranker,
)
from flywheel.training.ltr_gate import gate_ltr_reranker

FAST = LTRConfig(n_estimators=60, learning_rate=0.1, min_data_in_leaf=5, early_stopping_rounds=15)


def ndcg(qrels, run) -> float:
    return evaluate(qrels, run, "ndcg@10").mean["ndcg@10"]


@pytest.fixture(scope="module")
def trained():
    train, train_qrels = synthetic(60, seed=0, prefix="t")
    dev, dev_qrels = synthetic(20, seed=1, prefix="d")
    return train_ltr_reranker(train, train_qrels, dev, dev_qrels, config=FAST)


def test_it_learns_the_informative_feature(trained):
    test, test_qrels = synthetic(30, seed=2, prefix="x")
    learned = ndcg(test_qrels, trained.rerank(test))
    noise = ndcg(test_qrels, test.to_run(test.column("noise_a")))
    assert learned > 0.9 > noise + 0.3
    assert next(iter(trained.importances())) == "signal"
    assert 1 <= trained.best_iteration <= FAST.n_estimators
    assert trained.info["train_queries"] == 60 and trained.info["dev_queries"] == 20


def test_save_load_round_trip_reproduces_scores(trained, tmp_path):
    test, _ = synthetic(10, seed=3, prefix="x")
    folder = trained.save(tmp_path / "ltr")
    loaded = LTRReranker.load(folder)
    np.testing.assert_array_equal(loaded.score(test), trained.score(test))
    assert loaded.feature_names == NAMES and loaded.config == FAST
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["kind"] == "ltr-reranker" and manifest["feature_names"] == list(NAMES)
    assert manifest["config"]["label_gain"] == [0.0, 1.0, 3.0, 7.0, 15.0, 31.0]
    assert set(manifest["importances"]["gain"]) == set(NAMES)
    assert manifest["versions"]["lightgbm"] and manifest["seed"] == FAST.seed

    (folder / "model.txt").write_text((folder / "model.txt").read_text() + "\n")
    with pytest.raises(ConfigError, match="changed since the manifest"):
        LTRReranker.load(folder)
    (folder / "manifest.json").write_text(json.dumps({**manifest, "kind": "bm25"}))
    with pytest.raises(ConfigError, match="not 'ltr-reranker'"):
        LTRReranker.load(folder)


def test_rerank_reads_columns_by_name(trained):
    test, _ = synthetic(5, seed=4, prefix="x")
    shuffled = CandidateFeatures(
        names=tuple(reversed(test.names)),
        qids=test.qids,
        offsets=test.offsets,
        doc_ids=test.doc_ids,
        matrix=test.matrix[:, ::-1],
    )
    np.testing.assert_array_equal(trained.score(shuffled), trained.score(test))
    partial = CandidateFeatures(
        NAMES[:2], test.qids, test.offsets, test.doc_ids, test.matrix[:, :2]
    )
    with pytest.raises(ConfigError, match="lack noise_b"):
        trained.rerank(partial)


def _five_or_three(n_queries: int, prefix: str):
    """Per query: a grade-3 doc (x=1, y=1) listed before a grade-5 doc (x=1, y=0), and zeros
    (x=0). Only a gain that ranks 5 above 3 gives a reason to split on y."""
    rng = np.random.default_rng(7)
    qids, docs, blocks, qrels = [], [], [], {}
    for i in range(n_queries):
        qid = f"{prefix}{i}"
        ids = [f"{qid}-three", f"{qid}-five", *(f"{qid}-z{j}" for j in range(8))]
        x = np.array([1.0, 1.0, *np.zeros(8)])
        y = np.array([1.0, 0.0, *rng.integers(0, 2, 8)])
        blocks.append(np.column_stack([x, y]))
        qrels[qid] = {ids[0]: 3, ids[1]: 5}
        qids.append(qid)
        docs += ids
    offsets = np.arange(0, 10 * (n_queries + 1), 10, dtype=np.int64)
    matrix = np.vstack(blocks)
    return CandidateFeatures(("x", "y"), tuple(qids), offsets, tuple(docs), matrix), qrels


@pytest.mark.parametrize(
    ("gain", "five_first"),
    [(exponential_gain(), True), ([0.0, 1.0, 1.0, 1.0, 1.0, 1.0], False)],
)
def test_label_gain_makes_a_five_count_more_than_a_three(gain, five_first):
    train, qrels = _five_or_three(40, "t")
    test, _ = _five_or_three(10, "x")
    config = FAST.model_copy(update={"label_gain": gain, "n_estimators": 30})
    run = train_ltr_reranker(train, qrels, config=config).rerank(test)
    ranked_first = {next(iter(docs)).rsplit("-", 1)[1] for docs in run.values()}
    assert ranked_first == ({"five"} if five_first else {"three"})


def test_a_grade_beyond_the_label_gain_is_refused():
    train, qrels = _five_or_three(5, "t")
    with pytest.raises(ConfigError, match="label_gain covers 0-3"):
        short = FAST.model_copy(update={"label_gain": [0, 1, 3, 7]})
        train_ltr_reranker(train, qrels, config=short)
    with pytest.raises(ValueError, match="non-decreasing"):
        LTRConfig(label_gain=[0.0, 3.0, 1.0])


def test_cross_fit_folds_hold_each_query_out_once():
    qids = [f"q{i}" for i in range(23)]
    folds = cross_fit_folds(qids, 5, seed=1)
    held = [q for _, out in folds for q in out]
    assert sorted(held) == sorted(qids) and len(folds) == 5
    for train, out in folds:
        assert not set(train) & set(out) and len(train) + len(out) == 23
    assert folds == cross_fit_folds(list(reversed(qids)), 5, seed=1)
    assert folds != cross_fit_folds(qids, 5, seed=2)
    with pytest.raises(ConfigError, match="2 <= k"):
        cross_fit_folds(qids[:3], 5)


def test_queries_sharing_a_relevant_document_stay_in_one_fold():
    qrels = {
        "a": {"d1": 1},
        "b": {"d1": 2, "d2": 1},
        "c": {"d2": 1},  # linked to a through b
        "d": {"d3": 1, "d1": 0},  # a grade-0 judgment links nothing
        "e": {"d4": 1},
        "f": {"d5": 1},
    }
    groups = shared_document_groups(qrels)
    assert groups["a"] == groups["b"] == groups["c"]
    assert len({groups["a"], groups["d"], groups["e"], groups["f"]}) == 4
    folds = cross_fit_folds(list(qrels), 3, seed=0, groups=groups)
    held = [set(out) for _, out in folds]
    assert sorted(q for part in held for q in part) == sorted(qrels)
    assert any({"a", "b", "c"} <= part for part in held)
    with pytest.raises(ConfigError, match="cannot fill 5 folds"):
        cross_fit_folds(list(qrels), 5, groups=groups)
    capped = shared_document_groups(qrels, max_size=2)  # a, b, c split by their best document
    assert capped["a"] == capped["b"] != capped["c"]  # b's grade-2 document is d1, as a's
    assert shared_document_groups(qrels, max_size=1)["a"] == "a"


def test_training_on_the_first_stages_queries_is_leakage():
    train, qrels = synthetic(10, seed=0, prefix="t")
    with pytest.raises(LeakageError, match="inflated"):
        train_ltr_reranker(train, qrels, config=FAST, exclude_qids={"t3"})
    with pytest.raises(LeakageError, match="both the training and the dev"):
        train_ltr_reranker(train, qrels, train.select(["t1"]), qrels, config=FAST)


def test_gate_accepts_a_reranker_that_beats_a_weak_first_stage(tmp_path):
    features, qrels = synthetic(60, seed=5)
    weak = noisy_run(features, qrels, noise=3.0)
    result = gate_ltr_reranker(features, qrels, weak, config=FAST, folds=4)
    assert result.accepted and result.reranked_score > result.first_stage_score + 0.1
    assert result.verdict.startswith("learned re-ranker: dev ndcg@10 ")
    assert result.verdict.endswith("; accepted") and "over 4 folds of 60 queries" in result.verdict
    assert result.groups == 60  # no two synthetic queries share a relevant document
    assert result.p_value < 0.05 and result.reranker is not None
    assert result.reranker.info["gate"]["accepted"] is True
    manifest = json.loads((result.reranker.save(tmp_path / "ltr") / "manifest.json").read_text())
    assert manifest["accepted"] is True and manifest["verdict"] == result.verdict
    assert result.to_dict()["fold_scores"][0]["trees"] >= 1


def test_gate_rejects_a_reranker_trained_on_noise():
    features, qrels = synthetic(60, seed=6, informative=False)
    good = noisy_run(features, qrels, noise=0.5)
    result = gate_ltr_reranker(features, qrels, good, config=FAST, folds=4)
    assert not result.accepted
    assert result.reranked_score < result.first_stage_score
    assert result.verdict.endswith("rejected; the first stage stays")


def test_gate_folds_stay_filled_when_most_queries_share_a_document():
    features, qrels = synthetic(11, seed=9)
    linked = {q: {**judged, "shared-doc": 1} for q, judged in qrels.items()}  # one family
    result = gate_ltr_reranker(features, linked, noisy_run(features, qrels, noise=1.0), config=FAST)
    assert sorted(len(f.scored_qids) for f in result.fold_records) == [2, 2, 2, 2, 3]


def test_gate_never_scores_a_query_with_the_model_that_trained_on_it(monkeypatch):
    features, qrels = synthetic(30, seed=8)
    trained_on: list[set[str]] = []
    scored_by: dict[int, set[str]] = {}
    real_train, real_score = ltr_gate.train_ltr_reranker, LTRReranker.score

    def spy_train(features_train, qrels_train, features_dev=None, qrels_dev=None, **kwargs):
        model = real_train(features_train, qrels_train, features_dev, qrels_dev, **kwargs)
        seen = set(features_train.qids) | set(features_dev.qids if features_dev else ())
        model.info["spy"] = len(trained_on)
        trained_on.append(seen)
        return model

    def spy_score(self, feats):
        scored_by.setdefault(self.info["spy"], set()).update(feats.qids)
        return real_score(self, feats)

    monkeypatch.setattr(ltr_gate, "train_ltr_reranker", spy_train)
    monkeypatch.setattr(LTRReranker, "score", spy_score)
    result = gate_ltr_reranker(features, qrels, noisy_run(features, qrels, noise=1.0), config=FAST)
    assert len(trained_on) == 6  # five folds and the refit on everything
    for model, scored in scored_by.items():
        assert scored and not scored & trained_on[model]
    assert set().union(*scored_by.values()) == set(features.qids)
    for record in result.fold_records:
        assert set(record.early_stop_qids) <= set(record.train_qids)
        assert not set(record.train_qids) & set(record.scored_qids)


def test_feature_importance_plot(trained):
    fig = feature_importances(trained.importances(), top=2)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()][-1] == "signal"  # largest at the top
    assert len(ax.patches) == 2
    assert figure_to_data_uri(fig).startswith("data:image/png;base64,")
