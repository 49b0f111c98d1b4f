"""Fixtures: a store with the tiny corpus of :mod:`capture_helpers`, and the app over it."""

from __future__ import annotations

from pathlib import Path

import pytest
from capture_helpers import AUTH, RETRIEVERS, TOKEN, seed
from fastapi.testclient import TestClient

from flywheel.server import create_app
from flywheel.server.process import ServerProcess
from flywheel.store import Store, schema


@pytest.fixture(autouse=True)
def _spool_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Loggers made without ``spool=`` write refused events here, not into the checkout."""
    spool = tmp_path / "refused.jsonl"
    monkeypatch.setenv("FLYWHEEL_SPOOL", str(spool))
    return spool


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


# --- a real `flywheel serve` (uvicorn on a free loopback port), shared by the SDK tests ---


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    db = tmp_path_factory.mktemp("sdk") / "flywheel.db"
    with Store(str(db)) as store:
        seed(store)
    with ServerProcess(db, token=TOKEN) as running:
        yield running


@pytest.fixture
def served(server):
    """The running server's store, emptied of events before each test."""
    with Store(server.db) as store:
        with store.engine.begin() as conn:
            conn.execute(schema.events.delete())
        yield store
