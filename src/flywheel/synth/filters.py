"""Filters for synthetic questions; every rejection keeps the filter's name and its evidence.

* :func:`copy_filter` - the question copies a long run of words from its positive (n-gram
  overlap): such a question is answered by string matching and teaches nothing.
* :func:`near_duplicate_filter` - the same question twice (normalised text, or embedding
  cosine above a threshold): the first one stays.
* :func:`leak_filter` - too close to an evaluation query (:func:`flywheel.datasets.splits.
  check_leakage`): training on it would inflate the measured lift.
* :func:`round_trip_filter` - the source passage does not come back in the top ``k`` of a
  retriever for the question (Promptagator's consistency check): the question is vague or wrong.

Each takes pairs and returns ``(kept, rejected)``; :func:`apply_filters` chains them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from flywheel.data.types import Queries
from flywheel.datasets.splits import check_leakage, normalize_query
from flywheel.synth.types import Rejection, SyntheticPair

_WORD = re.compile(r"\w+")
Embed = Callable[[list[str]], np.ndarray]
Filtered = tuple[list[SyntheticPair], list[Rejection]]


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def longest_common_run(a: str, b: str) -> tuple[int, str]:
    """Length (in words) and text of the longest run of words of ``a`` found in ``b``."""
    wa, wb = _words(a), _words(b)
    best, end = 0, 0
    previous = [0] * (len(wb) + 1)
    for i in range(1, len(wa) + 1):
        current = [0] * (len(wb) + 1)
        for j in range(1, len(wb) + 1):
            if wa[i - 1] == wb[j - 1]:
                current[j] = previous[j - 1] + 1
                if current[j] > best:
                    best, end = current[j], i
        previous = current
    return best, " ".join(wa[end - best : end])


def ngram_overlap(a: str, b: str, n: int = 3) -> float:
    """Share of ``a``'s word n-grams that also occur in ``b`` (0 when ``a`` has none)."""
    wa, wb = _words(a), _words(b)
    grams_a = {tuple(wa[i : i + n]) for i in range(len(wa) - n + 1)}
    if not grams_a:
        return 0.0
    grams_b = {tuple(wb[i : i + n]) for i in range(len(wb) - n + 1)}
    return len(grams_a & grams_b) / len(grams_a)


def copy_filter(
    pairs: Sequence[SyntheticPair], *, max_run: int = 6, max_overlap: float = 0.5, n: int = 3
) -> Filtered:
    """Reject a question sharing a run of ``max_run``+ words, or over ``max_overlap`` of its
    word ``n``-grams, with its positive."""
    kept, rejected = [], []
    for pair in pairs:
        run, span = longest_common_run(pair.question, pair.positive)
        overlap = ngram_overlap(pair.question, pair.positive, n)
        if run >= max_run:
            rejected.append(Rejection(pair, "copy", f"{run} words copied: '{span}'"))
        elif overlap > max_overlap:
            rejected.append(Rejection(pair, "copy", f"{overlap:.0%} of {n}-grams copied"))
        else:
            kept.append(pair)
    return kept, rejected


def near_duplicate_filter(
    pairs: Sequence[SyntheticPair], *, embed: Embed | None = None, threshold: float = 0.95
) -> Filtered:
    """Keep the first of each group of duplicates (same normalised text, or cosine >=
    ``threshold`` when ``embed`` is given)."""
    kept: list[SyntheticPair] = []
    rejected: list[Rejection] = []
    seen: dict[str, SyntheticPair] = {}
    vectors = embed([p.question for p in pairs]) if embed is not None and pairs else None
    kept_rows: list[int] = []
    for i, pair in enumerate(pairs):
        key = normalize_query(pair.question)
        if key in seen:
            rejected.append(Rejection(pair, "near-duplicate", f"same text as '{seen[key].qid}'"))
            continue
        if vectors is not None and kept_rows:
            sims = vectors[kept_rows] @ vectors[i]
            best = int(np.argmax(sims))
            if sims[best] >= threshold:
                other = kept[best]
                rejected.append(
                    Rejection(
                        pair, "near-duplicate", f"cosine {sims[best]:.3f} with '{other.question}'"
                    )
                )
                continue
        seen[key] = pair
        kept.append(pair)
        kept_rows.append(i)
    return kept, rejected


