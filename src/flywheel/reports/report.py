"""One self-contained HTML report: tables, inline PNG figures, no external files or scripts.

``Report(title)`` collects sections; evaluation code adds a comparison or a whole experiment, and
any other stage (the end-to-end loop, the roadmap) adds its own sections and figures the same way:

    report = Report("Fine-tuning lift")
    report.add_experiment(result, corpus=dataset.corpus)
    report.add_section("Training", "<p>3 epochs, MNRL loss</p>")
    report.add_figure("Loss", fig)
    report.write("report.html")          # atomic: a crash never leaves half a file
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flywheel._internal.io import write_text
from flywheel.data.types import Corpus, Queries, Run
from flywheel.evaluation.compare import Comparison
from flywheel.evaluation.cost import COST_HEADER, cost_rows
from flywheel.evaluation.experiment import ExperimentResult, Verdict
from flywheel.reports import plots

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #264653;padding-bottom:.2em}h2{color:#264653;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
td,th{border:1px solid #ccc;padding:.3em .55em;text-align:left;vertical-align:top}
th{background:#f1f3f5}.caption{color:#555;font-size:.85em}
.verdict{padding:.7em 1em;border-radius:6px;font-weight:600;display:inline-block}
.met{background:#d8f3dc}.not-met{background:#ffe5d9}.inconclusive{background:#fff3bf}
.labels{background:#fff3bf;padding:.5em .8em;border-left:4px solid #e9c46a}
img{max-width:100%}ol{margin:0;padding-left:1.2em}.meta{color:#666;font-size:.85em}
table.changed{width:100%;font-size:.8em}table.changed td:nth-child(n+6){width:30%}
"""

_VERDICT_CLASS = {
    Verdict.MET: "met",
    Verdict.NOT_MET: "not-met",
    Verdict.INCONCLUSIVE: "inconclusive",
}


def esc(value: Any) -> str:
    return html.escape(str(value))


