"""LLM relevance judgments (UMBRELA-style rubric), their parsing, and agreement with people."""

from flywheel.judging.agreement import (
    FilledQrels,
    LabelAgreement,
    fill_unjudged,
    label_agreement,
)
from flywheel.judging.judge import (
    JudgeResult,
    Pair,
    PairSource,
    estimate_judging,
    judge_pairs,
    pairs_from_store,
    store_judgments,
)
from flywheel.judging.parse import ParsedGrade, parse_grade

__all__ = [
    "FilledQrels",
    "JudgeResult",
    "LabelAgreement",
    "Pair",
    "PairSource",
    "ParsedGrade",
    "estimate_judging",
    "fill_unjudged",
    "judge_pairs",
    "label_agreement",
    "pairs_from_store",
    "parse_grade",
    "store_judgments",
]
