from __future__ import annotations

import json
from pathlib import Path

import pytest
from fs_helpers import planted
from typer.testing import CliRunner

from flywheel.cli.app import app
from flywheel.fewshot import FewShotLibrary
from flywheel.retrieval import embedders
from flywheel.store import Store
from flywheel.testing import FakeEmbedder

runner = CliRunner()


def _fake(monkeypatch) -> None:
    """Every Embedder the CLI makes is the fake one (same model id on build and prompt)."""

    class Fake(FakeEmbedder):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(dim=256)

    monkeypatch.setattr(embedders, "Embedder", Fake)
    monkeypatch.setattr("flywheel.fewshot.library.Embedder", Fake)


def _examples_file(tmp_path: Path) -> Path:
    path = tmp_path / "examples.jsonl"
    rows = [
        {
            "qid": e.qid,
            "question": e.question,
            "answer": e.answer,
            "reasoning": e.reasoning,
            "intent": e.intent,
            "positive_feedback": 1,
        }
        for e in planted(6)
    ]
    rows.append(
        {
            "qid": "no-why",
            "question": "refund card charge please",
            "answer": "billing",
            "positive_feedback": 1,
        }
    )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_build_show_prompt_list(monkeypatch, tmp_path: Path) -> None:
    _fake(monkeypatch)
    db = str(tmp_path / "f.db")
    built = runner.invoke(
        app, ["fewshot", "build", "--examples", str(_examples_file(tmp_path)), "--db", db]
    )
    assert built.exit_code == 0, built.output
    assert "library default@v1" in built.output and "no_reasoning 1" in built.output

    shown = runner.invoke(app, ["fewshot", "show", "--db", db])
    assert shown.exit_code == 0, shown.output
    for text in (
        "Groups and their representatives",
        "billing",
        "Exclusions by reason",
        "no_reasoning",
        "no-why",
        "no reasoning to show",
    ):
        assert text in shown.output

    prompted = runner.invoke(
        app, ["fewshot", "prompt", "refund my card", "-k", "2", "--json", "--db", db]
    )
    assert prompted.exit_code == 0, prompted.output
    data = json.loads(prompted.output)
    assert data["library"] == "default@v1" and data["intent"] == "billing"
    assert data["prompt"].startswith("Question: ") and data["use_id"]
    assert len(data["examples"]) == 2 and data["reasons"][0].startswith("representative 1")

    static = runner.invoke(
        app,
        ["fewshot", "prompt", "anything", "--static", "-k", "3", "--template", "qa", "--db", db],
    )
    assert static.exit_code == 0, static.output
    assert "Answer:" in static.output and "static" in static.output

    listed = runner.invoke(app, ["fewshot", "list", "--db", db])
    assert "default@v1" in listed.output
    with Store(db) as store:
        assert FewShotLibrary.load(store).version == 1


def test_errors_are_one_line_with_the_fix(monkeypatch, tmp_path: Path, capsys) -> None:
    from flywheel.cli.app import main

    _fake(monkeypatch)
    monkeypatch.setattr("sys.argv", ["flywheel", "fewshot", "show", "--db", str(tmp_path / "f.db")])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "no few-shot library 'default'" in err and "flywheel fewshot build" in err
