"""Synthetic questions for a cold start: LLM-written or cut from the corpus, always filtered."""

from flywheel.synth.filters import (
    FilterConfig,
    FilterReport,
    apply_filters,
    copy_filter,
    leak_filter,
    near_duplicate_filter,
    round_trip_filter,
)
from flywheel.synth.generate import (
    SynthConfig,
    SynthResult,
    check_synthetic_isolation,
    synthesize,
    write_synthetic,
)
from flywheel.synth.offline import independent_crops, inverse_cloze
from flywheel.synth.sampling import sample_passages
from flywheel.synth.types import Rejection, SyntheticPair

__all__ = [
    "FilterConfig",
    "FilterReport",
    "Rejection",
    "SynthConfig",
    "SynthResult",
    "SyntheticPair",
    "apply_filters",
    "check_synthetic_isolation",
    "copy_filter",
    "independent_crops",
    "inverse_cloze",
    "leak_filter",
    "near_duplicate_filter",
    "round_trip_filter",
    "sample_passages",
    "synthesize",
    "write_synthetic",
]
