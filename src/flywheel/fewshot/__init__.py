"""The few-shot library: the right evaluation examples in the prompt, not random ones.

Build a versioned library from evaluation examples (filtered for quality, grouped by intent,
representatives chosen per group), format prompts with Jinja2 templates, and measure the choice
offline (intent coverage, redundancy, diversity) and with an LLM. See docs/fewshot.md.
"""

from flywheel.fewshot.build import build_library
from flywheel.fewshot.evaluation import OfflineReport, evaluate_selectors
from flywheel.fewshot.examples import Example, examples_from_file, examples_from_store
from flywheel.fewshot.grouping import GroupingConfig, group_examples
from flywheel.fewshot.library import BuildConfig, FewShotLibrary, FewShotPrompt, list_libraries
from flywheel.fewshot.prompting import render_prompt
from flywheel.fewshot.quality import ExclusionReason, QualityConfig, filter_examples
from flywheel.fewshot.selectors import (
    DynamicConfig,
    LibrarySelector,
    NearestNeighbourSelector,
    RandomSelector,
    mmr,
)

__all__ = [
    "BuildConfig",
    "DynamicConfig",
    "Example",
    "ExclusionReason",
    "FewShotLibrary",
    "FewShotPrompt",
    "GroupingConfig",
    "LibrarySelector",
    "NearestNeighbourSelector",
    "OfflineReport",
    "QualityConfig",
    "RandomSelector",
    "build_library",
    "evaluate_selectors",
    "examples_from_file",
    "examples_from_store",
    "filter_examples",
    "group_examples",
    "list_libraries",
    "mmr",
    "render_prompt",
]
