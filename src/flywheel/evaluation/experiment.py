"""Run a pre-registered experiment: retrieve with every variant, compare, judge, store.

``run_experiment(spec)`` never decides what success means: the spec did, before the run. The
verdict per variant is ``criterion met`` (gain reached with ``p <= max_p_value``), ``inconclusive``
(the gain is in the right direction and large enough, but ``p`` is not small enough) or
``not met``. Every run, failed or not, is stored with its spec, versions, git commit, per-query
scores and timings.

With ``fill_unjudged`` in the spec, the verdict is taken on the dataset's qrels filled with
stored LLM grades (the spec chose that before the run; ``llm_min_grade`` says which LLM grades
count as relevant, as in training data); the human-only comparison is kept in
``human_comparison`` and every rendering prints both and :meth:`LabelFill.note`.
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import metadata
from pathlib import Path
from typing import Any

from flywheel._internal.hashing import text_hash
from flywheel.data.beir import load_beir
from flywheel.data.types import Corpus, Qrels, Queries, RetrievalDataset, Run
from flywheel.errors import ConfigError
from flywheel.evaluation.compare import Comparison, compare
from flywheel.evaluation.cost import measure as measure_cost
from flywheel.evaluation.evaluate import evaluate
from flywheel.evaluation.experiment_spec import (
    ExperimentSpec,
    SuccessCriterion,
    Variant,
    validate_spec,
)
from flywheel.evaluation.label_fill import LabelFill, apply_fill, stored_grades
from flywheel.judging.labels import LLMLabels

logger = logging.getLogger(__name__)

STORED_TOP_N = 10  # top results kept per query and variant, for reports
# judgment sources a store experiment scores on, as flywheel run --db does; LLM grades only fill
# unjudged pairs when the spec asks (fill_unjudged), never silently
JUDGED_SOURCES = ("human", "benchmark")


class Verdict(StrEnum):
    MET = "criterion met"
    NOT_MET = "not met"
    INCONCLUSIVE = "inconclusive"


def judge(comparison: Comparison, variant: str, success: SuccessCriterion) -> Verdict:
    """Apply the pre-registered criterion to one variant against the baseline."""
    outcome = comparison.outcomes[variant][success.metric]
    if success.min_relative_gain is not None:
        gain = (
            outcome.relative_change
            if outcome.relative_change is not None
            else (float("inf") if outcome.delta > 0 else 0.0)
        )
        large_enough = gain >= success.min_relative_gain
    else:
        large_enough = outcome.delta >= success.min_absolute_gain
    if not large_enough or outcome.delta <= 0:
        return Verdict.NOT_MET
    return Verdict.MET if outcome.p_value <= success.max_p_value else Verdict.INCONCLUSIVE


def overall_verdict(verdicts: Mapping[str, Verdict]) -> Verdict:
    """Met if any variant met it; else inconclusive if any was; else not met."""
    values = set(verdicts.values())
    for verdict in (Verdict.MET, Verdict.INCONCLUSIVE):
        if verdict in values:
            return verdict
    return Verdict.NOT_MET


@dataclass
class ExperimentResult:
    """What an experiment produced; ``runs`` holds the top results per query (for reports)."""

    spec: ExperimentSpec
    comparison: Comparison
    verdicts: dict[str, Verdict]
    timings: dict[str, float]
    runs: dict[str, Run] = field(default_factory=dict)
    queries: Queries = field(default_factory=dict)
    recall_curve: dict[str, dict[int, float]] = field(default_factory=dict)
    run_id: str | None = None
    costs: dict[str, dict[str, Any]] = field(default_factory=dict)  # latency and cost per system
    label_fill: LabelFill | None = None  # set when unjudged pairs were filled (spec.fill_unjudged)
    human_comparison: Comparison | None = None  # the same runs on human labels only, when filled
    corpus: dict[str, Any] = field(default_factory=dict)  # docs and fingerprint of what was ranked
    # for reports of stored runs: titles of the documents they show, and each query's relevant ones
    doc_titles: dict[str, str] = field(default_factory=dict)
    relevant: dict[str, list[str]] = field(default_factory=dict)

    @property
    def verdict(self) -> Verdict:
        return overall_verdict(self.verdicts)

    @property
    def labels(self) -> str:
        """Which labels ``comparison`` was scored on: ``human`` or ``human + llm``."""
        return f"human + {self.label_fill.source}" if self.label_fill else "human"

    def to_dict(self) -> dict[str, Any]:
        """The ``results`` column of the store: everything needed to rebuild this object."""
        return {
            "comparison": self.comparison.to_dict(),
            "verdicts": {k: v.value for k, v in self.verdicts.items()},
            "verdict": self.verdict.value,
            "timings": dict(self.timings),
            "top_results": self.runs,
            "queries": self.queries,
            "recall_curve": {
                s: {str(k): v for k, v in c.items()} for s, c in self.recall_curve.items()
            },
            "costs": self.costs,
            "labels": self.labels,
            "label_fill": self.label_fill.to_dict() if self.label_fill else None,
            "human_only": self.human_comparison.to_dict() if self.human_comparison else None,
            "corpus": self.corpus,
            "doc_titles": self.doc_titles,
            "relevant": self.relevant,
        }

    @classmethod
    def from_stored(
        cls, spec: Mapping[str, Any], results: Mapping[str, Any], run_id: str | None = None
    ) -> ExperimentResult:
        """Rebuild from a stored run (``Store.get_experiment_run``)."""
        return cls(
            spec=ExperimentSpec.model_validate(dict(spec)),
            comparison=Comparison.from_dict(results["comparison"]),
            verdicts={k: Verdict(v) for k, v in results["verdicts"].items()},
            timings=dict(results.get("timings", {})),
            runs=dict(results.get("top_results", {})),
            queries=dict(results.get("queries", {})),
            recall_curve={
                s: {int(k): float(v) for k, v in c.items()}
                for s, c in results.get("recall_curve", {}).items()
            },
            run_id=run_id,
            costs=dict(results.get("costs", {})),
            label_fill=LabelFill.from_dict(fill) if (fill := results.get("label_fill")) else None,
            human_comparison=(
                Comparison.from_dict(human) if (human := results.get("human_only")) else None
            ),
            corpus=dict(results.get("corpus") or {}),
            doc_titles=dict(results.get("doc_titles") or {}),
            relevant={q: list(d) for q, d in (results.get("relevant") or {}).items()},
        )

    def human_verdicts(self) -> dict[str, Verdict]:
        """The verdicts the criterion gives on human labels only (empty when nothing was filled),
        so a reader sees whether the LLM labels changed the outcome."""
        if self.human_comparison is None:
            return {}
        return {v: judge(self.human_comparison, v, self.spec.success) for v in self.verdicts}

    def verdict_line(self) -> str:
        suffix = f" (scored on {self.labels} labels)" if self.label_fill else ""
        return f"verdict: {self.verdict.value}{suffix}"

    def summary(self) -> str:
        """One line per variant plus the overall verdict, for logs and the CLI; with filled
        labels also the fill note and the human-only line per variant."""
        metric = self.spec.success.metric
        lines = [f"hypothesis: {self.spec.hypothesis}"]
        if self.label_fill:
            lines.append(f"labels: {self.labels}: {self.label_fill.note()}")
        human = self.human_verdicts()
        for name, verdict in self.verdicts.items():
            lines.append(_variant_line(self.comparison, name, metric, verdict))
            if name in human and self.human_comparison is not None:
                line = _variant_line(self.human_comparison, name, metric, human[name])
                lines.append(f"  human labels only: {line}")
        lines.append(self.verdict_line())
        return "\n".join(lines)

    def to_markdown(self) -> str:
        """The experiment as Markdown: hypothesis, labels note, metric tables, verdicts."""
        parts = [f"# Experiment {self.spec.name}", "", f"**Hypothesis:** {self.spec.hypothesis}"]
        if self.label_fill:
            parts += ["", f"> **Labels: {self.labels}.** {self.label_fill.note()}."]
        title = f"Metrics ({self.labels} labels)" if self.label_fill else "Metrics"
        parts += ["", f"## {title}", "", self.comparison.to_markdown()]
        if self.human_comparison is not None:
            parts += ["## Metrics, human labels only", "", self.human_comparison.to_markdown()]
        human = self.human_verdicts()
        parts += ["## Verdict", ""]
        for name, verdict in self.verdicts.items():
            also = f" (human labels only: {human[name].value})" if name in human else ""
            parts.append(f"- {name}: {verdict.value}{also}")
        parts += ["", f"**{self.verdict_line()}**", ""]
        return "\n".join(parts)


def _variant_line(comparison: Comparison, name: str, metric: str, verdict: Verdict) -> str:
    o = comparison.outcomes[name][metric]
    change = f"{o.relative_change:+.1%}" if o.relative_change is not None else f"{o.delta:+.4f}"
    return (
        f"{name}: {metric} {change} vs {comparison.baseline}, p={o.p_value:.3g} -> {verdict.value}"
    )


def git_commit(cwd: str | Path | None = None) -> str | None:
    """The checkout's HEAD commit, or None outside a git repository."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


