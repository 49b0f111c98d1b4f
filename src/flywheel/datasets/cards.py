"""Dataset cards: what a training set holds, where its labels came from and how hard it is.

A card is written beside the data as ``card.json`` (for tools) and ``card.md`` (for people).
It records source counts per signal (how many labels came from an LLM judge), the mining
settings and what they dropped, split sizes, the leakage check, a histogram of negative
difficulty (negative score / positive score: near 1 is hard, and suspicious) and, where other
judgments exist, an estimated false-negative rate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from flywheel.data.types import Qrels
from flywheel.datasets.hard_negatives import MinedNegatives


def difficulty_histogram(
    ratios: Iterable[float], *, bins: int = 10, low: float = 0.0, high: float = 1.0
) -> list[dict[str, float]]:
    """Counts of negative/positive score ratios in ``bins`` equal bins over [low, high];
    values outside fall into the first or last bin."""
    counts = [0] * bins
    width = (high - low) / bins
    for r in ratios:
        counts[min(bins - 1, max(0, int((r - low) // width)))] += 1
    return [
        {"low": round(low + i * width, 4), "high": round(low + (i + 1) * width, 4), "count": c}
        for i, c in enumerate(counts)
    ]


def estimate_false_negative_rate(
    mined: MinedNegatives, other_judgments: Mapping[str, Qrels]
) -> dict[str, Any]:
    """Share of mined negatives that another source judges relevant, for the same query.

    ``other_judgments`` maps a source name (another split, event-derived labels, a second
    annotator) to its qrels. Only negatives of queries that source judged are checkable, so
    the rate is ``hits / checkable``; with nothing checkable the rate is ``None``.
    """
    checkable = hits = 0
    by_source: Counter[str] = Counter()
    for example in mined.examples:
        for doc_id in example.negative_ids:
            judged_somewhere = False
            hit = False
            for name, qrels in other_judgments.items():
                if example.qid in qrels:
                    judged_somewhere = True
                    if qrels[example.qid].get(doc_id, 0) > 0:
                        hit = True
                        by_source[name] += 1
            checkable += judged_somewhere
            hits += hit
    return {
        "checkable_negatives": checkable,
        "judged_relevant": hits,
        "rate": round(hits / checkable, 4) if checkable else None,
        "by_source": dict(by_source),
        "sources": sorted(other_judgments),
    }


@dataclass
class DatasetCard:
    """Everything a reader needs to trust (or distrust) a training set."""

    name: str
    kind: str
    rows: dict[str, int] = field(default_factory=dict)
    sources: dict[str, int] = field(default_factory=dict)
    mining: dict[str, Any] | None = None
    label_policy: dict[str, Any] | None = None
    event_labels: dict[str, Any] | None = None
    llm_labels: dict[str, Any] | None = None
    split: dict[str, Any] | None = None
    leakage: dict[str, Any] | None = None
    difficulty: list[dict[str, float]] | None = None
    false_negatives: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetCard:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_markdown(self) -> str:
        lines = [f"# Dataset card: {self.name}", "", f"Kind: **{self.kind}**", ""]
        lines += ["## Rows", "", "| split | rows |", "|---|---|"]
        lines += [f"| {split} | {n:,} |" for split, n in self.rows.items()]
        if self.sources:
            lines += ["", "## Sources", "", "| source | count |", "|---|---|"]
            lines += [f"| {s} | {n:,} |" for s, n in sorted(self.sources.items())]
        if self.mining:
            stats = self.mining.get("stats", {})
            lines += [
                "",
                "## Hard-negative mining",
                "",
                f"Source: `{self.mining.get('source')}`",
                "",
            ]
            lines += ["| setting | value |", "|---|---|"]
            lines += [f"| {k} | {v} |" for k, v in self.mining.get("config", {}).items()]
            lines += ["", "| statistic | value |", "|---|---|"]
            lines += [f"| {k} | {v:,} |" for k, v in stats.items()]
        if self.difficulty:
            lines += ["", "## Negative difficulty (negative score / positive score)", ""]
            lines += ["| ratio | count |", "|---|---|"]
            lines += [
                f"| {b['low']:.1f}-{b['high']:.1f} | {b['count']:,} |" for b in self.difficulty
            ]
        if self.false_negatives:
            fn = self.false_negatives
            rate = (
                "n/a (no other judgments for these queries)" if fn["rate"] is None else fn["rate"]
            )
            lines += [
                "",
                "## Estimated false-negative rate",
                "",
                f"{fn['judged_relevant']} of {fn['checkable_negatives']} checkable mined "
                f"negatives are judged relevant elsewhere: rate {rate} "
                f"(sources: {', '.join(fn['sources']) or 'none'}).",
            ]
        if self.split:
            lines += ["", "## Split", "", ", ".join(f"{k}: {v}" for k, v in self.split.items())]
        lines += ["", "## Leakage check", ""]
        if self.leakage is None:
            lines.append("Not run: no evaluation queries were given.")
        else:
            n = self.leakage.get("overlapping_train_queries", 0)
            verdict = (
                "passed"
                if n == 0
                else f"{n} overlapping training queries"
                + (" (forced)" if self.leakage.get("forced") else "")
            )
            lines.append(
                f"Against {self.leakage.get('eval_queries')} evaluation queries: {verdict}."
            )
            if self.leakage.get("dropped_train_queries"):
                dropped = self.leakage["dropped_train_queries"]
                lines.append(f"Dropped from training: {len(dropped)} ({', '.join(dropped)}).")
        if self.event_labels:
            lines += ["", "## Labels from events", ""]
            lines += [f"- {k}: {v}" for k, v in self.event_labels.items()]
        if self.llm_labels:
            llm = self.llm_labels
            lines += [
                "",
                "## Labels from an LLM judge",
                "",
                f"{llm['pairs']:,} (query, document) pairs of {llm['queries']:,} training queries "
                f"take their label from an LLM (label source llm): {llm['positives']:,} positives "
                f"(grade >= {llm['min_relevant']}), {llm['related_kept_out_of_negatives']:,} "
                f"related (never used as negatives), {llm['not_relevant']:,} not relevant.",
                "",
                "Grades: " + ", ".join(f"{g}: {n:,}" for g, n in llm["by_grade"].items()),
            ]
        if self.notes:
            lines += ["", "## Notes", ""] + [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"
