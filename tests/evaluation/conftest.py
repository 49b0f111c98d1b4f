"""Fixtures for the evaluation tests: a tiny BEIR folder and an oracle retriever plugin."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

DOCS = {
    "d1": ("Cats", "cats purr and sleep on warm sofas"),
    "d2": ("Dogs", "dogs bark at the postman every morning"),
    "d3": ("Rockets", "rockets need liquid fuel to reach orbit"),
    "d4": ("Bread", "bread rises because yeast makes gas"),
    "d5": ("Tides", "the moon pulls the oceans and makes tides"),
    "d6": ("Volcanoes", "volcanoes erupt molten rock called lava"),
    "d7": ("Filler", "nothing anyone asks about"),  # ranked first by the reverse retriever
}
QUERIES = {
    "q1": "why do cats purr",
    "q2": "what makes bread rise",
    "q3": "how do rockets reach orbit",
    "q4": "what causes ocean tides",
    "q5": "why do dogs bark",
    "q6": "what is lava",
}
QRELS = {
    "q1": {"d1": 1},
    "q2": {"d4": 2},
    "q3": {"d3": 1},
    "q4": {"d5": 1},
    "q5": {"d2": 1},
    "q6": {"d6": 1},
}


TINY_SPEC = """
name = "tiny"
dataset = "{dataset}"
split = "test"
hypothesis = "BM25 beats a reversed list"
primary_metric = "ndcg@10"
metrics = ["ndcg@10", "recall@1", "mrr@10"]
baseline = "reverse"
n_resamples = 1000
[success]
metric = "ndcg@10"
min_relative_gain = 0.05
max_p_value = 0.05
[[variants]]
name = "reverse"
retriever = "test-reverse"
[[variants]]
name = "bm25"
retriever = "bm25"
"""


@pytest.fixture()
def tiny_spec() -> str:
    """An experiment spec template over ``tiny_beir`` (format it with ``dataset=``)."""
    return TINY_SPEC


@pytest.fixture()
def tiny_beir(tmp_path: Path) -> Path:
    folder = tmp_path / "tiny"
    (folder / "qrels").mkdir(parents=True)
    with open(folder / "corpus.jsonl", "w") as fh:
        for doc_id, (title, text) in DOCS.items():
            fh.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with open(folder / "queries.jsonl", "w") as fh:
        for qid, text in QUERIES.items():
            fh.write(json.dumps({"_id": qid, "text": text}) + "\n")
    with open(folder / "qrels" / "test.tsv", "w") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for qid, docs in QRELS.items():
            for doc_id, grade in docs.items():
                fh.write(f"{qid}\t{doc_id}\t{grade}\n")
    return folder


class ReverseRetriever:
    """A deliberately bad retriever: every document, in reverse doc_id order."""

    name = "test-reverse"

    def __init__(self, corpus) -> None:
        self.doc_ids = sorted(corpus)

    def search(self, queries, k=100):
        return {q: {d: float(i) for i, d in enumerate(self.doc_ids)} for q in queries}


@pytest.fixture(autouse=True)
def _register_test_retriever() -> Iterator[None]:
    """Registered for the evaluation tests only; removed after each, so other areas' registry
    tests see exactly the built-in retrievers."""
    from flywheel.retrieval import registry

    registry.register_retriever(
        "test-reverse", lambda corpus, argument, /: ReverseRetriever(corpus), replace=True
    )
    yield
    registry._FACTORIES.pop("test-reverse", None)
