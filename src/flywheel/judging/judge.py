"""LLM relevance judgments: grade (query, passage) pairs with a rubric, store them as ``llm``.

Pairs come from the store (:func:`pairs_from_store`): what users were shown (``logs``), the top
``k`` of a retriever (``topk``), or mined hard negatives (``negatives`` - grading them catches
false negatives before they poison training). :func:`judge_pairs` renders the rubric, sends it
through a :class:`~flywheel.hosted.client.HostedClient` (cached, retried, budgeted), and parses
every reply; a reply without a usable grade is rejected with its reason, never guessed.
A model run in-process (``local:...``, usually a small base model that does not follow the
rubric's answer format) is read by constrained choice instead: the rubric is followed by
``##final score:`` and the grade is the most likely of `` 0`` .. `` N`` (:func:`judge_kind`).
:func:`store_judgments` writes the grades with source ``llm`` and the scale they were given on
(3 or 5): the store ranks them below human and benchmark labels (human > benchmark > llm >
derived), so they never override a person. What they do to training data (an LLM's 1, "related
but does not answer", is not a positive) is in :mod:`flywheel.judging.labels`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from flywheel.errors import ConfigError
from flywheel.hosted.client import HostedClient, Request, chat_request, choice_request
from flywheel.hosted.providers import parse_model
from flywheel.hosted.usage import Estimate
from flywheel.judging.parse import parse_grade
from flywheel.judging.rubric import SCALES, load_template, render

logger = logging.getLogger(__name__)


class PairSource(StrEnum):
    LOGS = "logs"
    TOPK = "topk"
    NEGATIVES = "negatives"


@dataclass(frozen=True, slots=True)
class Pair:
    """A (query, passage) to grade; ``target`` is a doc_id (or chunk_id with ``chunk=True``)."""

    qid: str
    query: str
    target: str
    passage: str
    chunk: bool = False


@dataclass
class JudgeResult:
    """Grades that parsed, replies rejected with their reasons, and what it cost."""

    grades: list[tuple[Pair, int]] = field(default_factory=list)
    rejected: list[tuple[Pair, str]] = field(default_factory=list)
    not_sent: list[tuple[Pair, str]] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)
    scale: int = 3

    def qrels(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for pair, grade in self.grades:
            out.setdefault(pair.qid, {})[pair.target] = grade
        return out

    def summary(self) -> str:
        counts: dict[int, int] = {}
        for _, grade in self.grades:
            counts[grade] = counts.get(grade, 0) + 1
        dist = ", ".join(f"{g}: {counts[g]}" for g in sorted(counts))
        cost = self.usage.get("cost_usd")
        money = "unknown" if cost is None else f"${cost:.4f}"
        if self.usage.get("in_process"):
            money = f"{self.usage.get('provider_seconds', 0.0):.1f}s here"
        return (
            f"{len(self.grades)} graded ({dist or 'none'}), {len(self.rejected)} replies "
            f"rejected, {len(self.not_sent)} not sent; {self.usage.get('calls', 0)} calls, "
            f"{self.usage.get('cached_calls', 0)} cached, cost {money}"
        )


CHOICE_CUE = "\n##final score:"


def judge_kind(model: str) -> str:
    """``choice`` for providers that score continuations (in-process models), else ``chat``."""
    spec, _ = parse_model(model)
    return "choice" if "choice" in spec.kinds else "chat"


def build_requests(
    pairs: Sequence[Pair],
    *,
    scale: int,
    template: str | Path | None,
    max_tokens: int,
    kind: str = "chat",
) -> list[Request]:
    if scale not in SCALES:  # before any work, even with no pairs: the scale is stored
        raise ConfigError(f"scale must be one of {SCALES} (0-3 as TREC, or 0-5), got {scale}")
    compiled = load_template(template)
    if kind == "choice":
        grades = [f" {g}" for g in range(scale + 1)]
        return [
            choice_request(render(compiled, p.query, p.passage, scale=scale) + CHOICE_CUE, grades)
            for p in pairs
        ]
    return [
        chat_request(
            render(compiled, pair.query, pair.passage, scale=scale),
            max_tokens=max_tokens,
            temperature=0,
        )
        for pair in pairs
    ]


def estimate_judging(
    pairs: Sequence[Pair],
    client: HostedClient,
    *,
    scale: int = 3,
    template: str | Path | None = None,
    max_tokens: int = 20,
) -> Estimate:
    """What grading ``pairs`` would send and cost (``--dry-run``); nothing is sent."""
    return client.estimate(
        build_requests(
            pairs, scale=scale, template=template, max_tokens=max_tokens, kind=client.kind
        )
    )


def judge_pairs(
    pairs: Sequence[Pair],
    client: HostedClient,
    *,
    scale: int = 3,
    template: str | Path | None = None,
    max_tokens: int = 20,
) -> JudgeResult:
    """Grade every pair (cache first); keep what parses, reject the rest with a reason."""
    requests = build_requests(
        pairs, scale=scale, template=template, max_tokens=max_tokens, kind=client.kind
    )
    outcomes = client.run(requests, description=f"Judging {len(pairs)} pairs ({client.name})")
    result = JudgeResult(scale=scale)
    for pair, outcome in zip(pairs, outcomes, strict=True):
        if not outcome.ok:
            result.not_sent.append((pair, outcome.error or "no answer"))
            continue
        parsed = parse_grade(
            outcome.result.get("text"), scale=scale, refusal=outcome.result.get("refusal")
        )
        if parsed.ok:
            result.grades.append((pair, parsed.grade))
        else:
            result.rejected.append((pair, parsed.reason))
    result.usage = client.meter.to_dict()
    return result


def store_judgments(store: Any, result: JudgeResult, *, split: str | None = None) -> int:
    """Write the grades as source ``llm`` with their scale (``result.scale``), replacing earlier
    LLM grades of the same pairs. Grades stay on the rubric's own scale: ``flywheel judge
    agreement`` compares them with people's grades on that scale, and training maps them
    (:mod:`flywheel.judging.labels`) using the recorded scale."""
    rows = [
        {
            "qid": pair.qid,
            ("chunk_id" if pair.chunk else "doc_id"): pair.target,
            "grade": grade,
            "source": "llm",
            "split": split,
            "scale": result.scale,
        }
        for pair, grade in result.grades
    ]
    if not rows:
        return 0
    report = store.add_judgments(rows, source="llm", replace=True)
    return report.added + report.updated + report.unchanged


def pairs_from_store(
    store: Any,
    source: str,
    *,
    k: int = 10,
    split: str | None = None,
    max_queries: int | None = None,
    retriever: str = "bm25",
    seed: int = 42,
) -> list[Pair]:
    """Pairs to grade from the store's queries and documents (see the module docstring).

    ``topk`` and ``negatives`` search the stored corpus with ``retriever`` (any registry spec);
    ``negatives`` keeps ranks 3..``k``+2 that no judgment marks relevant. ``logs`` takes every
    retrieved (query, chunk or document) logged by the app.
    """
    try:
        source = PairSource(source)
    except ValueError:
        known = ", ".join(s.value for s in PairSource)
        raise ConfigError(f"unknown pair source '{source}'; use one of: {known}") from None
    queries = store.queries()
    corpus = store.corpus()
    if not corpus:
        raise ConfigError("the store has no documents; ingest a corpus first (flywheel ingest)")
    qrels = store.qrels(split=split) if split else {}
    if split:
        queries = {q: t for q, t in queries.items() if q in qrels}
    qids = sorted(queries)
    if max_queries is not None and len(qids) > max_queries:
        import random

        qids = sorted(random.Random(seed).sample(qids, max_queries))
    texts = {d: doc.text_for_encoding for d, doc in corpus.items()}
    if source is PairSource.LOGS:
        return _logged_pairs(store, {q: queries[q] for q in qids}, texts)
    from flywheel.retrieval.base import ranked_ids
    from flywheel.retrieval.registry import build_retriever

    depth = k if source is PairSource.TOPK else k + 2
    run = build_retriever(retriever, corpus).search({q: queries[q] for q in qids}, k=depth)
    known = store.qrels()
    pairs = []
    for qid in qids:
        ranked = ranked_ids(run.get(qid, {}))
        if source is PairSource.NEGATIVES:
            ranked = [d for d in ranked[2:] if known.get(qid, {}).get(d, 0) <= 0]
        pairs += [Pair(qid, queries[qid], d, texts[d]) for d in ranked[:k]]
    return pairs


def _logged_pairs(store: Any, queries: Mapping[str, str], texts: Mapping[str, str]) -> list[Pair]:
    pairs, seen = [], set()
    chunk_texts: dict[str, str] = {}
    for strategy in store.chunk_strategies():
        chunk_texts.update({c: d.text for c, d in store.chunks(strategy).items()})
    for event in store.events("retrieval"):
        if event.qid not in queries:
            continue
        for target, _rank, _score in event.results:
            if (event.qid, target) in seen:
                continue
            seen.add((event.qid, target))
            if target in chunk_texts:
                pairs.append(Pair(event.qid, queries[event.qid], target, chunk_texts[target], True))
            elif target in texts:
                pairs.append(Pair(event.qid, queries[event.qid], target, texts[target]))
    return pairs
