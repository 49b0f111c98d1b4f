"""Piped output stays free of third-party progress bars ("Loading weights", tqdm)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = """
from flywheel._internal.progress import silence_third_party_bars
silence_third_party_bars()
from tqdm.auto import tqdm
for _ in tqdm(range(3), desc="Loading weights"):
    pass
from transformers.utils import logging
print("transformers bars:", logging.is_progress_bar_enabled())
"""


def test_piped_cli_draws_no_third_party_bars() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("TQDM_DISABLE", "FLYWHEEL_PROGRESS")}
    env |= {"PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1"}
    env.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          env=env, timeout=120, check=True)  # fmt: skip
    assert "Loading weights" not in done.stderr, done.stderr
    assert "transformers bars: False" in done.stdout
    source = (ROOT / "src" / "flywheel" / "cli" / "app.py").read_text()
    assert "silence_third_party_bars()" in source  # the CLI calls it before any command
