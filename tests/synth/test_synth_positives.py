"""Issue 11: a synthetic pair trains against its stored positive, never against its document.

ICT's positive is the passage *without* the question sentence; the document still holds the
sentence verbatim, so training rows built from the store must use the stored positive.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from flywheel.cli.app import app
from flywheel.data.types import Document
from flywheel.datasets import HardNegativeConfig, load_dataset
from flywheel.datasets.build import BuildOptions, build_dataset
from flywheel.store import Store
from flywheel.store.schema import synthetic_positives
from flywheel.synth import (
    FilterConfig,
    SynthConfig,
    SyntheticPair,
    SynthResult,
    synthesize,
    write_synthetic,
)
from flywheel.synth.filters import FilterReport

CORPUS = {
    d.doc_id: d
    for d in [
        Document(
            "d0",
            "Lava cools into basalt when it reaches the sea. The rock forms columns as it "
            "shrinks. Islands grow this way over thousands of years.",
            title="Volcanic rock",
        ),
        Document(
            "d1",
            "Bread rises because yeast eats sugar and releases gas. Bakers knead the dough to "
            "trap the gas in gluten. Salt slows the yeast down a little.",
        ),
        Document(
            "d2",
            "Tides follow the moon because its gravity pulls the oceans. Spring tides come at "
            "full and new moon. Neap tides fall between them.",
        ),
        Document(
            "d3",
            "Bees dance to tell each other where flowers are. The angle of the dance points "
            "to the food source. Its length says how far away the flowers grow.",
            title="Honey bees",
        ),
    ]
}
NO_FILTERS = FilterConfig(max_copied_run=None, near_duplicate_threshold=None)
REAL = {"r1": "why does dough rise", "t1": "what makes tides"}


def _store(path: Path) -> Store:
    store = Store(str(path))
    store.add_documents(CORPUS.values())
    store.add_queries(REAL)
    store.add_judgments({"r1": {"d1": 1}}, split="train")
    store.add_judgments({"t1": {"d2": 1}}, split="test")
    return store


def _synth(generator: str, seed: int = 42) -> SynthResult:
    config = SynthConfig(n=10, generator=generator, seed=seed, clusters=1, filters=NO_FILTERS)
    result = synthesize(CORPUS, config, eval_queries={"t1": REAL["t1"]})
    assert len(result.kept) >= 3
    return result


def _run(store: Store) -> dict[str, dict[str, float]]:
    """Every document for every query, in one fixed order: mining needs no model."""
    return {qid: {d: 10.0 - i for i, d in enumerate(sorted(CORPUS))} for qid in store.queries()}


def _build(store: Store, kind: str, out: Path) -> dict[str, list[dict]]:
    config = HardNegativeConfig(range_min=0, range_max=4, relative_margin=None)
    options = BuildOptions(dev_fraction=0.0, near_duplicate_threshold=None)
    path = build_dataset(
        store.to_dataset(), out, kind=kind, config=config, options=options, run=_run(store)
    )
    return load_dataset(path).splits


@pytest.mark.parametrize("generator", ["ict", "crop"])
def test_triplets_from_the_store_train_synthetic_questions_on_their_stored_positive(
    tmp_path, generator
):
    store = _store(tmp_path / "s.db")
    result = _synth(generator)
    counts = write_synthetic(store, result, run_id="r")
    assert counts["kept"] == counts["positives"] == len(result.kept)
    expected = {p.question: p for p in result.kept}

    rows = _build(store, "triplets", tmp_path / "trip")["train"]
    synthetic = [row for row in rows if row["anchor"] in expected]
    assert len(synthetic) == len(result.kept)
    for row in synthetic:
        pair = expected[row["anchor"]]
        document = CORPUS[pair.doc_id].text_for_encoding
        assert row["positive"] == pair.positive != document
        assert row["negative"] != document  # the source document is never its negative
        if generator == "ict":
            assert pair.question in document and pair.question not in row["positive"]
    [real] = [row for row in rows if row["anchor"] == REAL["r1"]]
    assert real["positive"] == CORPUS["d1"].text_for_encoding
    assert not any(row["anchor"] == REAL["t1"] for row in rows)  # eval stays out


def test_pairs_and_graded_rows_use_the_masked_passage_too(tmp_path):
    store = _store(tmp_path / "s.db")
    result = _synth("ict")
    write_synthetic(store, result, run_id="r")
    masked = {p.question: p.positive for p in result.kept}
    pairs = _build(store, "pairs", tmp_path / "pairs")["train"]
    assert {r["anchor"]: r["positive"] for r in pairs if r["anchor"] in masked} == masked
    graded = _build(store, "graded", tmp_path / "graded")["train"]
    judged = {r["query"]: r["passage"] for r in graded if r["source"] == "judged"}
    assert {q: judged[q] for q in masked} == masked
    assert judged[REAL["r1"]] == CORPUS["d1"].text_for_encoding
    card = json.loads((tmp_path / "graded" / "card.json").read_text())
    assert any(f"{len(masked)} synthetic queries train against" in n for n in card["notes"])


def test_masked_passages_never_reach_a_corpus(tmp_path):
    store = _store(tmp_path / "s.db")
    result = _synth("ict")
    write_synthetic(store, result, run_id="r")
    store.write_chunks("fixed", [(d, 0, doc.text) for d, doc in CORPUS.items()])
    masked = {p.positive for p in result.kept}
    dataset = store.to_dataset()
    assert not masked & set(dataset.texts().values())
    assert dataset.corpus == CORPUS
    assert {t for own in dataset.positive_texts.values() for t in own.values()} == masked
    assert store.chunk_strategies() == {"fixed": len(CORPUS)}
    chunked = store.to_dataset(level="chunk", strategy="fixed")
    assert chunked.positive_texts == {}
    assert not masked & {doc.text_for_encoding for doc in chunked.corpus.values()}


def test_writing_again_replaces_positives_and_llm_pairs_store_none(tmp_path):
    store = _store(tmp_path / "s.db")
    result = _synth("crop")
    write_synthetic(store, result, run_id="r1")
    write_synthetic(store, result, run_id="r2")  # same pairs again: nothing doubles
    with store.engine.connect() as conn:
        assert len(conn.execute(select(synthetic_positives)).all()) == len(result.kept)
    first = result.kept[0]
    first.positive = "another span of the same passage"
    write_synthetic(store, result, run_id="r3")
    assert store.to_dataset().positive_texts[first.qid] == {first.doc_id: first.positive}

    doc = CORPUS["d3"]
    llm = SyntheticPair("how do bees find flowers?", "d3", doc.text_for_encoding, "llm")
    counts = write_synthetic(
        store, SynthResult([llm], [], FilterReport(), 1), run_id="r4", corpus=CORPUS
    )
    assert counts == {"kept": 1, "positives": 0, "rejected": 0}
    assert llm.qid not in store.to_dataset().positive_texts


def test_writing_again_adds_positives_to_pairs_stored_before_migration_0004(tmp_path):
    store = _store(tmp_path / "s.db")
    result = _synth("ict")
    old = [{"qid": p.qid, "text": p.question, "source": "synthetic"} for p in result.kept]
    store.add_queries(old, source="synthetic")  # what write_synthetic stored before the fix
    store.add_judgments(
        [{"qid": p.qid, "doc_id": p.doc_id, "grade": 1} for p in result.kept],
        source="derived",
        split="train",
    )
    assert store.to_dataset().positive_texts == {}
    assert write_synthetic(store, _synth("ict"), run_id="again")["positives"] == len(result.kept)
    assert store.to_dataset().positive_texts == {p.qid: {p.doc_id: p.positive} for p in result.kept}


def test_cli_synth_then_dataset_build_triplets_from_the_store(tmp_path):
    db = str(tmp_path / "cli.db")
    store = _store(Path(db))
    runner = CliRunner()
    result = runner.invoke(
        app, ["synth", "questions", "--n", "10", "--offline", "--no-embed", "--db", db]
    )
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # Rich wraps long lines
    assert "stored 4 questions" in said and "4 positive passages they train against" in said
    (tmp_path / "run.json").write_text(json.dumps(_run(store)))
    result = runner.invoke(app, [
        "dataset", "build", "triplets", "--db", db, "--run", str(tmp_path / "run.json"),
        "--range-min", "0", "--range-max", "4", "--relative-margin", "-1",
        "--dev-fraction", "0", "--out", str(tmp_path / "trip"),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = [r for split in load_dataset(tmp_path / "trip").splits.values() for r in split]
    synthetic = store.queries(source="synthetic")
    positives = store.to_dataset().positive_texts
    by_text = {text: qid for qid, text in synthetic.items()}
    checked = 0
    for row in rows:
        qid = by_text.get(row["anchor"])
        if qid is None:
            assert row["positive"] == CORPUS["d1"].text_for_encoding  # the real query
            continue
        [(doc_id, masked)] = positives[qid].items()
        assert row["positive"] == masked and row["anchor"] not in masked
        assert row["anchor"] in CORPUS[doc_id].text
        checked += 1
    assert checked == len(synthetic) > 0
