"""``flywheel dataset``: build training sets (triplets, pairs, graded pairs) and export them.

The commands only parse arguments and print; the work is in :mod:`flywheel.datasets`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from flywheel.cli._common import make_console, typer_app
from flywheel.datasets.artifact import DatasetKind, load_dataset
from flywheel.datasets.export import ExportFormat, export_dataset
from flywheel.datasets.hard_negatives import HardNegativeConfig, Sampling
from flywheel.datasets.propensity import PropensityMethod
from flywheel.datasets.signals import LabelPolicy
from flywheel.errors import ConfigError, DataFormatError, UnknownComponentError
from flywheel.judging.labels import DEFAULT_MIN_RELEVANT, LLM_SOURCE, LLMLabels
from flywheel.models import DEFAULT_BASE_MODEL

app = typer_app(help="Build and export training data.", no_args_is_help=True)
out = make_console()


def _label_sources(text: str | None) -> list[str] | None:
    """``human,benchmark,llm`` -> the store's judgment sources to train on (None: all)."""
    if text is None:
        return None
    from flywheel.store import JudgmentSource

    known = [str(s) for s in JudgmentSource]
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise ConfigError(f"--label-sources names no source; give some of: {', '.join(known)}")
    for name in names:
        if name not in known:
            raise UnknownComponentError("label source", name, known)
    return names


def _load_source(
    beir: Path | None, db: str | None, name: str, sources: list[str] | None, llm_min_grade: int
):
    """The dataset, its events and its LLM labels: from a BEIR folder (no events, no LLM
    labels) or the store (judgments of ``sources`` only; LLM grades as :class:`LLMLabels`)."""
    if beir is not None:
        from flywheel.data.beir import load_beir

        return load_beir(beir), [], None
    from flywheel.settings import db_url
    from flywheel.store import JudgmentSource, Store

    judged = [str(s) for s in (sources or JudgmentSource) if str(s) != LLM_SOURCE]
    with Store(db_url(db)) as store:
        llm = LLMLabels.from_store(store, sources=sources, min_relevant=llm_min_grade)
        return store.to_dataset(name, sources=judged), store.events(), llm


