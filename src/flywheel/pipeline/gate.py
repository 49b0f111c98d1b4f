"""The dev set training's own gate judges the embedder on, and the vectors it shares with the loop.

The gate ranks a pool (each dev query's judged documents and the first stages' top ``depth``) with
the base model before training and the final model after. On SciFact that pool is three quarters
of the corpus, so encoded naively it costs two extra corpus passes. Neither is needed: the base
model's vectors are in the loop's embedding cache from the baseline stage, and the final model's
pool vectors go into the fine-tuned model's cache, so the corpus pass that follows encodes only the
rest. Same scores, same gate; about a third less encoding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flywheel.data.types import Run
from flywheel.pipeline.splits import LoopSplits
from flywheel.retrieval.embedders import Backend, Embedder
from flywheel.training.devset import DevSet

if TYPE_CHECKING:  # sentence-transformers loads only when the loop trains
    from flywheel.training.evaluators import DenseDevEvaluator


def gate_devset(
    splits: LoopSplits, texts: dict[str, str], runs: list[Run], *, depth: int
) -> DevSet:
    """The dev queries over a candidate pool (their judged documents and the top ``depth`` of
    each first stage). Both models rank the same pool, so the comparison is fair and costs a
    fraction of encoding the whole corpus twice more. A dev query labelled from logs ranks only
    the documents it has labels for (:mod:`flywheel.evaluation.condensed`)."""
    pool = {d for rel in splits.dev_qrels.values() for d in rel if d in texts}
    pool |= {d for docs in splits.dev_judged.values() for d in docs if d in texts}
    for run in runs:
        for qid in splits.dev_q:
            ranked = sorted(run.get(qid, {}).items(), key=lambda item: -item[1])[:depth]
            pool.update(d for d, _ in ranked)
    return DevSet(
        splits.dev_q,
        {d: texts[d] for d in sorted(pool)},
        splits.dev_qrels,
        meta={"pool": f"judged + top {depth} of base dense and BM25", "origin": splits.dev_origin},
        judged={q: {d for d in docs if d in texts} for q, docs in splits.dev_judged.items()},
    )


def _same_numerics(embedder: Embedder) -> bool:
    """Training encodes with PyTorch at full precision; only such vectors may stand in for it."""
    return embedder.backend is Backend.TORCH and embedder.precision is None


def base_gate_score(
    devset: DevSet, base: Embedder, *, metric: str, max_seq_length: int | None = None
) -> float | None:
    """The base model's gate score on ``devset`` from ``base``'s cached vectors, exactly as
    training's evaluator would compute it; None when ``base`` runs another backend, precision or
    token limit than training (which then encodes the pool itself)."""
    from flywheel.training.evaluators import DenseDevEvaluator

    limit = max_seq_length or base.max_seq_length
    if not _same_numerics(base) or limit != base.max_seq_length:
        return None
    evaluator = DenseDevEvaluator(devset, metric=metric)
    queries = base.encode_queries([devset.queries[qid] for qid in evaluator.qids])
    docs = base.encode_documents(evaluator.doc_ids, [devset.texts[d] for d in evaluator.doc_ids])
    return evaluator.score_vectors(queries, docs)


def share_gate_vectors(evaluator: DenseDevEvaluator, tuned: Embedder) -> int:
    """Hand the final model's pool vectors to ``tuned``'s cache; how many texts it gained."""
    vectors = evaluator.last_doc_vectors
    if vectors is None or not _same_numerics(tuned):
        return 0
    return tuned.prime([evaluator.dev.texts[d] for d in evaluator.doc_ids], vectors)
