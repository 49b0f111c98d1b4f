"""Find a dataset by folder, by BEIR name under ``FLYWHEEL_DATASETS``, or generate the demo one."""

from __future__ import annotations

from pathlib import Path

from flywheel import settings
from flywheel.errors import ConfigError

BEIR_NAMES = ("scifact", "nfcorpus", "fiqa", "arguana", "scidocs", "trec-covid", "cranfield")


def resolve_dataset(name_or_path: str, *, work_dir: Path | None = None) -> Path:
    """Return a BEIR-layout folder for ``name_or_path``.

    ``demo`` generates the medications dataset into ``work_dir``. A BEIR name is looked up under
    ``FLYWHEEL_DATASETS`` (and ``../shared/datasets`` beside the checkout); this toolkit never
    downloads data on its own when offline, so a missing one is an error that says where to put it.
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    if name_or_path == "demo":
        from flywheel.demo import generate_medications

        target = (work_dir or Path("flywheel-out")) / "data" / "medications"
        return generate_medications(target)
    roots = [settings.datasets_dir(), Path("../shared/datasets"), Path("shared/datasets")]
    for root in roots:
        if root is not None and (root / name_or_path / "corpus.jsonl").exists():
            return root / name_or_path
    raise ConfigError(
        f"dataset '{name_or_path}' is neither a folder nor found under FLYWHEEL_DATASETS "
        f"({settings.datasets_dir() or 'unset'}); pass --dataset DIR with corpus.jsonl, "
        f"queries.jsonl and qrels/, set FLYWHEEL_DATASETS to a folder of BEIR datasets, or use "
        f"'demo'. Known BEIR names: {', '.join(BEIR_NAMES)}"
    )
