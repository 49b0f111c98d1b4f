"""Log from the RAG frameworks an app already uses, a few lines to add:

* :mod:`flywheel.integrations.langchain`: ``FlywheelCallbackHandler`` for LangChain
  (``pip install 'rag-flywheel[langchain]'``);
* :mod:`flywheel.integrations.llama_index`: ``FlywheelEventHandler`` for LlamaIndex's
  instrumentation (``pip install 'rag-flywheel[llamaindex]'``).

Both log through :class:`flywheel.Logger`, so events go to a store or a ``flywheel serve``
alike. Nothing here is imported by ``import flywheel``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flywheel._internal.hashing import text_hash

#: Metadata keys a retrieved document's id is read from, after the document's own id.
ID_KEYS = ("doc_id", "chunk_id", "id")
#: Metadata keys a retrieved document's score is read from.
SCORE_KEYS = ("score", "relevance_score")


def document_id(own_id: Any, metadata: Mapping[str, Any] | None, text: str | None) -> str:
    """The id a retrieved document is logged under: its own id, else ``metadata`` ``doc_id``/
    ``chunk_id``/``id``, else a hash of its text (the id the trace importers give it too)."""
    meta = metadata or {}
    for value in (own_id, *(meta.get(key) for key in ID_KEYS)):
        if value not in (None, ""):
            return str(value)
    return "doc-" + text_hash(text or "")[:16]


def document_score(score: Any, metadata: Mapping[str, Any] | None) -> float:
    meta = metadata or {}
    for value in (score, *(meta.get(key) for key in SCORE_KEYS)):
        if value is not None:
            try:
                return float(value)
            except (TypeError, ValueError):
                continue
    return 0.0
