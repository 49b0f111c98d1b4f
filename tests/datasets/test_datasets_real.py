"""Slow tier: the real MiniLM on a handful of texts, and the real SciFact files."""

from __future__ import annotations

from pathlib import Path

import pytest

from flywheel.data.beir import load_beir
from flywheel.datasets import HardNegativeConfig, build_pairs, check_leakage, split_queries
from flywheel.datasets.build import embedder_encode
from flywheel.datasets.hard_negatives import mine_hard_negatives
from flywheel.errors import LeakageError

SCIFACT = Path(__file__).parents[2] / ".." / "shared" / "datasets" / "scifact"

DOCS = {
    "pw": "To reset your password, open Settings, choose Security and click Reset password.",
    "pw2": "Forgot your password? Go to Settings > Security > Reset password to set a new one.",
    "mail": "Change the e-mail address on your account under Settings > Profile.",
    "bill": "Invoices are sent on the first day of each month to the billing address.",
    "del": "Deleting your account removes all data after a 30-day grace period.",
    "2fa": "Two-factor authentication adds a code from your phone to every sign-in.",
    "lang": "Switch the interface language in Settings > Preferences > Language.",
    "export": "Export all your data as a ZIP file from Settings > Privacy.",
}


@pytest.mark.slow
def test_minilm_mining_never_returns_the_positive(monkeypatch, tmp_path):
    monkeypatch.setenv("FLYWHEEL_CACHE", str(tmp_path))
    queries = {"q": "how do I reset my password"}
    qrels = {"q": {"pw": 1}}
    doc_ids = list(DOCS)
    q_emb, d_emb = embedder_encode()([queries["q"]], doc_ids, [DOCS[d] for d in doc_ids])
    config = HardNegativeConfig(range_min=0, range_max=7, num_negatives=3)
    mined = mine_hard_negatives(
        queries, qrels, DOCS, query_embeddings=q_emb, doc_embeddings=d_emb, doc_ids=doc_ids,
        config=config,
    )  # fmt: skip
    (example,) = mined.examples
    assert "pw" not in example.negative_ids
    assert len(example.negative_ids) == 3
    assert all(s <= 0.95 * example.positive_score for s in example.negative_scores)
    # pw2 answers the same question: MiniLM scores it next to the positive, so it is either
    # dropped as a likely false negative or, if kept, scored below 95% of the positive
    assert mined.stats.dropped_margin + mined.stats.candidates_considered >= 7


@pytest.mark.slow
def test_scifact_train_split_pairs_and_no_leakage_into_test():
    if not SCIFACT.exists():
        pytest.skip("shared SciFact data not present")
    data = load_beir(SCIFACT)
    train_queries, train_qrels = data.split("train")
    test_queries, _ = data.split("test")
    assert len(train_queries) == 809
    pairs = build_pairs(train_queries, train_qrels, data.texts())
    assert len(pairs) == 919  # every train judgment points into the corpus
    # SciFact's train and test share two claims word for word (qids 871/870 and 1291/1292)
    with pytest.raises(LeakageError, match="2 training queries overlap"):
        check_leakage(train_queries, test_queries)
    report = check_leakage(train_queries, test_queries, force=True)
    assert report.leaked_qids == {"871", "1291"}
    split = split_queries(train_queries, dev_fraction=0.1, seed=1)
    assert len(split.dev_qids) >= 81 and len(split.train_qids) + len(split.dev_qids) == 809
