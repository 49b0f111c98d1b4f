"""Training rows for the embedder: hard negatives mined with the base model, and behavioural
negatives from the logs put first where they pass the same false-negative guards."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from flywheel.datasets.behavioural import add_behavioural_negatives, embedding_scores
from flywheel.datasets.hard_negatives import (
    HardNegativeConfig,
    MinedNegatives,
    mine_hard_negatives,
)
from flywheel.datasets.pairs import build_pairs
from flywheel.datasets.training_labels import TrainingLabels
from flywheel.datasets.triplets import build_triplets
from flywheel.pipeline.config import LoopConfig
from flywheel.pipeline.splits import LoopSplits
from flywheel.retrieval.embedders import Embedder


def mine_negatives(
    config: LoopConfig,
    splits: LoopSplits,
    *,
    base: Embedder,
    doc_ids: Sequence[str],
    texts: Mapping[str, str],
    say: Callable[[str], None],
    labels: TrainingLabels | None = None,
) -> MinedNegatives:
    """Mine in the configured window; positives whose window holds no candidate below the
    false-negative threshold (typically those the base model ranks poorly - the most useful
    ones to train on) get the hardest valid negative from a wider window instead of being
    dropped, as sentence-transformers does by filtering before it windows. ``labels``'
    behavioural negatives (from the logs) then take the first slots of their rows
    (:func:`~flywheel.datasets.behavioural.add_behavioural_negatives`)."""
    train_q, train_qrels = splits.train_q, splits.train_qrels
    ids = list(doc_ids)
    doc_emb = base.encode_documents(ids, [texts[d] for d in ids])
    query_emb = base.encode_queries(list(train_q.values()))
    settings = replace(config.mining, seed=config.seed)
    exclude = labels.exclude if labels is not None else None
    common = {
        "doc_embeddings": doc_emb,
        "doc_ids": ids,
        "model_name": config.base_model,
        "exclude": exclude,
    }
    mined = mine_hard_negatives(
        train_q,
        train_qrels,
        texts,
        query_embeddings=query_emb,
        query_ids=list(train_q),
        config=settings,
        **common,
    )
    need = settings.num_negatives
    done = {(e.qid, e.positive_id) for e in mined.examples if len(e.negative_ids) >= need}
    short = {
        q for q, rel in train_qrels.items() for d, g in rel.items() if g > 0 and (q, d) not in done
    }
    if short and settings.range_max < len(ids) - 1:
        mined = _widen(mined, short, done, splits, texts, query_emb, settings, common, say)
    behavioural = labels.behavioural() if labels is not None else {}
    if not behavioural:
        return mined
    index = set(ids)
    score = embedding_scores(query_emb, list(train_q), doc_emb, ids)
    known = {q: {d: s for d, s in docs.items() if d in index} for q, docs in behavioural.items()}
    mined = add_behavioural_negatives(
        mined, train_q, train_qrels, known, score=score, config=settings, exclude=exclude
    )
    by_source = mined.metadata.get("negatives_by_source", {})
    say("negatives by source: " + ", ".join(f"{k} {v}" for k, v in by_source.items()))
    return mined


def _widen(
    mined: MinedNegatives,
    short: set[str],
    done: set[tuple[str, str]],
    splits: LoopSplits,
    texts: Mapping[str, str],
    query_emb: np.ndarray,
    settings: HardNegativeConfig,
    common: dict[str, Any],
    say: Callable[[str], None],
) -> MinedNegatives:
    """Positives with no valid negative in the window get one from a window ten times wider."""
    train_q, train_qrels = splits.train_q, splits.train_qrels
    ids = common["doc_ids"]
    need = settings.num_negatives
    wide = replace(settings, range_max=min(len(ids) - 1, settings.range_max * 10), sampling="top")
    order = [q for q in train_q if q in short]
    position = {q: i for i, q in enumerate(train_q)}
    extra = mine_hard_negatives(
        {q: train_q[q] for q in order},
        {q: train_qrels[q] for q in order},
        texts,
        query_embeddings=query_emb[[position[q] for q in order]],
        query_ids=order,
        config=wide,
        **common,
    )
    added = [
        e
        for e in extra.examples
        if len(e.negative_ids) >= need and (e.qid, e.positive_id) not in done
    ]
    say(
        f"{len(added)} positives without a valid negative in ranks {settings.range_min}-"
        f"{settings.range_max} got one from ranks up to {wide.range_max}"
    )
    kept = [e for e in mined.examples if (e.qid, e.positive_id) in done]
    return replace(mined, examples=kept + added, metadata={**mined.metadata, "widened": len(added)})


def embedder_rows(
    config: LoopConfig,
    splits: LoopSplits,
    mined: MinedNegatives,
    texts: Mapping[str, str],
    say: Callable[[str], None],
    positive_texts: Mapping[str, Mapping[str, str]] | None = None,
) -> list[dict[str, str]]:
    """Triplets, or (anchor, positive) pairs when too few positives got a hard negative: in-batch
    negatives alone beat a training set that silently drops most positives. ``positive_texts``
    (a synthetic question's masked passage) replaces the judged document's text."""
    rows = build_triplets(
        mined,
        splits.train_q,
        texts,
        num_negatives=config.mining.num_negatives,
        positive_texts=positive_texts,
    )
    pairs = build_pairs(splits.train_q, splits.train_qrels, texts, positive_texts=positive_texts)
    if len(rows) < 0.5 * len(pairs):
        say(
            f"only {len(rows)} of {len(pairs)} positives got a hard negative; training on "
            "pairs with in-batch negatives"
        )
        return pairs
    say(f"{len(rows)} triplets from {len(splits.train_q)} training queries")
    return rows
