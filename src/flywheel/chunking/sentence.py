"""Sentence packing: whole sentences joined until the next would pass ``size``.

Chunks end at sentence boundaries, so no chunk starts mid-claim; the next chunk repeats the
last sentences of the previous one up to ``overlap`` units. A sentence longer than ``size`` is
cut into fixed windows.
"""

from __future__ import annotations

import re

from flywheel.chunking.base import Chunker, register_chunker

# End of sentence: . ! or ? (optionally followed by a closing quote or bracket), then space.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[.!?][\"')\]])\s+|\n{2,}")


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` (a simple rule, good for prose; no abbreviation list)."""
    return [part.strip() for part in _SENTENCE_END.split(text) if part and part.strip()]


@register_chunker("sentence")
class SentenceChunker(Chunker):
    def split(self, text: str) -> list[str]:
        return self.pack(split_sentences(text), " ")
