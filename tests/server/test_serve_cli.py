"""`flywheel serve`: refuses without a token, keeps --insecure-local on loopback, checks the
store and the retriever specs before starting uvicorn."""

from __future__ import annotations

import json

import pytest
import uvicorn
from capture_helpers import TOKEN
from typer.testing import CliRunner

from flywheel.cli.app import app
from flywheel.errors import ConfigError, UnknownComponentError
from flywheel.server.app import CONFIG_ENV, app_from_env

runner = CliRunner()


@pytest.fixture
def started(monkeypatch):
    """Record uvicorn.run's arguments instead of serving."""
    calls: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda target, **kw: calls.append({"target": target, **kw}))
    monkeypatch.delenv("FLYWHEEL_TOKEN", raising=False)
    monkeypatch.setenv(CONFIG_ENV, "")  # so the CLI's setting is undone after the test
    monkeypatch.delenv(CONFIG_ENV)
    return calls


def test_refuses_to_start_without_a_token(started, db_path, store) -> None:
    result = runner.invoke(app, ["serve", "--db", str(db_path)])
    assert result.exit_code != 0 and not started
    assert isinstance(result.exception, ConfigError)
    assert "FLYWHEEL_TOKEN is not set" in str(result.exception)
    assert "--insecure-local" in str(result.exception)


def test_insecure_local_binds_loopback_only(started, db_path, store) -> None:
    result = runner.invoke(app, ["serve", "--db", str(db_path), "--insecure-local"])
    assert result.exit_code == 0, result.output
    assert started[0]["host"] == "127.0.0.1"
    assert started[0]["target"] == "flywheel.server.app:app_from_env" and started[0]["factory"]
    refused = runner.invoke(
        app, ["serve", "--db", str(db_path), "--insecure-local", "--host", "0.0.0.0"]
    )
    assert refused.exit_code != 0 and len(started) == 1
    assert "binds to 127.0.0.1 only" in str(refused.exception)


def test_with_a_token_it_serves_the_configured_retrievers(
    started, db_path, store, monkeypatch
) -> None:
    monkeypatch.setenv("FLYWHEEL_TOKEN", TOKEN)
    args = ["serve", "--db", str(db_path), "--host", "0.0.0.0", "--port", "9123",
            "-r", "bm25", "-r", "bm25,stemmer=none", "--workers", "2", "--k", "5"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (started[0]["host"], started[0]["port"], started[0]["workers"]) == ("0.0.0.0", 9123, 2)
    import os

    config = json.loads(os.environ[CONFIG_ENV])
    assert config["retrievers"] == ["bm25", "bm25,stemmer=none"]
    assert config["insecure"] is False and config["k"] == 5
    assert TOKEN not in os.environ[CONFIG_ENV]  # the token travels only in FLYWHEEL_TOKEN
    assert "writes need the token" in result.output
    # the workers' factory builds the app from that config
    served = app_from_env()
    assert served.state.auth.required and served.state.engine.names == config["retrievers"]
    monkeypatch.delenv("FLYWHEEL_TOKEN")
    with pytest.raises(ConfigError, match="refusing to serve without a token"):
        app_from_env()


def test_checks_before_starting(started, tmp_path, db_path, store, monkeypatch) -> None:
    monkeypatch.setenv("FLYWHEEL_TOKEN", TOKEN)
    empty = runner.invoke(app, ["serve", "--db", str(tmp_path / "empty.db")])
    assert "has no documents" in str(empty.exception)
    typo = runner.invoke(app, ["serve", "--db", str(db_path), "-r", "bm52"])
    assert isinstance(typo.exception, UnknownComponentError)
    assert "unknown retriever 'bm52'; known: " in str(typo.exception)
    bad_option = runner.invoke(app, ["serve", "--db", str(db_path), "-r", "bm25,k1"])
    assert "is not key=value" in str(bad_option.exception)
    assert not started
