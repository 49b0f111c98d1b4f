"""The issue's "done when" on tiny data: feedback given through the API becomes labels
(labels_from_events) and then training triplets with `flywheel dataset build triplets`."""

from __future__ import annotations

import json
from pathlib import Path

from capture_helpers import DOCS
from typer.testing import CliRunner

from flywheel.cli.app import app as cli
from flywheel.datasets.artifact import load_dataset
from flywheel.datasets.signals import Polarity, Signal, labels_from_events
from flywheel.retrieval.bm25 import BM25Retriever
from flywheel.store import Store

TEXTS = {d["doc_id"]: f"{d['title']} {d['text']}" for d in DOCS}


def give_feedback(api) -> dict[str, str]:
    """One session on the page's endpoints: a query, its rewrite, feedback, a compare vote."""
    session = {"session_id": "s-live"}
    first = api.get("/search", params={"q": "cat naps", **session}).json()
    second = api.get(
        "/search",
        params={"q": "how long do cats sleep each day", "previous_qid": first["qid"], **session},
    ).json()
    shown = {r["chunk_id"]: r["rank"] for r in second["results"]}
    assert {"cat-2", "dog-2"} <= set(shown)
    event = {"qid": second["qid"], **session}
    for path, body in [
        ("click", {"chunk_id": "cat-2", "rank": shown["cat-2"]}),
        ("dwell", {"chunk_id": "cat-2", "dwell_ms": 40_000}),
        ("document", {"chunk_id": "cat-2", "positive": True}),
        ("document", {"chunk_id": "dog-2", "positive": False}),
        ("more-like-this", {"chunk_id": "cat-3"}),
        ("answer", {"positive": True}),
    ]:
        assert api.post(f"/feedback/{path}", json=event | body).status_code == 200
    pair = api.get("/compare", params={"q": "cats sleep", **session}).json()
    vote = {"qid": pair["qid"], "winner": pair["sides"][0]["event_id"],
            "loser": pair["sides"][1]["event_id"], **session}  # fmt: skip
    assert api.post("/feedback/compare", json=vote).json()["added"] >= 1
    return {"first": first["qid"], "second": second["qid"], "compare": pair["qid"]}


def test_feedback_becomes_labels_and_triplets(api, store: Store, tmp_path: Path) -> None:
    qids = give_feedback(api)
    labels = labels_from_events(store.events())
    second = {
        chunk: label for (qid, chunk), label in labels.labels.items() if qid == qids["second"]
    }
    assert (second["cat-2"].polarity, second["cat-2"].grade) == (Polarity.POSITIVE, 5)
    assert second["cat-2"].signal == Signal.THUMBS_UP
    assert {Signal.CLICK, Signal.LONG_DWELL} & set(second["cat-2"].signals)
    assert (second["dog-2"].polarity, second["dog-2"].grade) == (Polarity.NEGATIVE, 0)
    # grades come from the click model's P(relevant): positives are 3-5
    assert (second["cat-3"].signal, second["cat-3"].polarity) == (
        Signal.MORE_LIKE_THIS, Polarity.POSITIVE,
    )  # fmt: skip
    assert second["cat-3"].grade >= 3
    rewritten = labels.labels[(qids["first"], "cat-2")]
    assert (rewritten.signal, rewritten.polarity) == (Signal.REFORMULATION, Polarity.POSITIVE)
    assert rewritten.grade >= 3
    assert [p for p in labels.preferences if p[0] == qids["compare"]]

    # the training-data command, mining negatives from a BM25 run (no model needed)
    queries = store.queries()
    run = BM25Retriever(store.corpus()).search(queries, k=len(DOCS))
    run_path = tmp_path / "bm25-run.json"
    run_path.write_text(json.dumps(run), encoding="utf-8")
    out = tmp_path / "live-triplets"
    result = CliRunner().invoke(cli, [
        "dataset", "build", "triplets", "--db", store.url, "--out", str(out),
        "--run", str(run_path), "--range-min", "0", "--range-max", "6",
        "--relative-margin", "-1",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    saved = load_dataset(out)
    rows = [row for split_rows in saved.splits.values() for row in split_rows]
    pairs = {(row["anchor"], row["positive"]) for row in rows}
    live = queries[qids["second"]]
    assert (live, TEXTS["cat-2"]) in pairs  # thumbs up + long dwell
    assert (live, TEXTS["cat-3"]) in pairs  # more like this
    assert all(row["negative"] != row["positive"] for row in rows)
    assert (live, TEXTS["dog-2"]) not in pairs  # thumbed down: never a positive
    assert saved.manifest["inputs"]["events"] == len(store.events())
    assert (queries[qids["first"]], TEXTS["cat-2"]) in pairs  # via the reformulation
