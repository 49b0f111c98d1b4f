"""``flywheel train``: fine-tune an embedder or a re-ranker on a built training set.

The commands parse arguments, carve the dev split and print the outcome; the work is in
:mod:`flywheel.training`. torch and sentence-transformers load only when a command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from flywheel.cli._common import make_console, typer_app
from flywheel.errors import ConfigError
from flywheel.models import DEFAULT_BASE_MODEL
from flywheel.training.config import EmbedderTrainConfig, RerankerTrainConfig
from flywheel.training.data import TrainingData, load_training_data
from flywheel.training.devset import (
    DevSet,
    graded_dev_set,
    pairs_dev_set,
    split_graded_dev,
    split_pairs_dev,
)

app = typer_app(help="Fine-tune an embedder or a re-ranker.", no_args_is_help=True)
out = make_console()

DataOption = Annotated[
    Path, typer.Option("--data", "-d", help="Training-set folder ('flywheel dataset build').")
]
OutOption = Annotated[Path, typer.Option("--out", "-o", help="Run folder to write.")]
DevFraction = Annotated[
    float | None,
    typer.Option(
        "--dev-fraction",
        help="Share of training queries held out as dev set (default: the dataset's dev split, "
        "else 0.1). 0 = no dev set: the model is never accepted.",
        show_default=False,
    ),
]
ResumeOption = Annotated[
    bool, typer.Option("--resume/--no-resume", help="Continue from the last checkpoint.")
]
ReportToOption = Annotated[
    str,
    typer.Option(
        "--report-to",
        help="Experiment trackers to log to: none, all (every installed one: TensorBoard, "
        "MLflow, Weights & Biases...) or a comma list such as tensorboard,mlflow.",
    ),
]
PushOption = Annotated[
    str | None,
    typer.Option(
        "--push-to-hub",
        help="Hugging Face repo id (user/name) to upload the model to when it is accepted "
        "(needs the network: FLYWHEEL_ALLOW_NETWORK=1, and a login).",
        show_default=False,
    ),
]


def _push(result: Any, repo_id: str | None) -> None:
    """Publish an accepted model; a rejected one stays local (it lost to its base)."""
    if repo_id is None:
        return
    if not result.accepted:
        out.print(f"not pushed to {repo_id}: the model was not accepted on dev")
        return
    from flywheel.training.hub import push_to_hub

    out.print(f"pushed to {push_to_hub(result.model_path, repo_id)}")


def _parse_dims(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(
            f"--matryoshka '{text}': write comma-separated sizes, e.g. 384,256,128"
        ) from None


def _dev_for(
    data: TrainingData, fraction: float | None, *, graded: bool, seed: int, pool_size: int
) -> tuple[list[dict[str, Any]], DevSet | None]:
    """Training rows and dev set: the dataset's dev split unless a fraction is asked for."""
    if fraction is None and data.dev:
        meta = {"source": f"dev split of {data.path}"}
        if graded:
            return data.train, graded_dev_set(data.dev, meta=meta)
        dev = pairs_dev_set(
            data.dev, distractor_rows=data.train, pool_size=pool_size, seed=seed, meta=meta
        )
        return data.train, dev
    fraction = 0.1 if fraction is None else fraction
    if fraction == 0:
        return data.train, None
    if graded:
        return split_graded_dev(data.train, fraction=fraction, seed=seed)
    return split_pairs_dev(data.train, fraction=fraction, seed=seed, pool_size=pool_size)


def _run_options(
    data: Path,
    loaded: TrainingData,
    *,
    base: str,
    output: Path,
    dev: DevSet | None,
    resume: bool,
    metric: str,
) -> dict[str, Any]:
    """The keyword arguments ``train_embedder`` and ``train_reranker`` share."""
    return {
        "base_model": base,
        "out_dir": output,
        "dev": dev,
        "resume": resume,
        "metric": metric,
        "dataset_path": str(data),
        "dataset_card": loaded.card,
    }


def _outcome_rows(result: Any) -> list[tuple[str, Any]]:
    """The result-table rows both commands end with."""
    return [
        ("per epoch", ", ".join(f"{s:.4f}" for s in result.per_epoch_dev) or "n/a"),
        ("steps", result.steps),
        ("train seconds", result.train_seconds),
        ("model", str(result.model_path)),
    ]


def _print_result(title: str, rows: list[tuple[str, Any]], verdict: str, accepted: bool) -> None:
    table = Table(title=title, show_header=False)
    for name, value in rows:
        shown = "n/a" if value is None else f"{value:.4f}" if isinstance(value, float) else value
        table.add_row(name, str(shown))
    out.print(table)
    out.print(f"[{'green' if accepted else 'yellow'}]{verdict}[/]")


