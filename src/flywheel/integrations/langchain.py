"""A LangChain callback handler that logs retrievals and citations through
:class:`flywheel.Logger`::

    from flywheel.integrations.langchain import FlywheelCallbackHandler

    handler = FlywheelCallbackHandler(flywheel.Logger("http://127.0.0.1:8000", token=TOKEN))
    chain.invoke(question, config={"callbacks": [handler],
                                   "metadata": {"session_id": sid, "user_id": uid}})

* ``on_retriever_end`` logs a retrieval: the query the retriever got (stored as a live query),
  its documents at rank 1, 2, ... with their ``metadata["score"]`` (0 without one). A document
  is named by ``Document.id``, else ``metadata["doc_id"]``/``["chunk_id"]``/``["id"]``;
* a chain whose output (a dict) has ``citations`` (ids, Documents, or dicts with ``doc_id``)
  logs them as cited, for the last query retrieved in the same run;
* the session is ``metadata["session_id"]`` of the run's config, else the handler's
  ``session_id``, else the run's id; the user ``metadata["user_id"]``.

``handler.last`` is ``(session_id, qid)`` of the latest retrieval, for logging the user's
thumbs later: ``logger.log_feedback(*handler.last, positive=True)``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from flywheel.errors import MissingDependencyError
from flywheel.integrations import document_id, document_score
from flywheel.sdk.logger import Logger
from flywheel.store.live import live_qid, normalize_query

try:
    from langchain_core.callbacks import BaseCallbackHandler
    from langchain_core.documents import Document
except ImportError:  # pragma: no cover - the extra is missing
    raise MissingDependencyError("langchain-core", "langchain") from None


def _cited_id(item: Any) -> str | None:
    if isinstance(item, Document):
        return document_id(item.id, item.metadata, item.page_content)
    if isinstance(item, dict):
        return document_id(item.get("id"), item, item.get("page_content") or item.get("text"))
    return None if item in (None, "") else str(item)


class FlywheelCallbackHandler(BaseCallbackHandler):
    """Logs what retrievers returned and what the answer cited; see the module docstring."""

    raise_error = False  # a logging problem never breaks the user's chain

    def __init__(
        self,
        logger: Logger,
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        citations_key: str = "citations",
        retriever_name: str | None = None,
    ) -> None:
        self.logger = logger
        self.session_id = session_id
        self.user_id = user_id
        self.citations_key = citations_key
        self.retriever_name = retriever_name
        self.last: tuple[str, str] | None = None
        self._lock = threading.Lock()
        self._parents: dict[UUID, UUID | None] = {}
        self._runs: dict[UUID, dict[str, Any]] = {}  # root run -> session, user, last qid

    def _root(self, run_id: UUID) -> UUID:
        seen = run_id
        while (parent := self._parents.get(seen)) is not None:
            seen = parent
        return seen

    def _start(self, run_id: UUID, parent_run_id: UUID | None, metadata: Any) -> dict[str, Any]:
        with self._lock:
            self._parents[run_id] = parent_run_id
            root = self._root(run_id)
            state = self._runs.setdefault(root, {"session_id": None, "user_id": None})
            meta = metadata or {}
            state["session_id"] = state["session_id"] or meta.get("session_id")
            state["user_id"] = state["user_id"] or meta.get("user_id")
            return state

    def _header(self, state: dict[str, Any], run_id: UUID) -> tuple[str, dict[str, Any]]:
        session = state["session_id"] or self.session_id or str(self._root(run_id))
        user = state["user_id"] or self.user_id
        return str(session), ({"user_id": str(user)} if user else {})

    def on_chain_start(
        self, serialized: Any, inputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        self._start(run_id, parent_run_id, metadata)

    def on_retriever_start(
        self, serialized: Any, query: str, *, run_id: UUID, parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        state = self._start(run_id, parent_run_id, metadata)
        with self._lock:
            state.setdefault("queries", {})[run_id] = (query, (serialized or {}).get("name"))

    def on_retriever_end(
        self, documents: Sequence[Document], *, run_id: UUID, parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        with self._lock:
            state = self._runs.get(self._root(run_id), {})
            query, name = state.get("queries", {}).pop(run_id, (None, None))
        text = normalize_query(query or "")
        if not text:
            return
        qid = live_qid(text)
        results = [
            (document_id(doc.id, doc.metadata, doc.page_content),
             document_score(None, doc.metadata))
            for doc in documents
        ]  # fmt: skip
        session, user = self._header(state, run_id)
        self.logger.log_retrieval(
            session, qid, results, self.retriever_name or name or "langchain", query=text, **user
        )
        with self._lock:
            state["qid"] = qid
            self.last = (session, qid)

    def on_chain_end(
        self, outputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        if not isinstance(outputs, dict) or self.citations_key not in outputs:
            return
        with self._lock:
            state = self._runs.get(self._root(run_id), {})
            qid = state.get("qid")
            if state.get("cited") or qid is None:
                return  # cited once per run; no retrieval, no query to cite for
            state["cited"] = True
        items = outputs[self.citations_key]
        items = items if isinstance(items, list | tuple) else [items]
        cited = [c for c in (_cited_id(item) for item in items) if c is not None]
        if cited:
            session, user = self._header(state, run_id)
            self.logger.log_citations(session, qid, list(dict.fromkeys(cited)), **user)
