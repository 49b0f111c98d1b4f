"""Plugins through Python entry points: a package adds a retriever, chunker or metric by
declaring it, with no import of rag-flywheel's internals and no code run by the user.

In the plugin's ``pyproject.toml``::

    [project.entry-points."flywheel.retrievers"]
    splade = "my_plugin:make_splade"        # factory(corpus, argument, **options) -> Retriever
    [project.entry-points."flywheel.chunkers"]
    semantic = "my_plugin:SemanticChunker"  # a flywheel.chunking.Chunker subclass
    [project.entry-points."flywheel.metrics"]
    rbp = "my_plugin:rank_biased_precision" # fn(JudgedRanks, k) -> one value per query

Entry points are read when a registry misses a name or lists what it knows, so plugins cost
nothing until asked for, and the "unknown X; known: ..." errors list them too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib import metadata
from typing import Any

from flywheel.errors import ConfigError

logger = logging.getLogger(__name__)

RETRIEVERS = "flywheel.retrievers"
CHUNKERS = "flywheel.chunkers"
METRICS = "flywheel.metrics"

_loaded: set[tuple[str, str, str]] = set()


def load_plugins(group: str, register: Callable[[str, Any], None]) -> list[str]:
    """Register every entry point of ``group`` not registered yet; returns the new names."""
    added = []
    for entry in metadata.entry_points(group=group):
        key = (group, entry.name, entry.value)
        if key in _loaded:
            continue
        try:
            target = entry.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin must say which one it is
            raise ConfigError(
                f"plugin '{entry.name}' ({group} = \"{entry.value}\") failed to load: {exc}; "
                "fix or uninstall the package that declares it"
            ) from None
        register(entry.name, target)
        _loaded.add(key)
        added.append(entry.name)
        logger.info("plugin %s registered in %s", entry.name, group)
    return added
