"""The whole flywheel on one dataset: ingest, baseline, mine, train, evaluate, report."""

from flywheel.pipeline.config import LoopConfig
from flywheel.pipeline.resolve import resolve_dataset
from flywheel.pipeline.run import LoopResult, run_flywheel

__all__ = ["LoopConfig", "LoopResult", "resolve_dataset", "run_flywheel"]
