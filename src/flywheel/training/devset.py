"""The dev split a fine-tuning run is judged on, and how to carve one from training rows.

A fine-tuned model is kept only if it beats its base on queries it did not train on. When no
separate dev judgments exist, :func:`split_pairs_dev` / :func:`split_graded_dev` hold out a
fraction of the training *queries* (all of a query's rows go to one side, so nothing leaks). The
dev corpus is a reduced candidate pool - every passage seen in the rows - which keeps CPU
evaluation cheap; scores on it are higher than full-corpus scores and only comparable between
models evaluated on the same pool.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flywheel.data.types import Qrels, Queries
from flywheel.errors import ConfigError


@dataclass
class DevSet:
    """Dev queries, the texts to rank for them (doc_id → text) and their judgments."""

    queries: Queries
    texts: Mapping[str, str]
    qrels: Qrels
    meta: dict[str, Any] = field(default_factory=dict)
    # queries whose judgments cover only some texts (labels from logs: what was shown) -> those
    # texts; the evaluators rank only them for such a query (condensed lists)
    judged: Mapping[str, Collection[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        judged = [qid for qid in self.qrels if qid in self.queries]
        if not judged:
            raise ConfigError("dev set has no judged query; give qrels for at least one dev query")

    def describe(self) -> dict[str, Any]:
        """Counts for manifests and cards."""
        return {
            "queries": len(self.queries),
            "texts": len(self.texts),
            "judged_queries": sum(1 for qid in self.qrels if qid in self.queries),
            **({"condensed_queries": len(self.judged)} if self.judged else {}),
            **self.meta,
        }


def _text_columns(row: Mapping[str, Any]) -> list[str]:
    return [key for key, value in row.items() if isinstance(value, str)]


def _held_out(keys: Iterable[str], fraction: float, seed: int) -> set[str]:
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"dev fraction must be between 0 and 1 (exclusive), got {fraction}")
    unique = sorted(set(keys))
    if len(unique) < 2:
        raise ConfigError(
            "need at least two distinct queries to carve a dev split; add data or pass a dev set"
        )
    n_dev = min(len(unique) - 1, max(1, round(len(unique) * fraction)))
    return set(random.Random(seed).sample(unique, n_dev))


class _Ids:
    """Stable ids for texts so the same passage is one doc_id everywhere."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.ids: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        if text not in self.ids:
            self.ids[text] = f"{self.prefix}{len(self.ids)}"
        return self.ids[text]


def pairs_dev_set(
    dev_rows: Sequence[Mapping[str, Any]],
    *,
    distractor_rows: Sequence[Mapping[str, Any]] = (),
    pool_size: int = 2000,
    seed: int = 42,
    meta: Mapping[str, Any] | None = None,
) -> DevSet:
    """A :class:`DevSet` from (anchor, positive[, negative...]) rows that were not trained on.

    Queries are the rows' anchors; qrels mark each anchor's positives (grade 1). The pool holds
    every text of ``dev_rows`` plus passages drawn (seeded) from ``distractor_rows`` - usually the
    training rows - until it has ``pool_size`` texts, so each epoch's evaluation stays cheap.
    """
    if not dev_rows:
        raise ConfigError("no dev rows; pass a dev split or a dev fraction above 0")
    columns = _text_columns(dev_rows[0])
    if len(columns) < 2:
        raise ConfigError(
            f"rows need an anchor and a positive text column; got columns {list(dev_rows[0])}"
        )
    anchor_col, positive_col = columns[0], columns[1]
    doc_id, query_id = _Ids("d"), _Ids("q")
    queries: Queries = {}
    qrels: Qrels = {}
    for row in dev_rows:
        for col in _text_columns(row)[1:]:
            doc_id(row[col])
        qid = query_id(row[anchor_col])
        queries[qid] = row[anchor_col]
        qrels.setdefault(qid, {})[doc_id(row[positive_col])] = 1
    others = sorted(
        {row[c] for row in distractor_rows for c in _text_columns(row)[1:]} - set(doc_id.ids)
    )
    room = max(0, pool_size - len(doc_id.ids))
    for text in random.Random(seed).sample(others, min(room, len(others))):
        doc_id(text)
    texts = {did: text for text, did in doc_id.ids.items()}
    return DevSet(queries=queries, texts=texts, qrels=qrels, meta=dict(meta or {}))


