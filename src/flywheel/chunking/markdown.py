"""Markdown sections: a chunk never crosses a heading.

Each section (a heading and the text up to the next heading) is one chunk when it fits;
a longer one is split at paragraphs, packed up to ``size``, and every piece starts with the
section's heading so it still says what it is about. Headings inside code fences do not count.
"""

from __future__ import annotations

import re
from dataclasses import replace

from flywheel.chunking.base import Chunker, register_chunker
from flywheel.chunking.recursive import RecursiveChunker

_HEADING = re.compile(r"^#{1,6}\s+\S")
_FENCE = re.compile(r"^\s*(```|~~~)")


def split_sections(text: str) -> list[tuple[str, str]]:
    """``(heading line, body)`` pairs; text before the first heading has heading ``""``."""
    sections: list[tuple[str, list[str]]] = [("", [])]
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        if not in_fence and _HEADING.match(line):
            sections.append((line.strip(), []))
        else:
            sections[-1][1].append(line)
    return [
        (heading, "\n".join(body).strip())
        for heading, body in sections
        if heading or "\n".join(body).strip()
    ]


@register_chunker("markdown")
class MarkdownChunker(Chunker):
    def split(self, text: str) -> list[str]:
        chunks: list[str] = []
        for heading, body in split_sections(text):
            whole = f"{heading}\n\n{body}".strip()
            if self.measure.count(whole) <= self.config.size:
                chunks.append(whole)
                continue
            chunks.extend(self._split_long(heading, body))
        return chunks

    def _split_long(self, heading: str, body: str) -> list[str]:
        prefix = f"{heading}\n\n" if heading else ""
        budget = self.config.size - self.measure.count(prefix)
        if budget <= self.config.overlap:  # a heading as long as a chunk: split the body alone
            prefix, budget = "", self.config.size
        inner = RecursiveChunker(replace(self.config, size=budget), self.measure)
        paragraphs = [p for p in re.split(r"\n\s*\n", body) if p.strip()]
        pieces = [piece for paragraph in paragraphs for piece in inner.split(paragraph)]
        return [prefix + chunk for chunk in inner.pack(pieces, "\n\n")]
