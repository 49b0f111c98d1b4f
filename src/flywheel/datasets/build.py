"""One call from a retrieval dataset (and its event log) to a saved, carded training set.

The order of steps is the point: labels from events join the judgments, the evaluation
queries are checked for leakage *before* anything is mined, LLM grades take charge of their
training pairs (:mod:`flywheel.judging.labels`: a grade >= 2 is a positive, a 1 is kept
out of the negatives), queries are split into train and dev by near-duplicate group, negatives
are mined once for all training queries (the corpus is encoded once, through the retrieval
engine's on-disk cache), and the card records every step.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from flywheel._internal.hashing import text_hash
from flywheel.data.events import Event
from flywheel.data.types import Qrels, Queries, RetrievalDataset, Run
from flywheel.datasets.artifact import DatasetKind, save_dataset
from flywheel.datasets.behavioural import add_behavioural_negatives, embedding_scores
from flywheel.datasets.cards import DatasetCard, difficulty_histogram, estimate_false_negative_rate
from flywheel.datasets.graded import build_graded_pairs
from flywheel.datasets.hard_negatives import (
    HardNegativeConfig,
    MinedNegatives,
    mine_from_run,
    mine_hard_negatives,
)
from flywheel.datasets.pairs import build_pairs
from flywheel.datasets.signals import LabelPolicy
from flywheel.datasets.splits import split_training_queries
from flywheel.datasets.training_labels import assemble_training_labels
from flywheel.datasets.triplets import build_triplets
from flywheel.errors import ConfigError, LeakageError
from flywheel.judging.labels import LLMLabels
from flywheel.models import DEFAULT_BASE_MODEL

logger = logging.getLogger(__name__)

# (query texts, doc ids, doc texts) -> (query matrix, doc matrix), rows L2-normalised.
EncodeFn = Callable[[list[str], list[str], list[str]], tuple[np.ndarray, np.ndarray]]


def embedder_encode(model: str = DEFAULT_BASE_MODEL) -> EncodeFn:
    """Encode with the retrieval engine's :class:`~flywheel.retrieval.embedders.Embedder`,
    whose document embeddings are cached on disk: mining again never re-encodes the corpus."""

    def encode(
        query_texts: list[str], doc_ids: list[str], doc_texts: list[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        from flywheel.retrieval.embedders import Embedder

        embedder = Embedder(model)
        return embedder.encode_queries(query_texts), embedder.encode_documents(doc_ids, doc_texts)

    return encode


@dataclass
class BuildOptions:
    """Knobs of :func:`build_dataset` beyond the mining config."""

    split: str = "train"
    eval_split: str | None = "test"
    dev_fraction: float = 0.1
    near_duplicate_threshold: float | None = 0.9
    seed: int = 42
    force: bool = False  # keep overlapping training queries (recorded in the card)
    drop_leaked: bool = False  # remove overlapping training queries instead of failing
    event_min_grade: int = 3  # event labels at or above this grade join the judged positives
    mine: bool = True  # graded: add mined negatives
    model: str = DEFAULT_BASE_MODEL
    name: str | None = None
    notes: list[str] = field(default_factory=list)


def _query_embedder(
    encode: EncodeFn, dataset: RetrievalDataset
) -> Callable[[list[str]], np.ndarray]:
    """Query rows from an :data:`EncodeFn` (which encodes queries with documents: one document
    is passed, as an encoder may refuse an empty batch)."""
    doc_id = next(iter(dataset.corpus))
    text = dataset.corpus[doc_id].text_for_encoding
    return lambda texts: encode(texts, [doc_id], [text])[0]


def _llm_pairs(llm: LLMLabels | None, queries: Queries, texts: dict[str, str]) -> int:
    """How many (anchor, positive) rows an LLM grade made (the card's ``llm`` count)."""
    if llm is None:
        return 0
    relevant = llm.relevant()
    return sum(1 for qid in queries for doc_id in relevant.get(qid, {}) if doc_id in texts)


def _llm_triplets(llm: LLMLabels | None, mined: MinedNegatives | None, wanted: int) -> int:
    """How many triplet rows have a positive an LLM grade made (the card's ``llm+mined``)."""
    if llm is None or mined is None:
        return 0
    return sum(
        1
        for e in mined.examples
        if len(e.negative_ids) >= wanted and llm.is_relevant(e.qid, e.positive_id)
    )


def _subset(mined: MinedNegatives, qids: set[str]) -> MinedNegatives:
    examples = [e for e in mined.examples if e.qid in qids]
    return MinedNegatives(examples, mined.config, mined.stats, mined.source, mined.metadata)


def _mine(
    queries: Queries,
    qrels: Qrels,
    texts: dict[str, str],
    config: HardNegativeConfig,
    *,
    run: Run | None,
    encode: EncodeFn,
    model: str,
    exclude: dict[str, set[str]] | None = None,
    negatives: Mapping[str, Mapping[str, str]] | None = None,
) -> MinedNegatives:
    """Mined negatives, with ``negatives`` (judged, LLM or behavioural) put first in their rows
    where they pass the same guards (:func:`~flywheel.datasets.behavioural.
    add_behavioural_negatives`)."""
    if run is not None:
        mined = mine_from_run(queries, qrels, run, config=config, texts=texts, exclude=exclude)

        def score(qid: str, doc_ids: Sequence[str]) -> np.ndarray:
            return np.array([run.get(qid, {}).get(d, np.nan) for d in doc_ids], dtype=float)
    else:
        qids = [qid for qid in queries if any(g > 0 for g in qrels.get(qid, {}).values())]
        doc_ids = list(texts)
        q_emb, d_emb = encode([queries[q] for q in qids], doc_ids, [texts[d] for d in doc_ids])
        mined = mine_hard_negatives(
            {q: queries[q] for q in qids}, qrels, texts, query_embeddings=q_emb,
            doc_embeddings=d_emb, doc_ids=doc_ids, config=config, query_ids=qids,
            model_name=model, exclude=exclude,
        )  # fmt: skip
        score = embedding_scores(q_emb, qids, d_emb, doc_ids)
    if not negatives:
        return mined
    return add_behavioural_negatives(
        mined, queries, qrels, negatives, score=score, config=config, exclude=exclude
    )


def build_dataset(
    dataset: RetrievalDataset,
    out: str | Path,
    *,
    kind: DatasetKind | str,
    options: BuildOptions | None = None,
    config: HardNegativeConfig | None = None,
    events: Sequence[Event] | None = None,
    policy: LabelPolicy | None = None,
    run: Run | None = None,
    encode: EncodeFn | None = None,
    llm_labels: LLMLabels | None = None,
) -> Path:
    """Build triplets, pairs or graded pairs from ``dataset``'s ``options.split`` and save them.

    Event labels (grade >= ``options.event_min_grade``) add positives for logged queries that
    are not evaluation queries. ``llm_labels`` (:meth:`LLMLabels.from_store`: pairs whose
    resolved grade is an LLM's) decide their training pairs: grade >= ``min_relevant`` is a
    positive, a lower grade above 0 is never mined as a negative, 0 leaves the document
    eligible; graded pairs carry them as source ``llm``; the card counts them. A pair in
    ``dataset.positive_texts`` (a synthetic question from the store) trains against that text,
    not the whole document: an ICT question is cut from its document, so the document would
    teach copying. Raises
    :class:`~flywheel.errors.LeakageError` when training queries overlap ``options.eval_split``
    unless ``options.force``.
    """
    kind = DatasetKind(kind)
    options = options or BuildOptions()
    config = config or HardNegativeConfig(seed=options.seed)
    # a store with logs and no training judgment has no such split: labels come from the logs
    judged = dataset.qrels.get(options.split, {})
    eval_queries: Queries = {}
    if options.eval_split and options.eval_split in dataset.qrels:
        eval_queries, _ = dataset.split(options.eval_split)
    labels = assemble_training_labels(
        judged, events=events, policy=policy, llm=llm_labels, eval_qids=eval_queries,
        known_qids=dataset.queries, min_grade=options.event_min_grade,
    )  # fmt: skip
    if not labels.qids:
        raise ConfigError(
            f"dataset '{dataset.name}' has nothing to train on: no positive judgment in split "
            f"'{options.split}', no LLM grade and no logged positive; log interactions, judge "
            "queries (flywheel judge run), or generate questions (flywheel synth questions)"
        )
    queries = {q: dataset.queries[q] for q in labels.qids}
    qrels = labels.positives
    encode = encode or embedder_encode(options.model)
    split_all = split_training_queries(
        queries, eval_queries, dev_fraction=options.dev_fraction, seed=options.seed,
        threshold=options.near_duplicate_threshold,
        embed=_query_embedder(encode, dataset) if options.near_duplicate_threshold else None,
    )  # fmt: skip
    leakage = split_all.leakage.to_dict()
    if split_all.leaked and not (options.force or options.drop_leaked):
        raise LeakageError(
            f"{len(split_all.leaked)} training queries overlap the evaluation queries, e.g. "
            f"{sorted(split_all.leaked)[:3]}; drop them (--drop-leaked) or pass --force to "
            "train on them anyway"
        )
    leakage["forced"] = bool(split_all.leaked) and options.force
    if options.drop_leaked and split_all.leaked:
        leakage["dropped_train_queries"] = sorted(split_all.leaked)
        logger.info("dropped %d training queries that overlap the evaluation queries",
                    len(split_all.leaked))  # fmt: skip
    split = split_all.split
    if options.force and split_all.leaked:
        split.train_qids.extend(sorted(split_all.leaked))
    else:
        queries = {q: t for q, t in queries.items() if q not in split_all.leaked}
    llm: LLMLabels | None = None
    exclude: dict[str, set[str]] | None = labels.exclude or None
    if llm_labels is not None and len(llm_labels):
        llm = llm_labels.for_queries(q for q in queries if q not in eval_queries)
        judged = {  # graded rows take these pairs' grades from the LLM
            qid: {d: g for d, g in docs.items() if d not in llm.grades.get(qid, {})}
            for qid, docs in judged.items()
        }
    event_labels = labels.events
    texts = dataset.texts()
    positives = {q: dataset.positive_texts[q] for q in queries if q in dataset.positive_texts}
    notes = list(options.notes)
    if positives:
        notes.append(
            f"{len(positives)} synthetic queries train against their stored positive passage "
            "(ICT: without the question sentence; crop: the cropped span), not their document"
        )
    mined = None
    if kind == DatasetKind.TRIPLETS or (kind == DatasetKind.GRADED and options.mine):
        mined = _mine(
            queries, qrels, texts, config, run=run, encode=encode, model=options.model,
            exclude=exclude, negatives=labels.behavioural(),
        )  # fmt: skip
    parts = {"train": split.train_qids, "dev": split.dev_qids}
    rows: dict[str, list[dict[str, Any]]] = {}
    sources: Counter[str] = Counter()
    for part, qids in parts.items():
        if not qids:
            continue
        part_queries = {qid: queries[qid] for qid in qids}
        if kind == DatasetKind.PAIRS:
            rows[part] = build_pairs(part_queries, qrels, texts, positive_texts=positives)
            from_llm = _llm_pairs(llm, part_queries, texts)
            sources["judged"] += len(rows[part]) - from_llm
            if from_llm:
                sources["llm"] += from_llm
        elif kind == DatasetKind.TRIPLETS:
            subset = _subset(mined, set(qids)) if mined is not None else None
            rows[part] = (
                build_triplets(
                    subset,
                    part_queries,
                    texts,
                    num_negatives=config.num_negatives,
                    positive_texts=positives,
                )
                if subset is not None
                else []
            )
            from_llm = _llm_triplets(llm, subset, config.num_negatives)
            sources["judged+mined"] += len(rows[part]) - from_llm
            if from_llm:
                sources["llm+mined"] += from_llm
        else:
            rows[part] = build_graded_pairs(
                part_queries, judged, texts, mined=mined, labels=event_labels,
                positive_texts=positives,
                llm=llm.training_grades() if llm is not None else None,
            )  # fmt: skip
            sources.update(row["source"] for row in rows[part])
    card = DatasetCard(
        name=options.name or f"{dataset.name}-{kind}",
        kind=str(kind),
        sources=dict(sources),
        mining=mined.to_dict() if mined else None,
        label_policy=(policy or LabelPolicy()).to_dict() if event_labels else None,
        event_labels={
            **event_labels.to_dict(),
            "training_labels": {k: v for k, v in labels.counts().items() if k != "event_labels"},
        }
        if event_labels
        else None,
        llm_labels=llm.to_dict() if llm is not None else None,
        split=split_all.to_dict(),
        leakage=leakage,
        difficulty=difficulty_histogram(mined.difficulty()) if mined else None,
        notes=notes,
    )
    if mined is not None:
        others = {f"qrels:{s}": q for s, q in dataset.qrels.items() if s != options.split}
        if event_labels is not None:
            others["events"] = event_labels.as_qrels(min_grade=1)
        card.false_negatives = estimate_false_negative_rate(mined, others)
    inputs = {
        "dataset": dataset.name,
        "documents": len(dataset.corpus),
        "corpus_ids_hash": text_hash("\n".join(sorted(dataset.corpus))),
        "queries": len(queries),
        "events": len(events or []),
        "positive_texts": len(positives),
        "llm_labels": len(llm) if llm is not None else 0,
        "llm_labels_hash": text_hash(
            "\n".join(
                f"{q}\t{d}\t{label.grade}/{label.scale}"
                for q, docs in sorted((llm.grades if llm is not None else {}).items())
                for d, label in sorted(docs.items())
            )
        ),
        "positive_texts_hash": text_hash(
            "\n".join(
                f"{q}\t{d}\t{t}"
                for q, own in sorted(positives.items())
                for d, t in sorted(own.items())
            )
        ),
    }
    recorded = {
        "kind": str(kind),
        "options": {k: v for k, v in vars(options).items() if k != "notes"},
        "mining": config.to_dict() if mined else None,
        "label_policy": card.label_policy,
        "llm_min_relevant": llm.min_relevant if llm is not None else None,
    }
    return save_dataset(
        rows, out, kind=kind, card=card, config=recorded, inputs=inputs, seed=options.seed
    )
