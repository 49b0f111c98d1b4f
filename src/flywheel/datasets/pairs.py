"""(anchor, positive) rows: the simplest contrastive data, for in-batch negatives.

``MultipleNegativesRankingLoss`` treats every other row's positive as a negative, so pairs
alone already train an embedder; mined negatives (:mod:`flywheel.datasets.triplets`) add harder
ones.
"""

from __future__ import annotations

from collections.abc import Mapping

from flywheel.data.types import Qrels, Queries


def build_pairs(
    queries: Queries,
    qrels: Qrels,
    texts: Mapping[str, str],
    *,
    min_grade: int = 1,
    positive_texts: Mapping[str, Mapping[str, str]] | None = None,
) -> list[dict[str, str]]:
    """Rows ``{anchor, positive}``, one per judged (query, document) with grade >= ``min_grade``.

    Judgments whose query or document text is unknown are skipped (the query belongs to another
    split, or the document is not in this corpus). Order follows ``queries`` then ``qrels``.
    ``positive_texts`` (``{qid: {doc_id: text}}``) replaces a document's text for one query:
    a synthetic question's masked passage (``RetrievalDataset.positive_texts``).
    """
    rows = []
    for qid, text in queries.items():
        own = (positive_texts or {}).get(qid, {})
        for doc_id, grade in qrels.get(qid, {}).items():
            if grade >= min_grade and doc_id in texts:
                rows.append({"anchor": text, "positive": own.get(doc_id, texts[doc_id])})
    return rows
