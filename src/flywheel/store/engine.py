"""Open the database: one SQLAlchemy engine, SQLite pragmas, migrations to the newest schema.

SQLite (the default, a file in the working folder) gets WAL mode, so a live app can log events
while a report reads, and enforced foreign keys, so a judgment can never point at nothing.
PostgreSQL works by URL. Migrations run on every open, through Alembic's API with a config built
here, so they work from an installed package and from any working folder.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from filelock import FileLock
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from flywheel.errors import ConfigError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _json_default(obj: Any) -> Any:
    """Let results carry numpy scalars/arrays, dates and paths without the caller converting."""
    if hasattr(obj, "tolist"):  # numpy scalar or array
        return obj.tolist()
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=str)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=_json_default, ensure_ascii=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


#: Driver-less spellings of PostgreSQL URLs, mapped to psycopg 3 (the driver this package
#: installs; SQLAlchemy 2.0 would otherwise reach for psycopg2, and ``postgres://``, as
#: Heroku-style hosts print it, is no SQLAlchemy name at all).
_POSTGRES_SCHEMES = {"postgres": "postgresql+psycopg", "postgresql": "postgresql+psycopg"}


#: The backends the store's migrations and tests cover; any other URL is refused up front.
SUPPORTED_BACKENDS = ("sqlite", "postgresql")


def make_engine(url: str) -> Engine:
    """An engine for ``url``; a SQLite file's folder is created if missing.

    The same code and migrations serve SQLite and PostgreSQL; only connection set-up differs.
    """
    scheme, sep, rest = url.partition("://")
    if sep and scheme in _POSTGRES_SCHEMES:
        url = f"{_POSTGRES_SCHEMES[scheme]}://{rest}"
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a terse message
        raise ConfigError(
            f"cannot parse store URL '{url}' ({exc}); use a file path, sqlite:///PATH "
            "or postgresql://USER@HOST/DB"
        ) from None
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise ConfigError(
            f"store URL '{parsed.render_as_string(hide_password=True)}': backend '{backend}' is "
            f"not supported (the migrations are tested on {' and '.join(SUPPORTED_BACKENDS)}); "
            "use a file path, sqlite:///PATH or postgresql://USER@HOST/DB"
        )
    if backend == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # several writers (processes sharing the file) queue for the write lock: wait up to 30 s
        # for it rather than pysqlite's default 5 s before "database is locked"
        connect_args = {} if "timeout" in parsed.query else {"timeout": 30}
        engine = create_engine(url, json_serializer=_dumps, connect_args=connect_args)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, json_serializer=_dumps, pool_pre_ping=True)


def alembic_config() -> Config:
    """An Alembic config that points at the packaged migrations; no ini file is read."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    return config


def head_revision() -> str:
    """The newest migration shipped with this version of the package."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None  # the package always ships at least one migration
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _check_known(revision: str | None, head: str) -> None:
    """A store migrated by a newer release names a revision this one does not ship."""
    if revision is None:
        return
    try:
        known = ScriptDirectory.from_config(alembic_config()).get_revision(revision)
    except CommandError:
        known = None
    if known is None:
        raise ConfigError(
            f"this store was created by a newer rag-flywheel: its schema is at revision "
            f"'{revision}', and rag-flywheel {_version()} knows revisions up to '{head}'; "
            "upgrade with: pip install -U rag-flywheel"
        )


def _version() -> str:
    try:
        return metadata.version("rag-flywheel")
    except metadata.PackageNotFoundError:  # a source checkout without installation
        return "(source)"


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """One migrator at a time: a file lock beside a SQLite file; on PostgreSQL the
    advisory lock is taken inside the migration's own transaction (see :func:`migrate`)."""
    database = engine.url.database or ""
    on_disk = database and database != ":memory:" and not database.startswith("file:")
    if engine.url.get_backend_name() == "sqlite" and on_disk:
        with FileLock(f"{Path(database).expanduser()}.migrate.lock", timeout=300):
            yield
    else:
        yield


#: Any fixed 64-bit key: every rag-flywheel migrating one PostgreSQL database takes this lock.
_PG_LOCK_KEY = 0x666C7977686C  # "flywhl"


def migrate(engine: Engine) -> str:
    """Bring the database to the newest schema; a no-op when it is already there.

    Two processes opening an old store at once (``--workers 2``, app servers restarting after
    an upgrade) must not both run the same migration: the second would die on
    ``table ... already exists``. The migration therefore runs under a lock, and the revision
    is read again once the lock is held.
    """
    head = head_revision()
    current = current_revision(engine)
    if current == head:
        return head
    _check_known(current, head)
    config = alembic_config()
    with _migration_lock(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        current = MigrationContext.configure(connection).get_current_revision()
        if current == head:  # another process migrated while this one waited
            return head
        _check_known(current, head)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    log.info("store migrated to %s", head)
    return head
