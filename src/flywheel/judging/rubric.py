"""The grading prompt: a Jinja2 template, UMBRELA's rubric by default, the user's by choice.

A template receives ``query``, ``passage`` and ``scale`` (3 for TREC's 0-3, 5 for 0-5) and must
put the query and passage on lines starting ``Query:`` and ``Passage:`` (the fake test server
reads them; real models do not care). Passages are cut to ``max_passage_chars`` so one long
document cannot blow the budget.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import jinja2

from flywheel.errors import ConfigError

SCALES = (3, 5)
DEFAULT_TEMPLATE = "umbrela.j2"


def load_template(path: str | Path | None = None) -> jinja2.Template:
    """The shipped UMBRELA rubric, or a user's Jinja2 file."""
    if path is None:
        source = resources.files("flywheel.judging").joinpath("templates", DEFAULT_TEMPLATE)
        text = source.read_text("utf-8")
        name = DEFAULT_TEMPLATE
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read rubric template {path} ({exc})") from None
        name = str(path)
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False)
    try:
        return env.from_string(text)
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(f"{name}:{exc.lineno}: template syntax error: {exc.message}") from None


def render(
    template: jinja2.Template,
    query: str,
    passage: str,
    *,
    scale: int = 3,
    max_passage_chars: int = 4000,
) -> str:
    if scale not in SCALES:
        raise ConfigError(f"scale must be one of {SCALES} (0-3 as TREC, or 0-5), got {scale}")
    try:
        return template.render(query=query, passage=passage[:max_passage_chars], scale=scale)
    except jinja2.UndefinedError as exc:
        raise ConfigError(
            f"rubric template uses an unknown variable ({exc}); it gets query, passage, scale"
        ) from None
