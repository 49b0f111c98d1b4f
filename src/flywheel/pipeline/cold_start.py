"""``flywheel run`` on a dataset without training queries: train on synthetic ones, say so.

When the training split is missing or has no positive judgment, :func:`plan_cold_start`
writes synthetic questions for passages stratified over the corpus - offline pseudo-questions
(inverse cloze task, the default) or a language model's (``cold_start_generator="llm"``: a
hosted model or a ``local:`` one run in-process, shown three demonstrations and the store's
unjudged real queries for style) - filters them for copies, near-duplicates and leaks against
every dev/test query (and a model's questions for a BM25 round trip to their passage), and
returns a dataset whose ``train`` split holds them. The loop then runs as usual - dev carved
from the synthetic questions gates the fine-tuned model, so the base model stays unless the
trained one wins - and the dataset's ``positive_texts`` make each pseudo-question train
against its passage *without* the question sentence (training on a passage that contains
the question verbatim teaches copying), as a store-built training set does.
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

GENERATOR_NAMES = {
    "ict": "pseudo-questions (inverse cloze task, offline)",
    "crop": "pseudo-questions (random crops, offline)",
    "llm": "questions written by {model}",
}


@dataclass
class ColdStart:
    dataset: RetrievalDataset
    config: LoopConfig
    result: SynthResult

    @property
    def copied(self) -> bool:
        """Offline questions are text cut from the documents: on them any lexical system is
        near perfect (BM25 found every SciFact ICT dev question first: dev nDCG@10 1.000), so
        a dev split carved from them cannot weigh lexical against dense evidence."""
        return self.config.cold_start_generator in ("ict", "crop")

    def fixed_selection(self, embedder_accepted: bool) -> str | None:
        """What the loop ships when dev cannot choose (copied questions): the hybrid (BM25 +
        the embedder the gate kept), the robust default across BEIR; never BM25 alone, never a
        learned re-ranker. None: dev chooses as usual."""
        if not self.copied:
            return None
        return "fine-tuned hybrid" if embedder_accepted else "base hybrid"

    @property
    def note(self) -> str:
        what = GENERATOR_NAMES[self.config.cold_start_generator].format(
            model=self.config.cold_start_model
        )
        usage = self.result.usage
        spent = ""
        if usage:
            spent = (
                f"; {usage['calls']} model calls ({usage['cached_calls']} cached), "
                f"{self.result.cost_text}"
            )
        return (
            f"cold start: the dataset has no training queries, so the embedder was trained on "
            f"{len(self.result.kept)} synthetic {what} ({self.result.report.candidates} "
            f"generated, rejected by filter {self.result.report.rejected}{spent}); dev was "
            "carved from them, and no synthetic question is in the test split."
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
    generator = config.cold_start_generator
    client = None
    if generator == "llm":
        from flywheel.hosted import HostedClient

        client = HostedClient(str(config.cold_start_model), kind="chat")
    search = None
    round_trip = config.cold_start_round_trip if client is not None else None
    if round_trip:  # pointless for ICT: the unmasked corpus holds every question verbatim
        from flywheel.retrieval.registry import build_retriever

        bm25 = build_retriever("bm25", dataset.corpus)
        search = lambda queries: bm25.search(queries, k=round_trip)  # noqa: E731
    synth = SynthConfig(
        n=COLD_START_PAIRS,
        generator=generator,
        seed=config.seed,
        # the loop's leak threshold: a synthetic question as close to a dev/test query as that
        # is dropped; None (--leak-threshold 0) checks leaks and near-duplicates by exact and
        # normalised text only, with no embedding (the query embedder goes to no filter)
        filters=FilterConfig(
            leak_threshold=config.near_duplicate_threshold, round_trip_k=round_trip
        ),
    )
    cosine = config.near_duplicate_threshold is not None
    judged = {qid for qrels in dataset.qrels.values() for qid in qrels}
    unjudged = {q: t for q, t in dataset.queries.items() if q not in judged}  # e.g. live ones
    result = synthesize(
        dataset.corpus,
        synth,
        eval_queries=eval_queries,
        embed_documents=base.encode_documents,
        embed_queries=base.encode_queries if cosine else None,
        client=client,
        real_queries=unjudged,
        search=search,
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
