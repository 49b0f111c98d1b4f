"""Graded (query, passage, score) rows for training a re-ranker (cross-encoder).

Sources, most trusted first; a pair takes its grade from the first source that knows it:

1. judgments (``qrels``) - rescaled to 0-5 (binary qrels: relevant -> 5, judged not -> 0);
2. LLM grades (``llm``, already on 0-5: :meth:`flywheel.judging.labels.LLMLabels.
   training_grades`), source ``llm``;
3. labels from logged events (:func:`flywheel.datasets.signals.labels_from_events`): positives
   with their grade from ``P(relevant)`` (3-5) and negatives (0); neutral pairs (too little
   evidence either way) have no grade and make no row, so no export reads them as negatives;
4. mined negatives - grade 0 (``mined_grade``).

Columns: ``query, passage, score, grade, source``. ``score = grade / 5`` in [0, 1] is the label
column ``CrossEncoderTrainer`` reads (with ``BinaryCrossEntropyLoss``); ``grade`` (int 0-5)
and ``source`` (where the grade came from) are kept for analysis and the card, so select
``query, passage, score`` before training (:func:`flywheel.datasets.export.to_hf_dataset` does).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from flywheel.data.events import Event
from flywheel.data.types import Qrels, Queries
from flywheel.datasets.hard_negatives import MinedNegatives
from flywheel.datasets.signals import EventLabels, LabelPolicy, labels_from_events
from flywheel.errors import ConfigError

logger = logging.getLogger(__name__)

MAX_GRADE = 5
GRADED_COLUMNS = ["query", "passage", "score", "grade", "source"]


def rescale_grade(grade: int, scale: int) -> int:
    """Map a judgment on a 0..``scale`` scale to 0..5, rounding half up (Cranfield 4 -> 5)."""
    if scale <= 0:
        raise ConfigError(f"judgment scale must be >= 1, got {scale}")
    return min(MAX_GRADE, max(0, int(grade * MAX_GRADE / scale + 0.5)))


def build_graded_pairs(
    queries: Queries,
    qrels: Qrels,
    texts: Mapping[str, str],
    *,
    mined: MinedNegatives | None = None,
    events: Iterable[Event] | None = None,
    policy: LabelPolicy | None = None,
    labels: EventLabels | None = None,
    judged_scale: int | None = None,
    mined_grade: int = 0,
    positive_texts: Mapping[str, Mapping[str, str]] | None = None,
    llm: Qrels | None = None,
) -> list[dict]:
    """Rows ``{query, passage, score, grade, source}``, one per (query, passage).

    Input: queries and judgments of one split, document texts, optionally mined negatives and
    events (or precomputed ``labels``), LLM grades on 0-5 (``llm``). ``judged_scale`` is the top
    grade of ``qrels`` (default: the largest grade present). Pairs whose query or passage text
    is unknown are skipped and counted in the log; only queries in ``queries`` produce rows, so
    a split stays a split.
    ``positive_texts`` (``{qid: {doc_id: text}}``) replaces a document's text for one query:
    a synthetic question's masked passage (``RetrievalDataset.positive_texts``).
    """
    positive_texts = positive_texts or {}
    if labels is None and events is not None:
        labels = labels_from_events(events, policy)
    scale = judged_scale or max(
        (g for judged in qrels.values() for g in judged.values()), default=1
    )
    scale = max(scale, 1)
    grades: dict[tuple[str, str], tuple[int, str]] = {}
    for qid in queries:
        for doc_id, grade in qrels.get(qid, {}).items():
            grades[(qid, doc_id)] = (rescale_grade(grade, scale), "judged")
    for qid, docs in (llm or {}).items():
        if qid in queries:
            for doc_id, grade in docs.items():
                grades.setdefault((qid, doc_id), (grade, "llm"))
    if labels is not None:
        for (qid, doc_id), label in labels.labels.items():
            if qid in queries and label.grade is not None and label.polarity != "neutral":
                grades.setdefault((qid, doc_id), (label.grade, f"event:{label.signal}"))
    if mined is not None:
        for example in mined.examples:
            if example.qid in queries:
                for doc_id in example.negative_ids:
                    grades.setdefault((example.qid, doc_id), (mined_grade, "mined"))
    rows, skipped = [], 0
    for (qid, doc_id), (grade, source) in grades.items():
        if doc_id not in texts:
            skipped += 1
            continue
        rows.append(
            {
                "query": queries[qid],
                "passage": positive_texts.get(qid, {}).get(doc_id, texts[doc_id]),
                "score": grade / MAX_GRADE,
                "grade": grade,
                "source": source,
            }
        )
    if skipped:
        logger.info("skipped %d graded pairs whose passage is not in the corpus", skipped)
    return rows
