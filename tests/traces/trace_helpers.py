"""Shared by the trace tests: a tiny corpus, and `flywheel dataset build` over a store."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from flywheel.cli.app import app as cli
from flywheel.datasets.artifact import load_dataset
from flywheel.retrieval.bm25 import BM25Retriever
from flywheel.store import Store

TOKEN = "trace-token-51c2"
DOCS = {
    "cat-1": "Cats purr when content and sometimes when stressed.",
    "cat-2": "Cats sleep twelve to sixteen hours a day, mostly in short naps.",
    "cat-3": "Whiskers help cats measure gaps and sense movement in the dark.",
    "dog-1": "Dogs bark to warn, to ask for attention, and out of boredom.",
    "dog-2": "Dogs sleep about twelve hours a day; puppies sleep even more.",
    "fish-1": "Fish breathe by passing water over their gills.",
}
QUERY = "how long do cats sleep"


def seed(store: Store) -> Store:
    """Documents, one eval query per split (so the builder has a held-out split)."""
    store.add_documents([{"doc_id": d, "text": t} for d, t in DOCS.items()])
    store.add_queries({"q-bark": "why do dogs bark", "q-fish": "how do fish breathe"})
    store.add_judgments(
        [{"qid": "q-bark", "doc_id": "dog-1", "grade": 1, "split": "train"},
         {"qid": "q-fish", "doc_id": "fish-1", "grade": 1, "split": "test"}],
        source="benchmark",
    )  # fmt: skip
    return store


def training_rows(store: Store, tmp_path: Path) -> list[dict]:
    """`flywheel dataset build triplets` over the store's events, negatives from BM25."""
    run = BM25Retriever(store.corpus()).search(store.queries(), k=len(DOCS))
    run_path = tmp_path / "run.json"
    run_path.write_text(json.dumps(run), encoding="utf-8")
    out = tmp_path / "triplets"
    result = CliRunner().invoke(cli, [
        "dataset", "build", "triplets", "--db", store.url, "--out", str(out), "--run",
        str(run_path), "--range-min", "0", "--range-max", "6", "--relative-margin", "-1",
    ])  # fmt: skip
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return [row for rows in load_dataset(out).splits.values() for row in rows]


def pairs(rows: list[dict]) -> set[tuple[str, str]]:
    return {(row["anchor"], row["positive"]) for row in rows}
