"""Fixed windows: ``size`` tokens (or characters), each overlapping the last by ``overlap``.

The baseline every other strategy is compared against; with the model's tokenizer, a window
never exceeds what the embedder reads.
"""

from __future__ import annotations

from flywheel.chunking.base import Chunker, register_chunker


@register_chunker("fixed")
class FixedChunker(Chunker):
    def split(self, text: str) -> list[str]:
        return self.windows(text)
