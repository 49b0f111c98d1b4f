"""What every chunker shares: its config, how length is measured, packing, and the registry.

A chunker turns one document's text into pieces no longer than ``size`` units, where a unit is
a token of the embedding model's tokenizer (the default, so a chunk fits the model's window) or
a character. Strategies register by name, so ``flywheel chunk --strategy NAME`` accepts exactly
the names in :data:`CHUNKERS` and a plugin can add its own with :func:`register_chunker`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any, Protocol

from flywheel._internal.plugins import CHUNKERS as CHUNKER_PLUGINS
from flywheel._internal.plugins import load_plugins
from flywheel.data.types import Corpus
from flywheel.errors import ConfigError, UnknownComponentError
from flywheel.models import DEFAULT_BASE_MODEL, resolve_model


class SizeUnit(StrEnum):
    TOKENS = "tokens"
    CHARS = "chars"


@dataclass(frozen=True)
class ChunkConfig:
    """How to chunk: strategy name, window ``size`` and ``overlap`` in ``unit``\\ s, and the model
    whose tokenizer counts tokens. ``label`` names the stored chunks (default: the strategy)."""

    strategy: str = "fixed"
    size: int = 200
    overlap: int = 20
    unit: SizeUnit = SizeUnit.TOKENS
    model: str = DEFAULT_BASE_MODEL
    label: str | None = None

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ConfigError(f"chunk size must be at least 1, got {self.size}")
        if not 0 <= self.overlap < self.size:
            raise ConfigError(
                f"chunk overlap must be between 0 and size-1 ({self.size - 1}), got {self.overlap}"
            )
        try:
            object.__setattr__(self, "unit", SizeUnit(self.unit))
        except ValueError:
            raise ConfigError(f"unknown size unit '{self.unit}'; use tokens or chars") from None

    @property
    def name(self) -> str:
        """The label chunks are stored under."""
        return self.label or self.strategy


class Measure(Protocol):
    """Length in units, and the character span of each unit (for cutting windows)."""

    def count(self, text: str) -> int: ...

    def spans(self, text: str) -> list[tuple[int, int]]: ...


class CharMeasure:
    def count(self, text: str) -> int:
        return len(text)

    def spans(self, text: str) -> list[tuple[int, int]]:
        return [(i, i + 1) for i in range(len(text))]


@lru_cache(maxsize=4)
def _tokenizer(model: str) -> Any:
    from transformers import AutoTokenizer  # heavy: loaded only when token chunking runs

    return AutoTokenizer.from_pretrained(resolve_model(model))


class TokenMeasure:
    """Tokens of ``model``'s tokenizer (no special tokens), mapped back to character spans so
    chunks keep the original text, casing and spacing included."""

    def __init__(self, model: str = DEFAULT_BASE_MODEL) -> None:
        self.tokenizer = _tokenizer(model)

    def _encode(self, text: str, offsets: bool) -> Any:
        return self.tokenizer(
            text, add_special_tokens=False, return_offsets_mapping=offsets, verbose=False
        )

    def count(self, text: str) -> int:
        return len(self._encode(text, False)["input_ids"])

    def spans(self, text: str) -> list[tuple[int, int]]:
        return [tuple(span) for span in self._encode(text, True)["offset_mapping"]]


MEASURES: dict[SizeUnit, Callable[[ChunkConfig], Measure]] = {
    SizeUnit.TOKENS: lambda config: TokenMeasure(config.model),
    SizeUnit.CHARS: lambda config: CharMeasure(),
}


class Chunker(ABC):
    """Splits text into pieces of at most ``config.size`` units."""

    def __init__(self, config: ChunkConfig, measure: Measure | None = None) -> None:
        self.config = config
        self.measure = measure or MEASURES[config.unit](config)

    @abstractmethod
    def split(self, text: str) -> list[str]:
        """The chunks of ``text``, in order, without empty ones."""

    def windows(self, text: str) -> list[str]:
        """Fixed windows of ``size`` units, each starting ``size - overlap`` after the last."""
        spans = self.measure.spans(text)
        size, step = self.config.size, self.config.size - self.config.overlap
        pieces = []
        for start in range(0, len(spans), step):
            window = spans[start : start + size]
            pieces.append(text[window[0][0] : window[-1][1]].strip())
            if start + size >= len(spans):
                break
        return [piece for piece in pieces if piece]

    def pack(self, pieces: Iterable[str], separator: str = "") -> list[str]:
        """Join consecutive pieces while they fit in ``size``; the next chunk repeats trailing
        pieces of the last one, up to ``overlap`` units. Pieces longer than ``size`` are cut
        into windows first."""
        size, overlap = self.config.size, self.config.overlap
        sep_len = self.measure.count(separator) if separator else 0
        chunks: list[str] = []
        current: list[tuple[str, int]] = []
        total = 0
        for piece in pieces:
            if not piece.strip():
                continue
            length = self.measure.count(piece)
            if length > size:
                if current:
                    chunks.append(separator.join(p for p, _ in current).strip())
                    current, total = [], 0
                chunks.extend(self.windows(piece))
                continue
            if current and total + sep_len + length > size:
                chunks.append(separator.join(p for p, _ in current).strip())
                while current and (total > overlap or total + sep_len + length > size):
                    total -= current[0][1] + (sep_len if len(current) > 1 else 0)
                    current.pop(0)
            total += length + (sep_len if current else 0)
            current.append((piece, length))
        if current:
            chunks.append(separator.join(p for p, _ in current).strip())
        return [chunk for chunk in chunks if chunk]


CHUNKERS: dict[str, type[Chunker]] = {}


def register_chunker(name: str) -> Callable[[type[Chunker]], type[Chunker]]:
    """Class decorator: make a chunker available as ``--strategy name``."""

    def add(cls: type[Chunker]) -> type[Chunker]:
        CHUNKERS[name] = cls
        return cls

    return add


def load_chunker_plugins() -> None:
    """Chunkers that installed packages declare under the ``flywheel.chunkers`` entry point."""
    load_plugins(CHUNKER_PLUGINS, lambda name, cls: register_chunker(name)(cls))


def get_chunker(config: ChunkConfig, measure: Measure | None = None) -> Chunker:
    if config.strategy not in CHUNKERS:
        load_chunker_plugins()
    if config.strategy not in CHUNKERS:
        raise UnknownComponentError("chunking strategy", config.strategy, CHUNKERS)
    return CHUNKERS[config.strategy](config, measure)


def chunk_corpus(corpus: Corpus, config: ChunkConfig) -> Iterator[tuple[str, int, str]]:
    """``(doc_id, position, text)`` for every chunk of every document (positions from 0).
    A document without text has no chunks."""
    chunker = get_chunker(config)
    for doc_id, document in corpus.items():
        for position, text in enumerate(chunker.split(document.text)):
            yield doc_id, position, text
