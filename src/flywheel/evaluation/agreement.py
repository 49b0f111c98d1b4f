"""Do LLM labels rank systems as people do? Kendall's tau between the two orderings.

Score several systems' runs under human labels and under LLM labels and compare the orderings
with ``scipy.stats.kendalltau``: the test the TREC 2024 RAG track used to validate UMBRELA.
High tau means the LLM labels pick the same winner even where individual grades differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flywheel.data.types import Qrels, Run
from flywheel.errors import ConfigError
from flywheel.evaluation.evaluate import evaluate


@dataclass
class RankingAgreement:
    metric: str
    human: dict[str, float]
    llm: dict[str, float]
    tau: float
    p_value: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def ranking_agreement(
    runs: Mapping[str, Run], human: Qrels, llm: Qrels, *, metric: str = "ndcg@10"
) -> RankingAgreement:
    """Kendall's tau between system orderings under human and under LLM labels."""
    from scipy.stats import kendalltau

    if len(runs) < 3:
        raise ConfigError("rank at least three systems to compare orderings (Kendall's tau)")
    shared = {q for q in human if q in llm}
    if not shared:
        raise ConfigError("no query has both human and LLM labels")
    h = {
        n: evaluate({q: human[q] for q in shared}, r, [metric]).mean[metric]
        for n, r in runs.items()
    }
    m = {
        n: evaluate({q: llm[q] for q in shared}, r, [metric]).mean[metric] for n, r in runs.items()
    }
    names = list(runs)
    tau, p = kendalltau([h[n] for n in names], [m[n] for n in names])
    return RankingAgreement(metric, h, m, float(tau), float(p))
