"""``compare(qrels, runs, metrics=..., baseline=...)``: systems side by side, honestly.

For every system and metric the :class:`Comparison` keeps per-query scores, the mean and a 95%
bootstrap interval; for every variant against the baseline a paired test (Holm-corrected across
variants when there is more than one), win/tie/loss counts and the relative change. A single mean
hides whether a gain is a few lucky queries; these numbers show it.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flywheel.errors import ConfigError, UnknownComponentError
from flywheel.evaluation.evaluate import EvaluationResult, evaluate
from flywheel.evaluation.significance import SignificanceTest, bootstrap_ci, holm, run_test

_TIE = 1e-12


@dataclass(frozen=True)
class PairedOutcome:
    """A variant against the baseline on one metric."""

    delta: float
    relative_change: float | None  # None when the baseline's mean is 0
    p_value: float  # Holm-adjusted when several variants were compared
    p_value_raw: float
    wins: int
    ties: int
    losses: int
    significant: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Comparison:
    """Systems compared on the same queries. ``systems[0]`` is the baseline."""

    systems: list[str]
    baseline: str
    metrics: list[str]
    results: dict[str, EvaluationResult]
    ci: dict[str, dict[str, tuple[float, float]]]
    outcomes: dict[str, dict[str, PairedOutcome]]  # variant -> metric -> outcome
    test: str = SignificanceTest.PERMUTATION.value
    alpha: float = 0.05
    extra: dict[str, Any] = field(default_factory=dict)

    # --- access ---------------------------------------------------------------------------------
    def mean(self, system: str, metric: str) -> float:
        return self.results[system].mean[metric]

    def per_query(self, system: str, metric: str) -> dict[str, float]:
        return self.results[system].per_query[metric]

    @property
    def variants(self) -> list[str]:
        return [s for s in self.systems if s != self.baseline]

    # --- serialisation --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "systems": list(self.systems),
            "baseline": self.baseline,
            "metrics": list(self.metrics),
            "test": self.test,
            "alpha": self.alpha,
            "results": {s: r.to_dict() for s, r in self.results.items()},
            "ci": {s: {m: list(v) for m, v in c.items()} for s, c in self.ci.items()},
            "outcomes": {
                s: {m: o.to_dict() for m, o in c.items()} for s, c in self.outcomes.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Comparison:
        return cls(
            systems=list(data["systems"]),
            baseline=data["baseline"],
            metrics=list(data["metrics"]),
            results={s: EvaluationResult.from_dict(r) for s, r in data["results"].items()},
            ci={
                s: {m: (float(v[0]), float(v[1])) for m, v in c.items()}
                for s, c in data["ci"].items()
            },
            outcomes={
                s: {m: PairedOutcome(**o) for m, o in c.items()}
                for s, c in data["outcomes"].items()
            },
            test=data.get("test", SignificanceTest.PERMUTATION.value),
            alpha=float(data.get("alpha", 0.05)),
        )

    # --- rendering ------------------------------------------------------------------------------
    def _rows(self) -> list[list[str]]:
        rows = []
        for system in self.systems:
            row = [system + (" (baseline)" if system == self.baseline else "")]
            for metric in self.metrics:
                low, high = self.ci[system][metric]
                cell = f"{self.mean(system, metric):.4f} [{low:.3f}, {high:.3f}]"
                outcome = self.outcomes.get(system, {}).get(metric)
                if outcome is not None:
                    change = (
                        f"{outcome.relative_change:+.1%}"
                        if outcome.relative_change is not None
                        else f"{outcome.delta:+.4f}"
                    )
                    mark = "*" if outcome.significant else ""
                    cell += (
                        f" {change} p={outcome.p_value:.3g}{mark}"
                        f" W/T/L {outcome.wins}/{outcome.ties}/{outcome.losses}"
                    )
                row.append(cell)
            rows.append(row)
        return rows

    def _caption(self) -> str:
        n = len(self.results[self.baseline].qids)
        holm_note = ", Holm-corrected" if len(self.variants) > 1 else ""
        return (
            f"{n} queries. Mean [95% bootstrap CI]; change vs {self.baseline}; "
            f"{self.test} test p-value{holm_note}; * p < {self.alpha}; W/T/L per query."
        )

    def to_markdown(self) -> str:
        header = ["system", *self.metrics]
        lines = [
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
            *("| " + " | ".join(row) + " |" for row in self._rows()),
            "",
            self._caption(),
        ]
        return "\n".join(lines) + "\n"

    def to_html(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in ["system", *self.metrics])
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
            for row in self._rows()
        )
        return (
            f'<table class="comparison"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
            f'<p class="caption">{html.escape(self._caption())}</p>'
        )

    def rich_table(self):  # -> rich.table.Table (rich is imported lazily by callers' consoles)
        from rich.table import Table

        table = Table(title="Comparison", caption=self._caption())
        table.add_column("system", style="bold")
        for metric in self.metrics:
            table.add_column(metric)
        for row in self._rows():
            table.add_row(*row)
        return table


def _outcome(base: dict[str, float], other: dict[str, float], p_raw: float) -> PairedOutcome:
    common = sorted(set(base) & set(other))
    diffs = [other[q] - base[q] for q in common]
    wins = sum(1 for d in diffs if d > _TIE)
    losses = sum(1 for d in diffs if d < -_TIE)
    base_mean = sum(base[q] for q in common) / len(common)
    delta = sum(diffs) / len(common)
    return PairedOutcome(
        delta=delta,
        relative_change=delta / base_mean if base_mean else None,
        p_value=p_raw,
        p_value_raw=p_raw,
        wins=wins,
        ties=len(common) - wins - losses,
        losses=losses,
        significant=False,
    )


def compare(
    qrels: Mapping[str, Mapping[str, int]],
    runs: Mapping[str, Mapping[str, Mapping[str, float]]] | Mapping[str, EvaluationResult],
    *,
    metrics: Sequence[str],
    baseline: str,
    test: str = SignificanceTest.PERMUTATION.value,
    alpha: float = 0.05,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> Comparison:
    """Compare runs (or already computed :class:`EvaluationResult`s) against ``baseline``.

    Inputs are not modified. p-values are Holm-adjusted per metric across the variants.
    """
    if baseline not in runs:
        raise ConfigError(f"baseline '{baseline}' is not among the runs: {', '.join(runs)}")
    if test not in {t.value for t in SignificanceTest}:
        raise UnknownComponentError("significance test", test, [t.value for t in SignificanceTest])
    metrics = list(metrics)
    results = {
        name: value if isinstance(value, EvaluationResult) else evaluate(qrels, value, metrics)
        for name, value in runs.items()
    }
    systems = [baseline, *(s for s in runs if s != baseline)]
    ci = {
        s: {
            m: bootstrap_ci(results[s].per_query[m], n_resamples=n_resamples, seed=seed)
            for m in metrics
        }
        for s in systems
    }
    outcomes: dict[str, dict[str, PairedOutcome]] = {s: {} for s in systems[1:]}
    for metric in metrics:
        base = results[baseline].per_query[metric]
        raw = {
            s: run_test(
                test, results[s].per_query[metric], base, n_resamples=n_resamples, seed=seed
            )
            for s in systems[1:]
        }
        adjusted = (
            holm({s: r.p_value for s, r in raw.items()})
            if len(raw) > 1
            else {s: r.p_value for s, r in raw.items()}
        )
        for s in systems[1:]:
            o = _outcome(base, results[s].per_query[metric], raw[s].p_value)
            outcomes[s][metric] = PairedOutcome(
                **{**o.to_dict(), "p_value": adjusted[s], "significant": adjusted[s] < alpha}
            )
    return Comparison(systems, baseline, metrics, results, ci, outcomes, str(test), alpha)