def _read_run(path: Path) -> dict[str, dict[str, float]]:
    """A run as JSON ``{qid: {doc_id: score}}`` or TREC lines ``qid Q0 doc rank score tag``."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return {q: {d: float(s) for d, s in docs.items()} for q, docs in json.loads(text).items()}
    run: dict[str, dict[str, float]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 6:
            raise DataFormatError(path, number, "expected 6 columns", "write a TREC run file")
        run.setdefault(parts[0], {})[parts[2]] = float(parts[4])
    return run


def _label_policy(*, propensity: str, **options: Any) -> LabelPolicy:
    """The event-label options as a :class:`LabelPolicy`; ``propensity="none"`` is a flat table."""
    known = [*map(str, PropensityMethod), "none"]
    if propensity not in known:
        raise UnknownComponentError("propensity method", propensity, known)
    if propensity == "none":
        flat = {rank: 1.0 for rank in range(1, LabelPolicy().max_rank + 1)}
        return LabelPolicy(propensity=flat, **options)
    return LabelPolicy(propensity_method=PropensityMethod(propensity), **options)


@app.command("build")
def build(
    kind: Annotated[DatasetKind, typer.Argument(help="triplets | pairs | graded")],
    output: Annotated[Path, typer.Option("--out", "-o", help="Folder to write.")],
    beir: Annotated[
        Path | None, typer.Option(help="Read a BEIR folder instead of the store.")
    ] = None,
    db: Annotated[str | None, typer.Option(help="Store URL (default: FLYWHEEL_DB).")] = None,
    name: Annotated[str, typer.Option(help="Dataset name in the store.")] = "flywheel",
    split: Annotated[str, typer.Option(help="Split to train on.")] = "train",
    eval_split: Annotated[str, typer.Option(help="Held-out split checked for leakage.")] = "test",
    model: Annotated[str, typer.Option(help="Bi-encoder for dense mining.")] = DEFAULT_BASE_MODEL,
    run: Annotated[Path | None, typer.Option(help="Mine from this run (JSON or TREC).")] = None,
    range_min: int = HardNegativeConfig.range_min,
    range_max: int = HardNegativeConfig.range_max,
    num_negatives: int = HardNegativeConfig.num_negatives,
    sampling: Sampling = HardNegativeConfig.sampling,
    relative_margin: Annotated[float, typer.Option(help="<0 disables it.")] = 0.05,
    absolute_margin: float | None = None,
    max_score: float | None = None,
    seed: int = 42,
    dev_fraction: float = 0.1,
    mine: Annotated[bool, typer.Option(help="graded: add mined negatives.")] = True,
    events: Annotated[bool, typer.Option(help="Use logged events (store only).")] = True,
    long_dwell_ms: int = 30_000,
    short_dwell_ms: int = 5_000,
    propensity: Annotated[
        str,
        typer.Option(
            help="Position-bias estimate for event labels: em | harvest | ctr | none "
            "(none: every shown result counts as looked at)."
        ),
    ] = "em",
    positive_threshold: Annotated[
        float, typer.Option(help="Event labels: P(relevant) that makes a positive.")
    ] = 0.5,
    negative_threshold: Annotated[
        float, typer.Option(help="Event labels: P(relevant) at or below which a negative.")
    ] = 0.1,
    min_negative_evidence: Annotated[
        int, typer.Option(help="Event labels: sessions a negative needs.")
    ] = 1,
    force: Annotated[bool, typer.Option(help="Write even if train overlaps eval.")] = False,
    drop_leaked: Annotated[
        bool, typer.Option(help="Drop training queries that overlap eval, then build.")
    ] = False,
    engine: Annotated[
        str, typer.Option(help="Where the corpus is encoded for mining: local | ray.")
    ] = "local",
    ray_address: Annotated[
        str | None, typer.Option(help="--engine ray: a cluster address (default: local Ray).")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="--engine ray: actors.")] = None,
    label_sources: Annotated[
        str | None,
        typer.Option(
            help="Store judgments to train on, comma-separated (default: all of human,"
            "benchmark,llm,derived); leave out llm to train without LLM labels.",
            show_default=False,
        ),
    ] = None,
    llm_min_grade: Annotated[
        int,
        typer.Option(help="LLM grade that makes a positive (TREC: 2; a 1 is 'related')."),
    ] = DEFAULT_MIN_RELEVANT,
) -> None:
    """Build a training set and write it with manifest.json and a card.

    From the store, LLM grades (flywheel judge run) count below human and benchmark labels: a
    grade >= --llm-min-grade is a positive, a lower one above 0 is never used as a negative."""
    from flywheel.datasets.build import BuildOptions, build_dataset
    from flywheel.scale.encode import corpus_encoder
    from flywheel.scale.engine import Engine, RayOptions, parse_engine

    if beir is not None and db is not None:
        raise ConfigError("pass either --beir or --db, not both")
    if beir is not None and label_sources is not None:
        raise ConfigError(
            "--label-sources picks judgments in the store; a BEIR folder's qrels are all "
            "benchmark labels (drop --label-sources, or ingest the folder and use --db)"
        )
    sources = _label_sources(label_sources)
    dataset, logged, llm = _load_source(beir, db, name, sources, llm_min_grade)
    config = HardNegativeConfig(
        range_min=range_min, range_max=range_max, num_negatives=num_negatives,
        sampling=sampling, relative_margin=relative_margin if relative_margin >= 0 else None,
        absolute_margin=absolute_margin, max_score=max_score, seed=seed,
    )  # fmt: skip
    options = BuildOptions(
        split=split, eval_split=eval_split, dev_fraction=dev_fraction, seed=seed, force=force,
        mine=mine, model=model, drop_leaked=drop_leaked,
        notes=[f"judgments from label sources: {', '.join(sources)}"] if sources else [],
    )  # fmt: skip
    policy = _label_policy(
        long_dwell_ms=long_dwell_ms, short_dwell_ms=short_dwell_ms, propensity=propensity,
        positive_threshold=positive_threshold, negative_threshold=negative_threshold,
        min_negative_evidence=min_negative_evidence,
    )  # fmt: skip
    encode = None
    if parse_engine(engine) is Engine.RAY:
        ray = RayOptions(address=ray_address, workers=workers)
        encode = corpus_encoder(model, engine=Engine.RAY, ray=ray)
    path = build_dataset(
        dataset, output, kind=kind, options=options, config=config,
        events=logged if events else None, policy=policy,
        run=_read_run(run) if run is not None else None, encode=encode, llm_labels=llm,
    )  # fmt: skip
    saved = load_dataset(path)
    sizes = ", ".join(f"{s}: {len(r):,}" for s, r in saved.splits.items())
    out.print(f"wrote {kind} to {path} ({sizes} rows; columns {', '.join(saved.columns)})")
    used = saved.card.llm_labels if saved.card is not None else None
    if used:
        out.print(
            f"LLM labels (source llm) on {used['queries']} training queries: "
            f"{used['positives']} positives (grade >= {used['min_relevant']}), "
            f"{used['related_kept_out_of_negatives']} related kept out of the negatives, "
            f"{used['not_relevant']} not relevant"
        )
    out.print(f"next: flywheel dataset export {path} --format st --out {path}-st")


@app.command("export")
def export(
    directory: Annotated[Path, typer.Argument(help="A folder written by 'dataset build'.")],
    format: Annotated[ExportFormat, typer.Option("--format", "-f")] = ExportFormat.ST,
    output: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="A folder (default: DIR-FORMAT), or a .jsonl/.parquet file for the training "
            "split (other splits beside it).",
        ),
    ] = None,
) -> None:
    """Export to sentence-transformers Parquet, FlagEmbedding, Cohere or plain JSONL."""
    target = output or directory.with_name(f"{directory.name}-{format}")
    result = export_dataset(directory, target, format=format)
    out.print(f"exported {len(result.files)} file(s) as {format}:")
    for file in result.files:
        out.print(f"  {file}")
    for warning in result.warnings:
        out.print(f"[yellow]warning:[/] {warning}")
    if format == ExportFormat.FLAGEMBEDDING:
        out.print(f"FlagEmbedding: --train_data {result.files[0]}")


@app.command("show")
def show(directory: Annotated[Path, typer.Argument(help="A dataset folder.")]) -> None:
    """Print a dataset's card."""
    saved = load_dataset(directory)
    card = directory / "card.md"
    out.print(card.read_text(encoding="utf-8") if card.exists() else json.dumps(saved.manifest))
