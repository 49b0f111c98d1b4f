"""What a fine-tuning run leaves behind: a model card section and ``manifest.json``.

The model folder stays a normal sentence-transformers folder (anyone can load it); the card
says what it was trained from, on what, with which settings, and whether it beat its base on the
dev set; the manifest records the same facts as data, plus versions, seed, timings and git commit.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flywheel._internal.io import write_json, write_text

MANIFEST_NAME = "manifest.json"
_PACKAGES = (
    "rag-flywheel",
    "sentence-transformers",
    "transformers",
    "torch",
    "datasets",
    "accelerate",
)


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for package in _PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def git_commit(start: Path | None = None) -> str | None:
    """The commit of the checkout this runs from, if there is one (recorded, never required)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=start or Path.cwd(),
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def last_checkpoint(checkpoints_dir: Path) -> Path | None:
    """The newest ``checkpoint-N`` folder with trainer state in it, or ``None``."""
    if not checkpoints_dir.is_dir():
        return None
    found = [
        (int(p.name.rsplit("-", 1)[1]), p)
        for p in checkpoints_dir.glob("checkpoint-*")
        if p.is_dir() and p.name.rsplit("-", 1)[1].isdigit() and (p / "trainer_state.json").exists()
    ]
    return max(found)[1] if found else None


def write_manifest(out_dir: Path, record: Mapping[str, Any]) -> Path:
    path = out_dir / MANIFEST_NAME
    write_json(path, {"kind": record.get("kind"), "written_at": now_iso(), **record})
    return path


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def card_section(
    *,
    title: str,
    base_model: str,
    dataset_path: str | None,
    dataset_card: Mapping[str, Any] | None,
    settings: Mapping[str, Any],
    scores: Mapping[str, Any],
    verdict: str,
    rows: int,
) -> str:
    """Markdown naming the base model, the data, the settings and the before/after dev scores."""
    lines = [
        f"## {title}",
        "",
        "Fine-tuned with [rag-flywheel](https://github.com/) on sentence-transformers.",
        "",
        f"- **Base model:** `{base_model}`",
        f"- **Training data:** `{dataset_path or 'rows passed in memory'}` ({rows} rows)",
        "",
        "### Dev-set scores",
        "",
        "| | score |",
        "|---|---|",
    ]
    lines += [f"| {name} | {_fmt(value)} |" for name, value in scores.items()]
    lines += [
        "",
        f"**Verdict:** {verdict}",
        "",
        "### Settings",
        "",
        "| setting | value |",
        "|---|---|",
    ]
    lines += [f"| {key} | `{_fmt(value)}` |" for key, value in sorted(settings.items())]
    if dataset_card:
        lines += [
            "",
            "### Dataset card",
            "",
            "```json",
            json.dumps(dict(dataset_card), indent=2, default=str),
            "```",
        ]
    return "\n".join(lines) + "\n"


def write_model_card(model_dir: Path, section: str) -> Path:
    """Put ``section`` into the model folder's README.md, after any YAML front matter the
    sentence-transformers card generator wrote (that front matter must stay first for the Hub)."""
    path = model_dir / "README.md"
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    front, body = "", existing
    if existing.startswith("---\n"):
        end = existing.find("\n---\n", 4)
        if end != -1:
            front, body = existing[: end + 5], existing[end + 5 :]
    write_text(path, f"{front}\n{section}\n{body}".lstrip("\n"))
    return path


@dataclass
class RunRecord:
    """Everything a finished run states about itself, written as a card section and a manifest."""

    kind: str
    base_model: str
    base_model_resolved: str
    model_dir: Path
    dataset_rows: int
    dataset_columns: list[str]
    dataset_fingerprint: str | None
    dataset_path: str | None
    dataset_card: Mapping[str, Any] | None
    dev: Mapping[str, Any] | None
    metric: str
    config: Mapping[str, Any]
    scores: dict[str, float | None]
    per_epoch_dev: list[float]
    accepted: bool
    verdict: str
    steps: int
    loss_history: list[float]
    resumed: bool
    timings: dict[str, float]
    extra: dict[str, Any] = field(default_factory=dict)


def write_run_artifacts(out_dir: Path, record: RunRecord) -> Path:
    """Add the card section to the model folder's README.md; write ``out_dir/manifest.json``."""
    scores = {f"{name} {record.metric}": value for name, value in record.scores.items()}
    scores.update({f"epoch {i + 1} {record.metric}": s for i, s in enumerate(record.per_epoch_dev)})
    write_model_card(
        record.model_dir,
        card_section(
            title=f"rag-flywheel fine-tuned {record.kind}",
            base_model=record.base_model,
            dataset_path=record.dataset_path,
            dataset_card=record.dataset_card,
            settings={**record.config, **record.extra, "metric": record.metric},
            scores=scores,
            verdict=record.verdict,
            rows=record.dataset_rows,
        ),
    )
    return write_manifest(
        out_dir,
        {
            "kind": record.kind,
            "base_model": record.base_model,
            "base_model_resolved": record.base_model_resolved,
            "model_path": str(record.model_dir),
            "dataset": {
                "path": record.dataset_path,
                "rows": record.dataset_rows,
                "columns": record.dataset_columns,
                "fingerprint": record.dataset_fingerprint,
                "card": dict(record.dataset_card) if record.dataset_card else None,
            },
            "dev": dict(record.dev) if record.dev else None,
            "metric": record.metric,
            "config": dict(record.config),
            "seed": record.config.get("seed"),
            "scores": {**record.scores, "per_epoch": record.per_epoch_dev},
            "accepted": record.accepted,
            "verdict": record.verdict,
            "steps": record.steps,
            "loss_history": record.loss_history,
            "resumed": record.resumed,
            "timings": record.timings,
            "versions": library_versions(),
            "git_commit": git_commit(),
            **record.extra,
        },
    )
