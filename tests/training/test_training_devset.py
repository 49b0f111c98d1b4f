"""Dev-set carving, row shaping and the dataset-folder reader, on hand-made rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flywheel.errors import ConfigError, DataFormatError
from flywheel.training.data import load_training_data
from flywheel.training.devset import (
    graded_dev_set,
    pairs_dev_set,
    split_graded_dev,
    split_pairs_dev,
)
from flywheel.training.rows import (
    embedder_columns,
    prepare_embedder_dataset,
    prepare_listwise_dataset,
    reranker_is_graded,
    to_dataset,
)


def test_pairs_dev_set_by_hand() -> None:
    dev_rows = [
        {"anchor": "q one", "positive": "p1", "negative": "n1"},
        {"anchor": "q one", "positive": "p2", "negative": "n1"},
        {"anchor": "q two", "positive": "p3"},
    ]
    dev = pairs_dev_set(dev_rows, distractor_rows=[{"anchor": "x", "positive": "t1"}], pool_size=10)
    assert dev.queries == {"q0": "q one", "q1": "q two"}
    # ids follow first appearance: p1=d0, n1=d1, p2=d2, p3=d3; then the distractor t1=d4
    assert dev.qrels == {"q0": {"d0": 1, "d2": 1}, "q1": {"d3": 1}}
    assert dev.texts == {"d0": "p1", "d1": "n1", "d2": "p2", "d3": "p3", "d4": "t1"}


def test_pool_size_caps_distractors_but_keeps_dev_texts() -> None:
    dev_rows = [{"anchor": "q", "positive": "p"}]
    others = [{"anchor": f"a{i}", "positive": f"t{i}"} for i in range(50)]
    dev = pairs_dev_set(dev_rows, distractor_rows=others, pool_size=5)
    assert len(dev.texts) == 5 and "p" in dev.texts.values()


def test_split_pairs_dev_holds_out_whole_anchors(rows: list[dict[str, str]]) -> None:
    train, dev = split_pairs_dev(rows, fraction=0.2, seed=3)
    anchors = {row["anchor"] for row in rows}
    held = set(dev.queries.values())
    assert len(held) == round(len(anchors) * 0.2)
    assert not held & {row["anchor"] for row in train}
    assert len(train) + sum(1 for row in rows if row["anchor"] in held) == len(rows)
    for qid, docs in dev.qrels.items():
        positives = {row["positive"] for row in rows if row["anchor"] == dev.queries[qid]}
        assert {dev.texts[d] for d in docs} == positives


def test_split_needs_two_queries_and_a_sane_fraction() -> None:
    with pytest.raises(ConfigError):
        split_pairs_dev([{"anchor": "a", "positive": "p"}], fraction=0.5)
    with pytest.raises(ConfigError):
        split_pairs_dev(
            [{"anchor": "a", "positive": "p"}, {"anchor": "b", "positive": "q"}], fraction=1.5
        )


def test_graded_dev_set_grades_and_pool() -> None:
    dev = graded_dev_set(
        [
            {"query": "q", "passage": "a", "score": 1.0, "grade": 3},
            {"query": "q", "passage": "b", "score": 0.0, "grade": 0},
            {"query": "r", "passage": "c", "score": 1.0},
        ]
    )
    assert dev.qrels == {"q0": {"d0": 3}, "q1": {"d2": 1}}
    assert set(dev.texts.values()) == {"a", "b", "c"}


def test_split_graded_dev(graded: list[dict[str, object]]) -> None:
    train, dev = split_graded_dev(graded, fraction=0.25, seed=0)
    assert len(dev.queries) == 5  # 20 queries, a quarter held out
    assert not set(dev.queries.values()) & {row["query"] for row in train}


def test_embedder_columns_order_and_id_columns_dropped() -> None:
    names = ["qid", "negative_10", "positive", "negative_2", "anchor", "source_id"]
    assert embedder_columns(names) == ["anchor", "positive", "negative_2", "negative_10"]
    assert embedder_columns(names, max_negatives=1) == ["anchor", "positive", "negative_2"]
    assert embedder_columns(["query", "doc_id", "text"]) == ["query", "text"]
    with pytest.raises(ConfigError):
        embedder_columns(["anchor", "qid"])


def test_prepare_embedder_dataset_drops_empty_texts(rows: list[dict[str, str]]) -> None:
    broken = rows + [{"anchor": "x", "positive": "", "negative": "n", "qid": "z"}]
    dataset = prepare_embedder_dataset(broken)
    assert dataset.column_names == ["anchor", "positive", "negative"]
    assert len(dataset) == len(rows)


def test_listwise_groups_by_query_and_drops_flat_queries() -> None:
    dataset = to_dataset(
        [
            {"query": "q", "passage": "a", "score": 1.0, "grade": 2},
            {"query": "q", "passage": "b", "score": 0.0, "grade": 0},
            {"query": "q", "passage": "c", "score": 0.5, "grade": 1},
            {"query": "flat", "passage": "d", "score": 0.0, "grade": 0},
        ]
    )
    assert reranker_is_graded(dataset)
    listwise = prepare_listwise_dataset(dataset, max_docs=16, seed=0)
    assert listwise["query"] == ["q"]
    assert sorted(zip(listwise["docs"][0], listwise["labels"][0], strict=True)) == [
        ("a", 2.0),
        ("b", 0.0),
        ("c", 1.0),
    ]
    binary = to_dataset(
        [{"query": "q", "passage": "a", "score": 1.0}, {"query": "q", "passage": "b", "score": 0.0}]
    )
    assert not reranker_is_graded(binary)


def test_reads_a_flywheel_dataset_folder(tmp_path: Path, rows: list[dict[str, str]]) -> None:
    from flywheel.datasets.artifact import save_dataset

    folder = save_dataset({"train": rows[:20], "dev": rows[20:]}, tmp_path / "ds", kind="triplets")
    data = load_training_data(folder)
    assert (len(data.train), len(data.dev or []), data.kind) == (20, len(rows) - 20, "triplets")


def test_reads_loose_jsonl_and_parquet(tmp_path: Path, rows: list[dict[str, str]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:5]))
    pq.write_table(pa.Table.from_pylist(rows[5:8]), tmp_path / "dev.parquet")
    data = load_training_data(tmp_path)
    assert len(data.train) == 5 and len(data.dev or []) == 3 and data.train[0] == rows[0]


def test_bad_jsonl_line_is_located(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl").write_text('{"anchor": "a", "positive": "p"}\n{oops\n')
    with pytest.raises(DataFormatError) as info:
        load_training_data(tmp_path)
    assert info.value.line == 2
