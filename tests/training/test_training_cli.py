"""``flywheel train embedder|reranker`` through Typer's runner, on tiny models and toy data."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from flywheel.cli.app import app

runner = CliRunner()


def _write(folder: Path, rows: list[dict[str, object]]) -> Path:
    from flywheel.datasets.artifact import save_dataset

    kind = "graded" if "query" in rows[0] else "triplets"
    return save_dataset(rows, folder, kind=kind)


def test_train_embedder_command(tiny_st: str, rows: list[dict[str, str]], tmp_path: Path) -> None:
    data = _write(tmp_path / "data", rows)
    result = runner.invoke(
        app,
        [
            "train",
            "embedder",
            "--data",
            str(data),
            "--base",
            tiny_st,
            "--out",
            str(tmp_path / "run"),
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--lr",
            "1e-3",
            "--max-seq-length",
            "32",
            "--dev-fraction",
            "0.2",
            "--matryoshka",
            "32,16",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "base ndcg@10" in result.output and (
        "Accepted" in result.output or "Not accepted" in result.output
    )
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["config"]["matryoshka_dims"] == [32, 16]
    assert manifest["dataset"]["path"] == str(data) and manifest["dev"]["fraction"] == 0.2


def test_train_reranker_command(
    tiny_st: str, graded: list[dict[str, object]], tmp_path: Path
) -> None:
    data = _write(tmp_path / "data", graded)
    result = runner.invoke(
        app,
        [
            "train",
            "reranker",
            "--data",
            str(data),
            "--base",
            tiny_st,
            "--first-stage",
            tiny_st,
            "--out",
            str(tmp_path / "run"),
            "--max-steps",
            "2",
            "--batch-size",
            "4",
            "--max-length",
            "32",
            "--dev-fraction",
            "0.2",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "lambda loss" in result.output and "first stage ndcg@10" in result.output
    assert (tmp_path / "run" / "model" / "config.json").exists()


def test_unknown_loss_fails_before_loading_anything(
    rows: list[dict[str, str]], tmp_path: Path
) -> None:
    from flywheel.errors import UnknownComponentError

    data = _write(tmp_path / "data", rows)
    result = runner.invoke(
        app,
        [
            "train",
            "embedder",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "run"),
            "--loss",
            "nope",
        ],
    )
    assert result.exit_code != 0
    assert isinstance(result.exception, UnknownComponentError)
    assert not (tmp_path / "run").exists()
