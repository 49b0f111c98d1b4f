from __future__ import annotations

import numpy as np
import pytest

from flywheel.errors import ConfigError
from flywheel.fewshot import Example, ExclusionReason, QualityConfig, filter_examples
from flywheel.fewshot.quality import nearest_other_similarity


def _good(qid: str, question: str = "how do I reset my password") -> Example:
    return Example(
        qid, question, answer="use the link", reasoning="it is in settings", positive_feedback=1
    )


def test_every_exclusion_reason_is_recorded_with_its_detail(embedder) -> None:
    examples = [
        _good("ok"),
        _good("dup", "How do I  reset my password"),  # same question, other case and spacing
        Example(
            "disliked",
            "why was I charged twice",
            "a",
            "r",
            negative_feedback=2,
            positive_feedback=1,
        ),
        Example("no-evidence", "why was I charged twice today", "a", "r"),
        Example("judged", "where is my parcel now", "a", "r", relevant_evidence=1),
        Example("no-answer", "where is my parcel today", None, "r", positive_feedback=1),
        Example("no-reasoning", "where is my parcel please", "a", None, positive_feedback=1),
        _good("short", "refund"),
        _good("long", " ".join(["word"] * 20)),
    ]
    config = QualityConfig(max_question_words=10, outlier_z=None)
    vectors = embedder.encode_queries([e.question for e in examples])
    result = filter_examples(examples, vectors, config)
    reasons = {x.qid: x.reason for x in result.exclusions}
    assert reasons == {
        "dup": ExclusionReason.DUPLICATE,
        "disliked": ExclusionReason.NEGATIVE_FEEDBACK,
        "no-evidence": ExclusionReason.NO_EVIDENCE,
        "no-answer": ExclusionReason.NO_ANSWER,
        "no-reasoning": ExclusionReason.NO_REASONING,
        "short": ExclusionReason.TOO_SHORT,
        "long": ExclusionReason.TOO_LONG,
    }
    assert [examples[i].qid for i in result.kept] == ["ok", "judged"]  # judged evidence counts
    details = {x.qid: x.detail for x in result.exclusions}
    assert details["dup"] == "same question as 'ok'"
    assert details["short"] == "question has 1 word, fewer than 2"
    assert details["long"] == "question has 20 words, more than 10"
    assert details["disliked"] == "2 thumbs down vs 1 up"
    assert result.counts()["duplicate"] == 1


def test_relaxed_filters_keep_questions_without_answers(embedder) -> None:
    examples = [Example("a", "where is my parcel"), Example("b", "reset my password now")]
    result = filter_examples(
        examples, embedder.encode_queries([e.question for e in examples]), QualityConfig.relaxed()
    )
    assert result.kept == [0, 1] and result.exclusions == []


def test_an_example_far_from_all_others_is_an_outlier(examples, embedder) -> None:
    odd = Example("odd", "volcano lava magma eruption", "a", "r", positive_feedback=1)
    pool = [*examples, odd]
    vectors = embedder.encode_queries([e.question for e in pool])
    result = filter_examples(pool, vectors, QualityConfig())
    assert [(x.qid, x.reason) for x in result.exclusions] == [("odd", ExclusionReason.OUTLIER)]
    assert "below the outlier threshold" in result.exclusions[0].detail
    assert result.outlier_threshold is not None
    off = filter_examples(pool, vectors, QualityConfig(outlier_z=None))
    assert off.exclusions == []


def test_nearest_other_similarity_by_hand() -> None:
    vectors = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]], dtype=np.float32)
    assert nearest_other_similarity(vectors) == pytest.approx([0.8, 0.8, 0.6])


def test_bad_config_says_how_to_fix() -> None:
    with pytest.raises(ConfigError, match="raise the maximum"):
        QualityConfig(min_question_words=5, max_question_words=3)


def test_labelled_intent_questions_pass_the_default_filters(embedder) -> None:
    """banking77-style data: questions with a label, no answer, reasoning or feedback."""
    examples = [
        Example("a", "my card has not arrived yet", intent="card_arrival"),
        Example("b", "I lost my card on the bus", intent="lost_or_stolen_card"),
        Example("c", "what is the exchange rate today", intent="exchange_rate"),
        Example("bare", "is there anything at all here"),  # no label: still no evidence
    ]
    vectors = embedder.encode_queries([e.question for e in examples])
    result = filter_examples(examples, vectors, QualityConfig(outlier_z=None))
    assert [examples[i].qid for i in result.kept] == ["a", "b", "c"]
    assert [(x.qid, x.reason) for x in result.exclusions] == [("bare", ExclusionReason.NO_EVIDENCE)]
