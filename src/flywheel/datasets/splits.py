"""Train/dev splits by query, and a leakage check against the evaluation queries.

Splitting by query (never by row) keeps every row of a query on one side. Logged queries
repeat with small changes ("reset password" / "Reset password?"), so near-duplicates are
grouped first (union-find over normalised-text equality and, when embeddings are given,
cosine similarity >= a threshold) and a group is never split. A measured lift on held-out
queries means nothing if near-copies of them were trained on: :func:`check_leakage` refuses.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from flywheel.data.types import Queries
from flywheel.errors import ConfigError, LeakageError

logger = logging.getLogger(__name__)

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalize_query(text: str) -> str:
    """Lowercase, strip accents and punctuation, collapse whitespace: 'Reset  password?' ->
    'reset password'."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(_NON_WORD.sub(" ", text.lower()).split())


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _normalized(embeddings: np.ndarray) -> np.ndarray:
    matrix = np.asarray(embeddings, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


def _similar_pairs(
    left: np.ndarray, right: np.ndarray, threshold: float, *, same: bool, block: int = 2048
) -> list[tuple[int, int, float]]:
    """(i, j, cosine) with cosine >= threshold, in blocks so memory stays bounded."""
    a, b = _normalized(left), _normalized(right)
    pairs = []
    for start in range(0, len(a), block):
        sims = a[start : start + block] @ b.T
        rows, cols = np.nonzero(sims >= threshold)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            i = start + r
            if same and c <= i:
                continue
            pairs.append((i, c, float(sims[r, c])))
    return pairs


def group_near_duplicates(
    qids: Sequence[str],
    texts: Sequence[str],
    *,
    threshold: float | None = 0.9,
    embeddings: np.ndarray | None = None,
) -> list[list[str]]:
    """Groups of qids that are near-duplicates of each other (singletons included)."""
    uf = _UnionFind(len(qids))
    first_by_text: dict[str, int] = {}
    for i, text in enumerate(texts):
        key = normalize_query(text)
        if key in first_by_text:
            uf.union(first_by_text[key], i)
        else:
            first_by_text[key] = i
    if embeddings is not None and threshold is not None:
        if len(embeddings) != len(qids):
            raise ConfigError(f"{len(embeddings)} embeddings for {len(qids)} queries")
        for i, j, _ in _similar_pairs(embeddings, embeddings, threshold, same=True):
            uf.union(i, j)
    groups: dict[int, list[str]] = {}
    for i, qid in enumerate(qids):
        groups.setdefault(uf.find(i), []).append(qid)
    return list(groups.values())


@dataclass
class QuerySplit:
    """Which queries train and which are held out as dev; groups never straddle the two."""

    train_qids: list[str]
    dev_qids: list[str]
    groups_merged: int = 0
    seed: int = 42

    def to_dict(self) -> dict[str, Any]:
        return {
            "train": len(self.train_qids),
            "dev": len(self.dev_qids),
            "near_duplicate_groups": self.groups_merged,
            "seed": self.seed,
        }


def split_queries(
    queries: Queries,
    *,
    dev_fraction: float = 0.1,
    seed: int = 42,
    near_duplicate_threshold: float | None = 0.9,
    embeddings: np.ndarray | None = None,
    qids_order: Sequence[str] | None = None,
) -> QuerySplit:
    """Split queries into train and dev, keeping near-duplicate groups whole.

    ``embeddings`` rows follow ``qids_order`` (default ``list(queries)``). Groups are shuffled
    with ``seed`` and moved to dev until it holds at least ``round(dev_fraction * n)`` queries,
    so dev can overshoot by the size of the last group.
    """
    if not 0 <= dev_fraction < 1:
        raise ConfigError(f"dev_fraction must be in [0, 1), got {dev_fraction}")
    qids = list(qids_order) if qids_order is not None else list(queries)
    missing = [q for q in qids if q not in queries]
    if missing:
        raise ConfigError(f"qids_order names {len(missing)} unknown queries, e.g. {missing[:3]}")
    groups = group_near_duplicates(
        qids, [queries[q] for q in qids], threshold=near_duplicate_threshold, embeddings=embeddings
    )
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(groups)).tolist()
    target = round(dev_fraction * len(qids))
    dev: list[str] = []
    train: list[str] = []
    for index in order:
        (dev if len(dev) < target else train).extend(groups[index])
    position = {qid: i for i, qid in enumerate(qids)}
    merged = sum(1 for g in groups if len(g) > 1)
    logger.info(
        "split %d queries: %d train, %d dev (%d near-duplicate groups)",
        len(qids),
        len(train),
        len(dev),
        merged,
    )
    return QuerySplit(
        train_qids=sorted(train, key=position.__getitem__),
        dev_qids=sorted(dev, key=position.__getitem__),
        groups_merged=merged,
        seed=seed,
    )


@dataclass
class LeakageReport:
    """Training queries that also appear (exactly, normalised or nearly) in the evaluation set."""

    overlaps: list[tuple[str, str, str, float]] = field(default_factory=list)  # train, eval, why
    train_queries: int = 0
    eval_queries: int = 0
    threshold: float | None = None
    forced: bool = False
    embedded: bool = False  # whether the cosine check ran (embeddings given)

    @property
    def count(self) -> int:
        return len({train_qid for train_qid, *_ in self.overlaps})

    @property
    def leaked_qids(self) -> set[str]:
        return {train_qid for train_qid, *_ in self.overlaps}

    def to_dict(self) -> dict[str, Any]:
        return {
            "train_queries": self.train_queries,
            "eval_queries": self.eval_queries,
            "overlapping_train_queries": self.count,
            "threshold": self.threshold,
            "forced": self.forced,
            "cosine_checked": self.embedded,
            "examples": [list(o) for o in self.overlaps[:5]],
        }


