"""Plain, typed containers shared by every stage.

IDs are strings everywhere. ``Qrels`` is ``{qid: {doc_id: grade}}`` with grades 0-5;
``Run`` is ``{qid: {doc_id: score}}`` (higher is better), the shapes ranx and trec_eval use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Qrels = dict[str, dict[str, int]]
Run = dict[str, dict[str, float]]
Queries = dict[str, str]


@dataclass(frozen=True, slots=True)
class Document:
    """A document (or chunk). ``text_for_encoding`` joins title and body as BEIR does."""

    doc_id: str
    text: str
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def text_for_encoding(self) -> str:
        return f"{self.title} {self.text}".strip() if self.title else self.text


Corpus = dict[str, Document]


@dataclass
class RetrievalDataset:
    """A corpus, its queries and judgments per split (``train``, ``dev``, ``test``...).

    ``positive_texts`` (``{qid: {doc_id: text}}``) is the text a training row pairs a query
    with instead of the judged document's: a synthetic question's passage without the
    sentence it was cut from (ICT) or its cropped span. It is never part of the corpus, so
    retrieval and evaluation never see it; only the training-set builders read it.
    """

    name: str
    corpus: Corpus
    queries: Queries
    qrels: dict[str, Qrels]
    positive_texts: dict[str, dict[str, str]] = field(default_factory=dict)

    def split(self, name: str) -> tuple[Queries, Qrels]:
        """Queries and judgments of one split; only judged queries belong to a split."""
        from flywheel.errors import ConfigError

        if name not in self.qrels:
            raise ConfigError(
                f"dataset '{self.name}' has no split '{name}'; "
                f"splits: {', '.join(sorted(self.qrels))}"
            )
        qrels = self.qrels[name]
        return {qid: self.queries[qid] for qid in qrels if qid in self.queries}, qrels

    def texts(self) -> dict[str, str]:
        """doc_id -> text as it is encoded (title + body)."""
        return {doc_id: doc.text_for_encoding for doc_id, doc in self.corpus.items()}
