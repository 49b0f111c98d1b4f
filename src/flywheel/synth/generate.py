"""Synthetic (question, source passage) pairs for a cold start, filtered, into the store.

:func:`synthesize` samples passages across the corpus, writes questions (``llm``, ``ict`` or
``crop``), and filters them; :func:`write_synthetic` stores the survivors as ``synthetic``
queries with a ``derived`` grade-1 judgment on their source document in the **train** split,
the positive of every pair whose positive is not its document's text (ICT: the passage without
the question sentence; crop: a span), and every rejection with its reason. Synthetic data
never lands in an evaluation split: :func:`write_synthetic` refuses any other split and
:func:`check_synthetic_isolation` verifies the whole store (``flywheel run`` calls it before
it trains).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from flywheel.data.types import Corpus, Document, Queries
from flywheel.errors import ConfigError, LeakageError
from flywheel.synth.filters import FilterConfig, FilterReport, apply_filters
from flywheel.synth.offline import GENERATORS
from flywheel.synth.sampling import sample_passages
from flywheel.synth.types import Rejection, SyntheticPair

logger = logging.getLogger(__name__)

TRAIN_SPLIT = "train"
SYNTHETIC_GRADE = 1


@dataclass
class SynthConfig:
    """How many questions, from which generator, and how they are filtered."""

    n: int = 100
    generator: str = "ict"  # ict | crop | llm
    clusters: int = 16
    seed: int = 42
    style_examples: int = 3
    # passage characters shown to the llm generator; None: 4000 for a hosted model, 1500 for
    # an in-process one (CPU time per local question grows with the prompt)
    passage_chars: int | None = None
    oversample: float = 1.5  # passages sampled per wanted question (filters reject some)
    filters: FilterConfig = field(default_factory=FilterConfig)

    def validate(self) -> None:
        if self.passage_chars is not None and self.passage_chars < 100:
            raise ConfigError(f"passage_chars must be >= 100, got {self.passage_chars}")
        if self.n < 1:
            raise ConfigError(f"--n must be >= 1, got {self.n}")
        if self.generator not in (*GENERATORS, "llm"):
            raise ConfigError(
                f"unknown generator '{self.generator}'; use llm, or offline: "
                f"{', '.join(GENERATORS)}"
            )


@dataclass
class SynthResult:
    kept: list[SyntheticPair]
    rejected: list[Rejection]
    report: FilterReport
    sampled: int
    usage: dict[str, Any] = field(default_factory=dict)
    cost_text: str = ""  # the model's cost as its meter words it (dollars, or seconds here)

    def summary(self) -> str:
        by = ", ".join(f"{k} {v}" for k, v in self.report.rejected.items() if v) or "none"
        return (
            f"{len(self.kept)} synthetic questions kept of {self.report.candidates} generated "
            f"from {self.sampled} sampled passages; rejected by filter: {by}"
        )


def style_examples(real: Queries, k: int, seed: int) -> list[str]:
    """A few real queries to show the LLM how users write (never evaluation queries)."""
    texts = sorted(real.values())
    return random.Random(seed).sample(texts, min(k, len(texts))) if texts else []


def synthesize(
    corpus: Corpus,
    config: SynthConfig,
    *,
    eval_queries: Queries | None = None,
    embed_documents: Callable[[list[str], list[str]], np.ndarray] | None = None,
    embed_queries: Callable[[list[str]], np.ndarray] | None = None,
    client: Any = None,
    real_queries: Queries | None = None,
    template: str | Path | None = None,
    search: Callable[[Queries], Mapping] | None = None,
    real_pairs: Sequence[tuple[str, str]] = (),
) -> SynthResult:
    """Sample, generate, filter. ``client`` (a chat HostedClient, hosted or ``local:``) is
    needed for ``llm``; ``real_pairs`` (question, judged passage) become its demonstrations."""
    config.validate()
    doc_ids = list(corpus)
    texts = {d: corpus[d].text_for_encoding for d in doc_ids}
    embeddings = embed_documents(doc_ids, [texts[d] for d in doc_ids]) if embed_documents else None
    wanted = min(len(doc_ids), max(config.n, int(config.n * config.oversample)))
    ids = sample_passages(
        doc_ids, wanted, embeddings=embeddings, clusters=config.clusters, seed=config.seed
    )
    early: list[Rejection] = []
    if config.generator == "llm":
        if client is None:
            raise ConfigError("the llm generator needs a model: pass --model (or use --offline)")
        from flywheel.synth.llm import demonstrations, llm_questions

        examples = style_examples(real_queries or {}, config.style_examples, config.seed)
        pairs, early = llm_questions(
            texts,
            ids,
            client,
            examples=examples,
            template=template,
            demos=demonstrations(real_pairs, config.style_examples, config.seed),
            passage_chars=config.passage_chars,
        )
    else:
        bodies = {d: corpus[d].text for d in ids}
        pairs = GENERATORS[config.generator](bodies, ids, seed=config.seed)
        for pair in pairs:  # train against what the retriever encodes: title + body
            title = corpus[pair.doc_id].title
            pair.positive = f"{title} {pair.positive}".strip() if title else pair.positive
    kept, rejected, report = apply_filters(
        pairs, config.filters, eval_queries=eval_queries, embed=embed_queries, search=search
    )
    for rejection in early:
        report.rejected[rejection.reason] = report.rejected.get(rejection.reason, 0) + 1
    report.candidates += len(early)
    usage = client.meter.to_dict() if client is not None else {}
    cost = client.meter.cost_text if client is not None else ""
    return SynthResult(kept[: config.n], early + rejected, report, len(ids), usage, cost)


def write_synthetic(
    store: Any,
    result: SynthResult,
    *,
    run_id: str,
    split: str = TRAIN_SPLIT,
    corpus: Mapping[str, Document] | None = None,
) -> dict[str, int]:
    """Store kept pairs (train split only), their positives and every rejection; returns counts.

    A pair whose positive differs from its document's text as encoded (``corpus``; default:
    the store's documents) keeps that positive in the store, and training sets built from the
    store use it (:attr:`RetrievalDataset.positive_texts`): an ICT question trained against the
    document it was cut from learns to copy. Queries, judgments and positives are written in
    one transaction; a pair stored again gets its positive replaced, not duplicated.
    """
    if split != TRAIN_SPLIT:
        raise LeakageError(
            f"synthetic questions go to the '{TRAIN_SPLIT}' split only, not '{split}': an "
            "evaluation split must hold real queries"
        )
    from flywheel.store.hosted import add_synthetic_rejections
    from flywheel.store.synthetic import add_synthetic_pairs

    queries = [{"qid": p.qid, "text": p.question, "source": "synthetic"} for p in result.kept]
    judgments = [
        {
            "qid": p.qid,
            "doc_id": p.doc_id,
            "grade": SYNTHETIC_GRADE,
            "source": "derived",
            "split": TRAIN_SPLIT,
        }
        for p in result.kept
    ]
    positives = 0
    if queries:
        documents = corpus if corpus is not None else store.corpus()
        rows = [
            {"qid": p.qid, "doc_id": p.doc_id, "generator": p.generator, "text": p.positive}
            for p in result.kept
            if p.doc_id not in documents or p.positive != documents[p.doc_id].text_for_encoding
        ]
        written = add_synthetic_pairs(store, queries, judgments, rows, split=TRAIN_SPLIT)
        positives = int(written["positives"])
    rejected = add_synthetic_rejections(store, run_id, [r.to_row() for r in result.rejected])
    check_synthetic_isolation(store)
    return {"kept": len(queries), "positives": positives, "rejected": rejected}


def check_synthetic_isolation(store: Any) -> None:
    """Raise :class:`LeakageError` if any synthetic query is judged outside the train split."""
    synthetic = set(store.queries(source="synthetic"))
    if not synthetic:
        return
    bad = sorted(
        {j.qid for j in store.judgments() if j.qid in synthetic and j.split != TRAIN_SPLIT}
    )
    if bad:
        raise LeakageError(
            f"{len(bad)} synthetic queries are judged outside the train split (e.g. {bad[0]}); "
            "evaluation splits must hold real queries only - delete those judgments"
        )


def positives_for(pairs: Sequence[SyntheticPair]) -> dict[str, str]:
    """``{question: positive}`` - the masked passage to train each question against."""
    return {p.question: p.positive for p in pairs}
