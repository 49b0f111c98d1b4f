"""Saved datasets round-trip, and every export format loads in its consumer's loader."""

from __future__ import annotations

import json

import pytest

from flywheel.datasets import (
    DatasetCard,
    export_dataset,
    load_dataset,
    save_dataset,
    to_hf_dataset,
)
from flywheel.errors import ConfigError, DataFormatError, UnknownComponentError

TRIPLETS = [
    {"anchor": "q1", "positive": "p1", "negative_1": "n1", "negative_2": "n2"},
    {"anchor": "q1", "positive": "p2", "negative_1": "n1", "negative_2": "p1"},
    {"anchor": "q2", "positive": "p3", "negative_1": "n3", "negative_2": "n4"},
]
GRADED = [
    {"query": "q1", "passage": "p1", "score": 1.0, "grade": 5, "source": "judged"},
    {"query": "q1", "passage": "p2", "score": 0.4, "grade": 2, "source": "event:click"},
    {"query": "q1", "passage": "n1", "score": 0.0, "grade": 0, "source": "mined"},
]


@pytest.fixture
def triplets_dir(tmp_path):
    card = DatasetCard(name="t", kind="triplets", sources={"judged+mined": 3})
    return save_dataset({"train": TRIPLETS, "dev": TRIPLETS[:1]}, tmp_path / "t",
                        kind="triplets", card=card, config={"x": 1}, seed=3)  # fmt: skip


def test_save_and_load_round_trip(triplets_dir):
    saved = load_dataset(triplets_dir)
    assert saved.splits == {"train": TRIPLETS, "dev": TRIPLETS[:1]}
    assert saved.columns == ["anchor", "positive", "negative_1", "negative_2"]
    assert saved.manifest["config"] == {"x": 1} and saved.manifest["seed"] == 3
    assert saved.card.rows == {"train": 3, "dev": 1}
    assert "| train | 3 |" in (triplets_dir / "card.md").read_text()
    assert not list(triplets_dir.glob(".*.tmp"))  # atomic writes left no temp files


def test_tampered_dataset_fails_to_load(triplets_dir):
    with (triplets_dir / "train.jsonl").open("a") as handle:
        handle.write(json.dumps(TRIPLETS[0]) + "\n")
    with pytest.raises(DataFormatError, match="content hash differs"):
        load_dataset(triplets_dir)
    with pytest.raises(DataFormatError, match="no manifest"):
        load_dataset(triplets_dir / "nothing")


def test_st_parquet_loads_with_datasets_in_trainer_column_order(triplets_dir, tmp_path):
    from datasets import load_dataset as hf_load

    files = export_dataset(triplets_dir, tmp_path / "st", format="st").files
    assert sorted(f.name for f in files) == ["dev.parquet", "train.parquet"]
    hf = hf_load("parquet", data_files=str(tmp_path / "st" / "train.parquet"), split="train")
    assert hf.column_names == ["anchor", "positive", "negative_1", "negative_2"]
    assert hf[0] == TRIPLETS[0]
    assert (tmp_path / "st" / "README.md").exists()
    assert json.loads((tmp_path / "st" / "export.json").read_text())["format"] == "st"


def test_graded_st_export_keeps_only_trainer_columns(tmp_path):
    from datasets import load_dataset as hf_load

    src = save_dataset(GRADED, tmp_path / "g", kind="graded")
    export_dataset(src, tmp_path / "g-st", format="st")
    hf = hf_load("parquet", data_files=str(tmp_path / "g-st" / "train.parquet"), split="train")
    assert hf.column_names == ["query", "passage", "score"]  # CrossEncoderTrainer: score = label
    assert hf["score"] == [1.0, 0.4, 0.0]
    assert to_hf_dataset(GRADED, "graded").column_names == ["query", "passage", "score"]
    assert to_hf_dataset(TRIPLETS, "triplets").column_names == list(TRIPLETS[0])


def test_flagembedding_export_groups_by_query(triplets_dir, tmp_path):
    from datasets import load_dataset as hf_load

    result = export_dataset(triplets_dir, tmp_path / "fe", format="flagembedding")
    assert result.files[0] == tmp_path / "fe" / "train.jsonl" and not result.warnings
    # FlagEmbedding's loader reads every .json/.jsonl directly in the folder it is given:
    # only the training rows may be there
    top = sorted(p.name for p in (tmp_path / "fe").iterdir() if p.suffix in (".json", ".jsonl"))
    assert top == ["train.jsonl"]
    assert (tmp_path / "fe" / "dev" / "dev.jsonl").exists()
    assert json.loads((tmp_path / "fe" / "meta" / "export.json").read_text())["files"] == [
        "../train.jsonl",
        "../dev/dev.jsonl",
    ]
    hf = hf_load("json", data_files=str(tmp_path / "fe" / "train.jsonl"), split="train")
    assert hf.column_names == ["query", "pos", "neg"]
    # p1 is a positive of q1, so it is not kept as q1's negative
    assert hf[0] == {"query": "q1", "pos": ["p1", "p2"], "neg": ["n1", "n2"]}
    assert hf[1] == {"query": "q2", "pos": ["p3"], "neg": ["n3", "n4"]}


