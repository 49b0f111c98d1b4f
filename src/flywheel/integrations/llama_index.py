"""A LlamaIndex instrumentation event handler that logs retrievals and citations through
:class:`flywheel.Logger`::

    from llama_index.core.instrumentation import get_dispatcher
    from flywheel.integrations.llama_index import FlywheelEventHandler

    handler = FlywheelEventHandler(logger=flywheel.Logger("flywheel.db"), session_id=sid)
    get_dispatcher().add_event_handler(handler)

* every ``RetrievalEndEvent`` logs a retrieval: the query (stored as a live query) and the
  nodes at rank 1, 2, ... with their scores. A node is named by its source document
  (``ref_doc_id``, which is what a store's corpus holds when LlamaIndex chunked the documents),
  else ``metadata["doc_id"]``/``["chunk_id"]``, else its ``node_id``
  (``id_from="node"`` names every node by ``node_id``, for a store that holds the chunks);
* every ``QueryEndEvent`` logs the sources the answer cited: with ``cite="markers"`` (the
  default) the sources whose number appears as ``[n]`` in the answer, the format of
  LlamaIndex's ``CitationQueryEngine``; with ``cite="all"`` every source node.

Set ``handler.session_id`` (and ``user_id``) per conversation; ``handler.last`` is
``(session_id, qid)`` of the latest retrieval, for logging the user's thumbs later.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from flywheel.errors import ConfigError, MissingDependencyError
from flywheel.integrations import document_id
from flywheel.store.live import live_qid, normalize_query

try:
    from llama_index.core.instrumentation.event_handlers import BaseEventHandler
    from llama_index.core.instrumentation.events.query import QueryEndEvent
    from llama_index.core.instrumentation.events.retrieval import RetrievalEndEvent
except ImportError:  # pragma: no cover - the extra is missing
    raise MissingDependencyError("llama-index-core", "llamaindex") from None

_MARKER = re.compile(r"\[(\d+)\]")


def _query_text(query: Any) -> str:
    return normalize_query(str(getattr(query, "query_str", query) or ""))


class FlywheelEventHandler(BaseEventHandler):
    """Logs what retrievers returned and what answers cited; see the module docstring."""

    logger: Any
    session_id: str = ""
    user_id: str | None = None
    retriever_name: str = "llama_index"
    id_from: str = "document"
    cite: str = "markers"
    last: tuple[str, str] | None = None

    def model_post_init(self, context: Any) -> None:
        if self.id_from not in ("document", "node"):
            raise ConfigError(f"id_from is 'document' or 'node', not '{self.id_from}'")
        if self.cite not in ("markers", "all"):
            raise ConfigError(f"cite is 'markers' or 'all', not '{self.cite}'")
        if not self.session_id:
            self.session_id = uuid.uuid4().hex

    @classmethod
    def class_name(cls) -> str:
        return "FlywheelEventHandler"

    def _node_id(self, node: Any) -> str:
        inner = getattr(node, "node", node)
        if self.id_from == "node":
            return str(inner.node_id)
        meta = getattr(inner, "metadata", None) or {}
        own = getattr(inner, "ref_doc_id", None)
        if own is None and not any(meta.get(k) for k in ("doc_id", "chunk_id")):
            own = inner.node_id
        return document_id(own, meta, inner.get_content())

    def _header(self) -> dict[str, Any]:
        return {"user_id": self.user_id} if self.user_id else {}

    def handle(self, event: Any, **kwargs: Any) -> None:
        if isinstance(event, RetrievalEndEvent):
            self._retrieval(event)
        elif isinstance(event, QueryEndEvent):
            self._citations(event)

    def _retrieval(self, event: Any) -> None:
        text = _query_text(event.str_or_query_bundle)
        if not text:
            return
        qid = live_qid(text)
        results = [(self._node_id(n), float(n.score or 0.0)) for n in event.nodes]
        self.logger.log_retrieval(
            self.session_id, qid, results, self.retriever_name, query=text, **self._header()
        )
        self.last = (self.session_id, qid)

    def _citations(self, event: Any) -> None:
        text = _query_text(event.query)
        sources = list(getattr(event.response, "source_nodes", None) or [])
        if not text or not sources:
            return
        if self.cite == "all":
            chosen = sources
        else:
            answer = str(getattr(event.response, "response", ""))
            numbers = {int(n) for n in _MARKER.findall(answer)}
            chosen = [node for i, node in enumerate(sources, start=1) if i in numbers]
        cited = list(dict.fromkeys(self._node_id(node) for node in chosen))
        if cited:
            self.logger.log_citations(self.session_id, live_qid(text), cited, **self._header())
