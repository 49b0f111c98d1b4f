"""Opening an old store from several processes at once (issue 18, failure 5), and a store made
by a newer release (failure 3): the migration runs once under a lock, and a newer schema is
named instead of an Alembic traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
from alembic import command
from sqlalchemy import text

from flywheel.errors import ConfigError
from flywheel.store import Store
from flywheel.store.engine import alembic_config, current_revision, head_revision, make_engine

OPEN = "import sys; from flywheel.store import Store; Store(sys.argv[1]).close()"


def old_store(url: str) -> None:
    engine = make_engine(url)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001_initial")
    engine.dispose()


@pytest.mark.parametrize("round_", range(2))
def test_processes_opening_an_old_store_at_once_all_succeed(db_url: str, round_: int) -> None:
    old_store(db_url)
    procs = [
        subprocess.Popen([sys.executable, "-c", OPEN, db_url], stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    engine = make_engine(db_url)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_a_store_from_a_newer_version_says_so(db_url: str) -> None:
    Store(db_url).close()
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099_from_the_future'"))
    engine.dispose()
    with pytest.raises(ConfigError, match=r"newer rag-flywheel.*'0099_from_the_future'.*pip"):
        Store(db_url)
