"""The loop's query splits: train, dev (decides everything) and test (only measured).

Test is the judged queries of the test split (a person's or a benchmark's labels). Dev is the
dataset's own dev split when it has one, else carved by query from the training side - which
is every query with a training label from any source (judgments, LLM grades, logs). No query
of dev or test, nor a near-duplicate of one (normalised text, or cosine >= the threshold under
the base model), is trained on: :func:`~flywheel.datasets.splits.split_training_queries`, the
one split function, drops them and counts them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from flywheel.data.types import Qrels, Queries, RetrievalDataset, Run
from flywheel.datasets.splits import QueryEmbedder, split_training_queries
from flywheel.datasets.training_labels import TrainingLabels
from flywheel.errors import ConfigError
from flywheel.evaluation.condensed import condense
from flywheel.evaluation.evaluate import evaluate
from flywheel.pipeline.config import LoopConfig
from flywheel.pipeline.stages import restrict


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
    split_record: dict[str, Any] = field(default_factory=dict)
    # dev queries labelled from logs -> the documents they have labels for: dev scores them on
    # condensed lists (:mod:`flywheel.evaluation.condensed`), as the never-shown are unjudged
    dev_judged: dict[str, set[str]] = field(default_factory=dict)

    def dev_scores(self, run: Run, metrics: list[str]) -> dict[str, float]:
        """Mean ``metrics`` of ``run`` on the dev queries, log-labelled ones on condensed lists."""
        return evaluate(
            self.dev_qrels, condense(restrict(run, self.dev_q), self.dev_judged), metrics
        ).mean

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


def held_out_queries(dataset: RetrievalDataset, config: LoopConfig) -> tuple[Queries, Queries]:
    """(test queries, the dataset's own dev queries or {}): what training must never see."""
    if config.test_split not in dataset.qrels:
        raise ConfigError(
            f"the store has no judged '{config.test_split}' queries to measure on; ingest "
            f"judgments with split '{config.test_split}' (flywheel ingest judgments FILE "
            f"--split {config.test_split}), or name another with --test-split"
        )
    test_q, _ = dataset.split(config.test_split)
    dev_q: Queries = {}
    if config.dev_split in dataset.qrels and config.dev_split != config.test_split:
        dev_q, _ = dataset.split(config.dev_split)
    return test_q, dev_q


def prepare_splits(
    dataset: RetrievalDataset,
    labels: TrainingLabels,
    config: LoopConfig,
    *,
    embed: QueryEmbedder | None = None,
) -> LoopSplits:
    """Split the training side of ``labels`` by query; see the module docstring."""
    test_q, own_dev = held_out_queries(dataset, config)
    test_qrels = dataset.qrels[config.test_split]
    candidates = {q: dataset.queries[q] for q in labels.qids if q in dataset.queries}
    candidates = {q: t for q, t in candidates.items() if q not in test_q and q not in own_dev}
    if config.max_train_queries and len(candidates) > config.max_train_queries:
        keep = random.Random(config.seed).sample(sorted(candidates), config.max_train_queries)
        candidates = {q: candidates[q] for q in sorted(keep)}
    split = split_training_queries(
        candidates,
        test_q,
        dev_fraction=config.dev_fraction,
        seed=config.seed,
        threshold=config.near_duplicate_threshold,
        embed=embed,
        dev_queries=own_dev or None,
    )
    judged: dict[str, set[str]] = {}
    if own_dev:
        dev_qrels = dataset.qrels[config.dev_split]
        origin = f"the dataset's '{config.dev_split}' split"
    else:
        dev_qrels = labels.restrict(split.dev)
        origin = "carved by query from the training side"
        judged = labels.judged_from_logs(split.dev)
    if not split.train or not split.dev:
        raise ConfigError(
            f"too few training queries: {len(split.train)} to train, {len(split.dev)} for dev "
            "after the leak check; log or judge more queries"
        )
    return LoopSplits(
        train_q=split.train,
        train_qrels=labels.restrict(split.train),
        dev_q=split.dev,
        dev_qrels=dev_qrels,
        test_q=test_q,
        test_qrels=test_qrels,
        dev_origin=origin,
        leaked=split.leaked,
        split_record={**split.to_dict(), "dev_condensed_queries": len(judged)},
        dev_judged=judged,
    )
