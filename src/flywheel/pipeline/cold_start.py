"""``flywheel run`` on a dataset without training queries: train on synthetic ones, say so.

When the training split is missing or has no positive judgment, :func:`plan_cold_start`
writes offline pseudo-questions (inverse cloze task, stratified over the corpus, filtered for
copies, near-duplicates and leaks against every dev/test query) and returns a dataset whose
``train`` split holds them. The loop then runs as usual - dev carved from the synthetic
questions gates the fine-tuned model, so the base model stays unless the trained one wins -
and the dataset's ``positive_texts`` make each synthetic question train against its passage
*without* the question sentence (training on a passage that contains the question verbatim
teaches copying), as a store-built training set does.
The recipe is gentler than for real data (1 epoch, lr 1e-5): on SciFact the default 3 epochs
at 5e-5 on pseudo-questions lowered test nDCG@10 (see docs/cold-start.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from flywheel.data.types import RetrievalDataset
from flywheel.pipeline.config import LoopConfig
from flywheel.pipeline.stages import loop_embedder
from flywheel.retrieval.embedders import Embedder
from flywheel.synth.filters import FilterConfig
from flywheel.synth.generate import SynthConfig, SynthResult, synthesize

COLD_START_PAIRS = 1000
COLD_START_EPOCHS = 1
COLD_START_LR = 1e-5


@dataclass
class ColdStart:
    dataset: RetrievalDataset
    config: LoopConfig
    result: SynthResult

    @property
    def note(self) -> str:
        return (
            f"cold start: the dataset has no training queries, so the embedder was trained on "
            f"{len(self.result.kept)} synthetic pseudo-questions (inverse cloze task, offline; "
            f"{self.result.report.candidates} generated, rejected by filter "
            f"{self.result.report.rejected}); dev was carved from them, and no synthetic "
            "question is in the test split."
        )


def needs_cold_start(dataset: RetrievalDataset, config: LoopConfig) -> bool:
    qrels = dataset.qrels.get(config.train_split, {})
    return not any(g > 0 for grades in qrels.values() for g in grades.values())


def plan_cold_start(
    dataset: RetrievalDataset,
    config: LoopConfig,
    *,
    say: Callable[[str], None],
    embedder: Embedder | None = None,
) -> ColdStart | None:
    """None when the dataset has training queries; else the dataset with synthetic ones.

    ``embedder`` (default: the loop's base model) clusters passages for sampling and checks
    near-duplicates and leaks."""
    if not needs_cold_start(dataset, config):
        return None
    eval_queries = {
        qid: dataset.queries[qid]
        for split, qrels in dataset.qrels.items()
        if split != config.train_split
        for qid in qrels
        if qid in dataset.queries
    }
    base = embedder or loop_embedder(config, config.base_model)
    synth = SynthConfig(
        n=COLD_START_PAIRS, generator="ict", seed=config.seed, filters=FilterConfig()
    )
    result = synthesize(
        dataset.corpus,
        synth,
        eval_queries=eval_queries,
        embed_documents=base.encode_documents,
        embed_queries=base.encode_queries,
    )
    say(result.summary())
    queries = {**dataset.queries, **{p.qid: p.question for p in result.kept}}
    qrels = dict(dataset.qrels)
    qrels[config.train_split] = {p.qid: {p.doc_id: 1} for p in result.kept}
    embedder = config.embedder.model_copy(
        update={"epochs": COLD_START_EPOCHS, "learning_rate": COLD_START_LR}
    )
    positives = {p.qid: {p.doc_id: p.positive} for p in result.kept}
    return ColdStart(
        dataset=replace(
            dataset,
            queries=queries,
            qrels=qrels,
            positive_texts={**dataset.positive_texts, **positives},
        ),
        config=config.model_copy(update={"embedder": embedder}),
        result=result,
    )
