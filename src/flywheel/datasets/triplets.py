"""(anchor, positive, negative...) rows for contrastive training of an embedder.

Columns follow sentence-transformers so the rows feed ``SentenceTransformerTrainer`` with
``MultipleNegativesRankingLoss`` as they are: ``anchor, positive, negative`` for one negative,
``anchor, positive, negative_1 .. negative_n`` for more. One row per (query, positive).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from flywheel.data.types import Queries
from flywheel.errors import ConfigError

if TYPE_CHECKING:
    from flywheel.datasets.hard_negatives import MinedNegatives

logger = logging.getLogger(__name__)


def negative_columns(num_negatives: int) -> list[str]:
    """``["negative"]`` for one negative, else ``["negative_1", ..., "negative_n"]``."""
    if num_negatives < 1:
        raise ConfigError(f"num_negatives must be >= 1, got {num_negatives}")
    if num_negatives == 1:
        return ["negative"]
    return [f"negative_{i}" for i in range(1, num_negatives + 1)]


def triplet_columns(num_negatives: int) -> list[str]:
    return ["anchor", "positive", *negative_columns(num_negatives)]


def build_triplets(
    mined: MinedNegatives,
    queries: Queries,
    texts: Mapping[str, str],
    *,
    num_negatives: int = 1,
    positive_texts: Mapping[str, Mapping[str, str]] | None = None,
) -> list[dict[str, str]]:
    """Rows ``{anchor, positive, negative | negative_1..n}`` from mined negatives.

    Input: a :class:`MinedNegatives`, query texts and document texts. A (query, positive) pair
    with fewer than ``num_negatives`` negatives is left out, because a trainer needs every row
    to have every column; how many were left out is logged (and in the card via the stats).
    ``positive_texts`` (``{qid: {doc_id: text}}``) replaces the positive document's text for
    one query: a synthetic question's masked passage (``RetrievalDataset.positive_texts``).
    """
    positive_texts = positive_texts or {}
    columns = negative_columns(num_negatives)
    rows: list[dict[str, str]] = []
    short = 0
    for example in mined.examples:
        if len(example.negative_ids) < num_negatives:
            short += 1
            continue
        positive = positive_texts.get(example.qid, {}).get(example.positive_id)
        row = {
            "anchor": queries[example.qid],
            "positive": texts[example.positive_id] if positive is None else positive,
        }
        for column, doc_id in zip(columns, example.negative_ids, strict=False):
            row[column] = texts[doc_id]
        rows.append(row)
    if short:
        logger.info(
            "left out %d (query, positive) pairs with fewer than %d negatives", short, num_negatives
        )
    return rows
