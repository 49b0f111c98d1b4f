from __future__ import annotations

from pathlib import Path

import pytest

from flywheel.errors import ConfigError
from flywheel.fewshot import Example, render_prompt
from flywheel.fewshot.prompting import builtin_templates

EXAMPLES = [
    Example("a", "What is 2+2?", answer="4", reasoning="Two plus two is four."),
    Example("b", "Capital of France?", answer="Paris"),  # no reasoning: no Thinking line
]


def test_default_template_is_question_thinking_answer() -> None:
    prompt = render_prompt("What is 3+3?", EXAMPLES)
    assert prompt.template == "default"
    assert prompt.text == (
        "Question: What is 2+2?\n"
        "Thinking: Two plus two is four.\n"
        "Answer: 4\n"
        "\n"
        "Question: Capital of France?\n"
        "Answer: Paris\n"
        "\n"
        "Question: What is 3+3?\n"
        "Thinking:\n"
    )


def test_qa_template_and_zero_examples() -> None:
    assert render_prompt("Q?", EXAMPLES[:1], template="qa").text == (
        "Question: What is 2+2?\nAnswer: 4\n\nQuestion: Q?\nAnswer:\n"
    )
    assert render_prompt("Q?", []).text == "Question: Q?\nAnswer:\n"  # nothing to imitate


def test_labelled_examples_answer_with_their_label() -> None:
    labelled = [Example("c", "my card is lost", intent="lost_or_stolen_card")]
    text = render_prompt("where is my card", labelled).text
    assert text == (
        "Question: my card is lost\nAnswer: lost_or_stolen_card\n\n"
        "Question: where is my card\nAnswer:\n"
    )
    assert "Answer: \n" not in text and "Thinking" not in text
    qa = render_prompt("where is my card", labelled, template="qa").text
    assert "Answer: lost_or_stolen_card" in qa
    assert set(builtin_templates()) >= {"default", "qa"}


def test_user_template_gets_examples_query_and_intent(tmp_path: Path) -> None:
    path = tmp_path / "mine.jinja"
    path.write_text(
        "Intent: {{ intent }} ({{ k }} examples)\n"
        "{% for ex in examples %}Q: {{ ex.question }} => {{ ex.answer }}\n{% endfor %}"
        "Q: {{ query }} =>",
        encoding="utf-8",
    )
    prompt = render_prompt("Q?", EXAMPLES, template=str(path), intent="math")
    assert (
        prompt.text == "Intent: math (2 examples)\nQ: What is 2+2? => 4\n"
        "Q: Capital of France? => Paris\nQ: Q? =>\n"
    )
    assert prompt.template == str(path)


def test_template_errors_name_the_template(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="neither a packaged template"):
        render_prompt("Q", [], template="nope")
    broken = tmp_path / "broken.jinja"
    broken.write_text("{% for x in examples %}", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken.jinja:1: template syntax error"):
        render_prompt("Q", [], template=str(broken))
    unknown = tmp_path / "unknown.jinja"
    unknown.write_text("{{ nothing_here }}", encoding="utf-8")
    with pytest.raises(ConfigError, match="'nothing_here' is undefined; available"):
        render_prompt("Q", [], template=str(unknown))
