"""Stored records and how one raw record becomes a row.

The ``*Record`` dataclasses are what the store's readers hand back for rows that the shared
data types (``Corpus``, ``Queries``, ``Qrels``) cannot carry in full.

Each ``parse_*`` function takes one raw record (a JSON line, a CSV row, a Parquet row, a dict
from Python) and either returns the row the table stores or raises
:class:`RecordError` saying what is wrong and how to fix it; the importer adds file and line.
The accepted field names, including BEIR's aliases, are documented in ``docs/store.md``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flywheel._internal.hashing import text_hash
from flywheel.data.types import Document
from flywheel.data.validation import text_problem, value_problem
from flywheel.store.schema import MAX_GRADE, MIN_GRADE, JudgmentSource, QuerySource


@dataclass(frozen=True, slots=True)
class QueryRecord:
    """A stored query with everything the few-shot library needs, not just its text."""

    qid: str
    text: str
    source: str
    intent: str | None = None
    reference_answer: str | None = None
    reasoning: str | None = None


@dataclass(frozen=True, slots=True)
class JudgmentRecord:
    """One stored grade. Exactly one of ``doc_id`` and ``chunk_id`` is set."""

    qid: str
    doc_id: str | None
    chunk_id: str | None
    grade: int
    source: str
    split: str | None
    created_at: datetime
    scale: int | None = None  # the top of the scale ``grade`` was given on; None: the source's


@dataclass(frozen=True, slots=True)
class ExperimentRunRecord:
    """One stored experiment run (written by the evaluation engine)."""

    run_id: str
    name: str
    spec: dict[str, Any]
    results: dict[str, Any]
    created_at: datetime
    git_commit: str | None
    versions: dict[str, Any]


class RecordError(ValueError):
    """One bad record; the importer turns it into a :class:`DataFormatError` with file:line."""

    def __init__(self, problem: str, fix: str = "", field: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        self.field = field
        super().__init__(f"{field + ': ' if field else ''}{problem}; {fix}")


class TextCells(dict):
    """A CSV/TSV row: every cell is text, so typed fields are decoded before validation."""


def _text(value: str, name: str) -> str:
    if problem := text_problem(value):
        raise RecordError(problem, "remove the character or re-export the file as UTF-8", name)
    return value


def check_row(row: Mapping[str, Any]) -> None:
    """Every value of a parsed row is storable: no NUL, lone surrogate, NaN or infinity."""
    for name, value in row.items():
        if problem := value_problem(value):
            raise RecordError(problem, "fix or remove the value", name)


def _pick(raw: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        value = raw.get(name)
        if value is not None and value != "":
            return value
    return None


def _identifier(raw: Mapping[str, Any], names: tuple[str, ...], what: str) -> str:
    value = _pick(raw, names)
    if value is None:
        raise RecordError("missing", f"give each {what} a '{names[0]}'", names[0])
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**64:
        raise RecordError("a number too long to be an id", "write the id as a string", names[0])
    if isinstance(value, bool | dict | list | bytes) or (
        isinstance(value, float) and not math.isfinite(value)
    ):
        raise RecordError(f"{value!r} is not an id", "use a string or an integer", names[0])
    if isinstance(value, float) and not value.is_integer():
        raise RecordError(f"{value!r} is not an id", "use a string or an integer", names[0])
    text = str(int(value)) if isinstance(value, float) else _text(str(value), names[0]).strip()
    if not text:
        raise RecordError("empty", f"give each {what} a non-empty '{names[0]}'", names[0])
    return text


def _optional_text(raw: Mapping[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RecordError(f"expected text, got {type(value).__name__}", "write a string", name)
    return _text(value, name)


def _json_field(value: Any, name: str, expected: type) -> Any:
    """CSV cells carry structured values as JSON text; decode them."""
    if isinstance(value, str) and expected is not str:
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise RecordError(
                "not valid JSON", f"write {name} as a JSON {expected.__name__}", name
            ) from None
    if not isinstance(value, expected):
        raise RecordError(
            f"expected a JSON {expected.__name__}, got {type(value).__name__}",
            f"write {name} as a JSON {expected.__name__}",
            name,
        )
    return value


def _choice(value: Any, enum: type, name: str) -> str:
    known = [member.value for member in enum]
    if value not in known:
        raise RecordError(f"'{value}' is not allowed", f"use one of: {', '.join(known)}", name)
    return str(value)


def document_hash(title: str, text: str, metadata: Mapping[str, Any]) -> str:
    """Hash of everything a document row holds, so re-ingesting an unchanged file skips it."""
    return text_hash(json.dumps([title, text, metadata], sort_keys=True, ensure_ascii=False))


def parse_document(raw: Mapping[str, Any] | Document, *, allow_empty: bool = False) -> dict:
    """A ``documents`` row. ``allow_empty`` keeps bodiless documents (benchmarks have a few)."""
    if isinstance(raw, Document):
        raw = {"doc_id": raw.doc_id, "title": raw.title, "text": raw.text, "metadata": raw.metadata}
    doc_id = _identifier(raw, ("doc_id", "_id", "id"), "document")
    text = raw.get("text")
    if text is not None and not isinstance(text, str):
        raise RecordError(f"expected text, got {type(text).__name__}", "write a string", "text")
    title = _optional_text(raw, "title") or ""
    if text is None and not title.strip() and not allow_empty:
        raise RecordError("missing", "give each document a 'text' (or at least a 'title')", "text")
    text = text or ""
    if not text.strip() and not title.strip() and not allow_empty:
        raise RecordError(
            "empty text and no title",
            "remove the document or give it a 'text' (a title alone is enough)",
            "text",
        )
    metadata = raw.get("metadata")
    metadata = {} if metadata in (None, "") else _json_field(metadata, "metadata", dict)
    if problem := value_problem(metadata):
        raise RecordError(problem, "write metadata as plain JSON values", "metadata")
    _text(title, "title")
    _text(text, "text")
    return {
        "doc_id": doc_id,
        "title": title,
        "text": text,
        "metadata": metadata,
        "content_hash": document_hash(title, text, metadata),
    }


def parse_query(raw: Mapping[str, Any], *, default_source: str = QuerySource.EVAL) -> dict:
    """A ``queries`` row; ``source`` defaults to the importer's ``--source``."""
    qid = _identifier(raw, ("qid", "_id", "id", "query_id"), "query")
    text = raw.get("text")
    if text is None:
        raise RecordError("missing", "give each query a 'text'", "text")
    if not isinstance(text, str):
        raise RecordError(f"expected text, got {type(text).__name__}", "write a string", "text")
    if not text.strip():
        raise RecordError("empty", "remove the query or write its text", "text")
    _text(text, "text")
    return {
        "qid": qid,
        "text": text,
        "intent": _optional_text(raw, "intent"),
        "source": _choice(_pick(raw, ("source",)) or default_source, QuerySource, "source"),
        "reference_answer": _optional_text(
            raw, "reference_answer" if raw.get("reference_answer") not in (None, "") else "answer"
        ),
        "reasoning": _optional_text(raw, "reasoning"),
    }


