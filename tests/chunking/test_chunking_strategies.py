from __future__ import annotations

import pytest

from flywheel.chunking import ChunkConfig, chunk_corpus, get_chunker, register_chunker
from flywheel.chunking.base import CHUNKERS, Chunker
from flywheel.chunking.markdown import split_sections
from flywheel.chunking.sentence import split_sentences
from flywheel.data.types import Document
from flywheel.errors import ConfigError, UnknownComponentError


def chunks(strategy: str, text: str, size: int, overlap: int = 0) -> list[str]:
    config = ChunkConfig(strategy=strategy, size=size, overlap=overlap, unit="chars")
    return get_chunker(config).split(text)


def test_fixed_windows_overlap_by_hand() -> None:
    # size 4, step 3: [0:4] [3:7] [6:10]
    assert chunks("fixed", "abcdefghij", 4, 1) == ["abcd", "defg", "ghij"]
    assert chunks("fixed", "abcdef", 3) == ["abc", "def"]
    assert chunks("fixed", "", 3) == []


def test_sentence_packing_keeps_sentences_whole() -> None:
    assert split_sentences("One two. Three! Four? (Five.) Six") == [
        "One two.",
        "Three!",
        "Four?",
        "(Five.)",
        "Six",
    ]
    text = "Aa. Bb. Cc. Dd."  # 3 chars each, joined by one space
    assert chunks("sentence", text, 7) == ["Aa. Bb.", "Cc. Dd."]
    # overlap 3: the next chunk repeats the last sentence when it fits
    assert chunks("sentence", text, 7, 3) == ["Aa. Bb.", "Bb. Cc.", "Cc. Dd."]
    # a sentence longer than size falls back to windows
    assert chunks("sentence", "Short. Averyveryverylongsentence.", 10) == [
        "Short.",
        "Averyveryv",
        "erylongsen",
        "tence.",
    ]


def test_recursive_prefers_the_coarsest_separator() -> None:
    text = "aaaa bbbb\n\ncccc dddd eeee ffff\nshort"
    # paragraph 2 (25 chars) is too long: split at "\n" into "cccc dddd eeee ffff\n" (still
    # too long, so split at " " and packed to 15) and "short"; pieces of different levels
    # are not merged back together.
    assert chunks("recursive", text, 15) == ["aaaa bbbb", "cccc dddd eeee", "ffff", "short"]


def test_markdown_sections_never_cross_headings() -> None:
    text = "intro\n# A\none\n\ntwo two\n```\n# code, not a heading\n```\n## B\nb"
    assert split_sections(text) == [
        ("", "intro"),
        ("# A", "one\n\ntwo two\n```\n# code, not a heading\n```"),
        ("## B", "b"),
    ]
    assert chunks("markdown", text, 100) == [
        "intro",
        "# A\n\none\n\ntwo two\n```\n# code, not a heading\n```",
        "## B\n\nb",
    ]
    # too long: split at paragraphs, each piece keeps its heading
    assert chunks("markdown", "# H\nfirst para\n\nsecond para", 18) == [
        "# H\n\nfirst para",
        "# H\n\nsecond para",
    ]


def test_registry_and_config_errors() -> None:
    assert set(CHUNKERS) >= {"fixed", "sentence", "markdown", "recursive"}
    with pytest.raises(
        UnknownComponentError,
        match="unknown chunking strategy 'nope'; known: fixed, markdown, recursive, sentence",
    ):
        get_chunker(ChunkConfig(strategy="nope", unit="chars"))
    with pytest.raises(ConfigError, match="overlap must be between 0 and size-1"):
        ChunkConfig(size=10, overlap=10)
    with pytest.raises(ConfigError, match="unknown size unit 'words'"):
        ChunkConfig(unit="words")


def test_a_plugin_registers_a_strategy() -> None:
    @register_chunker("lines-test")
    class Lines(Chunker):
        def split(self, text: str) -> list[str]:
            return [line for line in text.splitlines() if line]

    try:
        config = ChunkConfig(strategy="lines-test", unit="chars")
        corpus = {"d": Document("d", "a\nb")}
        assert list(chunk_corpus(corpus, config)) == [("d", 0, "a"), ("d", 1, "b")]
    finally:
        del CHUNKERS["lines-test"]


@pytest.mark.slow
def test_fixed_token_windows_use_the_minilm_tokenizer() -> None:
    config = ChunkConfig(strategy="fixed", size=4, overlap=1)  # tokens by default
    chunker = get_chunker(config)
    # MiniLM's WordPiece: "Cerebral" -> cerebral ; "white" ; "matter" ; "develops" -> develops
    assert chunker.measure.count("white matter") == 2
    pieces = chunker.split("The white matter of the Developing brain changes quickly today.")
    assert pieces[0] == "The white matter of"  # original casing kept, 4 tokens
    assert pieces[1].startswith("of the Developing")
    assert all(chunker.measure.count(p) <= 4 for p in pieces)
