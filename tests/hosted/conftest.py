"""A fake provider server per test, credentials pointing at it, caches under ``tmp_path``."""

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
        monkeypatch.setenv("COHERE_API_KEY", "test-key")
        monkeypatch.setenv("COHERE_BASE_URL", fake.cohere_url)
        monkeypatch.setenv("FLYWHEEL_CACHE", str(tmp_path / "cache"))
        monkeypatch.delenv("FLYWHEEL_PRICES", raising=False)
        yield fake


@pytest.fixture
def prices(tmp_path: Path) -> Path:
    """Round prices for the fake models, so expected costs are easy to compute by hand."""
    path = tmp_path / "prices.yaml"
    path.write_text(
        "openai:\n"
        "  fake-chat: {input_per_1m: 1.0, output_per_1m: 2.0}\n"
        "  fake-embed: {input_per_1m: 0.5}\n"
        "cohere:\n"
        "  fake-rerank: {per_1k_searches: 3.0}\n",
        encoding="utf-8",
    )
    return path
