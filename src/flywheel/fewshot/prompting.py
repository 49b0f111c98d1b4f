"""Format chosen examples into a prompt with a Jinja2 template.

Consistent formatting is half of what makes few-shot examples work: every example in the same
layout, the live question last in that layout. The packaged ``default`` template is the seed's
Question / Thinking / Answer layout; ``qa`` drops the Thinking line. A user template is any file
path; it receives ``examples`` (dicts with ``question``, ``answer``, ``reasoning``, ``intent``,
``qid``), ``query``, ``intent`` (the query's likely intent, or None) and ``k``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from flywheel.errors import ConfigError
from flywheel.fewshot.examples import Example

TEMPLATE_DIR = Path(__file__).parent / "templates"
DEFAULT_TEMPLATE = "default"


def builtin_templates() -> list[str]:
    return sorted(p.stem for p in TEMPLATE_DIR.glob("*.jinja"))


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        autoescape=False,  # prompts are plain text, not HTML  # noqa: S701
    )


@lru_cache(maxsize=32)
def _compile(source: str, origin: str) -> jinja2.Template:
    try:
        return _environment().from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(
            f"{origin}:{exc.lineno}: template syntax error: {exc.message}; fix the Jinja2 markup"
        ) from None


def load_template(name_or_path: str | Path = DEFAULT_TEMPLATE) -> tuple[str, jinja2.Template]:
    """A packaged template by name (``default``, ``qa``) or a template file; returns its label
    (the name, or the file path) and the compiled template."""
    text = str(name_or_path)
    builtin = TEMPLATE_DIR / f"{text}.jinja"
    if "/" not in text and "\\" not in text and builtin.is_file():
        return text, _compile(builtin.read_text(encoding="utf-8"), str(builtin))
    path = Path(text).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"template '{text}' is neither a packaged template "
            f"({', '.join(builtin_templates())}) nor a file; pass one of those or a .jinja path"
        )
    return str(path), _compile(path.read_text(encoding="utf-8"), str(path))


@dataclass(frozen=True)
class RenderedPrompt:
    """A prompt and where it came from."""

    text: str
    template: str
    examples: list[Example] = field(default_factory=list)


def render_prompt(
    query: str,
    examples: Sequence[Example],
    *,
    template: str | Path = DEFAULT_TEMPLATE,
    intent: str | None = None,
    extra: dict[str, Any] | None = None,
) -> RenderedPrompt:
    """Render ``examples`` then ``query`` with ``template``; a template naming an unknown
    variable fails with the template's name."""
    label, compiled = load_template(template)
    context = {
        "examples": [
            {
                "qid": ex.qid,
                "question": ex.question,
                "answer": ex.answer,
                "reasoning": ex.reasoning,
                "intent": ex.intent,
            }
            for ex in examples
        ],
        "query": query,
        "intent": intent,
        "k": len(examples),
        **(extra or {}),
    }
    try:
        text = compiled.render(**context)
    except jinja2.UndefinedError as exc:
        raise ConfigError(
            f"template '{label}': {exc.message}; available: examples (question, answer, "
            "reasoning, intent, qid), query, intent, k"
        ) from None
    return RenderedPrompt(text.strip() + "\n", label, list(examples))