_VERSIONED = (
    "rag-flywheel",
    "numpy",
    "scipy",
    "bm25s",
    "ranx",
    "sentence-transformers",
    "transformers",
    "torch",
    "faiss-cpu",
)


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that change results (read without importing them)."""
    versions = {}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def build_variant(variant: Variant, corpus, texts: Mapping[str, str]):
    """The retriever a variant describes (first stage, plus a re-ranker when set)."""
    from flywheel.retrieval.registry import build_retriever

    retriever = build_retriever(variant.retriever_spec(), corpus, **variant.retriever_options())
    if variant.reranker:
        from flywheel.hosted.providers import is_hosted_model
        from flywheel.retrieval.hosted_rerank import HostedReranker
        from flywheel.retrieval.rerank import CrossEncoderReranker, RerankedRetriever

        kind = HostedReranker if is_hosted_model(variant.reranker) else CrossEncoderReranker
        reranker = kind(variant.reranker, depth=variant.rerank_depth)
        retriever = RerankedRetriever(retriever, reranker, texts)
    return retriever


CURVE_KS = (1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000)


def recall_curve(
    qrels: Mapping[str, Mapping[str, int]], runs: Mapping[str, Run], *, max_k: int = 100
) -> dict[str, dict[int, float]]:
    """Mean recall@k per system at the usual cutoffs up to ``max_k`` (for the report's curve)."""
    ks = [k for k in CURVE_KS if k <= max_k]
    names = [f"recall@{k}" for k in ks]
    out = {}
    for system, run in runs.items():
        result = evaluate(qrels, run, names)
        out[system] = {k: result.mean[n] for k, n in zip(ks, names, strict=True)}
    return out


def run_experiment(
    spec: ExperimentSpec,
    *,
    store: Any = None,
    save: bool = True,
    check_models: bool = True,
) -> ExperimentResult:
    """Validate, retrieve with every variant, compare against the baseline, judge and store.

    ``store`` is a :class:`flywheel.store.Store`, a database URL, or None for the default
    (``$FLYWHEEL_DB``); ``save=False`` skips storing (the result has no ``run_id``). With
    ``spec.fill_unjudged`` the store also supplies the grades that fill unjudged pairs, and a
    store without any for these queries fails here, before retrieval.
    """
    folder = validate_spec(spec, check_models=check_models)
    t0 = time.perf_counter()
    chunks: dict[str, Corpus] = {}
    if spec.from_store:
        dataset, chunks = _store_dataset(spec, store)
    else:
        dataset = load_beir(folder)
    queries, qrels = dataset.split(spec.split)
    fill = spec.fill_unjudged
    fill_grades = _fill_grades(spec, qrels, store, folder, fill.value) if fill else None
    texts = dataset.texts()
    timings = {"load_dataset_s": time.perf_counter() - t0}
    runs: dict[str, Run] = {}
    costs: dict[str, dict[str, Any]] = {}
    for variant in spec.variants:
        logger.info("experiment %s: running variant %s", spec.name, variant.name)
        start = time.perf_counter()
        corpus = chunks.get(variant.chunking or "", dataset.corpus)
        variant_texts = texts if corpus is dataset.corpus else _texts(corpus)
        _, run, profile = measure_cost(
            lambda variant=variant, corpus=corpus, t=variant_texts: build_variant(
                variant, corpus, t
            ),
            queries,
            k=variant.top_k or spec.top_k,
            corpus_texts=[doc.text_for_encoding for doc in corpus.values()],
            latency_queries=spec.latency_queries,
        )
        runs[variant.name] = run if corpus is dataset.corpus else roll_up(run, corpus)
        costs[variant.name] = profile.to_dict()
        timings[f"{variant.name}_s"] = time.perf_counter() - start
    start = time.perf_counter()
    scored, label_fill = qrels, None
    if fill is not None and fill_grades is not None:
        scored, label_fill = apply_fill(qrels, fill_grades, runs, source=fill.value)
        logger.info("experiment %s: %s", spec.name, label_fill.note())
    comparison = compare_for_spec(spec, scored, runs)
    human = compare_for_spec(spec, qrels, runs) if label_fill is not None else None
    timings["compare_s"] = time.perf_counter() - start
    verdicts = {name: judge(comparison, name, spec.success) for name in comparison.variants}
    top = {
        name: {
            qid: dict(sorted(r.items(), key=lambda kv: (-kv[1], kv[0]))[:STORED_TOP_N])
            for qid, r in run.items()
        }
        for name, run in runs.items()
    }
    curve = recall_curve(scored, runs, max_k=max(v.top_k or spec.top_k for v in spec.variants))
    result = ExperimentResult(
        spec,
        comparison,
        verdicts,
        timings,
        top,
        dict(queries),
        curve,
        costs=costs,
        label_fill=label_fill,
        human_comparison=human,
        corpus=corpus_fingerprint(dataset.corpus),
    )
    result.relevant = {q: sorted(d for d, g in docs.items() if g > 0) for q, docs in scored.items()}
    result.doc_titles = shown_titles(dataset.corpus, top, result.relevant)
    if save:
        result.run_id = _save(result, store)
    return result


TITLE_CHARS = 70


def shown_titles(
    corpus: Mapping[str, Any], top: Mapping[str, Run], relevant: Mapping[str, list[str]]
) -> dict[str, str]:
    """A short title (or the text's start) for each document a report of this run shows:
    the stored top results and the relevant documents, so reports need no dataset at hand."""
    wanted = {d for run in top.values() for docs in run.values() for d in docs}
    wanted |= {d for docs in relevant.values() for d in docs}
    titles = {}
    for doc_id in sorted(wanted):
        doc = corpus.get(doc_id)
        if doc is None:
            continue
        label = (doc.title or doc.text or "").strip().replace("\n", " ")
        titles[doc_id] = label if len(label) <= TITLE_CHARS else label[: TITLE_CHARS - 1] + "…"
    return titles


def _texts(corpus: Corpus) -> dict[str, str]:
    return {doc_id: doc.text_for_encoding for doc_id, doc in corpus.items()}


def roll_up(run: Run, chunks: Corpus) -> Run:
    """Chunk results as document results: each document scores its best chunk's score, so a
    variant retrieving chunks is measured against document-level judgments."""
    out: Run = {}
    for qid, scores in run.items():
        docs: dict[str, float] = {}
        for chunk_id, score in scores.items():
            chunk = chunks.get(chunk_id)
            doc_id = str(chunk.metadata.get("doc_id", chunk_id)) if chunk else chunk_id
            if score > docs.get(doc_id, float("-inf")):
                docs[doc_id] = score
        out[qid] = docs
    return out


def _store_dataset(spec: ExperimentSpec, store: Any) -> tuple[RetrievalDataset, dict[str, Corpus]]:
    """The store's corpus, queries and judgments (people and benchmarks; LLM grades only
    through ``fill_unjudged``) read by :meth:`Store.to_dataset`, the reader ``flywheel run
    --db`` uses; and the chunks of each strategy a variant retrieves over."""
    with _opened(store) as handle:
        dataset = handle.to_dataset(
            spec.name,
            sources=list(JUDGED_SOURCES),
            level=spec.level,
            strategy=spec.chunk_strategy,
        )
        known = handle.chunk_strategies()
        wanted = {v.chunking for v in spec.variants if v.chunking not in (None, "documents")}
        if spec.level == "chunk":
            wanted.add(spec.chunk_strategy)
        missing = sorted(w for w in wanted if w not in known)
        if missing:
            raise ConfigError(
                f"{spec.source or '<spec>'}: the store has no chunks of strategy "
                f"'{missing[0]}' (stored: {', '.join(sorted(known)) or 'none'}); run: "
                f"flywheel chunk --strategy {missing[0]} (same --db)"
            )
        chunks = {w: handle.chunks(w) for w in wanted if w != spec.chunk_strategy}
    if not dataset.corpus:
        raise ConfigError("the store holds no documents; ingest a corpus first")
    return dataset, chunks


def corpus_fingerprint(doc_ids: Iterable[str]) -> dict[str, Any]:
    """How many documents were ranked and a hash of their ids: two runs with different
    fingerprints ranked different corpora and must not be paired (see ``stored_compare``)."""
    ids = sorted(doc_ids)
    return {"docs": len(ids), "fingerprint": text_hash("\n".join(ids))}


def compare_for_spec(spec: Any, qrels: Qrels, runs: Mapping[str, Run]) -> Comparison:
    """The comparison a pre-registered spec fixed: its metrics, baseline, test, alpha,
    resamples and seed (retrieval experiments and few-shot LLM experiments alike)."""
    return compare(
        qrels,
        runs,
        metrics=spec.all_metrics(),
        baseline=spec.baseline,
        test=spec.test.value,
        alpha=spec.alpha,
        n_resamples=spec.n_resamples,
        seed=spec.seed,
    )


@contextmanager
def _opened(store: Any) -> Iterator[Any]:
    """``store`` itself when it is a Store; else one opened from a URL (or the default), closed
    after use."""
    from flywheel.store import Store  # SQLAlchemy loads only when a run touches the store

    if isinstance(store, Store):
        yield store
        return
    handle = Store(store)
    try:
        yield handle
    finally:
        handle.close()


def _fill_grades(
    spec: ExperimentSpec, qrels: Qrels, store: Any, folder: Path | None, source: str
) -> LLMLabels:
    """The stored grades that may fill holes; fails (with the commands to fix it) if none."""
    ingest = f"flywheel ingest beir {folder} then " if folder is not None else ""
    fix = (
        f"grade retrieved pairs into that store first: {ingest}"
        f"flywheel judge run --from topk --split {spec.split} (same --db), or remove "
        "fill_unjudged from the spec"
    )
    with _opened(store) as handle:
        return stored_grades(
            handle,
            qrels,
            source=source,
            min_relevant=spec.llm_min_grade,
            where=spec.source or "<spec>",
            fix=fix,
        )


def _save(result: ExperimentResult, store: Any) -> str:
    with _opened(store) as handle:
        return handle.save_experiment_run(
            result.spec.name,
            result.spec.to_dict(),
            result.to_dict(),
            git_commit=git_commit(),
            versions=package_versions(),
        )
