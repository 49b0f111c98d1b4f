"""Query-biased snippets: a window of the document around the first query word, plus the
character spans of query words so the page can mark them.

The spans are offsets, not HTML: the page builds text nodes and ``<mark>`` elements from them,
so nothing from the corpus is ever parsed as markup.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+", re.UNICODE)
# Words too common to be worth marking; the retrievers have their own stop lists.
_STOP = frozenset(
    "a an and are as at be but by do does for from has have how i if in is it its of on or "
    "that the their there these this to was what when where which who why will with".split()
)


def query_terms(query: str) -> set[str]:
    """Lower-cased query words worth marking (two letters or more, not stop words)."""
    return {w for w in (m.group().casefold() for m in _WORD.finditer(query))
            if len(w) > 1 and w not in _STOP}  # fmt: skip


def _matches(word: str, terms: set[str]) -> bool:
    """Whole-word match, or a shared stem of 5+ letters (``mutation`` / ``mutations``)."""
    word = word.casefold()
    if word in terms:
        return True
    return len(word) >= 5 and any(len(t) >= 5 and word[:5] == t[:5] for t in terms)


def make_snippet(text: str, query: str, width: int = 280) -> tuple[str, list[tuple[int, int]]]:
    """Up to ``width`` characters of ``text`` around the first query word, cut at word
    boundaries with ``…`` where text was left out, and the ``[start, end)`` spans of query
    words inside the snippet."""
    text = " ".join(text.split())
    terms = query_terms(query)
    first = next((m.start() for m in _WORD.finditer(text) if _matches(m.group(), terms)), 0)
    start = 0 if len(text) <= width or first < width // 3 else first - width // 3
    if start:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < first else start
    end = min(len(text), start + width)
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start else end
    snippet = ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")
    offset = 1 if start else 0
    spans = [
        (m.start() + offset, m.end() + offset)
        for m in _WORD.finditer(text[start:end])
        if _matches(m.group(), terms)
    ]
    return snippet, spans
