"""One progress helper: draws a Rich bar on a terminal, stays silent elsewhere (tests, pipes)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")


def progress_enabled() -> bool:
    if os.environ.get("FLYWHEEL_PROGRESS") == "0":
        return False
    if os.environ.get("FLYWHEEL_PROGRESS") == "1":
        return True
    return sys.stderr.isatty() and "PYTEST_CURRENT_TEST" not in os.environ


QUIET_ENV = ("HF_HUB_DISABLE_PROGRESS_BARS", "HF_DATASETS_DISABLE_PROGRESS_BARS", "TQDM_DISABLE")


def silence_third_party_bars() -> None:
    """Where flywheel draws no bar (output piped, logged, tested), the libraries it calls draw
    none either: transformers' "Loading weights", datasets' and tqdm bars would otherwise fill
    a CI log. Set before those libraries load (the CLI does it first); a user's own
    ``TQDM_DISABLE=0`` and the like win."""
    if progress_enabled():
        return
    for name in QUIET_ENV:
        os.environ.setdefault(name, "1")
    if "huggingface_hub" in sys.modules:  # already loaded: its switch, not its environment
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=False,
    )


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a bar when a person is watching."""
    if not progress_enabled():
        yield from items
        return
    with _progress() as progress:
        yield from progress.track(items, total=total, description=description)


@contextmanager
def task(description: str, total: int) -> Iterator[callable]:
    """``with task("encode", n) as advance: advance(batch)`` - a bar advanced by hand."""
    if not progress_enabled():
        yield lambda n=1: None
        return
    with _progress() as progress:
        tid = progress.add_task(description, total=total)
        yield lambda n=1: progress.advance(tid, n)
