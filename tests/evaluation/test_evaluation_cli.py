"""The experiment, report and roadmap commands through Typer's runner."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from flywheel.cli.app import app

runner = CliRunner()


def test_experiment_run_list_show_compare_report(
    tiny_beir: Path, tiny_spec: str, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'fw.db'}"
    spec = tmp_path / "spec.toml"
    spec.write_text(tiny_spec.format(dataset=tiny_beir))
    result = runner.invoke(app, ["experiment", "run", str(spec), "--db", db])
    assert result.exit_code == 0, result.output
    assert "verdict: criterion met" in result.output and "stored as run" in result.output
    runner.invoke(app, ["experiment", "run", str(spec), "--db", db])

    listed = runner.invoke(app, ["experiment", "list", "--db", db])
    assert listed.exit_code == 0 and listed.output.count("tiny") == 2
    from flywheel.store import Store

    ids = [r.run_id for r in Store(db).list_experiment_runs()]
    shown = runner.invoke(app, ["experiment", "show", ids[0], "--db", db])
    assert shown.exit_code == 0 and "versions:" in shown.output and "bm25" in shown.output
    compared = runner.invoke(app, ["experiment", "compare", ids[0], ids[1], "--db", db])
    assert (
        compared.exit_code == 0 and "A:reverse" in compared.output and "B:bm25" in compared.output
    )

    out = tmp_path / "report.html"
    made = runner.invoke(app, ["report", ids[0], "--out", str(out), "--db", db])
    assert made.exit_code == 0, made.output
    page = out.read_text()
    assert "criterion met" in page and "Bread" in page  # doc titles from the dataset


def test_experiment_run_bad_spec_fails_before_work(
    tiny_beir: Path, tiny_spec: str, tmp_path: Path
) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text(tiny_spec.format(dataset=tiny_beir).replace('"mrr@10"', '"mrr@ten"'))
    result = runner.invoke(app, ["experiment", "run", str(spec), "--no-save"])
    assert result.exit_code != 0
    assert "metrics[2]" in str(result.exception)


def test_roadmap_command(tmp_path: Path) -> None:
    file = tmp_path / "roadmap.toml"
    file.write_text(
        '[[candidates]]\nname = "hybrid"\nimpact = 0.05\neffort = 1\n'
        '[[candidates]]\nname = "finetune"\nimpact = 0.1\neffort = 10\ndependencies = ["hybrid"]\n'
    )
    out = tmp_path / "roadmap.html"
    result = runner.invoke(app, ["roadmap", str(file), "--report", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.index("hybrid") < result.output.index("finetune")
    assert "quick win" in result.output and "data:image/png;base64," in out.read_text()
