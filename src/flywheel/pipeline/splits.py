"""The loop's query splits: train, dev (decides everything) and test (only measured)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from flywheel.data.types import Qrels, Queries, RetrievalDataset
from flywheel.datasets.splits import check_leakage, split_queries
from flywheel.pipeline.config import LoopConfig


@dataclass
class LoopSplits:
    train_q: Queries
    train_qrels: Qrels
    dev_q: Queries
    dev_qrels: Qrels
    test_q: Queries
    test_qrels: Qrels
    dev_origin: str
    leaked: set[str] = field(default_factory=set)

    @property
    def eval_q(self) -> Queries:
        """Dev and test queries: everything the loop scores."""
        return {**self.dev_q, **self.test_q}

    def sizes(self, corpus: int) -> dict[str, int]:
        return {
            "corpus": corpus,
            "train": len(self.train_q),
            "dev": len(self.dev_q),
            "test": len(self.test_q),
            "train_dropped_as_leaked": len(self.leaked),
        }


def prepare_splits(dataset: RetrievalDataset, config: LoopConfig) -> LoopSplits:
    """Use the dataset's dev split when it has one, else carve ``dev_fraction`` of the training
    queries (near-duplicates kept on one side). Training queries that duplicate a dev or test
    query are dropped and counted: SciFact, for one, repeats a claim across train and test."""
    test_q, test_qrels = dataset.split(config.test_split)
    queries, qrels = dataset.split(config.train_split)
    if config.max_train_queries and len(queries) > config.max_train_queries:
        keep = random.Random(config.seed).sample(sorted(queries), config.max_train_queries)
        queries = {q: queries[q] for q in sorted(keep)}
    if config.dev_split in dataset.qrels and config.dev_split != config.test_split:
        dev_q, dev_qrels = dataset.split(config.dev_split)
        train_q = queries
        origin = f"the dataset's '{config.dev_split}' split"
    else:
        split = split_queries(queries, dev_fraction=config.dev_fraction, seed=config.seed)
        train_q = {q: queries[q] for q in split.train_qids}
        dev_q = {q: queries[q] for q in split.dev_qids}
        dev_qrels = {q: qrels[q] for q in dev_q}
        origin = f"carved from {config.train_split}"
    leaked = check_leakage(train_q, {**dev_q, **test_q}, force=True).leaked_qids
    train_q = {q: t for q, t in train_q.items() if q not in leaked}
    return LoopSplits(
        train_q=train_q,
        train_qrels={q: qrels[q] for q in train_q},
        dev_q=dev_q,
        dev_qrels=dev_qrels,
        test_q=test_q,
        test_qrels=test_qrels,
        dev_origin=origin,
        leaked=set(leaked),
    )
