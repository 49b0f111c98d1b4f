"""Quality filters: which evaluation examples may teach a model, and why the others may not.

Random examples made prompts worse in the seed's experience; the first defence is refusing bad
ones. The checks run as a funnel, cheapest first, and the first failing check is the recorded
reason (with a detail that names the numbers), so ``flywheel fewshot show`` can explain every
exclusion:

1. ``duplicate``: the same question (case and spacing ignored) as an earlier example;
2. ``negative_feedback``: users disliked the answer more often than they liked it;
3. ``no_evidence``: neither positive feedback, nor a document judged relevant, nor a label
   (an intent someone assigned is a person's judgment of the question);
4. ``no_answer`` / ``no_reasoning``: nothing to show the model (a label is the answer of a
   labelled example, which needs no reasoning: banking77-style intent data passes as it is);
5. ``too_short`` / ``too_long``: question words, and words of the whole example;
6. ``outlier``: far from every other example in embedding space (its nearest other example is
   much less similar than is typical), so it teaches a pattern no query will share.

Each check can be switched off in :class:`QualityConfig` (intent-only data has no answers).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from flywheel.errors import ConfigError
from flywheel.fewshot.examples import Example

_WORD = re.compile(r"\w+")
MIN_SPREAD = 0.1  # floor on the (scaled) MAD of nearest-neighbour similarities


class ExclusionReason(StrEnum):
    DUPLICATE = "duplicate"
    NEGATIVE_FEEDBACK = "negative_feedback"
    NO_EVIDENCE = "no_evidence"
    NO_ANSWER = "no_answer"
    NO_REASONING = "no_reasoning"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    OUTLIER = "outlier"


@dataclass(frozen=True)
class QualityConfig:
    """The filters. ``outlier_z``: robust z-score (median and MAD of every example's similarity
    to its nearest other example) below which an example is an outlier; ``None`` turns it off.
    ``min_neighbour_similarity`` adds an absolute floor."""

    require_evidence: bool = True
    require_answer: bool = True
    require_reasoning: bool = True
    min_question_words: int = 2
    max_question_words: int = 128
    max_example_words: int = 400
    outlier_z: float | None = 3.5
    min_neighbour_similarity: float | None = None

    def __post_init__(self) -> None:
        if self.min_question_words < 1:
            raise ConfigError(f"min_question_words must be >= 1, got {self.min_question_words}")
        if self.max_question_words < self.min_question_words:
            raise ConfigError(
                f"max_question_words ({self.max_question_words}) is below min_question_words "
                f"({self.min_question_words}); raise the maximum"
            )
        if self.outlier_z is not None and self.outlier_z <= 0:
            raise ConfigError(f"outlier_z must be > 0 (e.g. 3.5) or None, got {self.outlier_z}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def relaxed(cls) -> QualityConfig:
        """For data that is only questions with labels: no evidence, answer or reasoning."""
        return cls(require_evidence=False, require_answer=False, require_reasoning=False)


@dataclass(frozen=True)
class Exclusion:
    """An example left out of the library, the reason, and the numbers behind it."""

    qid: str
    reason: ExclusionReason
    detail: str


@dataclass(frozen=True)
class QualityResult:
    """Indices of the examples that passed (in input order) and the exclusions."""

    kept: list[int]
    exclusions: list[Exclusion]
    outlier_threshold: float | None = None

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for exclusion in self.exclusions:
            out[exclusion.reason.value] = out.get(exclusion.reason.value, 0) + 1
        return out


def _words(text: str | None) -> int:
    return len(_WORD.findall(text or ""))


def _first_failure(example: Example, config: QualityConfig) -> tuple[ExclusionReason, str] | None:
    if example.negative_feedback > example.positive_feedback:
        return (
            ExclusionReason.NEGATIVE_FEEDBACK,
            f"{example.negative_feedback} thumbs down vs {example.positive_feedback} up",
        )
    label = (example.intent or "").strip()
    if config.require_evidence and not (
        example.positive_feedback or example.relevant_evidence or label
    ):
        return (
            ExclusionReason.NO_EVIDENCE,
            "no positive answer feedback, no document judged relevant (grade >= 1), no label",
        )
    answer = (example.answer or "").strip()
    if config.require_answer and not (answer or label):
        return ExclusionReason.NO_ANSWER, "no reference answer and no label"
    labelled_only = bool(label) and not answer
    if config.require_reasoning and not labelled_only and not (example.reasoning or "").strip():
        return ExclusionReason.NO_REASONING, "no reasoning to show (the Thinking part)"
    words = _words(example.question)
    if words < config.min_question_words:
        return (
            ExclusionReason.TOO_SHORT,
            f"question has {words} word{'' if words == 1 else 's'}, "
            f"fewer than {config.min_question_words}",
        )
    if words > config.max_question_words:
        return (
            ExclusionReason.TOO_LONG,
            f"question has {words} words, more than {config.max_question_words}",
        )
    total = words + _words(example.answer) + _words(example.reasoning)
    if total > config.max_example_words:
        return (
            ExclusionReason.TOO_LONG,
            f"example has {total} words in all, more than {config.max_example_words}",
        )
    return None


def nearest_other_similarity(embeddings: np.ndarray) -> np.ndarray:
    """Each row's cosine similarity to its most similar *other* row (rows L2-normalised)."""
    from sklearn.neighbors import NearestNeighbors

    n = embeddings.shape[0]
    if n < 2:
        return np.ones(n, dtype=np.float32)
    index = NearestNeighbors(n_neighbors=2, metric="cosine", algorithm="brute").fit(embeddings)
    distances, positions = index.kneighbors(embeddings)
    # Identical rows can put another row first; take the nearest that is not the row itself.
    own = positions[:, 0] == np.arange(n)
    nearest = np.where(own, distances[:, 1], distances[:, 0])
    return (1.0 - nearest).astype(np.float32)


