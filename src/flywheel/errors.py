"""One error hierarchy. Every message says what is wrong and how to fix it.

The CLI turns any :class:`FlywheelError` into one clear line and a non-zero exit.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


class FlywheelError(Exception):
    """Base of every error the toolkit raises on purpose."""


class ConfigError(FlywheelError):
    """A spec, config or argument that cannot work; raised before any work starts."""


class DataFormatError(FlywheelError):
    """A bad record in an input file, located by file and line."""

    def __init__(
        self,
        path: str | Path,
        line: int | None,
        problem: str,
        fix: str = "",
        field: str | None = None,
    ) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.problem = problem
        self.fix = fix
        where = f"{self.path}:{line}" if line is not None else self.path
        what = f"field '{field}': {problem}" if field else problem
        super().__init__(f"{where}: {what}" + (f"; {fix}" if fix else ""))


class UnknownComponentError(FlywheelError):
    """A name that no registry knows; lists exactly the names that exist."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.known = sorted(known)
        super().__init__(f"unknown {kind} '{name}'; known: {', '.join(self.known) or '(none)'}")


class MissingDependencyError(FlywheelError):
    """An optional dependency is not installed; names the extra that brings it."""

    def __init__(self, package: str, extra: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"'{package}' is not installed; install it with: pip install 'rag-flywheel[{extra}]'"
        )


class LeakageError(FlywheelError):
    """Training data overlaps the evaluation split."""


class NotFoundError(FlywheelError):
    """A referenced document, query, run or artifact does not exist."""


class ProviderError(FlywheelError):
    """A hosted provider refused the work for good (bad key, unknown model, bad request)."""
