"""The loop's systems as typed objects: which embedder, which stage, whether re-ranked, whose.

Eligibility ("may the loop ship this?") and first stages are read from these fields, never from
substrings of a system's display name.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum


class Embedder(StrEnum):
    NONE = "none"  # lexical only
    BASE = "base"
    FINE_TUNED = "fine-tuned"
    OTHER = "other"  # a comparison's or the reference recipe's own model


class Role(StrEnum):
    LOOP = "loop"  # built by the loop: may be selected
    COMPARISON = "comparison"  # another model measured beside: never selected
    REFERENCE = "reference"  # plain sentence-transformers recipe: selectable, like the loop's


@dataclass(frozen=True)
class System:
    name: str
    embedder: Embedder
    role: Role = Role.LOOP
    reranker: str | None = None  # "cross-encoder", "learned", a comparison's model
    first_stage: str | None = None  # the system this one re-ranks

    def eligible(self, *, embedder_accepted: bool, rerankers_accepted: Collection[str]) -> bool:
        """May the loop ship it: its own systems and the reference recipe (never another
        provider's model), each trained part past its dev gate."""
        if self.role is Role.COMPARISON:
            return False
        if self.embedder is Embedder.FINE_TUNED and not embedder_accepted:
            return False
        return self.reranker is None or self.reranker in rerankers_accepted


def reranked(first: System, name: str, reranker: str, role: Role = Role.LOOP) -> System:
    """``first`` re-ranked by ``reranker``, named ``name``."""
    return System(name, first.embedder, role=role, reranker=reranker, first_stage=first.name)
