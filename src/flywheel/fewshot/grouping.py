"""Group examples by intent: the data's own labels, or clusters of question embeddings.

Every common query pattern should be covered by the library, so examples are first grouped.
With labels (``intent``) on every example, the labels are the groups. Without them, KMeans (or
agglomerative clustering with cosine distance and average linkage) runs for a range of group
counts and the count with the best silhouette score (cosine) wins; the scores of every count
tried are kept, so ``flywheel fewshot show`` can show why that count was chosen.

Each group is named by its most characteristic terms, weighted by class-based TF-IDF
(c-TF-IDF, as BERTopic does): a term's frequency inside the group, times ``log(1 + A / f)``
with ``A`` the average number of words per group and ``f`` the term's frequency in all groups,
so words every group uses ("how", "can") do not name any.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from flywheel._internal.choices import parse_choice
from flywheel.errors import ConfigError

logger = logging.getLogger(__name__)

SILHOUETTE_SAMPLE = 4000  # silhouette is O(n^2): score a fixed random sample beyond this


class GroupingMethod(StrEnum):
    AUTO = "auto"  # labels when every example has one, else kmeans
    LABELS = "labels"
    KMEANS = "kmeans"
    AGGLOMERATIVE = "agglomerative"


@dataclass(frozen=True)
class GroupingConfig:
    """``k``: a fixed number of clusters (skips the search); else the search runs over
    ``k_min..k_max`` (``k_max`` default: ``min(200, n // 4)``) on about ``k_steps`` values."""

    method: str = GroupingMethod.AUTO.value
    k: int | None = None
    k_min: int = 2
    k_max: int | None = None
    k_steps: int = 14
    n_terms: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        parse_choice(GroupingMethod, self.method, "grouping method")
        if self.k is not None and self.k < 1:
            raise ConfigError(f"k must be >= 1, got {self.k}")
        if self.k_min < 2:
            raise ConfigError(f"k_min must be >= 2 (silhouette needs two groups), got {self.k_min}")
        if self.k_max is not None and self.k_max < self.k_min:
            raise ConfigError(f"k_max ({self.k_max}) is below k_min ({self.k_min})")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Group:
    """One intent: ``members`` index the examples given to :func:`group_examples`."""

    group_id: str
    name: str
    terms: list[str]
    members: list[int]
    source: str  # "label" or "cluster"

    def to_dict(self) -> dict[str, Any]:
        return {
            "group_id": self.group_id,
            "name": self.name,
            "terms": list(self.terms),
            "size": len(self.members),
            "source": self.source,
        }


@dataclass
class Grouping:
    """The groups (largest first), how they were made, and the silhouette of each k tried."""

    groups: list[Group]
    method: str
    silhouette: dict[int, float] = field(default_factory=dict)

    @property
    def k(self) -> int:
        return len(self.groups)

    def assignment(self, n: int) -> list[str]:
        """The group id of each of the ``n`` examples."""
        out = [""] * n
        for group in self.groups:
            for member in group.members:
                out[member] = group.group_id
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "k": self.k,
            "silhouette": {str(k): v for k, v in sorted(self.silhouette.items())},
            "groups": [g.to_dict() for g in self.groups],
        }


def characteristic_terms(texts_by_group: list[list[str]], n_terms: int = 5) -> list[list[str]]:
    """The ``n_terms`` highest c-TF-IDF terms of each group of texts (unigrams, stop words out)."""
    from sklearn.feature_extraction.text import CountVectorizer

    documents = [" ".join(texts) for texts in texts_by_group]
    vectorizer = CountVectorizer(stop_words="english", token_pattern=r"(?u)\b[^\W\d_]{2,}\b")
    try:
        counts = vectorizer.fit_transform(documents)
    except ValueError:  # only stop words or no words at all
        return [[] for _ in documents]
    counts = counts.astype(np.float64).tocsr()
    row_totals = np.asarray(counts.sum(axis=1)).ravel()
    term_totals = np.asarray(counts.sum(axis=0)).ravel()
    average = float(row_totals.sum()) / max(len(documents), 1)
    idf = np.log1p(average / np.maximum(term_totals, 1e-12))
    vocabulary = vectorizer.get_feature_names_out()
    out = []
    for row in range(counts.shape[0]):
        start, end = counts.indptr[row], counts.indptr[row + 1]
        columns = counts.indices[start:end]
        if not len(columns) or row_totals[row] == 0:
            out.append([])
            continue
        weights = counts.data[start:end] / row_totals[row] * idf[columns]
        order = np.lexsort((vocabulary[columns], -weights))[:n_terms]
        out.append([str(vocabulary[columns[i]]) for i in order])
    return out


def candidate_ks(n: int, config: GroupingConfig) -> list[int]:
    """The group counts the silhouette search tries: about ``k_steps`` values, log-spaced."""
    k_max = config.k_max if config.k_max is not None else min(200, n // 4)
    k_max = min(k_max, n - 1)
    if k_max < config.k_min:
        return [min(config.k_min, max(n - 1, 1))] if n > 2 else [1]
    grid = np.geomspace(config.k_min, k_max, num=max(config.k_steps, 2))
    return sorted({int(round(k)) for k in grid} | {config.k_min, k_max})


def _cluster(
    embeddings: np.ndarray, k: int, method: GroupingMethod, seed: int, n_init: int = 3
) -> np.ndarray:
    if k <= 1:
        return np.zeros(embeddings.shape[0], dtype=np.int64)
    if method is GroupingMethod.AGGLOMERATIVE:
        from sklearn.cluster import AgglomerativeClustering

        model = AgglomerativeClustering(n_clusters=k, metric="cosine", linkage="average")
        return model.fit_predict(embeddings)
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(embeddings)


def _silhouette(embeddings: np.ndarray, labels: np.ndarray, seed: int) -> float:
    from sklearn.metrics import silhouette_score

    if len(set(labels.tolist())) < 2:
        return -1.0
    sample = SILHOUETTE_SAMPLE if embeddings.shape[0] > SILHOUETTE_SAMPLE else None
    return float(
        silhouette_score(embeddings, labels, metric="cosine", sample_size=sample, random_state=seed)
    )


def choose_clusters(
    embeddings: np.ndarray, config: GroupingConfig, method: GroupingMethod
) -> tuple[np.ndarray, dict[int, float]]:
    """Cluster labels for the best k by silhouette (or the fixed ``config.k``), and the scores."""
    n = embeddings.shape[0]
    if config.k is not None:
        k = min(config.k, n)
        labels = _cluster(embeddings, k, method, config.seed)
        return labels, {k: _silhouette(embeddings, labels, config.seed)}
    scores: dict[int, float] = {}
    best: tuple[float, int, np.ndarray] | None = None
    # The search fits each k once (KMeans n_init=1); the winner is refitted with 3 starts.
    for k in candidate_ks(n, config):
        labels = _cluster(embeddings, k, method, config.seed, n_init=1)
        scores[k] = _silhouette(embeddings, labels, config.seed)
        logger.info("grouping: k=%d silhouette %.4f", k, scores[k])
        if best is None or scores[k] > best[0] + 1e-9:
            best = (scores[k], k, labels)
    assert best is not None  # candidate_ks never returns an empty list
    if method is GroupingMethod.AGGLOMERATIVE:  # deterministic: nothing to refit
        return best[2], scores
    return _cluster(embeddings, best[1], method, config.seed), scores


def group_examples(
    questions: list[str],
    intents: list[str | None],
    embeddings: np.ndarray,
    config: GroupingConfig | None = None,
) -> Grouping:
    """Group the examples (``questions[i]`` with ``intents[i]`` and ``embeddings[i]``)."""
    config = config or GroupingConfig()
    method = parse_choice(GroupingMethod, config.method, "grouping method")
    n = len(questions)
    if n == 0:
        raise ConfigError("no examples to group; every example was excluded or none were given")
    missing = [i for i, intent in enumerate(intents) if not intent]
    if method is GroupingMethod.AUTO:
        method = GroupingMethod.LABELS if not missing else GroupingMethod.KMEANS
    if method is GroupingMethod.LABELS:
        if missing:
            raise ConfigError(
                f"{len(missing)} of {n} examples have no intent (e.g. example {missing[0]}); "
                "give every example an intent, or group by clusters (grouping method kmeans)"
            )
        members: dict[str, list[int]] = defaultdict(list)
        for i, intent in enumerate(intents):
            members[str(intent)].append(i)
        ordered = sorted(members.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        terms = characteristic_terms(
            [[questions[i] for i in rows] for _, rows in ordered], config.n_terms
        )
        groups = [
            Group(label, label, words, rows, "label")
            for (label, rows), words in zip(ordered, terms, strict=True)
        ]
        return Grouping(groups, GroupingMethod.LABELS.value)
    labels, scores = choose_clusters(embeddings, config, method)
    clusters: dict[int, list[int]] = defaultdict(list)
    for i, label in enumerate(labels.tolist()):
        clusters[label].append(i)
    ordered_rows = sorted(clusters.values(), key=lambda rows: (-len(rows), rows[0]))
    terms = characteristic_terms(
        [[questions[i] for i in rows] for rows in ordered_rows], config.n_terms
    )
    width = max(2, int(math.log10(max(len(ordered_rows), 1))) + 1)
    groups = [
        Group(
            f"c{number:0{width}d}",
            " / ".join(words[:3]) or f"cluster {number}",
            words,
            rows,
            "cluster",
        )
        for number, (rows, words) in enumerate(zip(ordered_rows, terms, strict=True))
    ]
    return Grouping(groups, method.value, scores)
