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
