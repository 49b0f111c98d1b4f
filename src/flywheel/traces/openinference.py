"""OpenInference spans and their annotations -> this project's events, queries and judgments.

The mapping (docs/integrations.md has it as a table):

* a ``RETRIEVER`` span is a :class:`RetrievalEvent`: the query is ``input.value`` (or the text
  of an ``EMBEDDING`` child span), the results ``retrieval.documents.N.document.id`` at rank
  N+1 with ``.score``; a ``RERANKER`` span likewise from ``reranker.query`` and
  ``reranker.output_documents``. The query is stored as a ``live`` query under
  :func:`~flywheel.store.live.live_qid`, the id every live route gives the same text;
* a span (usually the ``LLM`` or ``CHAIN`` span of the answer) carrying ``flywheel.citations``
  (a list of document ids) is a :class:`CitationEvent` for its trace's query;
* ``session.id`` and ``user.id`` (on any span of the trace) give the session and user; a trace
  without ``session.id`` is its own session;
* an annotation on one retrieved document (Phoenix's ``document_position``) is a
  :class:`DocumentFeedbackEvent` when a person gave it, and a judgment in every case (2 or 0
  on TREC's 0-3 scale; source ``human``, ``llm`` or ``derived`` after the annotator); an
  annotation on a span is a :class:`AnswerFeedbackEvent` for the trace's query when a person
  gave it.

Event ids come from span and annotation ids, so sending or importing the same spans again
stores nothing new. Labels are read by :func:`polarity`; annotations whose label says neither
yes nor no (a note, a hallucination score) are counted in ``skipped``, never guessed.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flywheel._internal.hashing import text_hash
from flywheel.data.events import (
    AnswerFeedbackEvent,
    CitationEvent,
    DocumentFeedbackEvent,
    Event,
    RetrievalEvent,
)
from flywheel.errors import DataFormatError
from flywheel.store.live import live_qid, normalize_query
from flywheel.store.records import RecordError
from flywheel.store.schema import JudgmentSource
from flywheel.traces.spans import Annotation, Origin, Span, TraceBatch, string_list, text_of

#: The attribute an app sets on a span to say which documents its answer cited.
CITATIONS = "flywheel.citations"

POSITIVE_LABELS = frozenset(
    {"thumbs_up", "thumbs-up", "thumbsup", "up", "positive", "relevant", "correct", "good",
     "helpful", "yes", "true", "1", "like", "liked", "accept", "accepted"}
)  # fmt: skip
NEGATIVE_LABELS = frozenset(
    {"thumbs_down", "thumbs-down", "thumbsdown", "down", "negative", "irrelevant", "unrelated",
     "not_relevant", "not relevant", "incorrect", "bad", "unhelpful", "no", "false", "0",
     "dislike", "disliked", "reject", "rejected"}
)  # fmt: skip
#: A yes/no label as a graded judgment: TREC's 0-3 scale, "relevant" = 2 (what LLM labels need
#: to count as positives), "not relevant" = 0.
JUDGMENT_SCALE = 3
RELEVANT_GRADE = 2
#: Annotator kinds -> the judgment source their labels are stored under.
ANNOTATOR_SOURCES = {
    "HUMAN": JudgmentSource.HUMAN,
    "LLM": JudgmentSource.LLM,
    "CODE": JudgmentSource.DERIVED,
}
_DOCUMENT_LISTS = {
    "RETRIEVER": ("retrieval.documents",),
    "RERANKER": ("reranker.output_documents",),
}
_QUERY_FIELDS = ("query", "query_str", "input", "question", "text")


def polarity(label: str | None, score: float | None) -> bool | None:
    """True (thumbs up, relevant), False (thumbs down, irrelevant) or None (says neither).

    The label decides when it is a known word; otherwise a score in [0, 1] does (>= 0.5 is
    yes), as thumbs and relevance scores are 1 or 0 in Phoenix and Langfuse alike."""
    if label is not None:
        word = label.strip().lower()
        if word in POSITIVE_LABELS:
            return True
        if word in NEGATIVE_LABELS:
            return False
    if score is not None and 0.0 <= score <= 1.0:
        return score >= 0.5
    return None


@dataclass
class TraceCapture:
    """What a batch of spans becomes, each item with the source line it came from."""

    queries: dict[str, str] = field(default_factory=dict)
    #: documents the spans carried (id -> row for ``Store.add_documents``), where first seen
    documents: dict[str, tuple[Origin, dict[str, Any]]] = field(default_factory=dict)
    events: list[tuple[Origin, Event]] = field(default_factory=list)
    judgments: list[tuple[Origin, dict[str, Any]]] = field(default_factory=list)
    #: why spans or annotations were left out -> how many
    skipped: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class _Retrieval:
    span: Span
    qid: str
    doc_ids: tuple[str, ...]


def _query_text(span: Span, children: list[Span]) -> str:
    attrs = span.attributes
    raw = attrs.get("reranker.query") if span.kind == "RERANKER" else attrs.get("input.value")
    if isinstance(raw, str) and raw.lstrip().startswith("{"):
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, Mapping):
            raw = next((parsed[k] for k in _QUERY_FIELDS if text_of(parsed.get(k))), raw)
    text = text_of(raw)
    if text is None:  # LlamaIndex embeds the query in a child EMBEDDING span
        for child in children:
            if child.kind == "EMBEDDING":
                text = text_of(child.attributes.get("embedding.embeddings.0.embedding.text"))
                if text:
                    break
    if text is None or not normalize_query(text):
        where = "reranker.query" if span.kind == "RERANKER" else "input.value"
        raise RecordError(
            f"{span.kind.lower()} span '{span.name}' has no query text",
            f"record the query as '{where}' (OpenInference), as every instrumentor does",
            where,
        )
    return normalize_query(text)


def _metadata(attrs: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    raw = attrs.get(f"{prefix}.document.metadata")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raw = None
    meta = dict(raw) if isinstance(raw, Mapping) else {}
    nested = f"{prefix}.document.metadata."
    meta.update({k[len(nested) :]: v for k, v in attrs.items() if k.startswith(nested)})
    return meta


def _documents(span: Span, list_name: str) -> list[tuple[str, float, str | None, dict]]:
    """``[(doc_id, score, content, metadata)]`` in rank order."""
    attrs = span.attributes
    head = f"{list_name}."
    positions = sorted(
        {int(key[len(head) :].split(".", 1)[0]) for key in attrs if key.startswith(head)
         and key[len(head) :].split(".", 1)[0].isdigit()}
    )  # fmt: skip
    docs = []
    for position in positions:
        prefix = f"{list_name}.{position}"
        meta = _metadata(attrs, prefix)
        content = text_of(attrs.get(f"{prefix}.document.content"))
        doc_id = text_of(attrs.get(f"{prefix}.document.id")) or next(
            (text_of(meta[k]) for k in ("doc_id", "chunk_id", "id") if text_of(meta.get(k))), None
        )
        if doc_id is None and content is not None:
            doc_id = "doc-" + text_hash(content)[:16]  # same text, same id, in every trace
        if doc_id is None:
            raise RecordError(
                f"document {position} has neither an id nor content",
                "record 'document.id' (or at least 'document.content') for each document",
                f"{prefix}.document.id",
            )
        score = attrs.get(f"{prefix}.document.score")
        try:
            value = 0.0 if score in (None, "") else float(score)
        except (TypeError, ValueError):
            raise RecordError(
                f"{score!r} is not a number", "scores are numbers", f"{prefix}.document.score"
            ) from None
        docs.append((doc_id, value, content, meta))
    return docs


def _trace_value(spans: list[Span], name: str) -> str | None:
    for span in spans:
        if (value := text_of(span.attributes.get(name))) is not None:
            return value
    return None


class _Mapper:
    def __init__(self, batch: TraceBatch, source: str) -> None:
        self.source = source
        self.capture = TraceCapture()
        self.traces: dict[str, list[Span]] = defaultdict(list)
        self.children: dict[str, list[Span]] = defaultdict(list)
        self.by_id: dict[str, Span] = {}
        for span in batch.spans:
            self.traces[span.trace_id].append(span)
            self.by_id[span.span_id] = span
            if span.parent_id:
                self.children[span.parent_id].append(span)
        self.retrievals: dict[str, list[_Retrieval]] = defaultdict(list)
        self.span_docs: dict[str, list[str]] = {}

    def at(self, item: Span | Annotation) -> Origin:
        return (item.source or self.source, item.line)

    def header(self, span: Span) -> dict[str, Any]:
        spans = [span, *self.traces[span.trace_id]]
        return {
            "session_id": _trace_value(spans, "session.id") or span.trace_id,
            "user_id": _trace_value(spans, "user.id"),
        }

    def retrieval(self, span: Span) -> None:
        lists = _DOCUMENT_LISTS[span.kind]
        docs = next((d for name in lists if (d := _documents(span, name))), [])
        if not docs:
            self.capture.skipped[f"{span.kind.lower()} spans without documents"] += 1
            return
        text = _query_text(span, self.children[span.span_id])
        qid = live_qid(text)
        self.capture.queries.setdefault(qid, text)
        for doc_id, _, content, meta in docs:
            if content is not None and doc_id not in self.capture.documents:
                row = {"doc_id": doc_id, "text": content, "metadata": meta}
                self.capture.documents[doc_id] = (self.at(span), row)
        name = text_of(span.attributes.get("reranker.model_name")) or span.name
        event = RetrievalEvent(
            event_id=f"span-{span.span_id}",
            qid=qid,
            timestamp=span.start,
            retriever=name,
            results=tuple((d, rank, s) for rank, (d, s, _, _) in enumerate(docs, start=1)),
            **self.header(span),
        )
        self.capture.events.append((self.at(span), event))
        found = _Retrieval(span, qid, tuple(d for d, _, _, _ in docs))
        self.retrievals[span.trace_id].append(found)
        self.span_docs[span.span_id] = list(found.doc_ids)

    def query_of(self, trace_id: str | None, cited: Sequence[str] = ()) -> _Retrieval | None:
        """The retrieval a trace-level signal belongs to: the last one that showed a cited
        document, else the trace's last retrieval."""
        found = sorted(self.retrievals.get(trace_id or "", []), key=lambda r: r.span.start)
        showing = [r for r in found if set(cited) & set(r.doc_ids)]
        return (showing or found or [None])[-1]

    def citation(self, span: Span) -> None:
        cited = string_list(span.attributes[CITATIONS], CITATIONS)
        if not cited:
            return
        owner = self.query_of(span.trace_id, cited)
        if owner is None:
            raise RecordError(
                "cites documents, but its trace has no retriever span",
                "send the trace's RETRIEVER span too (a citation needs the query it answers)",
                CITATIONS,
            )
        event = CitationEvent(
            event_id=f"span-{span.span_id}-cited",
            qid=owner.qid,
            timestamp=span.start,
            chunk_ids=tuple(dict.fromkeys(cited)),
            **self.header(owner.span),
        )
        self.capture.events.append((self.at(span), event))

    def annotation(self, note: Annotation) -> None:
        positive = polarity(note.label, note.score)
        if positive is None:
            self.capture.skipped[f"annotations '{note.name}' that say neither yes nor no"] += 1
            return
        span = self.by_id.get(note.span_id or "")
        trace_id = span.trace_id if span is not None else note.trace_id
        targeted = note.document_position is not None or note.document_id is not None
        if targeted:
            self.document_annotation(note, span, positive)
            return
        owner = self.query_of(trace_id)
        if owner is None:
            self.capture.skipped["annotations on traces without a retriever span"] += 1
            return
        if note.annotator_kind != "HUMAN":
            self.capture.skipped["answer annotations by a model or code (no user feedback)"] += 1
            return
        event = AnswerFeedbackEvent(
            event_id=self.annotation_id(note),
            qid=owner.qid,
            timestamp=note.created_at or (span or owner.span).start,
            positive=positive,
            comment=note.name,
            **(self.header(owner.span) | ({"user_id": note.user_id} if note.user_id else {})),
        )
        self.capture.events.append((self.at(note), event))

    def document_annotation(self, note: Annotation, span: Span | None, positive: bool) -> None:
        if span is None or span.span_id not in self.span_docs:
            raise RecordError(
                f"annotates a document of span '{note.span_id}', which is not a retriever "
                "span of this file",
                "export the spans together with their annotations",
                "span_id",
            )
        docs = self.span_docs[span.span_id]
        doc_id = note.document_id
        if doc_id is None:
            position = note.document_position or 0
            if not 0 <= position < len(docs):
                raise RecordError(
                    f"document_position {position} is outside the span's {len(docs)} documents",
                    "positions count from 0",
                    "document_position",
                )
            doc_id = docs[position]
        owner = next(r for r in self.retrievals[span.trace_id] if r.span is span)
        source = ANNOTATOR_SOURCES.get(note.annotator_kind.upper(), JudgmentSource.DERIVED)
        grade = RELEVANT_GRADE if positive else 0
        judgment = {"qid": owner.qid, "doc_id": doc_id, "grade": grade, "scale": JUDGMENT_SCALE,
                    "source": str(source)}  # fmt: skip
        self.capture.judgments.append((self.at(note), judgment))
        if note.annotator_kind == "HUMAN":
            event = DocumentFeedbackEvent(
                event_id=self.annotation_id(note),
                qid=owner.qid,
                timestamp=note.created_at or span.start,
                chunk_id=doc_id,
                positive=positive,
                **(self.header(span) | ({"user_id": note.user_id} if note.user_id else {})),
            )
            self.capture.events.append((self.at(note), event))

    @staticmethod
    def annotation_id(note: Annotation) -> str:
        if note.annotation_id:
            return f"ann-{note.annotation_id}"
        key = [note.span_id, note.trace_id, note.name, note.document_position, note.document_id,
               note.user_id]  # fmt: skip
        return "ann-" + text_hash(json.dumps(key))