def check_leakage(
    train_queries: Queries,
    eval_queries: Queries,
    *,
    train_embeddings: np.ndarray | None = None,
    eval_embeddings: np.ndarray | None = None,
    threshold: float | None = 0.9,
    force: bool = False,
) -> LeakageReport:
    """Find training queries that overlap the evaluation queries; raise unless ``force``.

    Overlap means the same qid, the same normalised text, or (with embeddings whose rows follow
    each dict's order) cosine >= ``threshold``. Raises :class:`LeakageError` naming the count and
    examples; with ``force=True`` returns the report marked ``forced``.
    """
    report = LeakageReport(
        train_queries=len(train_queries), eval_queries=len(eval_queries), threshold=threshold
    )
    eval_by_text = {normalize_query(text): qid for qid, text in eval_queries.items()}
    for qid, text in train_queries.items():
        if qid in eval_queries:
            report.overlaps.append((qid, qid, "same qid", 1.0))
        elif (key := normalize_query(text)) in eval_by_text:
            report.overlaps.append((qid, eval_by_text[key], "same text", 1.0))
    if train_embeddings is not None and eval_embeddings is not None and threshold is not None:
        if len(train_embeddings) != len(train_queries) or len(eval_embeddings) != len(eval_queries):
            raise ConfigError("embedding rows must match the number of train and eval queries")
        report.embedded = True
        found = {(t, e) for t, e, *_ in report.overlaps}
        train_ids, eval_ids = list(train_queries), list(eval_queries)
        for i, j, sim in _similar_pairs(train_embeddings, eval_embeddings, threshold, same=False):
            if (train_ids[i], eval_ids[j]) not in found:
                report.overlaps.append((train_ids[i], eval_ids[j], "cosine", round(sim, 4)))
    if report.overlaps and not force:
        examples = "; ".join(
            f"train '{t}' ~ eval '{e}' ({why})" for t, e, why, _ in report.overlaps[:3]
        )
        raise LeakageError(
            f"{report.count} training queries overlap the evaluation queries, e.g. {examples}; "
            "drop them from training (LeakageReport.leaked_qids), or pass force=True "
            "(--force) to train anyway"
        )
    report.forced = bool(report.overlaps) and force
    return report


QueryEmbedder = Callable[[list[str]], np.ndarray]


@dataclass
class TrainingSplit:
    """The training side of a dataset split by query, with what the leak check removed.

    ``train`` and ``dev`` never share a near-duplicate group; neither holds a query that is, or
    nearly is, an evaluation query (same qid, same normalised text, or cosine >= the threshold
    when an embedder is given). ``leakage`` records what was dropped and how it was checked.
    """

    train: Queries
    dev: Queries
    leaked: set[str]
    split: QuerySplit
    leakage: LeakageReport

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.split.to_dict(),
            "dropped_as_leaked": len(self.leaked),
            "leakage": self.leakage.to_dict(),
            "near_duplicate_check": "embeddings" if self.leakage.embedded else "text only",
        }


def split_training_queries(
    queries: Queries,
    eval_queries: Queries,
    *,
    dev_fraction: float = 0.1,
    seed: int = 42,
    threshold: float | None = 0.9,
    embed: QueryEmbedder | None = None,
    dev_queries: Queries | None = None,
) -> TrainingSplit:
    """The one split function: drop training queries that leak into ``eval_queries`` (and into
    ``dev_queries`` when the dataset brings its own dev split), then carve dev by query from the
    rest with near-duplicate groups kept whole - unless ``dev_queries`` is given.

    ``embed`` (texts -> rows, e.g. the base model's query encoder) turns on the cosine check in
    both steps; without it only exact and normalised-text copies are caught, and the returned
    leakage report says so. Paraphrases of a test query at cosine 0.94-0.99 are common in logs,
    so every caller that has a model passes one.
    """
    held_out = {**eval_queries, **(dev_queries or {})}
    train_ids = list(queries)
    emb_train = emb_eval = None
    if embed is not None and threshold is not None and train_ids:
        emb_train = embed([queries[q] for q in train_ids])
        emb_eval = embed(list(held_out.values())) if held_out else None
    report = check_leakage(
        queries,
        held_out,
        train_embeddings=emb_train if emb_eval is not None else None,
        eval_embeddings=emb_eval,
        threshold=threshold,
        force=True,
    )
    leaked = report.leaked_qids
    kept = [q for q in train_ids if q not in leaked]
    kept_queries = {q: queries[q] for q in kept}
    if dev_queries is not None:
        split = QuerySplit(train_qids=kept, dev_qids=list(dev_queries), seed=seed)
        dev = dict(dev_queries)
    else:
        rows = None
        if emb_train is not None:
            position = {q: i for i, q in enumerate(train_ids)}
            rows = emb_train[[position[q] for q in kept]] if kept else None
        split = split_queries(
            kept_queries,
            dev_fraction=dev_fraction,
            seed=seed,
            near_duplicate_threshold=threshold,
            embeddings=rows,
            qids_order=kept,
        )
        dev = {q: queries[q] for q in split.dev_qids}
    train = {q: queries[q] for q in split.train_qids}
    if leaked:
        logger.info("dropped %d training queries that repeat a held-out query", len(leaked))
    return TrainingSplit(train=train, dev=dev, leaked=set(leaked), split=split, leakage=report)
