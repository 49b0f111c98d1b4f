"""Pseudo-questions cut from the corpus itself: no LLM, works air-gapped and in CI.

* **Inverse cloze task** (ICT; Lee et al., 2019): one sentence of a passage is the question,
  the passage with that sentence removed is the positive. A real query is rarely a sentence
  lifted from its answer, so ICT teaches "which passage does this statement belong to".
* **Independent cropping** (Contriever; Izacard et al., 2022): two random spans of the same
  passage are question and positive; they may overlap, which the copy filter catches.

Good for: a start when nothing else exists, a domain's vocabulary, keeping a pipeline running
offline. Not good for: question-shaped queries, intent, or anything the corpus does not say in
one sentence; on a model already trained on a billion pairs it often teaches nothing new (see
docs/cold-start.md for what the SciFact benchmark measured).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping

from flywheel.synth.types import SyntheticPair

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"'])")


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]


def inverse_cloze(
    passages: Mapping[str, str],
    ids: Iterable[str],
    *,
    min_words: int = 6,
    max_words: int = 40,
    seed: int = 42,
) -> list[SyntheticPair]:
    """One ICT pair per passage that has a usable sentence and something left without it."""
    rng = random.Random(seed)
    out = []
    for doc_id in ids:
        parts = sentences(passages[doc_id])
        usable = [i for i, s in enumerate(parts) if min_words <= len(s.split()) <= max_words]
        if len(parts) < 2 or not usable:
            continue
        index = rng.choice(usable)
        rest = " ".join(parts[:index] + parts[index + 1 :])
        out.append(
            SyntheticPair(parts[index], doc_id, rest, "ict", {"sentence": index, "of": len(parts)})
        )
    return out


def independent_crops(
    passages: Mapping[str, str],
    ids: Iterable[str],
    *,
    min_ratio: float = 0.1,
    max_ratio: float = 0.5,
    min_words: int = 5,
    seed: int = 42,
) -> list[SyntheticPair]:
    """Two independent random spans per passage: question (shorter, capped at 32 words) and
    positive."""
    rng = random.Random(seed)
    out = []
    for doc_id in ids:
        words = passages[doc_id].split()
        if len(words) < 2 * min_words:
            continue

        question = _crop(words, rng, min_ratio, max_ratio, min_words, cap=32)
        positive = _crop(words, rng, min_ratio, max_ratio, min_words)
        out.append(SyntheticPair(question, doc_id, positive, "crop"))
    return out


def _crop(
    words: list[str],
    rng: random.Random,
    min_ratio: float,
    max_ratio: float,
    min_words: int,
    cap: int | None = None,
) -> str:
    size = max(min_words, int(len(words) * rng.uniform(min_ratio, max_ratio)))
    size = min(size, cap or size, len(words))
    start = rng.randrange(0, len(words) - size + 1)
    return " ".join(words[start : start + size])


GENERATORS = {"ict": inverse_cloze, "crop": independent_crops}
