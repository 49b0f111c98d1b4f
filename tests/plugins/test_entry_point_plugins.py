"""A package adds a retriever, a chunker and a metric through entry points, nothing else."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

PLUGIN = """
import numpy as np

from flywheel.chunking.base import Chunker


class Reverse:
    def __init__(self, corpus):
        self.doc_ids = sorted(corpus)

    def search(self, queries, k=100):
        return {q: {d: float(i) for i, d in enumerate(self.doc_ids)} for q in queries}


def make_reverse(corpus, argument, /):
    return Reverse(corpus)


class Halves(Chunker):
    def split(self, text):
        middle = len(text) // 2
        return [part for part in (text[:middle], text[middle:]) if part]


def always_one(ranks, k):
    return np.ones(len(ranks.qids))
"""

ENTRY_POINTS = """
[flywheel.retrievers]
fake-reverse = fake_flywheel_plugin:make_reverse

[flywheel.chunkers]
fake-halves = fake_flywheel_plugin:Halves

[flywheel.metrics]
fake_one = fake_flywheel_plugin:always_one
"""


@pytest.fixture()
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fake distribution on sys.path: its module and a dist-info with entry_points.txt, as
    pip would install it."""
    (tmp_path / "fake_flywheel_plugin.py").write_text(textwrap.dedent(PLUGIN))
    dist = tmp_path / "fake_flywheel_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-flywheel-plugin\n"
                                   "Version: 0.1\n")  # fmt: skip
    (dist / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    from flywheel._internal import plugins
    from flywheel.chunking.base import CHUNKERS
    from flywheel.evaluation.metrics import registry as metrics
    from flywheel.retrieval import registry as retrievers

    retrievers._FACTORIES.pop("fake-reverse", None)
    CHUNKERS.pop("fake-halves", None)
    metrics._METRICS.pop("fake_one", None)
    plugins._loaded.clear()


def test_entry_points_register_a_retriever_a_chunker_and_a_metric(installed_plugin) -> None:
    from flywheel.chunking.base import ChunkConfig, get_chunker
    from flywheel.data.types import Document
    from flywheel.evaluation import evaluate
    from flywheel.retrieval.registry import build_retriever, known_retrievers

    corpus = {"a": Document("a", "alpha"), "b": Document("b", "beta")}
    assert "fake-reverse" in known_retrievers()
    run = build_retriever("fake-reverse", corpus).search({"q": "x"})
    assert run == {"q": {"a": 0.0, "b": 1.0}}
    chunker = get_chunker(ChunkConfig(strategy="fake-halves", unit="chars"))
    assert chunker.split("abcdef") == ["abc", "def"]
    result = evaluate({"q": {"a": 1}}, run, ["fake_one@10", "mrr@10"])
    assert result.mean == {"fake_one@10": 1.0, "mrr@10": 0.5}


def test_without_the_plugin_the_names_are_unknown() -> None:
    from flywheel.errors import UnknownComponentError
    from flywheel.retrieval.registry import build_retriever

    with pytest.raises(UnknownComponentError):
        build_retriever("fake-reverse", {})
