"""Run ``flywheel serve`` in a child process on a free loopback port, for tests, benchmarks
and screenshots: ``with ServerProcess(db, token="t") as server: httpx.get(server.url + ...)``.

It is the real command (uvicorn, the CLI's checks, the worker factory), not an in-process
app, so what it measures and tests is what a user runs.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from flywheel.errors import FlywheelError


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _command() -> list[str]:
    script = Path(sys.executable).with_name("flywheel")
    if script.exists():
        return [str(script)]
    found = shutil.which("flywheel")
    return [found] if found else [sys.executable, "-c", "from flywheel.cli.app import main; main()"]


class ServerProcess:
    """``flywheel serve --db DB`` on ``127.0.0.1:PORT``; ``url`` once started."""

    def __init__(
        self,
        db: str | Path,
        *,
        token: str | None = None,
        retrievers: Sequence[str] = ("bm25",),
        workers: int = 1,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 60.0,
    ) -> None:
        self.db = str(db)
        self.token = token
        self.retrievers = list(retrievers)
        self.workers = workers
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()

    def start(self) -> ServerProcess:
        args = [*_command(), "serve", "--db", self.db, "--port", str(self.port)]
        args += [f"--retriever={spec}" for spec in self.retrievers]
        args += ["--workers", str(self.workers), *self.extra_args]
        env = dict(os.environ, FLYWHEEL_PROGRESS="0")
        env.pop("FLYWHEEL_TOKEN", None)
        if self.token is None:
            args.append("--insecure-local")
        else:
            env["FLYWHEEL_TOKEN"] = self.token
        self.process = subprocess.Popen(
            args, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise FlywheelError(f"flywheel serve exited early:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        self.stop()
        raise FlywheelError(
            f"flywheel serve did not answer in {self.startup_timeout}s:\n{self.output()}"
        )

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown code runs (the durability test)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
        self._log.close()
