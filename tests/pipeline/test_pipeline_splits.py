"""The loop's splits: dev from the dataset or carved from train; leaked training queries dropped."""

from __future__ import annotations

from flywheel.data.types import Document, RetrievalDataset
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


def test_carved_dev_and_leaked_query_dropped() -> None:
    splits = prepare_splits(_dataset(False), LoopConfig(dataset="t", dev_fraction=0.2))
    assert splits.leaked == {"q0"}
    assert "q0" not in splits.train_q and "q0" not in splits.train_qrels
    assert len(splits.dev_q) == 6 and splits.dev_origin == "carved from train"
    assert not set(splits.train_q) & set(splits.dev_q)
    assert len(splits.train_q) == 30 - 6 - 1
    assert set(splits.test_q) == {f"q{i}" for i in range(30, 40)}
    assert splits.sizes(40)["train_dropped_as_leaked"] == 1


def test_dataset_dev_split_is_used_when_present() -> None:
    splits = prepare_splits(_dataset(True), LoopConfig(dataset="t"))
    assert set(splits.dev_q) == {f"q{i}" for i in range(25, 30)}
    assert splits.dev_origin == "the dataset's 'dev' split"
    assert set(splits.train_q) == {f"q{i}" for i in range(1, 25)}
