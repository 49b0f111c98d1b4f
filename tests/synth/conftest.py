"""The fake provider server for the LLM generator's tests (same as tests/hosted)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flywheel.hosted.fake_server import FakeProviderServer


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as fake:
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        monkeypatch.setenv("OPENAI_BASE_URL", fake.openai_url)
        monkeypatch.setenv("FLYWHEEL_CACHE", str(tmp_path / "cache"))
        yield fake
