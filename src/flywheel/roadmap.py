"""Rank improvement candidates: quick wins first, dependencies respected, measured gains preferred.

A candidate file (TOML ``[[candidates]]`` or YAML ``candidates:``) lists ideas with an estimated
``impact`` (expected relative gain on the primary metric, e.g. ``0.05`` = +5%), an ``effort``
(person-days), a ``risk`` (probability it does not pan out: a number or low/medium/high) and
``dependencies``. When ``experiment`` names a stored experiment run (its id, a prefix, ``latest``
or the experiment's name) or a ``flywheel run`` loop's ``summary.json``, the measured gain of
``variant`` (default: the best one) and its p-value replace the estimate: measured beats guessed,
and every rendering marks which numbers are estimates.

The order is a topological sort (a candidate never comes before what it depends on) that, among
the candidates whose dependencies are done, always picks the best ``impact * (1 - risk) / effort``.
"""

from __future__ import annotations

import heapq
import json
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from flywheel.errors import ConfigError, FlywheelError, MissingDependencyError


class RiskLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


RISK_PROBABILITY = {RiskLevel.LOW: 0.1, RiskLevel.MEDIUM: 0.3, RiskLevel.HIGH: 0.6}


class Quadrant(StrEnum):
    QUICK_WIN = "quick win"
    BIG_BET = "big bet"
    FILL_IN = "fill-in"
    MONEY_PIT = "money pit"


