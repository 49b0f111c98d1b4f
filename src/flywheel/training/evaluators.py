"""Dev-set evaluators that the sentence-transformers trainers call after each epoch.

They score with the project's own metrics (:func:`flywheel.evaluation.evaluate.evaluate`), so the
number that picks the best checkpoint is the number every report shows - not a second nDCG
implementation that could disagree with it.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sentence_transformers.base.evaluation.evaluator import BaseEvaluator

from flywheel.data.types import Qrels, Run
from flywheel.evaluation.evaluate import evaluate
from flywheel.training.devset import DevSet

logger = logging.getLogger(__name__)


def score_run(qrels: Qrels, run: Run, metric: str) -> float:
    """Mean ``metric`` of ``run`` over the judged queries (queries missing from the run count 0)."""
    return float(evaluate(qrels, run, [metric]).mean[metric])


def metric_key(metric: str) -> str:
    """A metric name safe as a trainer log key: ``ndcg@10`` → ``ndcg_at_10``."""
    return metric.replace("@", "_at_")


class _DevEvaluator(BaseEvaluator):
    """Shared plumbing: the primary metric key and a history of every score it produced."""

    def __init__(self, dev: DevSet, metric: str, name: str) -> None:
        super().__init__()
        self.dev = dev
        self.metric = metric
        self.name = name
        self.qrels = {qid: docs for qid, docs in dev.qrels.items() if qid in dev.queries}
        self.qids = list(self.qrels)
        self.primary_metric = f"{name}_{metric_key(metric)}"
        self.greater_is_better = True
        self.history: list[tuple[float, int, float]] = []

    @property
    def trainer_metric(self) -> str:
        """The key the trainer logs (``eval_`` + primary metric), for ``metric_for_best_model``."""
        return f"eval_{self.primary_metric}"

    def _record(self, score: float, epoch: float, steps: int) -> dict[str, float]:
        self.history.append((float(epoch), int(steps), score))
        logger.info("dev %s = %.4f (epoch %s, step %s)", self.metric, score, epoch, steps)
        return {self.primary_metric: score}

    def get_config_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, **self.dev.describe()}


class DenseDevEvaluator(_DevEvaluator):
    """Encode dev queries and texts with the model being trained; rank by cosine similarity."""

    def __init__(
        self,
        dev: DevSet,
        *,
        metric: str = "ndcg@10",
        name: str = "dev",
        batch_size: int = 64,
        top_k: int = 100,
    ) -> None:
        super().__init__(dev, metric, name)
        self.batch_size = batch_size
        self.top_k = top_k
        self.doc_ids = list(dev.texts)
        self._column = {doc_id: i for i, doc_id in enumerate(self.doc_ids)}
        self.last_doc_vectors: np.ndarray | None = None

    def run(self, model: Any) -> Run:
        """The model's ranking of the dev pool for every judged dev query (top ``top_k``).

        The pool's vectors stay in ``last_doc_vectors`` (rows in ``doc_ids`` order): the loop
        hands the final model's vectors to its embedding cache, so the corpus pass after training
        does not encode the pool a second time."""
        if not self.qids or not self.doc_ids:
            return {}
        queries = [self.dev.queries[qid] for qid in self.qids]
        texts = [self.dev.texts[doc_id] for doc_id in self.doc_ids]
        q = self._encode(model, queries, "query")
        d = self._encode(model, texts, "document")
        self.last_doc_vectors = d
        return self.rank(q, d)

    def _encode(self, model: Any, texts: list[str], kind: str) -> np.ndarray:
        prompts = getattr(model, "prompts", None) or {}  # e5-style models: as retrieval encodes
        vectors = model.encode(
            texts,
            batch_size=self.batch_size,
            prompt_name=kind if prompts.get(kind) else None,
            normalize_embeddings=True,
            convert_to_numpy=True,
        )
        return np.asarray(vectors, dtype=np.float32)

    def rank(self, query_vectors: np.ndarray, doc_vectors: np.ndarray) -> Run:
        """Top ``top_k`` of the pool per judged dev query, by cosine of normalised vectors
        (rows of ``query_vectors`` in ``qids`` order, of ``doc_vectors`` in ``doc_ids`` order)."""
        if not self.qids or not self.doc_ids:
            return {}
        scores = np.asarray(query_vectors, np.float32) @ np.asarray(doc_vectors, np.float32).T
        k = min(self.top_k, len(self.doc_ids))
        run: Run = {}
        for row, qid in enumerate(self.qids):
            if qid in self.dev.judged:  # a condensed list: only the texts judged for it
                keep = [d for d in self.dev.judged[qid] if d in self._column]
                run[qid] = {d: float(scores[row, self._column[d]]) for d in keep}
                continue
            top = np.argpartition(-scores[row], k - 1)[:k]
            run[qid] = {self.doc_ids[i]: float(scores[row, i]) for i in top}
        return run

    def score_vectors(self, query_vectors: np.ndarray, doc_vectors: np.ndarray) -> float:
        """The primary metric from vectors computed elsewhere, e.g. a cached embedder's."""
        return score_run(self.qrels, self.rank(query_vectors, doc_vectors), self.metric)

    def __call__(
        self, model: Any, output_path: str | None = None, epoch: float = -1, steps: int = -1
    ) -> dict[str, float]:
        return self._record(score_run(self.qrels, self.run(model), self.metric), epoch, steps)


