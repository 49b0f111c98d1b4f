"""Recursive splitting: paragraphs, then lines, then sentences, then words, then windows.

Tries the coarsest separator first and only goes finer for pieces still longer than ``size``,
so chunks break at the most natural boundary that fits (the strategy LangChain made common).
"""

from __future__ import annotations

import re

from flywheel.chunking.base import Chunker, register_chunker

SEPARATORS: tuple[str, ...] = ("\n\n", "\n", ". ", " ")


def _split_keep(text: str, separator: str) -> list[str]:
    """Split after each separator, keeping it, so joining the pieces gives ``text`` back."""
    return [piece for piece in re.split(f"(?<={re.escape(separator)})", text) if piece]


@register_chunker("recursive")
class RecursiveChunker(Chunker):
    def split(self, text: str) -> list[str]:
        return self._split(text, SEPARATORS)

    def _split(self, text: str, separators: tuple[str, ...]) -> list[str]:
        if self.measure.count(text) <= self.config.size:
            return [text.strip()] if text.strip() else []
        usable = [i for i, sep in enumerate(separators) if sep in text]
        if not usable:
            return self.windows(text)
        index = usable[0]
        separator, finer = separators[index], separators[index + 1 :]
        chunks: list[str] = []
        fitting: list[str] = []
        for piece in _split_keep(text, separator):
            if self.measure.count(piece) <= self.config.size:
                fitting.append(piece)
                continue
            chunks.extend(self.pack(fitting))
            fitting = []
            chunks.extend(self._split(piece, finer))
        chunks.extend(self.pack(fitting))
        return chunks
