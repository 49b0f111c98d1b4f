"""Synthetic questions from a language model (hosted chat or ``local:``), InPars-style.

Each sampled passage is shown with a Jinja2 prompt (``templates/questions.j2`` or the user's)
after a few demonstrations (passage, question), as InPars and Promptagator do: the store's own
judged pairs where it has them, else three generic ones. Real users' questions, where the
store has them, are listed as style examples, so generated questions look like the users'
own. The prompt ends with ``Question:``: a chat model answers it, and a base model (which a
``local:`` model usually is) continues the pattern, so its reply is cut at the line end.
Replies are cleaned (a ``Question:`` prefix, quotes, numbering) and refused or empty replies
are rejected with their reason.
"""

from __future__ import annotations

import random
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
DEMO_WORDS = 60  # a demonstration's passage is cut to this: every prompt carries them
HOSTED_PASSAGE_CHARS = 4000
LOCAL_PASSAGE_CHARS = 1500  # an in-process model: see _requests

# Topic-neutral demonstrations for a store with no judged pair: short, lower-case, in the
# words of someone who has not read the passage.
DEFAULT_DEMONSTRATIONS: tuple[dict[str, str], ...] = (
    {
        "passage": "Regular aerobic exercise raised hippocampal volume by 2% in older adults "
        "over one year, reversing age-related loss, and improved spatial memory.",
        "question": "does exercise make the hippocampus bigger in older people",
    },
    {
        "passage": "The Treaty of Westphalia, signed in 1648, ended the Thirty Years' War and "
        "established the principle of state sovereignty in Europe.",
        "question": "what war ended with the peace of westphalia",
    },
    {
        "passage": "Lithium iron phosphate cathodes trade some energy density for a longer "
        "cycle life and better thermal stability than nickel-based chemistries.",
        "question": "why use lfp batteries instead of nickel ones",
    },
)
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


def demonstrations(
    pairs: Sequence[tuple[str, str]] = (), k: int = 3, seed: int = 0
) -> list[dict[str, str]]:
    """Up to ``k`` (question, passage) pairs as prompt demonstrations, passages cut short;
    the generic ones when there are none."""
    if not pairs:
        return [dict(d) for d in DEFAULT_DEMONSTRATIONS]
    chosen = random.Random(seed).sample(sorted(pairs), min(k, len(pairs)))
    return [{"question": q, "passage": " ".join(p.split()[:DEMO_WORDS])} for q, p in chosen]


_WORD = re.compile(r"[a-z0-9]+")
DEMO_OVERLAP = 0.6  # share of a demonstration question's words that marks a copy


def copied_demonstration(question: str, demos: Sequence[Mapping[str, str]]) -> str | None:
    """The demonstration question ``question`` repeats (most of its words), if any.

    A small model often answers with the pattern's last example, or a variation of it, instead
    of a question about its passage: such a pair would train a wrong positive."""
    words = set(_WORD.findall(question.lower()))
    for demo in demos:
        shown = set(_WORD.findall(demo["question"].lower()))
        if shown and len(words & shown) / len(shown) >= DEMO_OVERLAP:
            return demo["question"]
    return None


def _requests(
    passages: Mapping[str, str],
    ids: Sequence[str],
    client: HostedClient,
    prompt: jinja2.Template,
    examples: Sequence[str],
    max_tokens: int,
    *,
    demos: Sequence[Mapping[str, str]] = DEFAULT_DEMONSTRATIONS,
    passage_chars: int | None = None,
) -> list[Request]:
    """One request per passage. An in-process (``local:``) model reads every prompt token on
    this machine's CPU, so it sees the passage's start (``LOCAL_PASSAGE_CHARS`` unless
    ``passage_chars`` says otherwise); it reads the prompt as plain text and would continue
    with the next demonstration, so its reply stops at the line end. A chat model ends its
    turn itself."""
    local = client.in_process
    chars = passage_chars or (LOCAL_PASSAGE_CHARS if local else HOSTED_PASSAGE_CHARS)
    return [
        chat_request(
            prompt.render(
                passage=passages[doc_id][:chars],
                examples=list(examples),
                demonstrations=list(demos),
            ),
            max_tokens=max_tokens,
            temperature=0.7,
            stop=["\n"] if local else None,
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
    demos: Sequence[Mapping[str, str]] = DEFAULT_DEMONSTRATIONS,
    passage_chars: int | None = None,
) -> Estimate:
    requests = _requests(
        passages, ids, client, load_prompt(template), examples, max_tokens,
        demos=demos, passage_chars=passage_chars,
    )  # fmt: skip
    return client.estimate(requests)


def llm_questions(
    passages: Mapping[str, str],
    ids: Sequence[str],
    client: HostedClient,
    *,
    examples: Sequence[str] = (),
    template: str | Path | None = None,
    max_tokens: int = 64,
    demos: Sequence[Mapping[str, str]] = DEFAULT_DEMONSTRATIONS,
    passage_chars: int | None = None,
) -> tuple[list[SyntheticPair], list[Rejection]]:
    """One question per passage id; the positive is the passage itself."""
    requests = _requests(
        passages, ids, client, load_prompt(template), examples, max_tokens,
        demos=demos, passage_chars=passage_chars,
    )  # fmt: skip
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
        copied = copied_demonstration(question, demos)
        if copied is not None:
            rejected.append(Rejection(draft, "copied a demonstration", copied))
            continue
        pairs.append(draft)
    return pairs, rejected