class RerankDevEvaluator(_DevEvaluator):
    """Re-rank each dev query's first-stage candidates with a cross-encoder and score the result."""

    def __init__(
        self,
        dev: DevSet,
        candidates: Run,
        *,
        metric: str = "ndcg@10",
        name: str = "dev",
        depth: int = 100,
        batch_size: int = 64,
    ) -> None:
        super().__init__(dev, metric, name)
        self.batch_size = batch_size
        self.depth = depth
        self.candidates: dict[str, list[str]] = {}
        for qid in self.qids:
            ranked = sorted(candidates.get(qid, {}).items(), key=lambda item: (-item[1], item[0]))
            self.candidates[qid] = [doc_id for doc_id, _ in ranked[:depth] if doc_id in dev.texts]
        self.first_stage: Run = {
            qid: {doc_id: float(candidates[qid][doc_id]) for doc_id in docs}
            for qid, docs in self.candidates.items()
        }

    def first_stage_score(self) -> float:
        """The bar to beat: the first-stage ranking of the same candidates, same metric."""
        return score_run(self.qrels, self.first_stage, self.metric)

    def run(self, model: Any) -> Run:
        pairs = [
            (self.dev.queries[qid], self.dev.texts[doc_id])
            for qid in self.qids
            for doc_id in self.candidates[qid]
        ]
        if not pairs:
            return {}
        scores = np.asarray(
            model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False),
            dtype=np.float64,
        ).reshape(-1)
        run: Run = {}
        position = 0
        for qid in self.qids:
            docs = self.candidates[qid]
            run[qid] = {doc_id: float(scores[position + i]) for i, doc_id in enumerate(docs)}
            position += len(docs)
        return run

    def __call__(
        self, model: Any, output_path: str | None = None, epoch: float = -1, steps: int = -1
    ) -> dict[str, float]:
        return self._record(score_run(self.qrels, self.run(model), self.metric), epoch, steps)


def dense_candidates(
    dev: DevSet, model_name: str, *, depth: int = 100, batch_size: int = 64
) -> Run:
    """A first-stage run for re-ranker evaluation: ``model_name`` (a bi-encoder) ranks the dev
    pool for every judged dev query and keeps the top ``depth``."""
    from sentence_transformers import SentenceTransformer

    from flywheel.models import resolve_model

    model = SentenceTransformer(resolve_model(model_name))
    return DenseDevEvaluator(dev, batch_size=batch_size, top_k=depth).run(model)
