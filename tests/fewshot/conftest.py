"""Fixtures for the few-shot tests (planted data lives in fs_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fs_helpers import planted

from flywheel.fewshot import Example
from flywheel.store import Store
from flywheel.testing import FakeEmbedder


@pytest.fixture
def embedder() -> FakeEmbedder:
    return FakeEmbedder(dim=256)


@pytest.fixture
def examples() -> list[Example]:
    return planted()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store(str(tmp_path / "flywheel.db")) as opened:
        yield opened
