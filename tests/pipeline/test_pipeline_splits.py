"""The loop's splits: dev from the dataset or carved from the training side; leaked training
queries dropped, paraphrases of test queries included (the cosine check is on)."""

from __future__ import annotations

import numpy as np

from flywheel.data.types import Document, RetrievalDataset
from flywheel.datasets.training_labels import assemble_training_labels
from flywheel.pipeline import LoopConfig
from flywheel.pipeline.splits import prepare_splits


def _dataset(with_dev: bool) -> RetrievalDataset:
    corpus = {f"d{i}": Document(f"d{i}", f"text {i}") for i in range(40)}
    queries = {f"q{i}": f"question number {i} about topic {i}" for i in range(40)}
    queries["q39"] = queries["q0"]  # a training query repeated word for word in test
    qrels = {
        "train": {f"q{i}": {f"d{i}": 1} for i in range(0, 30)},
        "test": {f"q{i}": {f"d{i}": 1} for i in range(30, 40)},
    }
    if with_dev:
        qrels["dev"] = {f"q{i}": {f"d{i}": 1} for i in range(25, 30)}
        qrels["train"] = {f"q{i}": {f"d{i}": 1} for i in range(0, 25)}
    return RetrievalDataset("t", corpus, queries, qrels)


def _split(dataset: RetrievalDataset, config: LoopConfig, embed=None):  # noqa: ANN001, ANN202
    held = {q for s, qrels in dataset.qrels.items() if s != "train" for q in qrels}
    labels = assemble_training_labels(dataset.qrels["train"], eval_qids=held)
    return prepare_splits(dataset, labels, config, embed=embed)


def test_carved_dev_and_leaked_query_dropped() -> None:
    splits = _split(_dataset(False), LoopConfig(dataset="t", dev_fraction=0.2))
    assert splits.leaked == {"q0"}
    assert "q0" not in splits.train_q and "q0" not in splits.train_qrels
    assert len(splits.dev_q) == 6 and splits.dev_origin == "carved by query from the training side"
    assert not set(splits.train_q) & set(splits.dev_q)
    assert len(splits.train_q) == 30 - 6 - 1
    assert set(splits.test_q) == {f"q{i}" for i in range(30, 40)}
    assert splits.sizes(40)["train_dropped_as_leaked"] == 1


def test_dataset_dev_split_is_used_when_present() -> None:
    splits = _split(_dataset(True), LoopConfig(dataset="t"))
    assert set(splits.dev_q) == {f"q{i}" for i in range(25, 30)}
    assert splits.dev_origin == "the dataset's 'dev' split"
    assert set(splits.train_q) == {f"q{i}" for i in range(1, 25)}


def test_paraphrase_of_a_test_query_is_never_trained_on() -> None:
    """Text checks miss a paraphrase; the base model's cosine catches it (threshold 0.9)."""
    dataset = _dataset(False)
    dataset.queries["q5"] = "a reworded question on topic 31"  # paraphrases test query q31

    def embed(texts: list[str]) -> np.ndarray:  # one direction per topic; q5 shares q31's
        rows = np.zeros((len(texts), 64))
        for i, text in enumerate(texts):
            topic = int(text.rsplit(" ", 1)[-1])
            rows[i, topic] = 1.0
        return rows

    text_only = _split(dataset, LoopConfig(dataset="t", dev_fraction=0.2))
    assert "q5" in {**text_only.train_q, **text_only.dev_q}
    assert text_only.split_record["near_duplicate_check"] == "text only"
    checked = _split(dataset, LoopConfig(dataset="t", dev_fraction=0.2), embed=embed)
    assert "q5" in checked.leaked and "q5" not in {**checked.train_q, **checked.dev_q}
    assert checked.split_record["near_duplicate_check"] == "embeddings"
    assert checked.split_record["leakage"]["overlapping_train_queries"] == 2
