"""Turn training rows into the ``datasets.Dataset`` the sentence-transformers trainers expect.

The trainers tokenize every column that is not a label, so a stray ``qid`` or ``source`` column
would be trained on as text. These helpers keep only the columns a loss reads, in its order.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from flywheel.errors import ConfigError

logger = logging.getLogger(__name__)

_NEGATIVE = re.compile(r"^negative(?:_(\d+))?$")
_ID_LIKE = re.compile(r"(^id$|_id$|_ids$|_idx$|^qid$)")


def to_dataset(rows: Sequence[Mapping[str, Any]] | Any) -> Any:
    """A ``datasets.Dataset`` from a list of dicts (or the dataset itself, unchanged)."""
    import datasets

    if isinstance(rows, datasets.Dataset):
        return rows
    rows = list(rows)
    if not rows:
        raise ConfigError("no training rows; build a dataset first (flywheel dataset ...)")
    return datasets.Dataset.from_list([dict(row) for row in rows])


def embedder_columns(column_names: Sequence[str], *, max_negatives: int | None = None) -> list[str]:
    """Text columns in sentence-transformers order: ``anchor, positive, negative[_1..n]``.

    Without ``anchor``/``positive`` names, the first columns that are not id-like are taken as
    they come (sentence-transformers reads columns by position, not name).
    """
    names = list(column_names)
    if "anchor" in names and "positive" in names:
        negatives = sorted(
            (name for name in names if _NEGATIVE.match(name)),
            key=lambda name: int(_NEGATIVE.match(name).group(1) or 0),
        )
        chosen = ["anchor", "positive", *negatives]
    else:
        chosen = [
            name for name in names if not _ID_LIKE.search(name) and name not in {"label", "score"}
        ]
    if len(chosen) < 2:
        raise ConfigError(
            f"embedder rows need an anchor and a positive column; got columns {names}; "
            "write rows as anchor, positive[, negative_1..n]"
        )
    if max_negatives is not None:
        chosen = chosen[: 2 + max_negatives]
    return chosen


def prepare_embedder_dataset(
    rows: Sequence[Mapping[str, Any]] | Any, *, max_negatives: int | None = None
) -> Any:
    """Keep the loss's columns and drop rows with a missing text (counted and logged)."""
    dataset = to_dataset(rows)
    columns = embedder_columns(dataset.column_names, max_negatives=max_negatives)
    dropped = [name for name in dataset.column_names if name not in columns]
    if dropped:
        logger.info("not training on columns %s", dropped)
    dataset = dataset.select_columns(columns)
    before = len(dataset)
    dataset = dataset.filter(lambda row: all(isinstance(row[c], str) and row[c] for c in columns))
    if len(dataset) < before:
        logger.warning(
            "skipped %d of %d rows with an empty or missing text", before - len(dataset), before
        )
    if len(dataset) == 0:
        raise ConfigError(
            "every training row has an empty or missing text; check the dataset export"
        )
    return dataset


def reranker_is_graded(dataset: Any) -> bool:
    """Graded when a ``grade`` column holds more than two values, or scores are not all 0/1."""
    if "grade" in dataset.column_names:
        return len({int(g) for g in dataset["grade"] if g is not None}) > 2
    return any(float(s) not in (0.0, 1.0) for s in dataset["score"])


def prepare_pair_dataset(dataset: Any, *, normalise_grades: bool) -> Any:
    """``query, passage, score`` rows; with ``normalise_grades`` the score is grade / max grade."""
    for col in ("query", "passage"):
        if col not in dataset.column_names:
            raise ConfigError(
                "re-ranker rows need columns query, passage, score[, grade]; "
                f"got {dataset.column_names}"
            )
    if normalise_grades and "grade" in dataset.column_names:
        top = max(int(g) for g in dataset["grade"]) or 1
        dataset = dataset.map(lambda row: {"score": float(row["grade"]) / top})
    if "score" not in dataset.column_names:
        raise ConfigError("re-ranker rows need a 'score' (0/1 or 0-1) or a 'grade' (0-5) column")
    dataset = dataset.select_columns(["query", "passage", "score"])
    return dataset.map(lambda row: {"score": float(row["score"])})


def prepare_listwise_dataset(dataset: Any, *, max_docs: int, seed: int) -> Any:
    """One row per query: ``query, docs, labels`` for listwise losses (LambdaLoss).

    Labels are grades when there is a ``grade`` column, else scores. A query whose documents all
    share one label teaches a ranking loss nothing and is left out (counted in the log). Lists
    longer than ``max_docs`` keep the best-labelled documents first, then a seeded sample.
    """
    import random

    import datasets

    label_col = "grade" if "grade" in dataset.column_names else "score"
    groups: dict[str, list[tuple[str, float]]] = {}
    for row in dataset:
        groups.setdefault(row["query"], []).append((row["passage"], float(row[label_col])))
    rng = random.Random(seed)
    out: dict[str, list[Any]] = {"query": [], "docs": [], "labels": []}
    flat = 0
    for query, docs in groups.items():
        if len({label for _, label in docs}) < 2:
            flat += 1
            continue
        if len(docs) > max_docs:
            docs = sorted(docs, key=lambda item: -item[1])
            keep = docs[: max(1, max_docs // 2)]
            keep += rng.sample(docs[len(keep) :], max_docs - len(keep))
            docs = keep
        rng.shuffle(docs)
        out["query"].append(query)
        out["docs"].append([doc for doc, _ in docs])
        out["labels"].append([label for _, label in docs])
    if flat:
        logger.info("left out %d queries whose documents all share one label", flat)
    if not out["query"]:
        raise ConfigError("no query has documents with different labels; a ranking loss needs both")
    return datasets.Dataset.from_dict(out)
