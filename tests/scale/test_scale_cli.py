"""``flywheel batch encode | mine | score`` with the local engine, end to end on a BEIR folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from flywheel.cli.app import app
from flywheel.data.beir import load_beir
from flywheel.errors import ConfigError
from flywheel.retrieval.embedders import Embedder
from flywheel.scale import read_embeddings, read_negatives, read_scores

runner = CliRunner()


def _ok(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_encode_mine_and_score_from_the_command_line(
    beir_folder: Path, tiny_model: str, tiny_cross_encoder: str, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("FLYWHEEL_CACHE", str(tmp_path / "cache"))
    emb, neg, scores = tmp_path / "emb", tmp_path / "neg", tmp_path / "scores"
    shown = _ok(["batch", "encode", "--beir", str(beir_folder), "--model", tiny_model,
                 "--out", str(emb)])  # fmt: skip
    assert "added to cache" in shown and "next: flywheel batch mine" in shown
    dataset = load_beir(beir_folder)
    shards = read_embeddings(emb)
    assert shards.doc_ids == list(dataset.corpus)
    expected = Embedder(tiny_model, use_cache=False).encode_documents(
        list(dataset.corpus), list(dataset.texts().values())
    )
    np.testing.assert_allclose(shards.embeddings, expected, rtol=0, atol=1e-6)

    _ok(["batch", "mine", "--beir", str(beir_folder), "--embeddings", str(emb), "--out", str(neg),
         "--range-min", "1", "--range-max", "10", "--relative-margin", "-1",
         "--triplets", str(tmp_path / "triplets.jsonl")])  # fmt: skip
    mined = read_negatives(neg)
    assert len(mined.examples) == 12 and all(len(e.negative_ids) == 1 for e in mined.examples)
    rows = [json.loads(line) for line in (tmp_path / "triplets.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and set(rows[0]) == {"anchor", "positive", "negative"}

    run = {q: {d: 1.0 / (1 + i) for i, d in enumerate(list(dataset.corpus)[:5])}
           for q in list(dataset.queries)[:3]}  # fmt: skip
    (tmp_path / "run.json").write_text(json.dumps(run))
    _ok(["batch", "score", "--beir", str(beir_folder), "--run", str(tmp_path / "run.json"),
         "--model", tiny_cross_encoder, "--depth", "4", "--out", str(scores),
         "--run-out", str(tmp_path / "scored.json")])  # fmt: skip
    scored = read_scores(scores)
    assert len(scored) == 3 * 4
    assert json.loads((tmp_path / "scored.json").read_text()).keys() == run.keys()

    again = runner.invoke(app, ["batch", "encode", "--beir", str(beir_folder), "--model",
                                tiny_model, "--out", str(emb)])  # fmt: skip
    assert again.exit_code == 1 and isinstance(again.exception, ConfigError)
    assert "exists; pass overwrite=True (--overwrite)" in str(again.exception)


def test_unknown_engine_lists_the_engines(beir_folder: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["batch", "encode", "--beir", str(beir_folder), "--out", str(tmp_path / "x"),
              "--engine", "spark"],
    )  # fmt: skip
    assert result.exit_code == 2 and "local" in result.output and "ray" in result.output


def test_mining_refuses_shards_of_another_corpus(
    beir_folder: Path, tiny_model: str, tmp_path: Path
) -> None:
    from flywheel.scale import encode_corpus

    encode_corpus({"d0-0": "only one"}, tmp_path / "emb", model=tiny_model)
    with pytest.raises(ConfigError, match="has no vector for 35 documents"):
        from flywheel.cli.batch import mine

        mine(embeddings=tmp_path / "emb", output=tmp_path / "neg", beir=beir_folder)


def test_dataset_build_takes_the_engine_for_corpus_encoding(
    beir_folder: Path, tiny_model: str, tmp_path: Path, monkeypatch
) -> None:
    from flywheel.datasets.artifact import load_dataset

    monkeypatch.setenv("FLYWHEEL_CACHE", str(tmp_path / "cache"))
    _ok(["dataset", "build", "triplets", "--beir", str(beir_folder), "--model", tiny_model,
         "--out", str(tmp_path / "sets"), "--range-min", "1", "--range-max", "10",
         "--relative-margin", "-1", "--engine", "local"])  # fmt: skip
    assert sum(len(rows) for rows in load_dataset(tmp_path / "sets").splits.values()) == 12
    result = runner.invoke(app, ["dataset", "build", "triplets", "--beir", str(beir_folder),
                                 "--out", str(tmp_path / "x"), "--engine", "dask"])  # fmt: skip
    assert result.exit_code == 1 and "unknown engine 'dask'; choose one of: local, ray" in str(
        result.exception
    )


def test_corpus_encoder_fills_the_cache_build_dataset_reads(tiny_model: str, tmp_path, monkeypatch):
    from flywheel.scale.encode import corpus_encoder

    monkeypatch.setenv("FLYWHEEL_CACHE", str(tmp_path / "cache"))
    encode = corpus_encoder(tiny_model, engine="local")
    queries, docs = encode(["a question"], ["d1", "d2"], ["first text", "second text"])
    assert queries.shape == (1, 32) and docs.shape == (2, 32)
    cached = Embedder(tiny_model)
    cached.cache.refresh()
    assert len(cached.cache) == 2