def test_flagembedding_never_writes_empty_negatives(tmp_path):
    rows = [
        {"query": "q1", "passage": "p1", "score": 1.0, "grade": 5, "source": "judged"},
        {"query": "q1", "passage": "n1", "score": 0.0, "grade": 0, "source": "mined"},
        {"query": "q2", "passage": "p2", "score": 1.0, "grade": 5, "source": "judged"},
    ]
    src = save_dataset(rows, tmp_path / "g", kind="graded")
    result = export_dataset(src, tmp_path / "fe", format="flagembedding")
    lines = [json.loads(x) for x in (tmp_path / "fe" / "train.jsonl").read_text().splitlines()]
    assert lines == [{"query": "q1", "pos": ["p1"], "neg": ["n1"]}]
    assert any("dropped 1 of 2 queries with no negative" in w for w in result.warnings)


def test_out_with_a_file_suffix_writes_a_file(triplets_dir, tmp_path):
    from typer.testing import CliRunner

    from flywheel.cli.app import app

    target = tmp_path / "sf.jsonl"
    result = CliRunner().invoke(
        app, ["dataset", "export", str(triplets_dir), "-f", "flagembedding", "--out", str(target)]
    )
    assert result.exit_code == 0, result.output
    assert target.is_file() and (tmp_path / "sf-dev.jsonl").is_file()
    assert json.loads((tmp_path / "sf.export.json").read_text())["files"] == [
        "sf.jsonl",
        "sf-dev.jsonl",
    ]
    assert json.loads(target.read_text().splitlines()[0])["query"] == "q1"
    with pytest.raises(ConfigError, match="written as .parquet"):
        export_dataset(triplets_dir, tmp_path / "x.jsonl", format="st")


def test_cohere_export(tmp_path):
    from datasets import load_dataset as hf_load

    src = save_dataset(GRADED, tmp_path / "g", kind="graded")
    result = export_dataset(src, tmp_path / "co", format="cohere")
    assert any("2025-09-15" in w for w in result.warnings)
    assert any("needs at least 256" in w for w in result.warnings)
    hf = hf_load("json", data_files=str(tmp_path / "co" / "train.jsonl"), split="train")
    # grade >= 3 relevant, grade <= 1 negative, grade 2 left out
    assert hf[0] == {"query": "q1", "relevant_passages": ["p1"], "hard_negatives": ["n1"]}


def test_plain_jsonl_export_and_unknown_format(triplets_dir, tmp_path):
    export_dataset(triplets_dir, tmp_path / "plain", format="jsonl")
    lines = (tmp_path / "plain" / "train.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == TRIPLETS
    with pytest.raises(UnknownComponentError, match="known: cohere, flagembedding, jsonl, st"):
        export_dataset(triplets_dir, tmp_path / "x", format="csv")


def test_neutral_event_pairs_are_never_exported_as_negatives(tmp_path, clock):
    """Grouped formats read grade <= 1 as a negative; a pair the click model leaves neutral (shown
    below the clicks, never looked at) has no grade, so it makes no row and no negative."""
    from datasets import load_dataset as hf_load
    from flywheel.data.events import ClickEvent, DwellEvent, RetrievalEvent
    from flywheel.datasets import build_graded_pairs

    events = []
    for s in range(5):
        sid = f"s{s}"
        events += [
            RetrievalEvent(session_id=sid, qid="q", timestamp=clock(),
                           results=(("skipped", 1, 0.9), ("read", 2, 0.8), ("below", 3, 0.7))),
            ClickEvent(session_id=sid, qid="q", chunk_id="read", rank=2, timestamp=clock()),
            DwellEvent(session_id=sid, qid="q", chunk_id="read", dwell_ms=50_000,
                       timestamp=clock()),
        ]  # fmt: skip
    texts = {"skipped": "skipped text", "read": "read text", "below": "below text"}
    rows = build_graded_pairs({"q": "the query"}, {}, texts, events=events)
    assert {r["passage"]: r["grade"] for r in rows} == {"read text": 5, "skipped text": 0}
    src = save_dataset(rows, tmp_path / "g", kind="graded")
    export_dataset(src, tmp_path / "fe", format="flagembedding")
    export_dataset(src, tmp_path / "co", format="cohere")
    fe = hf_load("json", data_files=str(tmp_path / "fe" / "train.jsonl"), split="train")
    co = hf_load("json", data_files=str(tmp_path / "co" / "train.jsonl"), split="train")
    assert fe[0] == {"query": "the query", "pos": ["read text"], "neg": ["skipped text"]}
    assert co[0]["hard_negatives"] == ["skipped text"]