class Candidate(BaseModel):
    """One idea on the roadmap."""

    model_config = ConfigDict(extra="forbid")

    name: str
    impact: float = Field(ge=0)
    effort: float = Field(gt=0)
    risk: float = Field(0.0, ge=0, le=1)
    dependencies: list[str] = Field(default_factory=list)
    experiment: str | None = None
    variant: str | None = None  # which system of the experiment or loop (default: the best)
    description: str = ""
    measured_impact: float | None = None
    measured_p_value: float | None = None
    measured_from: str | None = None  # the run id or summary file the measurement came from

    @property
    def measured(self) -> bool:
        return self.measured_impact is not None

    def impact_label(self) -> str:
        """``+4.1% measured (p=0.003)`` or ``+5.0% estimated``."""
        if self.measured_impact is None:
            return f"{self.impact:+.1%} estimated"
        p = "" if self.measured_p_value is None else f" (p={self.measured_p_value:.2g})"
        return f"{self.measured_impact:+.1%} measured{p}"

    @field_validator("risk", mode="before")
    @classmethod
    def _risk_level(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return RISK_PROBABILITY[RiskLevel(value.lower())]
            except ValueError:
                raise ValueError("risk must be a probability 0-1 or low / medium / high") from None
        return value

    @property
    def impact_used(self) -> float:
        return self.measured_impact if self.measured_impact is not None else self.impact

    @property
    def expected_impact(self) -> float:
        """Impact discounted by risk; a measured impact carries no risk any more."""
        if self.measured_impact is not None:
            return max(self.measured_impact, 0.0)
        return self.impact * (1 - self.risk)

    @property
    def score(self) -> float:
        return self.expected_impact / self.effort


@dataclass(frozen=True)
class RankedCandidate:
    position: int
    candidate: Candidate
    quadrant: Quadrant

    def to_dict(self) -> dict[str, Any]:
        c = self.candidate
        return {
            "position": self.position,
            "name": c.name,
            "quadrant": self.quadrant.value,
            "impact": c.impact_used,
            "measured": c.measured,
            "p_value": c.measured_p_value,
            "measured_from": c.measured_from,
            "effort": c.effort,
            "risk": c.risk,
            "score": c.score,
            "dependencies": list(c.dependencies),
        }


def _quadrant(c: Candidate, max_impact: float, max_effort: float) -> Quadrant:
    high_impact = max_impact > 0 and c.impact_used / max_impact >= 0.5
    low_effort = c.effort / max_effort < 0.5
    if high_impact:
        return Quadrant.QUICK_WIN if low_effort else Quadrant.BIG_BET
    return Quadrant.FILL_IN if low_effort else Quadrant.MONEY_PIT


def rank(candidates: Sequence[Candidate]) -> list[RankedCandidate]:
    """Quick wins first, never before their dependencies (Kahn's algorithm, best first)."""
    by_name = {c.name: c for c in candidates}
    if len(by_name) != len(candidates):
        raise ConfigError("candidate names must be unique")
    for c in candidates:
        for dep in c.dependencies:
            if dep not in by_name:
                raise ConfigError(
                    f"candidate '{c.name}' depends on unknown '{dep}'; "
                    f"candidates: {', '.join(sorted(by_name))}"
                )
    waiting = {c.name: set(c.dependencies) for c in candidates}
    dependents: dict[str, list[str]] = {c.name: [] for c in candidates}
    for c in candidates:
        for dep in c.dependencies:
            dependents[dep].append(c.name)
    heap = [(-c.score, c.effort, c.name) for c in candidates if not waiting[c.name]]
    heapq.heapify(heap)
    order: list[Candidate] = []
    while heap:
        _, _, name = heapq.heappop(heap)
        order.append(by_name[name])
        for child in dependents[name]:
            waiting[child].discard(name)
            if not waiting[child]:
                c = by_name[child]
                heapq.heappush(heap, (-c.score, c.effort, c.name))
    if len(order) != len(candidates):
        stuck = sorted(n for n, deps in waiting.items() if deps)
        raise ConfigError(f"dependency cycle among: {', '.join(stuck)}; remove one dependency")
    max_impact = max((c.impact_used for c in candidates), default=0.0)
    max_effort = max((c.effort for c in candidates), default=1.0)
    return [
        RankedCandidate(i, c, _quadrant(c, max_impact, max_effort))
        for i, c in enumerate(order, start=1)
    ]


def load_candidates(path: str | Path) -> list[Candidate]:
    """Read ``[[candidates]]`` from TOML or ``candidates:`` from YAML (by the file ending)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such roadmap file") from None
    if path.suffix in {".yaml", ".yml"}:
        try:
            import yaml
        except ImportError:
            raise MissingDependencyError("pyyaml", "yaml") from None
        data = yaml.safe_load(text) or {}
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    items = data.get("candidates") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{path}: expected a list under 'candidates'")
    out = []
    for i, item in enumerate(items):
        try:
            out.append(Candidate.model_validate(item))
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"])
            raise ConfigError(f"{path}: field 'candidates[{i}].{field}': {err['msg']}") from None
    return out


def measured_outcome(
    comparison: dict[str, Any], metric: str, variant: str | None = None
) -> tuple[float, float | None] | None:
    """(relative change, p-value) of ``variant`` over the baseline on ``metric``; without a
    variant, the best one. None when nothing was measured."""
    outcomes = comparison.get("outcomes") or {}
    if variant is not None:
        if variant not in outcomes:
            known = ", ".join(sorted(outcomes)) or "(none)"
            raise ConfigError(f"variant '{variant}' was not compared; compared: {known}")
        outcomes = {variant: outcomes[variant]}
    found = [
        (o[metric]["relative_change"], o[metric].get("p_value"))
        for o in outcomes.values()
        if metric in o and o[metric].get("relative_change") is not None
    ]
    return max(found, key=lambda gp: gp[0]) if found else None


def measured_gain(results: dict[str, Any], spec: dict[str, Any]) -> float | None:
    """Best relative change over the baseline on the experiment's success metric."""
    metric = (spec.get("success") or {}).get("metric") or spec.get("primary_metric")
    found = measured_outcome(results.get("comparison") or {}, metric)
    return found[0] if found else None


def _from_loop(path: Path, variant: str | None) -> tuple[tuple[float, float | None] | None, str]:
    """The test comparison of a ``flywheel run`` loop (its ``summary.json``)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        metric = data["config"]["primary_metric"]
        comparison = data["test"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{path}: not a flywheel run summary.json ({exc}); point 'experiment' at the "
            "summary.json that flywheel run wrote"
        ) from None
    return measured_outcome(comparison, metric, variant), str(path)


def fill_measured(
    candidates: Iterable[Candidate], store: Any = None, *, base: Path | None = None
) -> list[Candidate]:
    """Copies of ``candidates`` with the measured gain and p-value of their stored experiment
    run or loop summary (``base``: the folder relative summary paths start from)."""
    runs = None
    out = []
    for c in candidates:
        if c.experiment is None:
            out.append(c)
            continue
        summary = Path(c.experiment)
        if not summary.is_absolute() and base is not None:
            summary = base / summary
        if c.experiment.endswith(".json"):
            found, source = _from_loop(summary, c.variant)
        else:
            if store is None:
                raise ConfigError(f"candidate '{c.name}': reading experiment runs needs a store")
            try:
                record = store.get_experiment_run(c.experiment)
            except FlywheelError:
                runs = runs if runs is not None else store.list_experiment_runs()
                named = [r for r in runs if r.name == c.experiment]
                if not named:
                    raise ConfigError(
                        f"candidate '{c.name}': no stored experiment run or name "
                        f"'{c.experiment}'; see: flywheel experiment list"
                    ) from None
                record = named[-1]  # the latest run of that experiment
            spec = record.spec
            metric = (spec.get("success") or {}).get("metric") or spec.get("primary_metric")
            found = measured_outcome(record.results.get("comparison") or {}, metric, c.variant)
            source = record.run_id
        if found is None:
            out.append(c)
            continue
        update = {"measured_impact": found[0], "measured_p_value": found[1]}
        out.append(c.model_copy(update={**update, "measured_from": source}))
    return out