@app.command("embedder")
def embedder(
    data: DataOption,
    output: OutOption,
    base: Annotated[str, typer.Option("--base", help="Model name or folder.")] = DEFAULT_BASE_MODEL,
    loss: Annotated[str, typer.Option(help="mnrl | cached_mnrl | triplet")] = "mnrl",
    epochs: Annotated[int, typer.Option(min=1)] = 3,
    lr: Annotated[float, typer.Option("--lr", help="Learning rate.")] = 5e-5,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 32,
    matryoshka: Annotated[
        str | None, typer.Option(help="Wrap the loss in MatryoshkaLoss, e.g. 384,256,128.")
    ] = None,
    max_seq_length: Annotated[int, typer.Option("--max-seq-length", min=8)] = 256,
    max_steps: Annotated[int | None, typer.Option("--max-steps", min=1)] = None,
    mini_batch_size: Annotated[int, typer.Option("--mini-batch-size", min=1)] = 32,
    dev_fraction: DevFraction = None,
    pool_size: Annotated[int, typer.Option("--pool-size", help="Dev texts to rank.")] = 2000,
    metric: Annotated[str, typer.Option(help="Dev metric that picks and gates.")] = "ndcg@10",
    min_gain: Annotated[float, typer.Option("--min-gain")] = 0.0,
    seed: int = 42,
    resume: ResumeOption = True,
    report_to: ReportToOption = "none",
    push_to_hub: PushOption = None,
) -> None:
    """Fine-tune a bi-encoder on (anchor, positive[, negatives]) rows; keep it only if it wins."""
    config = EmbedderTrainConfig(
        loss=loss,
        epochs=epochs,
        learning_rate=lr,
        batch_size=batch_size,
        matryoshka_dims=_parse_dims(matryoshka),
        max_seq_length=max_seq_length,
        max_steps=max_steps,
        mini_batch_size=mini_batch_size,
        min_gain=min_gain,
        seed=seed,
        report_to=report_to,
    )
    loaded = load_training_data(data)
    train_rows, dev = _dev_for(loaded, dev_fraction, graded=False, seed=seed, pool_size=pool_size)
    out.print(
        f"training [bold]{base}[/] on {len(train_rows)} rows"
        + (f", dev: {len(dev.queries)} queries over {len(dev.texts)} texts" if dev else ", no dev")
    )
    from flywheel.training.embedder import train_embedder  # torch loads here

    result = train_embedder(
        train_rows,
        config=config,
        **_run_options(
            data, loaded, base=base, output=output, dev=dev, resume=resume, metric=metric
        ),
    )
    _print_result(
        "embedder fine-tuning",
        [
            (f"base {metric}", result.base_dev_score),
            (f"fine-tuned {metric}", result.trained_dev_score),
            *_outcome_rows(result),
        ],
        result.verdict,
        result.accepted,
    )
    _push(result, push_to_hub)


@app.command("reranker")
def reranker(
    data: DataOption,
    output: OutOption,
    base: Annotated[
        str, typer.Option("--base", help="Cross-encoder, or bi-encoder to add a head to.")
    ] = DEFAULT_BASE_MODEL,
    first_stage: Annotated[
        str, typer.Option("--first-stage", help="Bi-encoder whose dev ranking must be beaten.")
    ] = DEFAULT_BASE_MODEL,
    loss: Annotated[str, typer.Option(help="auto | bce | mse | lambda")] = "auto",
    epochs: Annotated[int, typer.Option(min=1)] = 1,
    lr: Annotated[float, typer.Option("--lr", help="Learning rate.")] = 2e-5,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 32,
    max_length: Annotated[int, typer.Option("--max-length", min=8)] = 256,
    max_steps: Annotated[int | None, typer.Option("--max-steps", min=1)] = None,
    depth: Annotated[int, typer.Option(help="First-stage candidates re-ranked per query.")] = 100,
    dev_fraction: DevFraction = None,
    metric: Annotated[str, typer.Option(help="Dev metric that picks and gates.")] = "ndcg@10",
    min_gain: Annotated[float, typer.Option("--min-gain")] = 0.0,
    seed: int = 42,
    resume: ResumeOption = True,
    report_to: ReportToOption = "none",
    push_to_hub: PushOption = None,
) -> None:
    """Fine-tune a cross-encoder on (query, passage, score[, grade]) rows; keep it only if it
    beats the first-stage ranking on the dev set."""
    config = RerankerTrainConfig(
        loss=loss,
        epochs=epochs,
        learning_rate=lr,
        batch_size=batch_size,
        max_length=max_length,
        max_steps=max_steps,
        rerank_depth=depth,
        min_gain=min_gain,
        seed=seed,
        report_to=report_to,
    )
    loaded = load_training_data(data)
    train_rows, dev = _dev_for(loaded, dev_fraction, graded=True, seed=seed, pool_size=0)
    from flywheel.training.evaluators import dense_candidates  # torch loads here
    from flywheel.training.reranker import train_reranker

    candidates = dense_candidates(dev, first_stage, depth=depth) if dev else None
    result = train_reranker(
        train_rows,
        config=config,
        dev_candidates=candidates,
        **_run_options(
            data, loaded, base=base, output=output, dev=dev, resume=resume, metric=metric
        ),
    )
    _print_result(
        f"re-ranker fine-tuning ({result.loss} loss)",
        [
            (f"first stage {metric}", result.first_stage_dev_score),
            (f"base re-ranker {metric}", result.base_dev_score),
            (f"fine-tuned {metric}", result.trained_dev_score),
            *_outcome_rows(result),
        ],
        result.verdict,
        result.accepted,
    )
    _push(result, push_to_hub)