def split_pairs_dev(
    rows: Sequence[Mapping[str, Any]],
    *,
    fraction: float = 0.1,
    seed: int = 42,
    pool_size: int = 2000,
) -> tuple[list[dict[str, Any]], DevSet]:
    """Hold out a fraction of anchors from (anchor, positive[, negative...]) rows.

    Input rows use sentence-transformers column order: the first text column is the query, the
    second the positive, any further ones negatives. Output: the training rows of the kept
    anchors, and the :func:`pairs_dev_set` of the held-out ones (training passages fill the pool).
    """
    if not rows:
        raise ConfigError("no training rows; build a dataset first (flywheel dataset ...)")
    columns = _text_columns(rows[0])
    if len(columns) < 2:
        raise ConfigError(
            f"rows need an anchor and a positive text column; got columns {list(rows[0])}"
        )
    dev_anchors = _held_out((row[columns[0]] for row in rows), fraction, seed)
    train = [dict(row) for row in rows if row[columns[0]] not in dev_anchors]
    held = [row for row in rows if row[columns[0]] in dev_anchors]
    meta = {"source": "held-out training anchors", "fraction": fraction, "seed": seed}
    dev = pairs_dev_set(held, distractor_rows=train, pool_size=pool_size, seed=seed, meta=meta)
    return train, dev


def graded_dev_set(
    dev_rows: Sequence[Mapping[str, Any]], *, meta: Mapping[str, Any] | None = None
) -> DevSet:
    """A :class:`DevSet` from (query, passage, score[, grade]) rows that were not trained on.

    A query's passages form its candidate pool; the judged relevant ones are those with
    ``grade > 0`` (or ``score > 0`` without a grade column), graded by ``grade`` (else 1).
    """
    if not dev_rows:
        raise ConfigError("no dev rows; pass a dev split or a dev fraction above 0")
    for col in ("query", "passage"):
        if col not in dev_rows[0]:
            raise ConfigError(
                "re-ranker rows need columns query, passage, score[, grade]; "
                f"got {list(dev_rows[0])}"
            )
    doc_id, query_id = _Ids("d"), _Ids("q")
    texts: dict[str, str] = {}
    queries: Queries = {}
    qrels: Qrels = {}
    for row in dev_rows:
        qid, did = query_id(row["query"]), doc_id(row["passage"])
        queries[qid] = row["query"]
        texts[did] = row["passage"]
        grade = row.get("grade")
        relevance = int(grade) if grade is not None else int(float(row.get("score", 0)) > 0)
        if relevance > 0:
            qrels.setdefault(qid, {})[did] = relevance
    return DevSet(queries=queries, texts=texts, qrels=qrels, meta=dict(meta or {}))


def split_graded_dev(
    rows: Sequence[Mapping[str, Any]], *, fraction: float = 0.1, seed: int = 42
) -> tuple[list[dict[str, Any]], DevSet]:
    """Hold out a fraction of queries from (query, passage, score[, grade]) rows
    (see :func:`graded_dev_set` for what the dev set holds)."""
    if not rows:
        raise ConfigError("no training rows; build a dataset first (flywheel dataset ...)")
    if "query" not in rows[0]:
        raise ConfigError(
            f"re-ranker rows need columns query, passage, score[, grade]; got {list(rows[0])}"
        )
    dev_queries = _held_out((row["query"] for row in rows), fraction, seed)
    train = [dict(row) for row in rows if row["query"] not in dev_queries]
    held = [row for row in rows if row["query"] in dev_queries]
    meta = {"source": "held-out training queries", "fraction": fraction, "seed": seed}
    return train, graded_dev_set(held, meta=meta)
