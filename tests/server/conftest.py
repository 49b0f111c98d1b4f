"""Fixtures: a store with the tiny corpus of :mod:`capture_helpers`, and the app over it."""

from __future__ import annotations

from pathlib import Path

import pytest
from capture_helpers import AUTH, RETRIEVERS, TOKEN, seed
from fastapi.testclient import TestClient

from flywheel.server import create_app
from flywheel.store import Store


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "flywheel.db"


@pytest.fixture
def store(db_path: Path) -> Store:
    with Store(str(db_path)) as opened:
        yield seed(opened)


@pytest.fixture
def app(store: Store):
    return create_app(store, RETRIEVERS, token=TOKEN, max_body_bytes=50_000)


@pytest.fixture
def client(app) -> TestClient:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def api(client: TestClient) -> TestClient:
    """A client that sends the bearer token with every request."""
    client.headers.update(AUTH)
    return client
