"""What every retriever is: a name and ``search(queries, k) -> Run``.

Retrievers are a structural :class:`~typing.Protocol`, so a user's own class (a call to a
vector database, a web API) plugs into fusion, re-ranking and evaluation without inheriting
from anything here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from flywheel.data.types import Queries, Run
from flywheel.errors import ConfigError, NotFoundError

MANIFEST = "manifest.json"


@runtime_checkable
class Retriever(Protocol):
    """Anything with a ``name`` and a ``search`` that returns ``{qid: {doc_id: score}}``."""

    name: str

    def search(self, queries: Queries, k: int = 100) -> Run:
        """Return up to ``k`` documents per query, higher score = more relevant."""
        ...


def top_k(scores: Mapping[str, float], k: int) -> dict[str, float]:
    """The ``k`` best ``doc_id -> score`` pairs, best first; ties broken by doc_id for stability."""
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    return dict(ranked[:k])


def ranked_ids(scores: Mapping[str, float]) -> list[str]:
    """Doc ids of one query's results, best first (ties by doc_id, as :func:`top_k`)."""
    return [doc_id for doc_id, _ in sorted(scores.items(), key=lambda item: (-item[1], item[0]))]


def check_k(k: int) -> int:
    """Reject a non-positive ``k`` before any work starts."""
    if not isinstance(k, int) or k < 1:
        raise ConfigError(f"k must be a positive integer, got {k!r}; pass e.g. k=100")
    return k


def query_items(queries: Queries) -> tuple[list[str], list[str]]:
    """Split queries into parallel id and text lists, keeping their order."""
    qids = list(queries)
    return qids, [queries[qid] for qid in qids]


def read_manifest(folder: Path, kind: str) -> dict[str, Any]:
    """Read a saved retriever's ``manifest.json`` and check it is the expected kind."""
    path = folder / MANIFEST
    if not path.is_file():
        raise NotFoundError(f"{path} not found; save a retriever there first with .save(folder)")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("kind") != kind:
        raise ConfigError(
            f"{folder} holds a '{manifest.get('kind')}' index, not '{kind}'; "
            "load it with the matching retriever class"
        )
    return manifest
