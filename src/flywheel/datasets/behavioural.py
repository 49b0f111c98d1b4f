"""Behavioural negatives: documents users were shown and turned away from, as triplet negatives.

A document a user bounced from, skipped above a click, voted down or saw cited past is a
*real* negative, and a hard one: the production ranker put it in the top ten. In simulated
logs over SciFact 99.9% of bounced and skipped-above documents were truly non-relevant, far
better odds than a mined negative's. They still pass the same false-negative guards as mined
ones - they go through :func:`~flywheel.datasets.hard_negatives.mine_from_run` with the mining
config's margins, so a "negative" the base model scores almost like the positive is dropped -
and a row prefers a behavioural negative, filling any remaining slots with mined ones.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

import numpy as np

from flywheel.data.types import Qrels, Queries
from flywheel.datasets._selection import MinedExample
from flywheel.datasets.hard_negatives import (
    HardNegativeConfig,
    MinedNegatives,
    Sampling,
    mine_from_run,
)

# (qid, doc_ids) -> the base model's scores of those documents for that query
PairScores = Callable[[str, Sequence[str]], np.ndarray]


def embedding_scores(
    query_emb: np.ndarray, qids: Sequence[str], doc_emb: np.ndarray, doc_ids: Sequence[str]
) -> PairScores:
    """:data:`PairScores` from embeddings the miner already computed (rows follow ``qids`` and
    ``doc_ids``); a query or document without a row scores NaN, which drops it."""
    row = {q: i for i, q in enumerate(qids)}
    index = {d: i for i, d in enumerate(doc_ids)}

    def score(qid: str, ids: Sequence[str]) -> np.ndarray:
        found = np.array([index.get(d, -1) for d in ids], dtype=np.int64)
        out = np.full(len(ids), np.nan)
        if qid in row:
            out[found >= 0] = doc_emb[found[found >= 0]] @ query_emb[row[qid]]
        return out

    return score


def add_behavioural_negatives(
    mined: MinedNegatives,
    queries: Queries,
    qrels: Qrels,
    negatives: Mapping[str, Mapping[str, str]],
    *,
    score: PairScores,
    config: HardNegativeConfig,
    exclude: Mapping[str, set[str]] | None = None,
) -> MinedNegatives:
    """``mined`` with behavioural negatives put first in each (query, positive) row.

    ``negatives`` is ``{qid: {doc_id: signal}}`` (e.g. ``"events:quick_bounce"``); ``score``
    gives the base model's scores, which the margins compare with the positive's. Rows no
    mined example covered get one when a behavioural negative survives. The result's
    ``metadata["negatives_by_source"]`` counts chosen negatives as ``mined`` or by signal.
    """
    candidates = {
        q: {d: s for d, s in docs.items() if d not in qrels.get(q, {})}
        for q, docs in negatives.items()
        if q in queries and any(g > 0 for g in qrels.get(q, {}).values())
    }
    candidates = {q: docs for q, docs in candidates.items() if docs}
    run: dict[str, dict[str, float]] = {}
    for qid, docs in candidates.items():
        ids = list(docs) + [d for d, g in qrels[qid].items() if g > 0]
        scores = score(qid, ids)
        run[qid] = {d: float(x) for d, x in zip(ids, scores, strict=True) if not np.isnan(x)}
    window = max((len(d) for d in candidates.values()), default=1) + 1
    # confirmed negatives: the hardest that passes the guards (no need to sample around
    # likely false negatives, which is what random sampling in the mined window is for)
    guarded = replace(config, range_min=0, range_max=window, sampling=Sampling.TOP)
    behavioural = mine_from_run(
        {q: queries[q] for q in candidates},
        {q: qrels[q] for q in candidates},
        run,
        config=guarded,
        source="behaviour",
        exclude=exclude,
    )
    chosen = {(e.qid, e.positive_id): e for e in behavioural.examples if e.negative_ids}
    need = config.num_negatives
    examples: list[MinedExample] = []
    sources: Counter[str] = Counter()
    seen: set[tuple[str, str]] = set()
    for example in mined.examples:
        key = (example.qid, example.positive_id)
        seen.add(key)
        own = chosen.get(key)
        if own is None:
            examples.append(example)
            sources["mined"] += len(example.negative_ids)
            continue
        examples.append(_merge(own, example, need, candidates[example.qid], sources))
    for key, own in chosen.items():
        if key not in seen:
            examples.append(_merge(own, None, need, candidates[key[0]], sources))
    considered = sum(len(d) for d in candidates.values())
    metadata = {
        **mined.metadata,
        "negatives_by_source": dict(sorted(sources.items())),
        "behavioural_candidates": considered,
        "behavioural_dropped_by_guards": behavioural.stats.dropped_margin
        + behavioural.stats.dropped_max_score
        + behavioural.stats.dropped_band,
    }
    return replace(mined, examples=examples, metadata=metadata)


def _merge(
    own: MinedExample,
    mined: MinedExample | None,
    need: int,
    signals: Mapping[str, str],
    sources: Counter[str],
) -> MinedExample:
    ids = list(own.negative_ids[:need])
    scores = list(own.negative_scores[:need])
    ranks = list(own.negative_ranks[:need])
    for doc_id in ids:
        sources[signals[doc_id]] += 1
    if mined is not None:
        for doc_id, s, r in zip(
            mined.negative_ids, mined.negative_scores, mined.negative_ranks, strict=True
        ):
            if len(ids) >= need:
                break
            if doc_id not in ids:
                ids.append(doc_id)
                scores.append(s)
                ranks.append(r)
                sources["mined"] += 1
    positive_score = own.positive_score if mined is None else mined.positive_score
    return MinedExample(
        qid=own.qid,
        positive_id=own.positive_id,
        positive_score=positive_score,
        negative_ids=tuple(ids),
        negative_scores=tuple(scores),
        negative_ranks=tuple(ranks),
    )
