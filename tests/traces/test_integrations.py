"""The framework handlers, each running the real framework over a small retriever this test
builds (no network, no model): a LangChain run and a LlamaIndex query land as events that
`flywheel dataset build` turns into training rows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from trace_helpers import DOCS, QUERY, pairs, training_rows

import flywheel
from flywheel.store import Store
from flywheel.store.live import live_qid


def keyword_ranking(query: str, k: int = 3) -> list[tuple[str, float]]:
    words = set(query.lower().split())
    scored = [(len(words & set(text.lower().rstrip(".").split())), d) for d, text in DOCS.items()]
    return [(d, float(s)) for s, d in sorted(scored, key=lambda x: (-x[0], x[1])) if s][:k]


def test_langchain_run_becomes_training_rows(store: Store, tmp_path: Path) -> None:
    pytest.importorskip("langchain_core")
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever
    from langchain_core.runnables import RunnableLambda, RunnableParallel, RunnablePassthrough

    from flywheel.integrations.langchain import FlywheelCallbackHandler

    class KeywordRetriever(BaseRetriever):
        def _get_relevant_documents(self, query: str, *, run_manager) -> list[Document]:
            return [Document(page_content=DOCS[d], metadata={"doc_id": d, "score": s})
                    for d, s in keyword_ranking(query)]  # fmt: skip

    def answer(inputs: dict) -> dict:  # the "LLM": cites the first document about cats
        cited = [d for d in inputs["context"] if "Cats" in d.page_content][:1]
        return {"answer": "About twelve to sixteen hours.", "citations": cited}

    chain = RunnableParallel(
        context=KeywordRetriever(), question=RunnablePassthrough()
    ) | RunnableLambda(answer)
    logger = flywheel.Logger(store, flush_interval=None)
    handler = FlywheelCallbackHandler(logger)
    config = {"callbacks": [handler], "metadata": {"session_id": "s-lc", "user_id": "dee"}}
    output = chain.invoke(QUERY, config=config)
    logger.flush()

    assert output["citations"][0].metadata["doc_id"] == "cat-2"
    retrieval, citation = store.events()
    assert retrieval.qid == citation.qid == live_qid(QUERY) == handler.last[1]
    assert [r[0] for r in retrieval.results] == [d for d, _ in keyword_ranking(QUERY)]
    assert (retrieval.session_id, retrieval.user_id) == ("s-lc", "dee")
    assert citation.chunk_ids == ("cat-2",)
    logger.log_feedback(*handler.last, positive=True)
    logger.close()

    rows = training_rows(store, tmp_path)
    assert (QUERY, DOCS["cat-2"]) in pairs(rows)
    assert (QUERY, DOCS["dog-2"]) not in pairs(rows)


def test_llama_index_query_becomes_training_rows(store: Store, tmp_path: Path) -> None:
    pytest.importorskip("llama_index.core")
    from llama_index.core.instrumentation import get_dispatcher
    from llama_index.core.llms import CompletionResponse, CustomLLM, LLMMetadata
    from llama_index.core.llms.callbacks import llm_completion_callback
    from llama_index.core.query_engine import RetrieverQueryEngine
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

    from flywheel.integrations.llama_index import FlywheelEventHandler

    class KeywordRetriever(BaseRetriever):
        def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
            return [NodeWithScore(node=TextNode(id_=d, text=DOCS[d]), score=s)
                    for d, s in keyword_ranking(query_bundle.query_str)]  # fmt: skip

    class CitingLLM(CustomLLM):  # answers as CitationQueryEngine's prompt asks: [n] markers
        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata(context_window=4096, num_output=64, model_name="citing")

        @llm_completion_callback()
        def complete(self, prompt: str, formatted: bool = False, **kwargs) -> CompletionResponse:
            return CompletionResponse(text="Cats sleep twelve to sixteen hours [1].")

        @llm_completion_callback()
        def stream_complete(self, prompt: str, formatted: bool = False, **kwargs):
            raise NotImplementedError

    logger = flywheel.Logger(store, flush_interval=None)
    handler = FlywheelEventHandler(logger=logger, session_id="s-li", user_id="eve")
    dispatcher = get_dispatcher()
    dispatcher.add_event_handler(handler)
    try:
        engine = RetrieverQueryEngine.from_args(KeywordRetriever(), llm=CitingLLM())
        response = engine.query(QUERY)
    finally:
        dispatcher.event_handlers.remove(handler)
    logger.close()

    assert "[1]" in str(response)
    retrieval, citation = store.events()
    assert retrieval.results[0][:2] == ("cat-2", 1)
    assert (retrieval.session_id, retrieval.user_id, retrieval.retriever) == (
        "s-li", "eve", "llama_index")  # fmt: skip
    assert citation.chunk_ids == ("cat-2",) and citation.qid == handler.last[1]
    rows = training_rows(store, tmp_path)
    assert (QUERY, DOCS["cat-2"]) in pairs(rows)


def test_import_flywheel_loads_no_integration() -> None:
    code = (
        "import sys, flywheel; print(sorted(m for m in ('opentelemetry', 'langchain_core', "
        "'llama_index', 'flywheel.traces', 'flywheel.integrations') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
