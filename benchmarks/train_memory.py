"""Peak memory and step time of fine-tuning the default embedder on CPU, by attention setting.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/train_memory.py --steps 3   # ~5 min, 2 cores

Each variant runs ``train_embedder`` (the loop's trainer) in its own process for ``--steps``
steps of MNRL over SciFact triplets (random queries and passages: speed and memory depend on
shapes, not on what the text says) at the loop's batch 32 and 256 tokens, and reports that
process's peak resident memory and seconds per step:

- ``attention dropout 0`` (the default): PyTorch's fused attention runs;
- ``attention dropout kept`` (the model's 0.1): attention matrices are materialised for dropout;
- ``kept + gradient checkpointing``: the usual memory lever, for comparison;
- ``0 + gradient checkpointing``: both, for the smallest footprint.

Prints a table, then one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "attention dropout 0": {"attention_dropout": 0.0},
    "attention dropout kept": {"attention_dropout": None},
    "kept + gradient checkpointing": {"attention_dropout": None, "gradient_checkpointing": True},
    "0 + gradient checkpointing": {"attention_dropout": 0.0, "gradient_checkpointing": True},
}


def one(variant: str, steps: int, folder: Path) -> dict[str, float]:
    """Train in this process; return its peak memory and seconds per step."""
    from flywheel.models import DEFAULT_BASE_MODEL
    from flywheel.training.config import EmbedderTrainConfig
    from flywheel.training.embedder import train_embedder

    def lines(name: str) -> list[dict]:
        return [json.loads(line) for line in open(folder / name, encoding="utf-8")]

    queries = [q["text"] for q in lines("queries.jsonl")]
    texts = [f"{d.get('title', '')} {d['text']}".strip() for d in lines("corpus.jsonl")]
    pick = random.Random(0).choice
    rows = [
        {"anchor": pick(queries), "positive": pick(texts), "negative": pick(texts)}
        for _ in range(32 * steps)
    ]
    config = EmbedderTrainConfig(
        epochs=1, batch_size=32, max_seq_length=256, no_duplicates=False, **VARIANTS[variant]
    )
    with tempfile.TemporaryDirectory() as out:
        result = train_embedder(
            rows, base_model=DEFAULT_BASE_MODEL, out_dir=Path(out), config=config
        )
    return {
        "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "s_per_step": round(result.train_seconds / max(result.steps, 1), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets-dir", default=str(ROOT / ".." / "shared" / "datasets"))
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--variant", choices=list(VARIANTS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    folder = Path(args.datasets_dir) / "scifact"
    if args.variant:  # the child: one variant, one process, so its peak is its own
        print(json.dumps(one(args.variant, args.steps, folder)))
        return
    figures: dict[str, float] = {}
    table = Table(title=f"MiniLM fine-tuning on CPU: batch 32, 256 tokens, {args.steps} steps")
    for col in ("variant", "peak memory (MB)", "seconds per step"):
        table.add_column(col)
    for variant in VARIANTS:
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, __file__, "--variant", variant, "--steps", str(args.steps),
             "--datasets-dir", args.datasets_dir],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{variant}: {result} ({time.perf_counter() - start:.0f}s)", file=sys.stderr)
        table.add_row(variant, f"{result['peak_mb']:,}", f"{result['s_per_step']:.1f}")
        figures[f"{variant}/peak_mb"] = result["peak_mb"]
        figures[f"{variant}/s_per_step"] = result["s_per_step"]
    Console().print(table)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
