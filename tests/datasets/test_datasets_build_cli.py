"""End to end: a store or BEIR folder -> `flywheel dataset build` -> export, through Typer."""

from __future__ import annotations

import json

import pytest
from ds_helpers import fake_encode
from typer.testing import CliRunner

from flywheel.cli.app import app
from flywheel.data.events import ClickEvent, DwellEvent, RetrievalEvent
from flywheel.datasets import HardNegativeConfig, load_dataset
from flywheel.datasets.build import BuildOptions, build_dataset
from flywheel.errors import LeakageError

runner = CliRunner()


def write_beir(root, dataset):
    (root / "qrels").mkdir(parents=True)
    with (root / "corpus.jsonl").open("w") as handle:
        for doc in dataset.corpus.values():
            handle.write(json.dumps({"_id": doc.doc_id, "title": "", "text": doc.text}) + "\n")
    with (root / "queries.jsonl").open("w") as handle:
        for qid, text in dataset.queries.items():
            handle.write(json.dumps({"_id": qid, "text": text}) + "\n")
    for split, qrels in dataset.qrels.items():
        lines = ["query-id\tcorpus-id\tscore"]
        lines += [f"{q}\t{d}\t{g}" for q, docs in qrels.items() for d, g in docs.items()]
        (root / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    return root


def test_build_triplets_with_card(tiny_dataset, tmp_path):
    config = HardNegativeConfig(range_min=1, range_max=4, num_negatives=2, relative_margin=None)
    path = build_dataset(
        tiny_dataset, tmp_path / "trip", kind="triplets", config=config, encode=fake_encode,
        options=BuildOptions(dev_fraction=0.2),
    )  # fmt: skip
    saved = load_dataset(path)
    assert saved.columns == ["anchor", "positive", "negative_1", "negative_2"]
    train_anchors = {row["anchor"] for row in saved.splits["train"]}
    dev_anchors = {row["anchor"] for row in saved.splits.get("dev", [])}
    assert len(train_anchors) + len(dev_anchors) == 6 and not train_anchors & dev_anchors
    # the two spellings of "what is topic zero" land on the same side
    assert ("what is topic zero" in dev_anchors) == ("What is topic zero?" in dev_anchors)
    card = json.loads((path / "card.json").read_text())
    assert card["mining"]["config"]["range_max"] == 4
    assert card["leakage"]["overlapping_train_queries"] == 0
    assert sum(b["count"] for b in card["difficulty"]) == 12  # 6 queries x 2 negatives
    assert saved.manifest["config"]["mining"]["num_negatives"] == 2


def test_build_refuses_leaking_training_queries(tiny_dataset, tmp_path):
    tiny_dataset.queries["t1"] = "What is topic ZERO"  # an eval query that copies q1
    with pytest.raises(LeakageError, match="overlap the evaluation queries"):
        build_dataset(tiny_dataset, tmp_path / "p", kind="pairs")
    forced = build_dataset(tiny_dataset, tmp_path / "p", kind="pairs",
                           options=BuildOptions(force=True))  # fmt: skip
    assert json.loads((forced / "card.json").read_text())["leakage"]["forced"] is True
    dropped = build_dataset(tiny_dataset, tmp_path / "d", kind="pairs",
                            options=BuildOptions(drop_leaked=True, dev_fraction=0))  # fmt: skip
    anchors = {row["anchor"] for row in load_dataset(dropped).rows("train")}
    assert len(anchors) == 4  # q1 and its near-copy q2 both match the eval query
    assert "Dropped from training: 2 (q1, q2)" in (dropped / "card.md").read_text()


def test_cli_build_pairs_and_triplets_from_beir_and_export(tiny_dataset, tmp_path):
    beir = write_beir(tmp_path / "beir", tiny_dataset)
    result = runner.invoke(app, ["dataset", "build", "pairs", "--beir", str(beir),
                                 "--out", str(tmp_path / "pairs")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "columns anchor, positive" in result.output
    run = {q: {f"d{i}": 10.0 - i for i in range(8)} for q in tiny_dataset.queries}
    (tmp_path / "run.json").write_text(json.dumps(run))
    result = runner.invoke(app, [
        "dataset", "build", "triplets", "--beir", str(beir), "--run", str(tmp_path / "run.json"),
        "--range-min", "0", "--range-max", "3", "--out", str(tmp_path / "trip"),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = load_dataset(tmp_path / "trip").rows("train")
    assert list(rows[0]) == ["anchor", "positive", "negative"]
    result = runner.invoke(app, ["dataset", "export", str(tmp_path / "trip"), "--format",
                                 "flagembedding", "--out", str(tmp_path / "fe")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fe" / "train.jsonl").exists()
    shown = runner.invoke(app, ["dataset", "show", str(tmp_path / "trip")])
    assert "Hard-negative mining" in shown.output


def test_cli_build_graded_from_store_events(tiny_dataset, tmp_path):
    from flywheel.store import Store

    url = f"sqlite:///{tmp_path / 'fw.db'}"
    with Store(url) as store:
        store.add_documents(tiny_dataset.corpus.values())
        store.add_queries(tiny_dataset.queries)
        for split, qrels in tiny_dataset.qrels.items():
            store.add_judgments(qrels, split=split)
        store.log_events([
            RetrievalEvent(session_id="s", qid="q3", results=(("d4", 1, 0.9), ("d7", 2, 0.5))),
            ClickEvent(session_id="s", qid="q3", chunk_id="d7", rank=2),
            DwellEvent(session_id="s", qid="q3", chunk_id="d7", dwell_ms=60_000),
        ])  # fmt: skip
    result = runner.invoke(app, ["dataset", "build", "graded", "--db", url, "--no-mine",
                                 "--dev-fraction", "0", "--out", str(tmp_path / "g")])  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = load_dataset(tmp_path / "g").rows("train")
    by_passage = {
        r["passage"]: (r["grade"], r["source"])
        for r in rows
        if r["query"] == "tell me about topic one"
    }
    assert by_passage == {
        "text of document 1 about topic 1": (5, "judged"),
        "text of document 7 about topic 1": (5, "event:click"),  # clicked and read 60 s
        # document 4, skipped once above it, is neutral for the click model: no row
    }
    card = json.loads((tmp_path / "g" / "card.json").read_text())
    assert card["event_labels"]["signals"] == {
        "click": 1, "ignored": 1, "long_dwell": 1, "skipped_above": 1
    }  # fmt: skip
    assert card["event_labels"]["positives"] == 1 and card["event_labels"]["neutral"] == 1
    assert card["label_policy"]["long_dwell_ms"] == 30_000
    assert card["label_policy"]["propensity_method"] == "em"
    base = ["dataset", "build", "graded", "--db", url, "--no-mine", "--dev-fraction", "0"]
    strict = runner.invoke(app, [*base, "--out", str(tmp_path / "g2"), "--propensity", "none",
                                 "--positive-threshold", "0.999"])  # fmt: skip
    assert strict.exit_code == 0, strict.output
    card = json.loads((tmp_path / "g2" / "card.json").read_text())
    assert card["label_policy"]["positive_threshold"] == 0.999
    assert card["label_policy"]["propensity"]["2"] == 1.0  # flat: no position-bias correction
    assert card["event_labels"]["positives"] == 0
    unknown = runner.invoke(app, [*base, "--out", str(tmp_path / "g3"), "--propensity", "magic"])
    assert unknown.exit_code != 0 and "known: ctr, em, harvest, none" in str(unknown.exception)