@dataclass
class Report:
    """An HTML report built from sections; ``write`` renders it to one file."""

    title: str
    sections: list[tuple[str, str]] = field(default_factory=list)

    def add_section(self, title: str, body_html: str) -> Report:
        """Add a section of trusted HTML (escape user text with :func:`esc`)."""
        self.sections.append((title, body_html))
        return self

    def add_figure(self, title: str, fig: Any, *, caption: str = "") -> Report:
        """Add a matplotlib figure as an inline PNG (the figure is closed)."""
        uri = plots.figure_to_data_uri(fig)
        body = f'<img alt="{esc(title)}" src="{uri}">'
        if caption:
            body += f'<p class="caption">{esc(caption)}</p>'
        return self.add_section(title, body)

    def add_table(self, title: str, header: list[str], rows: list[list[Any]]) -> Report:
        head = "".join(f"<th>{esc(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows)
        return self.add_section(
            title, f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )

    def add_comparison(
        self,
        comparison: Comparison,
        *,
        metric: str | None = None,
        queries: Queries | None = None,
        corpus: Corpus | None = None,
        runs: Mapping[str, Run] | None = None,
        recall_curve: Mapping[str, Mapping[int, float]] | None = None,
        n_changed: int | None = None,
        titles: Mapping[str, str] | None = None,
        relevant: Mapping[str, Sequence[str]] | None = None,
    ) -> Report:
        """Metric table, recall@k curves, per-query win/loss and the queries that changed most.

        ``titles`` label documents when no ``corpus`` is given; documents in ``relevant``
        (qid -> doc ids) are marked ✓. ``n_changed`` rows per variant (default 10, 5 with more
        than two variants, so a report of many variants stays short)."""
        metric = metric or comparison.metrics[0]
        if n_changed is None:
            n_changed = 10 if len(comparison.variants) <= 2 else 5
        labels = _Labels(corpus or {}, titles or {}, relevant or {})
        self.add_section("Metrics", comparison.to_html())
        curve = recall_curve or _curve_from(comparison)
        if curve and any(len(points) > 1 for points in curve.values()):
            self.add_figure("Recall@k", plots.recall_curves(curve))
        if comparison.variants:
            diffs = {
                v: [
                    comparison.per_query(v, metric)[q]
                    - comparison.per_query(comparison.baseline, metric)[q]
                    for q in comparison.per_query(comparison.baseline, metric)
                ]
                for v in comparison.variants
            }
            self.add_figure(
                f"Per-query {metric} against {comparison.baseline}",
                plots.win_loss(diffs, metric=metric, baseline=comparison.baseline),
            )
            for variant in comparison.variants:
                self.add_section(
                    f"Queries that changed most: {variant} vs {comparison.baseline}",
                    _changed_table(
                        comparison, variant, metric, queries or {}, labels, runs or {}, n_changed
                    ),
                )
        return self

    def add_experiment(self, result: ExperimentResult, *, corpus: Corpus | None = None) -> Report:
        """Hypothesis, criterion, verdict, then the comparison of the experiment's variants.

        When LLM grades filled unjudged pairs, the labels note heads the report, the metric
        table says so in its title, and the human-only table follows it with its verdicts."""
        spec = result.spec
        crit = spec.success
        gain = (
            f"relative gain ≥ {crit.min_relative_gain:.1%}"
            if crit.min_relative_gain is not None
            else f"absolute gain ≥ {crit.min_absolute_gain}"
        )
        verdict = result.verdict
        human = result.human_verdicts()
        rows = "".join(
            f"<li>{esc(name)}: {esc(v.value)}"
            + (f" (human labels only: {esc(human[name].value)})" if name in human else "")
            + "</li>"
            for name, v in result.verdicts.items()
        )
        labels = (
            f'<p class="labels"><b>Labels: {esc(result.labels)}.</b> '
            f"{esc(result.label_fill.note())}. Every figure below except the human-only table "
            "is scored on these labels.</p>"
            if result.label_fill
            else ""
        )
        body = (
            labels + f"<p><b>Hypothesis:</b> {esc(spec.hypothesis)}</p>"
            f"<p><b>Success criterion</b> (fixed before the run): {esc(crit.metric)} {esc(gain)} "
            f"over <i>{esc(spec.baseline)}</i> with p ≤ {crit.max_p_value}</p>"
            f'<p class="verdict {_VERDICT_CLASS[verdict]}">Verdict: {esc(verdict.value)}</p>'
            f"<ul>{rows}</ul>"
            f'<p class="meta">dataset {esc(spec.dataset)} / split {esc(spec.split)}'
            + (f" · run {esc(result.run_id)}" if result.run_id else "")
            + "</p>"
        )
        self.add_section(f"Experiment: {spec.name}", body)
        first = len(self.sections)  # the comparison's "Metrics" section lands here
        self.add_comparison(
            result.comparison,
            metric=spec.primary_metric,
            queries=result.queries,
            corpus=corpus,
            runs=result.runs,
            recall_curve=result.recall_curve,
            titles=result.doc_titles,
            relevant=result.relevant,
        )
        if result.label_fill and result.human_comparison is not None:
            self.sections[first] = (f"Metrics ({result.labels} labels)", self.sections[first][1])
            human_only = ("Metrics, human labels only", result.human_comparison.to_html())
            self.sections.insert(first + 1, human_only)
        if result.costs:
            self.add_costs(result.comparison, result.costs, metric=spec.primary_metric)
        return self

    def add_costs(
        self, comparison: Comparison, costs: Mapping[str, Mapping[str, Any]], *, metric: str
    ) -> Report:
        """Latency and cost per system (table), and quality against cost (figure)."""
        self.add_table("Latency and cost", COST_HEADER, cost_rows(costs))
        points = [
            {
                "name": system,
                "quality": comparison.mean(system, metric),
                "cost_per_1k": c.get("cost_per_1k_queries_usd"),
                "latency_ms": c.get("latency_p50_ms"),
                "hosted": c.get("hosted"),
            }
            for system, c in costs.items()
            if system in comparison.results
        ]
        return self.add_figure(
            "Quality against cost",
            plots.quality_cost(points, metric=metric),
            caption="Hosted costs come from the price table (flywheel/hosted/prices.yaml or "
            "--prices); local models cost machine time, measured here.",
        )

    def render(self) -> str:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        body = "".join(f"<section><h2>{esc(t)}</h2>{h}</section>" for t, h in self.sections)
        return (
            f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{esc(self.title)}'
            f"</title><style>{_CSS}</style></head><body><h1>{esc(self.title)}</h1>"
            f'<p class="meta">generated by rag-flywheel, {stamp}</p>{body}</body></html>\n'
        )

    def write(self, path: str | Path) -> Path:
        """Write the report atomically and return its path."""
        path = Path(path)
        write_text(path, self.render())
        return path


def _curve_from(comparison: Comparison) -> dict[str, dict[int, float]]:
    ks = sorted(
        int(m.split("@")[1])
        for m in comparison.metrics
        if m.startswith("recall@") and m.split("@")[1].isdigit()
    )
    return (
        {s: {k: comparison.mean(s, f"recall@{k}") for k in ks} for s in comparison.systems}
        if ks
        else {}
    )


@dataclass(frozen=True)
class _Labels:
    """How the report names a document: its id, short title, and ✓ when judged relevant."""

    corpus: Corpus
    titles: Mapping[str, str]
    relevant: Mapping[str, Sequence[str]]

    def title(self, doc_id: str) -> str:
        doc = self.corpus.get(doc_id)
        if doc is not None:
            label = (doc.title or doc.text or "").strip()
            return label if len(label) <= 70 else label[:69] + "…"
        return self.titles.get(doc_id, "")

    def html(self, qid: str, doc_id: str) -> str:
        title = self.title(doc_id)
        text = esc(f"{doc_id}: {title}" if title else doc_id)
        if doc_id in self.relevant.get(qid, ()):
            return f'<b title="judged relevant">✓ {text}</b>'
        return text


def _top_list(qid: str, run: Mapping[str, float] | None, labels: _Labels, n: int = 3) -> str:
    if not run:
        return "<i>(not stored)</i>"
    ranked = sorted(run.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return "<ol>" + "".join(f"<li>{labels.html(qid, d)}</li>" for d, _ in ranked) + "</ol>"


def _changed_table(
    comparison: Comparison,
    variant: str,
    metric: str,
    queries: Queries,
    labels: _Labels,
    runs: Mapping[str, Run],
    n: int,
) -> str:
    """The ``n`` queries whose score moved most; queries that did not move are not listed."""
    base = comparison.per_query(comparison.baseline, metric)
    other = comparison.per_query(variant, metric)
    moved = [q for q in base if abs(other[q] - base[q]) > 1e-12]
    changed = sorted(moved, key=lambda q: (-abs(other[q] - base[q]), q))[:n]
    if not changed:
        return f"<p>No query's {esc(metric)} changed.</p>"
    rows = []
    for qid in changed:
        delta = other[qid] - base[qid]
        rows.append(
            f"<tr><td>{esc(qid)}</td><td>{esc(queries.get(qid, ''))}</td>"
            f"<td>{base[qid]:.3f}</td><td>{other[qid]:.3f}</td><td>{delta:+.3f}</td>"
            f"<td>{_top_list(qid, runs.get(comparison.baseline, {}).get(qid), labels)}</td>"
            f"<td>{_top_list(qid, runs.get(variant, {}).get(qid), labels)}</td></tr>"
        )
    head = (
        f"<tr><th>qid</th><th>query</th><th>{esc(comparison.baseline)}</th><th>{esc(variant)}</th>"
        f"<th>Δ {esc(metric)}</th><th>top 3: {esc(comparison.baseline)}</th>"
        f"<th>top 3: {esc(variant)}</th></tr>"
    )
    note = (
        f'<p class="caption">{len(moved)} of {len(base)} queries changed; the {len(changed)} '
        "that changed most. ✓ = judged relevant.</p>"
    )
    table = f"<thead>{head}</thead><tbody>{''.join(rows)}</tbody>"
    return f'<table class="changed">{table}</table>{note}'


def write_report(
    source: Comparison | ExperimentResult,
    path: str | Path,
    *,
    title: str | None = None,
    metric: str | None = None,
    queries: Queries | None = None,
    corpus: Corpus | None = None,
    runs: Mapping[str, Run] | None = None,
) -> Path:
    """Write one self-contained HTML report for a comparison or an experiment result;
    a path ending in ``.md`` gets Markdown instead (tables and verdicts, no figures)."""
    if Path(path).suffix.lower() == ".md":
        text = source.to_markdown()
        write_text(Path(path), text)
        return Path(path)
    if isinstance(source, ExperimentResult):
        report = Report(title or f"Experiment {source.spec.name}")
        report.add_experiment(source, corpus=corpus)
    else:
        report = Report(title or "Comparison")
        report.add_comparison(source, metric=metric, queries=queries, corpus=corpus, runs=runs)
    return report.write(path)
