"""The learned re-ranker stage: LambdaMART over the first stages' candidates, gated on dev.

No pretrained cross-encoder installs offline, so the loop's re-ranking stage is learned from the
data it has (:mod:`flywheel.training.ltr`): each first stage's score and rank, their fusion,
lexical matches. It learns only from the dev queries - no first stage was trained on them, so
the fine-tuned embedder's scores there are honest - and the gate cross-validates over them
(every dev query re-ranked by a model that never saw it) against the best first stage on dev.
Accepted, it is refitted on all dev queries and applied to the test queries. A fine-tuned
cross-encoder that passed its own gate adds its scores as one more feature (``extra_runs``), and
a store with logs adds what users did with each document for other queries (``doc_signals``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flywheel.data.types import Corpus, Run
from flywheel.pipeline.config import LoopConfig
from flywheel.pipeline.splits import LoopSplits
from flywheel.pipeline.stages import Timings, restrict
from flywheel.retrieval.features import CandidateFeaturizer
from flywheel.training.ltr_gate import gate_ltr_reranker

LEARNED = "learned re-rank"
MIN_DEV_QUERIES = 10  # five folds of two queries each: below that no test can say anything


def train_learned_reranker(
    config: LoopConfig,
    splits: LoopSplits,
    *,
    features_from: Mapping[str, Run],
    extra_runs: Mapping[str, Run] | None = None,
    doc_signals: Mapping[str, Mapping[str, float]] | None = None,
    first_stage: str,
    first_run: Run,
    corpus: Corpus,
    timings: Timings,
    out: Path,
    say: Callable[[str], None],
) -> tuple[dict[str, Any], Run | None]:
    """Gate a LambdaMART re-ranker on the dev queries against ``first_stage``; returns its
    record and, when accepted, its run over the dev (out-of-fold) and test queries.
    ``doc_signals``: behaviour per document from the logs of training queries only
    (:func:`~flywheel.datasets.document_signals.document_signals`)."""
    judged = [q for q in splits.dev_q if any(g > 0 for g in splits.dev_qrels.get(q, {}).values())]
    if len(judged) < MIN_DEV_QUERIES:
        verdict = (
            f"learned re-ranker: skipped - {len(judged)} judged dev queries, it needs at least "
            f"{MIN_DEV_QUERIES} to be gated; the first stage stays"
        )
        say(verdict)
        return {"accepted": False, "verdict": verdict, "first_stage_name": first_stage}, None
    with timings.stage("learned re-ranker"):
        featurizer = CandidateFeaturizer(corpus, depth=config.learned_reranker_depth)
        extra = dict(extra_runs or {})

        def build(queries: Mapping[str, str]):  # noqa: ANN202 - CandidateFeatures
            return featurizer.build(
                queries,
                {n: restrict(r, queries) for n, r in features_from.items()},
                extra_runs={n: restrict(r, queries) for n, r in extra.items()} or None,
                doc_signals=doc_signals,
            )

        dev = build(splits.dev_q)
        gate = gate_ltr_reranker(
            dev,
            splits.dev_qrels,
            restrict(first_run, splits.dev_q),
            metric=config.primary_metric,
            exclude_qids=splits.train_q,
        )
        verdict = f"{gate.verdict} (against {first_stage}, the best first stage on dev)"
        say(verdict)
        info: dict[str, Any] = {
            **gate.to_dict(),
            "verdict": verdict,
            "first_stage_name": first_stage,
            "features": list(dev.names),
        }
        info.pop("per_query", None)
        if not gate.accepted or gate.reranker is None:
            return info, None
        path = gate.reranker.save(out / "learned-reranker")
        info["model_path"] = str(path)
        info["importances"] = gate.reranker.importances()
        test = build(splits.test_q)
        run = {**gate.reranked_run, **gate.reranker.rerank(test)}
    return info, run
