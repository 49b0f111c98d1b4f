"""``flywheel batch``: corpus-scale jobs - encode, mine, score - here or on Ray (``--engine ray``).

The commands parse arguments and print a summary; the work is in :mod:`flywheel.scale`. Each
writes a folder of Parquet shards with a ``manifest.json``; the next command (or the library)
reads it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from flywheel.cli._common import make_console, typer_app
from flywheel.errors import ConfigError
from flywheel.models import DEFAULT_BASE_MODEL
from flywheel.scale.engine import Engine, RayOptions

if TYPE_CHECKING:
    from flywheel.data.types import RetrievalDataset

app = typer_app(help="Corpus-scale jobs: encode, mine, score (local or Ray).", no_args_is_help=True)
out = make_console()

EngineOption = Annotated[
    Engine, typer.Option("--engine", help="local: this process; ray: Ray Data actors.")
]
AddressOption = Annotated[
    str | None,
    typer.Option(
        "--ray-address", help="A running Ray cluster (e.g. ray://head:10001); default: local."
    ),
]
WorkersOption = Annotated[
    int | None, typer.Option("--workers", min=1, help="Actors (default: one per GPU, else CPU).")
]
CpusOption = Annotated[float, typer.Option("--cpus-per-worker", help="CPU threads per actor.")]
GpusOption = Annotated[
    float | None,
    typer.Option("--gpus-per-worker", help="Default: 1 when the cluster has GPUs, else 0."),
]
BlockOption = Annotated[
    int, typer.Option("--ray-batch-size", min=1, help="Rows per map_batches call.")
]
BeirOption = Annotated[Path | None, typer.Option("--beir", help="A BEIR folder.")]
DbOption = Annotated[str | None, typer.Option("--db", help="Store URL (default: FLYWHEEL_DB).")]
OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out.")]


def _ray(
    address: str | None, workers: int | None, cpus: float, gpus: float | None, block: int
) -> RayOptions:
    return RayOptions(
        address=address,
        workers=workers,
        cpus_per_worker=cpus,
        gpus_per_worker=gpus,
        batch_size=block,
    )


def _dataset(beir: Path | None, db: str | None) -> RetrievalDataset:
    if beir is not None and db is not None:
        raise ConfigError("pass either --beir or --db, not both")
    if beir is not None:
        from flywheel.data.beir import load_beir

        return load_beir(beir)
    from flywheel.store import Store

    with Store(db) as store:
        return store.to_dataset()


def _summary(title: str, rows: dict) -> None:
    table = Table(title=title, show_header=False)
    for name, value in rows.items():
        table.add_row(name, str(value))
    out.print(table)


@app.command("encode")
def encode(
    output: Annotated[Path, typer.Option("--out", "-o", help="Folder of shards to write.")],
    beir: BeirOption = None,
    db: DbOption = None,
    model: Annotated[str, typer.Option(help="Bi-encoder name or folder.")] = DEFAULT_BASE_MODEL,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 64,
    max_seq_length: Annotated[int | None, typer.Option("--max-seq-length", min=8)] = None,
    fill: Annotated[
        bool, typer.Option("--fill-cache/--no-fill-cache", help="Hand vectors to the cache.")
    ] = True,
    engine: EngineOption = Engine.LOCAL,
    ray_address: AddressOption = None,
    workers: WorkersOption = None,
    cpus_per_worker: CpusOption = 1.0,
    gpus_per_worker: GpusOption = None,
    ray_batch_size: BlockOption = 256,
    overwrite: OverwriteOption = False,
) -> None:
    """Encode every document into Parquet shards (and the embedding cache)."""
    from flywheel.scale import encode_corpus, fill_cache
    from flywheel.scale.encode import EncoderSpec

    dataset = _dataset(beir, db)
    options = _ray(ray_address, workers, cpus_per_worker, gpus_per_worker, ray_batch_size)
    report = encode_corpus(
        dataset.corpus, output, model=model, engine=engine, ray=options, batch_size=batch_size,
        max_seq_length=max_seq_length, overwrite=overwrite,
    )  # fmt: skip
    rows = report.to_dict()
    if fill:
        spec = EncoderSpec(model, batch_size, max_seq_length)
        rows["added to cache"] = fill_cache(output, spec.embedder(use_cache=True))
    _summary(f"encoded {dataset.name}", rows)
    out.print(f"next: flywheel batch mine --embeddings {output} --out {output}-negatives ...")


@app.command("mine")
def mine(
    embeddings: Annotated[Path, typer.Option(help="Shards from 'flywheel batch encode'.")],
    output: Annotated[Path, typer.Option("--out", "-o", help="Folder of shards to write.")],
    beir: BeirOption = None,
    db: DbOption = None,
    split: Annotated[str, typer.Option(help="Split whose queries are mined.")] = "train",
    range_min: int = 10,
    range_max: int = 100,
    num_negatives: int = 1,
    relative_margin: Annotated[float, typer.Option(help="<0 disables it.")] = 0.05,
    seed: int = 42,
    triplets: Annotated[
        Path | None, typer.Option(help="Also write (anchor, positive, negative...) JSONL here.")
    ] = None,
    engine: EngineOption = Engine.LOCAL,
    ray_address: AddressOption = None,
    workers: WorkersOption = None,
    cpus_per_worker: CpusOption = 1.0,
    gpus_per_worker: GpusOption = None,
    ray_batch_size: BlockOption = 256,
    overwrite: OverwriteOption = False,
) -> None:
    """Mine hard negatives for a split's queries against encoded shards."""
    from flywheel._internal.io import write_jsonl
    from flywheel.datasets.hard_negatives import HardNegativeConfig
    from flywheel.scale import mine_negatives, read_embeddings

    dataset = _dataset(beir, db)
    shards = read_embeddings(embeddings)
    missing = set(dataset.corpus) - set(shards.doc_ids)
    if missing:
        raise ConfigError(
            f"{embeddings} has no vector for {len(missing)} documents "
            f"(e.g. '{sorted(missing)[0]}'); encode this corpus with 'flywheel batch encode' first"
        )
    queries, qrels = dataset.split(split)
    config = HardNegativeConfig(
        range_min=range_min, range_max=range_max, num_negatives=num_negatives, seed=seed,
        relative_margin=relative_margin if relative_margin >= 0 else None,
    )  # fmt: skip
    texts = dataset.texts()
    mined = mine_negatives(
        queries, qrels, doc_ids=shards.doc_ids, doc_embeddings=shards.embeddings, out=output,
        config=config, texts=texts, model=shards.manifest["model"], engine=engine,
        ray=_ray(ray_address, workers, cpus_per_worker, gpus_per_worker, ray_batch_size),
        max_seq_length=shards.manifest.get("max_seq_length"), overwrite=overwrite,
    )  # fmt: skip
    rows = {"examples": len(mined.examples), "engine": str(engine), "out": str(output)}
    rows.update({k: v for k, v in mined.stats.to_dict().items() if v})
    if triplets is not None:
        rows["triplet rows"] = write_jsonl(triplets, mined.rows(queries, texts))
    _summary(f"mined {dataset.name}/{split}", rows)