def filter_examples(
    examples: list[Example], embeddings: np.ndarray, config: QualityConfig
) -> QualityResult:
    """Run the funnel; ``embeddings[i]`` is example ``i``'s normalised question embedding."""
    if len(examples) != embeddings.shape[0]:
        raise ConfigError(f"{len(examples)} examples but {embeddings.shape[0]} embeddings")
    exclusions: list[Exclusion] = []
    kept: list[int] = []
    first_seen: dict[str, str] = {}
    for i, example in enumerate(examples):
        key = " ".join(example.question.lower().split())
        if key in first_seen:
            exclusions.append(
                Exclusion(
                    example.qid,
                    ExclusionReason.DUPLICATE,
                    f"same question as '{first_seen[key]}'",
                )
            )
            continue
        first_seen[key] = example.qid
        failure = _first_failure(example, config)
        if failure is not None:
            exclusions.append(Exclusion(example.qid, *failure))
        else:
            kept.append(i)
    threshold = None
    if (config.outlier_z is not None or config.min_neighbour_similarity is not None) and len(
        kept
    ) >= 3:
        similarity = nearest_other_similarity(embeddings[kept])
        threshold = _outlier_threshold(similarity, config)
        survivors = []
        for position, index in enumerate(kept):
            if similarity[position] < threshold:
                exclusions.append(
                    Exclusion(
                        examples[index].qid,
                        ExclusionReason.OUTLIER,
                        f"nearest other example at cosine {similarity[position]:.3f}, "
                        f"below the outlier threshold {threshold:.3f}",
                    )
                )
            else:
                survivors.append(index)
        kept = survivors
    return QualityResult(kept, exclusions, threshold)


def _outlier_threshold(similarity: np.ndarray, config: QualityConfig) -> float:
    floors = [-1.0]
    if config.outlier_z is not None:
        median = float(np.median(similarity))
        mad = float(np.median(np.abs(similarity - median))) * 1.4826
        # A tiny MAD (near-identical examples) would flag any small deviation: the spread
        # counts as at least 0.1 cosine, so only a real gap makes an outlier.
        floors.append(median - config.outlier_z * max(mad, MIN_SPREAD))
    if config.min_neighbour_similarity is not None:
        floors.append(config.min_neighbour_similarity)
    return max(floors)
