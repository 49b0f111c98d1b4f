"""Synthetic questions from an LLM (any OpenAI-compatible chat endpoint), InPars-style.

Each sampled passage is shown with a Jinja2 prompt (``templates/questions.j2`` or the user's);
where the store has real queries, a few are shown as style examples, as InPars and Promptagator
do, so generated questions look like the users' own. Replies are cleaned (a ``Question:``
prefix, quotes, numbering) and refused or empty replies are rejected with their reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path

import jinja2

from flywheel.errors import ConfigError
from flywheel.hosted.client import HostedClient, Request, chat_request
from flywheel.hosted.usage import Estimate
from flywheel.synth.types import Rejection, SyntheticPair

MAX_QUESTION_WORDS = 64
_PREFIX = re.compile(r"^\s*(?:\d+[.)]\s*|[-*]\s*|question\s*[:\-]\s*)", re.IGNORECASE)


def load_prompt(path: str | Path | None = None) -> jinja2.Template:
    if path is None:
        text = resources.files("flywheel.synth").joinpath("templates", "questions.j2")
        text = text.read_text("utf-8")
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read prompt template {path} ({exc})") from None
    try:
        return jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(text)
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: template syntax error: {exc.message}") from None


def clean_question(reply: str | None) -> tuple[str | None, str]:
    """The question in a reply, or ``(None, reason)``."""
    if reply is None or not reply.strip():
        return None, "empty reply"
    line = next(line for line in reply.strip().splitlines() if line.strip())
    question = _PREFIX.sub("", line).strip().strip("\"'“”").strip()
    if not question:
        return None, "empty reply"
    if len(question.split()) > MAX_QUESTION_WORDS:
        return None, f"too long ({len(question.split())} words)"
    return question, ""


def _requests(
    passages: Mapping[str, str],
    ids: Sequence[str],
    prompt: jinja2.Template,
    examples: Sequence[str],
    max_tokens: int,
) -> list[Request]:
    return [
        chat_request(
            prompt.render(passage=passages[doc_id][:4000], examples=list(examples)),
            max_tokens=max_tokens,
            temperature=0.7,
        )
        for doc_id in ids
    ]


def estimate_llm_questions(
    passages: Mapping[str, str],
    ids: Sequence[str],
    client: HostedClient,
    *,
    examples: Sequence[str] = (),
    template: str | Path | None = None,
    max_tokens: int = 64,
) -> Estimate:
    return client.estimate(_requests(passages, ids, load_prompt(template), examples, max_tokens))


def llm_questions(
    passages: Mapping[str, str],
    ids: Sequence[str],
    client: HostedClient,
    *,
    examples: Sequence[str] = (),
    template: str | Path | None = None,
    max_tokens: int = 64,
) -> tuple[list[SyntheticPair], list[Rejection]]:
    """One question per passage id; the positive is the passage itself."""
    requests = _requests(passages, ids, load_prompt(template), examples, max_tokens)
    outcomes = client.run(requests, description=f"Writing {len(ids)} questions ({client.name})")
    pairs, rejected = [], []
    for doc_id, outcome in zip(ids, outcomes, strict=True):
        draft = SyntheticPair("", doc_id, passages[doc_id], "llm", {"model": client.name})
        if not outcome.ok:
            rejected.append(Rejection(draft, "not sent", outcome.error or "no answer"))
            continue
        if outcome.result.get("refusal"):
            rejected.append(Rejection(draft, "refused", str(outcome.result["refusal"])[:200]))
            continue
        question, reason = clean_question(outcome.result.get("text"))
        if question is None:
            rejected.append(Rejection(draft, "unusable reply", reason))
            continue
        draft.question = question
        pairs.append(draft)
    return pairs, rejected
