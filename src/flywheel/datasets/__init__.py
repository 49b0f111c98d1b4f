"""Training data: hard negatives, triplets, pairs, graded pairs, labels from logs, splits, exports.

Import cost stays low: FAISS, datasets and pyarrow load only inside the functions that use them.
"""

from flywheel.datasets.artifact import DatasetKind, SavedDataset, load_dataset, save_dataset
from flywheel.datasets.build import BuildOptions, build_dataset
from flywheel.datasets.cards import DatasetCard, difficulty_histogram, estimate_false_negative_rate
from flywheel.datasets.export import ExportFormat, export_dataset, to_hf_dataset
from flywheel.datasets.graded import build_graded_pairs
from flywheel.datasets.hard_negatives import (
    HardNegativeConfig,
    MinedNegatives,
    Sampling,
    mine_from_run,
    mine_hard_negatives,
)
from flywheel.datasets.pairs import build_pairs
from flywheel.datasets.signals import EventLabels, LabelPolicy, Signal, labels_from_events
from flywheel.datasets.splits import LeakageReport, QuerySplit, check_leakage, split_queries
from flywheel.datasets.triplets import build_triplets
from flywheel.judging.labels import LLMGrade, LLMLabels

__all__ = [
    "BuildOptions",
    "DatasetCard",
    "DatasetKind",
    "EventLabels",
    "ExportFormat",
    "HardNegativeConfig",
    "LLMGrade",
    "LLMLabels",
    "LabelPolicy",
    "LeakageReport",
    "MinedNegatives",
    "QuerySplit",
    "Sampling",
    "SavedDataset",
    "Signal",
    "build_dataset",
    "build_graded_pairs",
    "build_pairs",
    "build_triplets",
    "check_leakage",
    "difficulty_histogram",
    "estimate_false_negative_rate",
    "export_dataset",
    "labels_from_events",
    "load_dataset",
    "mine_from_run",
    "mine_hard_negatives",
    "save_dataset",
    "split_queries",
    "to_hf_dataset",
]
