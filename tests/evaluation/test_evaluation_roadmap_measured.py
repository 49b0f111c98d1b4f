"""The roadmap placed by measured gains: p-values shown, estimates marked, a chart that reads."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from flywheel.cli.app import app
from flywheel.reports import plots
from flywheel.roadmap import Candidate, fill_measured

runner = CliRunner()


def test_chart_keeps_points_and_labels_inside_with_units() -> None:
    points = [
        {"name": "a very long candidate name", "impact": 0.30, "effort": 20, "measured": True,
         "p_value": 0.003},
        {"name": "hybrid retrieval", "impact": 0.05, "effort": 1, "measured": False},
        {"name": "fine-tune the embedder", "impact": -0.02, "effort": 10, "measured": True,
         "p_value": 0.4},
    ]  # fmt: skip
    fig = plots.impact_effort(points)
    [ax] = fig.axes
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    for p in points:  # strictly inside, never on the frame
        assert x0 < p["effort"] < x1 and y0 < 100 * p["impact"] < y1
    labels = [t for t in ax.texts if "(" in t.get_text()]
    assert len(labels) == 3
    for text in labels:
        box = text.get_window_extent(renderer)
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1, text.get_text()
        assert frame.y0 <= box.y0 and box.y1 <= frame.y1, text.get_text()
    assert "person-days" in ax.get_xlabel() and "%" in ax.get_ylabel()
    assert any("p=0.003" in t.get_text() for t in labels)
    assert any("est. +5.0%" in t.get_text() for t in labels)


def test_measured_gains_come_from_runs_and_loops(
    tiny_beir: Path, tiny_spec: str, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'fw.db'}"
    spec = tmp_path / "spec.toml"
    spec.write_text(tiny_spec.format(dataset=tiny_beir))
    assert runner.invoke(app, ["experiment", "run", str(spec), "--db", db]).exit_code == 0
    summary = tmp_path / "loop" / "summary.json"
    summary.parent.mkdir()
    outcome = {"relative_change": 0.12, "p_value": 0.01}
    summary.write_text(json.dumps({
        "config": {"primary_metric": "ndcg@10"},
        "test": {"outcomes": {"fine-tuned": {"ndcg@10": outcome}}},
    }))  # fmt: skip
    file = tmp_path / "roadmap.toml"
    file.write_text(
        '[[candidates]]\nname = "bm25"\nimpact = 0.01\neffort = 1\nexperiment = "tiny"\n'
        '[[candidates]]\nname = "finetune"\nimpact = 0.5\neffort = 5\n'
        'experiment = "loop/summary.json"\n'
        '[[candidates]]\nname = "rerank"\nimpact = 0.05\neffort = 3\n'
    )
    out = tmp_path / "roadmap.html"
    result = runner.invoke(app, ["roadmap", str(file), "--report", str(out), "--db", db])
    assert result.exit_code == 0, result.output
    assert "measured (p=" in result.output and "+12.0% measured (p=0.01)" in result.output
    assert "+5.0% estimated" in result.output
    page = out.read_text()
    assert "Roadmap: roadmap" not in page and "<h1>Roadmap</h1>" in page
    [loop] = fill_measured(
        [Candidate(name="f", impact=0.5, effort=5, experiment=str(summary))], None
    )
    assert (loop.measured_impact, loop.measured_p_value) == (0.12, 0.01)