def map_batch(batch: TraceBatch, *, source: str) -> TraceCapture:
    """Map spans and annotations; a bad one raises ``DataFormatError(source, line, ...)``
    (the item's own ``source`` when it has one)."""
    mapper = _Mapper(batch, source)
    ordered = sorted(batch.spans, key=lambda s: (s.start, s.line))
    steps = [(s, mapper.retrieval) for s in ordered if s.kind in _DOCUMENT_LISTS]
    steps += [(s, mapper.citation) for s in ordered if CITATIONS in s.attributes]
    steps += [(a, mapper.annotation) for a in batch.annotations]
    for item, step in steps:
        try:
            step(item)
        except RecordError as error:
            where, line = mapper.at(item)
            raise DataFormatError(where, line, error.problem, error.fix, error.field) from None
    mapper.capture.judgments = _latest_judgments(mapper.capture.judgments)
    return mapper.capture


def _latest_judgments(rows: list[tuple[Origin, dict[str, Any]]]) -> list[tuple[Origin, dict]]:
    """One judgment per (query, document, source): the last one in the source wins, as a
    relabelled document in Phoenix or Langfuse keeps only its newest label."""
    latest: dict[tuple, tuple[Origin, dict]] = {}
    for line, row in rows:
        latest[(row["qid"], row["doc_id"], row["source"])] = (line, row)
    return sorted(latest.values(), key=lambda item: item[0][1])
