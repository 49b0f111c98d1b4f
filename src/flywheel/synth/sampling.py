"""Which passages to write questions for: spread over the whole corpus, never the first N.

Questions written only for the first documents of a file describe whatever that file happens
to start with. :func:`sample_passages` draws round-robin over documents (one passage per
document before any gets a second) and, when embeddings are given, evenly over k-means clusters
of them, so every topic of the corpus gets its share.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from flywheel.errors import ConfigError


def sample_passages(
    doc_ids: Sequence[str],
    n: int,
    *,
    embeddings: np.ndarray | None = None,
    clusters: int = 16,
    seed: int = 42,
    groups: Mapping[str, str] | None = None,
) -> list[str]:
    """Up to ``n`` ids, stratified by cluster (with ``embeddings``) and by document.

    ``doc_ids`` may be chunk ids; ``groups`` maps each to its document so one document's many
    chunks do not crowd out the rest. Deterministic for a ``seed``.
    """
    if n < 1:
        raise ConfigError(f"n must be >= 1, got {n}")
    ids = list(doc_ids)
    rng = np.random.default_rng(seed)
    if embeddings is not None and len(ids) > clusters > 1:
        if len(embeddings) != len(ids):
            raise ConfigError(f"{len(embeddings)} embeddings for {len(ids)} passages")
        from sklearn.cluster import KMeans

        labels = KMeans(n_clusters=clusters, n_init=1, random_state=seed).fit_predict(
            np.asarray(embeddings, dtype=np.float32)
        )
    else:
        labels = np.zeros(len(ids), dtype=int)
    # per cluster: passages grouped by document, documents shuffled, then round-robin
    strata: list[list[str]] = []
    for label in np.unique(labels):
        members = [ids[i] for i in np.flatnonzero(labels == label)]
        by_doc: dict[str, list[str]] = {}
        for pid in members:
            by_doc.setdefault(groups.get(pid, pid) if groups else pid, []).append(pid)
        docs = list(by_doc)
        rng.shuffle(docs)
        for doc in docs:
            rng.shuffle(by_doc[doc])
        order, depth = [], 0
        while len(order) < len(members):
            order += [by_doc[d][depth] for d in docs if depth < len(by_doc[d])]
            depth += 1
        strata.append(order)
    picked: list[str] = []
    position = 0
    while len(picked) < min(n, len(ids)):
        for stratum in strata:
            if position < len(stratum) and len(picked) < n:
                picked.append(stratum[position])
        position += 1
    return picked
