"""Parse a string option into its StrEnum, or fail listing the choices that exist."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from flywheel.errors import ConfigError

E = TypeVar("E", bound=StrEnum)


def parse_choice(enum: type[E], value: str, what: str) -> E:
    """``parse_choice(IndexType, "hnsw", "dense index")``; unknown values name every choice."""
    try:
        return enum(value)
    except ValueError:
        known = ", ".join(member.value for member in enum)
        raise ConfigError(f"unknown {what} '{value}'; choose one of: {known}") from None