def leak_filter(
    pairs: Sequence[SyntheticPair],
    eval_queries: Queries,
    *,
    embed: Embed | None = None,
    threshold: float = 0.9,
) -> Filtered:
    """Reject questions equal or (with ``embed``) too similar to any evaluation query."""
    if not pairs or not eval_queries:
        return list(pairs), []
    train = {p.qid: p.question for p in pairs}
    train_emb = eval_emb = None
    if embed is not None:
        train_emb = embed(list(train.values()))
        eval_emb = embed(list(eval_queries.values()))
    report = check_leakage(
        train,
        eval_queries,
        train_embeddings=train_emb,
        eval_embeddings=eval_emb,
        threshold=threshold,
        force=True,
    )
    why: dict[str, str] = {}
    for train_qid, eval_qid, reason, score in report.overlaps:
        why.setdefault(
            train_qid,
            f"{reason} {score:.3f} with evaluation query {eval_qid}: '{eval_queries[eval_qid]}'",
        )
    kept = [p for p in pairs if p.qid not in why]
    return kept, [Rejection(p, "leak", why[p.qid]) for p in pairs if p.qid in why]


def round_trip_filter(
    pairs: Sequence[SyntheticPair], search: Callable[[Queries], Mapping], *, k: int = 10
) -> Filtered:
    """Keep a question only if ``search`` (a retriever's search over the corpus, ``k`` deep)
    returns its source document in the top ``k``."""
    if not pairs:
        return [], []
    run = search({p.qid: p.question for p in pairs})
    kept, rejected = [], []
    for pair in pairs:
        ranked = sorted(run.get(pair.qid, {}).items(), key=lambda kv: -kv[1])[:k]
        ids = [doc_id for doc_id, _ in ranked]
        if pair.doc_id in ids:
            kept.append(pair)
        else:
            rejected.append(Rejection(pair, "round-trip", f"source not in the top {k}"))
    return kept, rejected


@dataclass
class FilterConfig:
    """Which filters run, and their thresholds (``None`` switches one off)."""

    max_copied_run: int | None = 6
    max_ngram_overlap: float = 0.5
    near_duplicate_threshold: float | None = 0.95
    leak_threshold: float | None = 0.9
    round_trip_k: int | None = None  # off by default: it needs a retriever and costs a search


@dataclass
class FilterReport:
    """Pairs in, kept, and rejected per filter."""

    candidates: int = 0
    kept: int = 0
    rejected: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {"candidates": self.candidates, "kept": self.kept, "rejected": dict(self.rejected)}


def apply_filters(
    pairs: Sequence[SyntheticPair],
    config: FilterConfig,
    *,
    eval_queries: Queries | None = None,
    embed: Embed | None = None,
    search: Callable[[Queries], Mapping] | None = None,
) -> tuple[list[SyntheticPair], list[Rejection], FilterReport]:
    """Copy, near-duplicate, leak, then round-trip (cheapest first)."""
    report = FilterReport(candidates=len(pairs))
    kept, rejected = list(pairs), []

    def run(name: str, result: Filtered) -> None:
        nonlocal kept
        kept, dropped = result
        rejected.extend(dropped)
        report.rejected[name] = len(dropped)

    if config.max_copied_run is not None:
        run(
            "copy",
            copy_filter(kept, max_run=config.max_copied_run, max_overlap=config.max_ngram_overlap),
        )
    if config.near_duplicate_threshold is not None:
        run(
            "near-duplicate",
            near_duplicate_filter(kept, embed=embed, threshold=config.near_duplicate_threshold),
        )
    run(
        "leak",
        leak_filter(kept, eval_queries or {}, embed=embed, threshold=config.leak_threshold or 1.01),
    )
    if config.round_trip_k is not None and search is not None:
        run("round-trip", round_trip_filter(kept, search, k=config.round_trip_k))
    report.kept = len(kept)
    return kept, rejected, report
