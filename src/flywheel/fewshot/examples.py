"""Where few-shot examples come from: the store's evaluation queries, or a JSONL file.

An :class:`Example` is a question with its reference answer, optional reasoning and intent, and
the evidence that it is a good one: positive answer feedback logged by users and documents
judged relevant to it. The quality filters (:mod:`flywheel.fewshot.quality`) read that evidence;
nothing here decides.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flywheel.data.events import AnswerFeedbackEvent, EventKind
from flywheel.errors import DataFormatError
from flywheel.store.readers import read_records
from flywheel.store.records import RecordError

#: Field names accepted for each part of an example (first present wins).
QUESTION_FIELDS = ("question", "text", "query")
ANSWER_FIELDS = ("answer", "reference_answer")
ID_FIELDS = ("qid", "_id", "id", "query_id")
INTENT_FIELDS = ("intent", "label")


@dataclass(frozen=True, slots=True)
class Example:
    """One candidate example. Evidence counts are 0 when the source has none."""

    qid: str
    question: str
    answer: str | None = None
    reasoning: str | None = None
    intent: str | None = None
    positive_feedback: int = 0
    negative_feedback: int = 0
    relevant_evidence: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def examples_from_store(store: Any, *, source: str | None = "eval") -> list[Example]:
    """Queries of ``source`` (None: all) with their answers, reasoning, intent and evidence.

    Evidence: ``answer_feedback`` events (thumbs up/down on the answer) and judgments with
    grade >= 1 from any source, counted per query.
    """
    records = store.query_records(source)
    positive: Counter[str] = Counter()
    negative: Counter[str] = Counter()
    for event in store.events(EventKind.ANSWER_FEEDBACK):
        if isinstance(event, AnswerFeedbackEvent):
            (positive if event.positive else negative)[event.qid] += 1
    relevant: Counter[str] = Counter(j.qid for j in store.judgments() if j.grade >= 1)
    return [
        Example(
            qid=r.qid,
            question=r.text,
            answer=r.reference_answer,
            reasoning=r.reasoning,
            intent=r.intent,
            positive_feedback=positive[r.qid],
            negative_feedback=negative[r.qid],
            relevant_evidence=relevant[r.qid],
        )
        for r in records
    ]


def _first(fields: dict[str, Any], names: Iterable[str]) -> tuple[str | None, Any]:
    for name in names:
        value = fields.get(name)
        if value is not None and value != "":
            return name, value
    return None, None


def _text(fields: dict[str, Any], names: tuple[str, ...], required: bool) -> str | None:
    name, value = _first(fields, names)
    if value is None:
        if required:
            raise RecordError("missing", f"give each example a '{names[0]}'", names[0])
        return None
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise RecordError(f"expected text, got {type(value).__name__}", "write a string", name)
    return str(value)


def _count(fields: dict[str, Any], name: str) -> int:
    value = fields.get(name)
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int) and value >= 0:
        return value
    raise RecordError(f"{value!r} is not a count", "write a whole number >= 0 or true/false", name)


def parse_example(fields: dict[str, Any], *, line: int, intent_field: str | None = None) -> Example:
    """One JSONL record as an :class:`Example`; ``intent_field`` names the label column."""
    qid = _text(fields, ID_FIELDS, required=False) or f"line-{line}"
    question = _text(fields, QUESTION_FIELDS, required=True) or ""
    if not question.strip():
        raise RecordError("empty", "remove the example or write its question", "question")
    intent_names = (intent_field,) if intent_field else INTENT_FIELDS
    return Example(
        qid=qid,
        question=question,
        answer=_text(fields, ANSWER_FIELDS, required=False),
        reasoning=_text(fields, ("reasoning", "thinking"), required=False),
        intent=_text(fields, intent_names, required=False),
        positive_feedback=_count(fields, "positive_feedback"),
        negative_feedback=_count(fields, "negative_feedback"),
        relevant_evidence=_count(fields, "relevant_evidence"),
    )


def examples_from_file(path: str | Path, *, intent_field: str | None = None) -> list[Example]:
    """Examples from a JSONL/CSV/TSV/Parquet file; the first bad line fails with file:line.

    Fields: ``question`` (or ``text``/``query``), optional ``qid``, ``answer`` (or
    ``reference_answer``), ``reasoning``, ``intent`` (or ``label``, or ``intent_field``), and
    evidence counts ``positive_feedback``, ``negative_feedback``, ``relevant_evidence``.
    """
    examples: list[Example] = []
    seen: dict[str, int] = {}
    for record in read_records(path):
        error = record.error
        if error is None:
            try:
                example = parse_example(
                    record.fields or {}, line=record.line, intent_field=intent_field
                )
            except RecordError as exc:
                error = exc
        if error is not None:
            raise DataFormatError(path, record.line, error.problem, error.fix, error.field)
        if example.qid in seen:
            raise DataFormatError(
                path,
                record.line,
                f"id '{example.qid}' already used at line {seen[example.qid]}",
                "give each example its own qid",
                "qid",
            )
        seen[example.qid] = record.line
        examples.append(example)
    if not examples:
        raise DataFormatError(path, None, "no examples", "write one JSON object per example")
    return examples
