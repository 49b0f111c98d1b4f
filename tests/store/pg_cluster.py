"""A throwaway PostgreSQL cluster for the store's tests: initdb, start, a database per test, remove.

The server runs from Debian's binaries (``scripts/ensure-postgres.sh`` installs them; ``make
test`` calls it) in a fresh temporary folder, on a free port of 127.0.0.1 and a unix socket in
that folder, with durability switched off (``fsync=off``): the data dies with the test session
anyway. PostgreSQL refuses to run as root, so as root every server command runs as the
``postgres`` system user through ``runuser``. :meth:`PostgresCluster.stop` stops the server and
deletes the folder; the pytest fixture calls it in a ``finally`` and at interpreter exit.
"""

from __future__ import annotations

import atexit
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

#: Environment variable naming the folder that holds ``initdb`` and ``pg_ctl``.
BINDIR_ENV = "FLYWHEEL_PG_BINDIR"
SERVER_USER = "postgres"  # the system user Debian's package creates
DB_USER = "flywheel"
TEST_DATABASE = "flywheel_tests"


class ClusterError(RuntimeError):
    """The cluster could not be found or started; the message says what to do."""


def find_bindir() -> Path:
    """The folder of ``initdb``/``pg_ctl``: ``$FLYWHEEL_PG_BINDIR``, Debian's newest
    ``/usr/lib/postgresql/<version>/bin``, else whatever ``pg_ctl`` is on ``PATH``."""
    if explicit := os.environ.get(BINDIR_ENV):
        folder = Path(explicit)
        if not (folder / "pg_ctl").exists():
            raise ClusterError(f"${BINDIR_ENV}={explicit} holds no pg_ctl")
        return folder

    def version(pg_ctl: str) -> int:
        name = Path(pg_ctl).parent.parent.name
        return int(name) if name.isdigit() else 0

    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=version)
    if debian:
        return Path(debian[-1]).parent
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).resolve().parent
    raise ClusterError(
        "PostgreSQL server binaries not found; run scripts/ensure-postgres.sh (as root: "
        f"apt-get install postgresql), or set ${BINDIR_ENV}"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresCluster:
    """One throwaway server; :meth:`new_database` hands each test its own empty database."""

    def __init__(self, bindir: Path | None = None) -> None:
        self.bindir = bindir or find_bindir()
        self.root: Path | None = None
        self.port: int | None = None
        self._numbers = itertools.count(1)
        self._as_user: list[str] = []
        self._owner: pwd.struct_passwd | None = None
        self._database_ready = False

    @property
    def data_dir(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        command = [*self._as_user, *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise ClusterError(
                f"{' '.join(command)} failed ({done.returncode}): "
                f"{(done.stderr or done.stdout).strip()[-2000:]}"
            )
        return done

    def start(self) -> PostgresCluster:
        if os.geteuid() == 0:  # postgres refuses root: run the server as its system user
            try:
                self._owner = pwd.getpwnam(SERVER_USER)
            except KeyError:
                raise ClusterError(
                    f"running as root and there is no '{SERVER_USER}' user to run the server as; "
                    "run scripts/ensure-postgres.sh (it installs postgresql, which creates it)"
                ) from None
            self._as_user = ["runuser", "-u", SERVER_USER, "--"]
        # as root, in /tmp: a $TMPDIR under /root would be closed to the server's user
        where = "/tmp" if self._owner is not None else None
        self.root = Path(tempfile.mkdtemp(prefix="flywheel-pg-", dir=where))
        atexit.register(self.stop)
        try:
            if self._owner is not None:
                os.chown(self.root, self._owner.pw_uid, self._owner.pw_gid)
            self._run(
                str(self.bindir / "initdb"),
                "-D", str(self.data_dir),
                "-U", DB_USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
                "--no-instructions",
            )  # fmt: skip
            self.port = _free_port()
            options = " ".join(
                [
                    "-c listen_addresses=127.0.0.1",
                    f"-p {self.port}",
                    f"-k {self.root}",
                    "-c fsync=off",
                    "-c synchronous_commit=off",
                    "-c full_page_writes=off",
                    "-c max_connections=60",
                    "-c shared_buffers=32MB",
                ]
            )
            self._run(
                str(self.bindir / "pg_ctl"),
                "-D", str(self.data_dir),
                "-o", options,
                "-l", str(self.root / "server.log"),
                "-w", "-t", "60",
                "start",
            )  # fmt: skip
        except BaseException:
            log = self.log_tail()
            self.stop()
            if log:
                raise ClusterError(f"PostgreSQL did not start; server log:\n{log}") from None
            raise
        return self

    def log_tail(self, lines: int = 30) -> str:
        if self.root is None or not (self.root / "server.log").exists():
            return ""
        return "\n".join(
            (self.root / "server.log").read_text(errors="replace").splitlines()[-lines:]
        )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{DB_USER}@127.0.0.1:{self.port}/{database}"

    def _admin(self, database: str = "postgres") -> Any:
        import psycopg

        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=DB_USER, dbname=database, autocommit=True
        )

    def fresh_url(self) -> str:
        """The URL of an empty namespace: a new schema of one shared test database, named
        first in the connection's ``search_path``. A schema takes milliseconds where
        ``CREATE DATABASE`` takes a quarter of a second, and isolates tables just the same."""
        if not self._database_ready:
            with self._admin() as conn:
                conn.execute(
                    f"CREATE DATABASE \"{TEST_DATABASE}\" TEMPLATE template0 ENCODING 'UTF8' "
                    "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'"
                )
            self._database_ready = True
        name = f"t{next(self._numbers)}"
        with self._admin(TEST_DATABASE) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        return f"{self.url(TEST_DATABASE)}?options=-csearch_path%3D{name}"

    def stop(self) -> None:
        """Stop the server (immediately: nothing in it is worth a clean shutdown) and delete it."""
        root, self.root = self.root, None
        if root is None:
            return
        atexit.unregister(self.stop)
        if (root / "data" / "postmaster.pid").exists():
            command = [
                *self._as_user,
                str(self.bindir / "pg_ctl"),
                "-D", str(root / "data"),
                "-m", "immediate",
                "-w", "-t", "30",
                "stop",
            ]  # fmt: skip
            subprocess.run(command, capture_output=True, timeout=60)
            deadline = time.monotonic() + 10
            while (root / "data" / "postmaster.pid").exists() and time.monotonic() < deadline:
                time.sleep(0.1)
        shutil.rmtree(root, ignore_errors=True)
