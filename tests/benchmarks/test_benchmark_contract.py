"""Benchmarks keep their contract: a table, then one JSON line with every figure, last."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_mining_speed_ends_with_its_json_line() -> None:
    pytest.importorskip("faiss")
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "mining_speed.py"), "--synthetic", "3000",
         "--queries", "60", "--repeats", "1"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["documents"] == 3000 and figures["mining_speedup"] > 0
    for miner in ("ours", "sentence_transformers"):
        assert figures[miner]["rows"] == 60 and figures[miner]["peak_rss_mb"] > 0
