"""Evaluation: metrics with per-query scores, significance tests, comparisons and experiments."""

from flywheel.evaluation.agreement import RankingAgreement, ranking_agreement
from flywheel.evaluation.compare import Comparison, compare
from flywheel.evaluation.evaluate import EvaluationResult, evaluate
from flywheel.evaluation.experiment import ExperimentResult, Verdict, run_experiment
from flywheel.evaluation.experiment_spec import ExperimentSpec, load_spec
from flywheel.evaluation.metric_spec import MetricSpec
from flywheel.evaluation.metrics import known_metrics, register_metric
from flywheel.evaluation.significance import (
    bootstrap_ci,
    bootstrap_test,
    holm,
    paired_t_test,
    permutation_test,
)

__all__ = [
    "Comparison",
    "EvaluationResult",
    "ExperimentResult",
    "ExperimentSpec",
    "MetricSpec",
    "RankingAgreement",
    "Verdict",
    "bootstrap_ci",
    "bootstrap_test",
    "compare",
    "evaluate",
    "holm",
    "known_metrics",
    "load_spec",
    "paired_t_test",
    "permutation_test",
    "ranking_agreement",
    "register_metric",
    "run_experiment",
]
