"""``flywheel chunk``: split every stored document and store the chunks under a label."""

from __future__ import annotations

from typing import Annotated

import typer

from flywheel.cli._common import DbOption, console, open_store
from flywheel.models import DEFAULT_BASE_MODEL


def chunk(
    strategy: Annotated[
        str, typer.Option(help="fixed, sentence, markdown or recursive (or a registered plugin).")
    ] = "fixed",
    size: Annotated[int, typer.Option(help="Largest chunk, in --unit units.")] = 200,
    overlap: Annotated[int, typer.Option(help="Units shared by neighbouring chunks.")] = 20,
    unit: Annotated[str, typer.Option(help="tokens (of --model's tokenizer) or chars.")] = "tokens",
    model: Annotated[str, typer.Option(help="Model whose tokenizer counts tokens.")] = (
        DEFAULT_BASE_MODEL
    ),
    label: Annotated[
        str | None,
        typer.Option(help="Name to store the chunks under (default: the strategy name)."),
    ] = None,
    db: DbOption = None,
) -> None:
    """Chunk the corpus; chunks of different labels live side by side."""
    from flywheel.chunking import ChunkConfig, chunk_store  # tokenizers load only here

    config = ChunkConfig(
        strategy=strategy, size=size, overlap=overlap, unit=unit, model=model, label=label
    )
    report = chunk_store(open_store(db), config)
    console.print(report.summary())
    console.print(
        f'next: measure them: chunking = "{config.name}" in an experiment variant '
        '(dataset = "store"), then flywheel experiment run SPEC.toml (same --db)'
    )
