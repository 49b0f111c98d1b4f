"""Tiny models and toy rows shared by the training tests (built once per session)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

TOPICS = [
    "apple fruit orchard harvest",
    "rocket launch orbit satellite",
    "violin music concert orchestra",
    "python code compiler bug",
    "river fish boat fishing",
    "winter snow ski slope",
    "bread bakery flour oven",
    "chess board knight opening",
    "desert sand camel dune",
    "doctor hospital nurse patient",
]


def triplet_rows(per_topic: int = 3) -> list[dict[str, str]]:
    """anchor, positive, negative rows: the positive shares the anchor's topic words."""
    rows = []
    for i, topic in enumerate(TOPICS):
        words = topic.split()
        for j in range(per_topic):
            rows.append(
                {
                    "anchor": f"what about {words[j % 4]} {j}",
                    "positive": f"{topic} passage {j}",
                    "negative": f"{TOPICS[(i + 1) % len(TOPICS)]} passage {j}",
                    "qid": f"q{i}-{j}",
                }
            )
    return rows


def graded_rows() -> list[dict[str, object]]:
    """query, passage, score, grade rows: 2 = on topic, 1 = related wording, 0 = other topic."""
    rows: list[dict[str, object]] = []
    for i, topic in enumerate(TOPICS):
        words = topic.split()
        for j in range(2):
            query = f"tell me about {words[j]}"
            rows.append({"query": query, "passage": f"{topic} text {j}", "score": 1.0, "grade": 2})
            rows.append(
                {"query": query, "passage": f"{words[j]} mentioned {j}", "score": 0.5, "grade": 1}
            )
            other = TOPICS[(i + 3) % len(TOPICS)]
            rows.append({"query": query, "passage": f"{other} text {j}", "score": 0.0, "grade": 0})
    return rows


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """One intra-op thread: on a shared 2-core machine, torch's thread pool spinning against
    other processes makes tiny-model steps ~10x slower. Restored after this folder's tests."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_st(tmp_path_factory: pytest.TempPathFactory) -> str:
    from flywheel.testing import build_tiny_sentence_transformer

    return build_tiny_sentence_transformer(tmp_path_factory.mktemp("models") / "tiny-st")


@pytest.fixture(scope="session")
def tiny_ce(tmp_path_factory: pytest.TempPathFactory) -> str:
    from flywheel.testing import build_tiny_cross_encoder

    return build_tiny_cross_encoder(tmp_path_factory.mktemp("models") / "tiny-ce")


@pytest.fixture(scope="session")
def rows() -> list[dict[str, str]]:
    return triplet_rows()


@pytest.fixture(scope="session")
def graded() -> list[dict[str, object]]:
    return graded_rows()


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    return tmp_path / "run"
