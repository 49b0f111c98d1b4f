"""Fixtures: a store holding the tiny corpus of :mod:`trace_helpers`."""

from __future__ import annotations

from pathlib import Path

import pytest
from trace_helpers import seed

from flywheel.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store(str(tmp_path / "flywheel.db")) as opened:
        yield seed(opened)
