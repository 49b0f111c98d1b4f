"""Read a grade out of a model's reply, or say exactly why not.

Models answer "##final score: 2", "Grade: 2", "**2**", "I'd say 2 because..." or refuse. A
labelled number (``final score``, ``grade``, ``score``, ``relevance``) wins; failing that, a
reply whose only number is in range is taken; several different bare numbers are ambiguous;
a number outside the scale is rejected, never clamped (a 7 on a 0-3 scale means the model did
not follow the rubric, so its judgment is not trusted).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LABELLED = re.compile(
    r"(?:final\s*score|grade|score|relevance|rating|category|label)\s*(?:\(O\))?\s*[:=]?\s*"
    r"\**\s*(-?\d+(?:\.\d+)?)",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"(?<![\w.])(-?\d+(?:\.\d+)?)(?![\w.]|\.\d)")
_SCALE_MENTION = re.compile(r"\b0\s*(?:-|to|–)\s*[35]\b")


@dataclass(frozen=True, slots=True)
class ParsedGrade:
    """``grade`` when the reply holds a usable one, else ``None`` and the ``reason``."""

    grade: int | None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.grade is not None


def _check(value: str, scale: int) -> ParsedGrade:
    number = float(value)
    if not number.is_integer():
        return ParsedGrade(None, f"grade {value} is not a whole number")
    if not 0 <= number <= scale:
        return ParsedGrade(None, f"grade {int(number)} is outside 0-{scale}")
    return ParsedGrade(int(number))


def parse_grade(reply: str | None, *, scale: int = 3, refusal: str | None = None) -> ParsedGrade:
    """The grade in ``reply`` on ``0..scale``, or ``ParsedGrade(None, reason)``."""
    if refusal:
        return ParsedGrade(None, f"refused: {refusal.strip()[:120]}")
    if reply is None or not reply.strip():
        return ParsedGrade(None, "empty reply")
    labelled = _LABELLED.findall(reply)
    if labelled:
        return _check(labelled[-1], scale)  # the last one: "score (M): 2 ... final score: 3"
    text = _SCALE_MENTION.sub(" ", reply)
    numbers = _NUMBER.findall(text)
    if not numbers:
        return ParsedGrade(None, f"no grade in reply: {reply.strip()[:80]!r}")
    if len({float(n) for n in numbers}) > 1:
        return ParsedGrade(None, f"ambiguous: several numbers ({', '.join(numbers[:4])})")
    return _check(numbers[0], scale)