@app.command("score")
def score(
    run: Annotated[Path, typer.Option(help="Candidates: a run as JSON {qid: {doc_id: score}}.")],
    model: Annotated[str, typer.Option(help="Cross-encoder name or folder.")],
    output: Annotated[Path, typer.Option("--out", "-o", help="Folder of shards to write.")],
    beir: BeirOption = None,
    db: DbOption = None,
    depth: Annotated[int, typer.Option(min=1, help="Top documents per query to score.")] = 100,
    run_out: Annotated[
        Path | None, typer.Option("--run-out", help="Also write the scores as a JSON run.")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 32,
    engine: EngineOption = Engine.LOCAL,
    ray_address: AddressOption = None,
    workers: WorkersOption = None,
    cpus_per_worker: CpusOption = 1.0,
    gpus_per_worker: GpusOption = None,
    ray_batch_size: BlockOption = 256,
    overwrite: OverwriteOption = False,
) -> None:
    """Label (query, document) pairs of a run with a cross-encoder."""
    from flywheel._internal.io import write_json
    from flywheel.scale import pairs_from_run, read_scores, score_pairs, scores_to_run

    dataset = _dataset(beir, db)
    try:
        candidates = json.loads(run.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigError(f"cannot read run {run} ({error}); write it as JSON") from None
    pairs = pairs_from_run(dataset.queries, candidates, dataset.texts(), depth=depth)
    report = score_pairs(
        pairs, output, model=model, engine=engine, batch_size=batch_size, overwrite=overwrite,
        ray=_ray(ray_address, workers, cpus_per_worker, gpus_per_worker, ray_batch_size),
    )  # fmt: skip
    rows = report.to_dict()
    if run_out is not None:
        write_json(run_out, scores_to_run(read_scores(output)))
        rows["run"] = str(run_out)
    _summary(f"scored {dataset.name}", rows)
