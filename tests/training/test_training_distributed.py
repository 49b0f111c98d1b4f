"""``flywheel train embedder`` under ``torchrun``, unchanged: two CPU processes, gloo backend.

This is the multi-GPU path (sentence-transformers' trainer wraps the model in DDP) run on what
every machine has. ``ACCELERATE_USE_CPU=true`` is the launcher-side switch that makes the
trainer start a gloo process group instead of looking for GPUs; on GPUs it is left out.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROWS, BATCH, WORLD = 40, 4, 2


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    topics = ["apple orchard", "rocket orbit", "violin concert", "river boat", "bread oven"]
    with (folder / "train.jsonl").open("w", encoding="utf-8") as handle:
        for i in range(ROWS):  # distinct texts: no-duplicates batches stay full
            topic, other = topics[i % 5], topics[(i + 1) % 5]
            row = {"anchor": f"what about {topic} {i}", "positive": f"{topic} passage {i}",
                   "negative": f"{other} passage {i}"}  # fmt: skip
            handle.write(json.dumps(row) + "\n")
    return folder


def test_two_process_cpu_training_with_torchrun(tiny_st: str, data_dir: Path, tmp_path: Path):
    out, logs = tmp_path / "run", tmp_path / "logs"
    env = {
        **os.environ,
        "ACCELERATE_USE_CPU": "true",
        "HF_HUB_OFFLINE": "1",
        "FLYWHEEL_PROGRESS": "0",
        "OMP_NUM_THREADS": "1",
    }
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        "--nproc_per_node", str(WORLD), "--log-dir", str(logs), "--tee", "3",
        "-m", "flywheel", "train", "embedder", "--data", str(data_dir), "--out", str(out),
        "--base", tiny_st, "--epochs", "1", "--batch-size", str(BATCH), "--dev-fraction", "0",
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    manifest = json.loads((out / "manifest.json").read_text())
    # each optimiser step consumed BATCH rows on each of the two ranks: half the steps of one
    # process, which is what data-parallel training means
    assert manifest["steps"] == math.ceil(ROWS / (BATCH * WORLD)) == 5
    assert manifest["world_size"] == WORLD
    assert len(manifest["loss_history"]) >= 1
    assert any((out / "model").rglob("*.safetensors"))  # saved once, by rank 0

    rank_logs = {p.parent.name: p.read_text() for p in logs.rglob("stdout.log")}
    assert set(rank_logs) == {"0", "1"}  # both ranks ran the command...
    for text in rank_logs.values():  # ...and both took the same 5 synchronised steps
        assert "steps" in text and "│ 5 " in text