def _grade(raw: Mapping[str, Any]) -> int:
    value = _pick(raw, ("grade", "score", "relevance"))
    if value is None:
        raise RecordError(
            "missing", f"give each judgment a 'grade' from {MIN_GRADE} to {MAX_GRADE}", "grade"
        )
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if math.isnan(number) or not number.is_integer():
        raise RecordError(
            f"{value!r} is not a whole number",
            f"use an integer grade {MIN_GRADE}-{MAX_GRADE}",
            "grade",
        )
    if not MIN_GRADE <= number <= MAX_GRADE:
        raise RecordError(
            f"{int(number)} is outside {MIN_GRADE}-{MAX_GRADE}",
            f"map your scale onto {MIN_GRADE} (not relevant) to {MAX_GRADE}",
            "grade",
        )
    return int(number)


def _scale(raw: Mapping[str, Any], grade: int) -> int | None:
    """The optional top of the grading scale (``3`` for TREC's 0-3); the grade must fit it."""
    value = raw.get("scale")
    if value is None or value == "":
        return None
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if math.isnan(number) or not number.is_integer() or not 1 <= number <= MAX_GRADE:
        raise RecordError(
            f"{value!r} is not a scale",
            f"give the top grade of the scale the grade was given on (1-{MAX_GRADE}, e.g. 3 "
            "for TREC's 0-3), or leave 'scale' out",
            "scale",
        )
    if grade > number:
        raise RecordError(
            f"grade {grade} is above its scale 0-{int(number)}",
            "fix the grade or the scale",
            "grade",
        )
    return int(number)


def parse_judgment(
    raw: Mapping[str, Any],
    *,
    default_source: str = JudgmentSource.HUMAN,
    default_split: str | None = None,
    created_at: datetime | None = None,
) -> dict:
    """A ``judgments`` row: a query, one target (``doc_id`` or ``chunk_id``) and a grade."""
    qid = _identifier(raw, ("qid", "query-id", "query_id"), "judgment")
    doc_names = ("doc_id", "corpus-id", "corpus_id")
    has_doc = _pick(raw, doc_names) is not None
    if has_doc == (_pick(raw, ("chunk_id",)) is not None):
        raise RecordError(
            "needs exactly one target", "give either 'doc_id' or 'chunk_id' (not both)", "doc_id"
        )
    # ids are stripped of surrounding spaces like qid: " d1" in a hand-made file means d1
    doc_id = _identifier(raw, doc_names, "judgment") if has_doc else None
    chunk_id = None if has_doc else _identifier(raw, ("chunk_id",), "judgment")
    split = _pick(raw, ("split",))
    if split is not None and not isinstance(split, str):
        raise RecordError(
            f"expected text, got {type(split).__name__}", "write the split as a string", "split"
        )
    split = _text(split, "split") if split is not None else default_split
    grade = _grade(raw)
    return {
        "qid": qid,
        "doc_id": doc_id,
        "chunk_id": chunk_id,
        "grade": grade,
        "source": _choice(_pick(raw, ("source",)) or default_source, JudgmentSource, "source"),
        "split": None if split is None else str(split),
        "created_at": created_at or datetime.now(UTC),
        "scale": _scale(raw, grade),
    }
