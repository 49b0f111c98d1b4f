"""A tiny corpus, queries, qrels and a ranking, in a store under ``tmp_path``."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from flywheel.data.types import Qrels, Queries, Run
from flywheel.store import Store


@dataclass
class World:
    store: Store
    queries: Queries
    qrels: Qrels
    run: Run
    second_run: Run


@pytest.fixture
def world(tmp_path) -> World:
    """12 documents, 4 queries; each query has 2 relevant documents, ranked 2nd and 5th."""
    store = Store(str(tmp_path / "sim.db"))
    store.add_documents({"doc_id": f"d{i}", "text": f"document {i}"} for i in range(12))
    queries = {f"q{j}": f"question {j}" for j in range(4)}
    store.add_queries(queries)
    run: Run = {}
    second: Run = {}
    qrels: Qrels = {}
    for j, qid in enumerate(queries):
        order = [f"d{(j + k) % 12}" for k in range(12)]
        run[qid] = {doc: float(12 - k) for k, doc in enumerate(order)}
        second[qid] = {doc: float(k) for k, doc in enumerate(order)}  # the reverse order
        qrels[qid] = {order[1]: 1, order[4]: 2, order[7]: 0}
    yield World(store, queries, qrels, run, second)
    store.close()
