"""The retrievers behind the search page, built once over the store's corpus.

A retriever configuration is a registry spec with options after commas, so two variants of
one retriever can be compared without code: ``bm25``, ``dense:all-MiniLM-L6-v2``,
``bm25,k1=0.9,b=0.4``, ``bm25,stemmer=none``. Each is built on first use (or by
:meth:`SearchEngine.warm` at start-up); documents ingested while the server runs are not
searched until it restarts.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flywheel.data.types import Corpus, Document
from flywheel.errors import ConfigError, NotFoundError, UnknownComponentError
from flywheel.retrieval.base import Retriever
from flywheel.retrieval.registry import build_retriever, known_retrievers, parse_spec
from flywheel.store import Store

#: How much of a document "more like this" uses as its query.
MORE_LIKE_THIS_CHARS = 1000


def _option_value(text: str) -> Any:
    if text.lower() in ("none", "null"):
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


@dataclass(frozen=True)
class RetrieverConfig:
    """A named retriever: ``spec`` for the registry and ``options`` for its factory."""

    label: str
    spec: str
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> RetrieverConfig:
        """``"bm25,k1=0.9,b=0.4"`` -> spec ``bm25``, options ``{k1: 0.9, b: 0.4}``."""
        spec, *pairs = [part.strip() for part in text.split(",")]
        name, _ = parse_spec(spec)
        if name not in known_retrievers():
            raise UnknownComponentError("retriever", name, known_retrievers())
        options: dict[str, Any] = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or not key.strip():
                raise ConfigError(
                    f"retriever option '{pair}' in '{text}' is not key=value; "
                    "write e.g. 'bm25,k1=0.9,b=0.4'"
                )
            options[key.strip()] = _option_value(value.strip())
        return cls(label=text.strip(), spec=spec, options=options)


class SearchEngine:
    """Named retrievers over one corpus; the first name is the default."""

    def __init__(self, store: Store, retrievers: Mapping[str, Retriever | RetrieverConfig]):
        if not retrievers:
            raise ConfigError("give the server at least one retriever, e.g. 'bm25'")
        self.store = store
        self._configs = dict(retrievers)
        self._built: dict[str, Retriever] = {
            name: r for name, r in retrievers.items() if not isinstance(r, RetrieverConfig)
        }
        self._corpus: Corpus | None = None
        self._lock = threading.Lock()
        # One search at a time per retriever: a model's encoder is not made for threads.
        self._search_locks = {name: threading.Lock() for name in self._configs}

    @property
    def names(self) -> list[str]:
        return list(self._configs)

    @property
    def default(self) -> str:
        return self.names[0]

    @property
    def corpus(self) -> Corpus:
        if self._corpus is None:
            with self._lock:
                if self._corpus is None:
                    corpus = self.store.corpus()
                    if not corpus:
                        raise ConfigError(
                            "the store has no documents to search; "
                            "load some first: flywheel ingest beir DIR (or ingest corpus FILE)"
                        )
                    self._corpus = corpus
        return self._corpus

    def retriever(self, name: str | None = None) -> Retriever:
        name = name or self.default
        if name not in self._configs:
            raise UnknownComponentError("retriever", name, self._configs)
        if name not in self._built:
            corpus = self.corpus
            with self._lock:
                if name not in self._built:
                    config = self._configs[name]
                    assert isinstance(config, RetrieverConfig)
                    self._built[name] = build_retriever(config.spec, corpus, **config.options)
        return self._built[name]

    def warm(self) -> None:
        """Build every retriever now (the CLI does this before it starts listening)."""
        for name in self.names:
            self.retriever(name)

    def search(self, text: str, k: int, name: str | None = None) -> list[tuple[str, float]]:
        """``[(chunk_id, score)]`` best first, ties by id."""
        name = name or self.default
        retriever = self.retriever(name)
        with self._search_locks[name]:
            run = retriever.search({"q": text}, k=k)
        scores = run.get("q", {})
        return sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k]

    def document(self, chunk_id: str) -> Document:
        try:
            return self.corpus[chunk_id]
        except KeyError:
            raise NotFoundError(f"no document '{chunk_id}' in the store") from None

    def similar(self, chunk_id: str, k: int, name: str | None = None) -> list[tuple[str, float]]:
        """Documents like ``chunk_id``: its title and first words as the query, itself left
        out."""
        doc = self.document(chunk_id)
        text = doc.text_for_encoding[:MORE_LIKE_THIS_CHARS]
        found = self.search(text, k + 1, name)
        return [(cid, score) for cid, score in found if cid != chunk_id][:k]
