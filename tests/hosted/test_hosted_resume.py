"""A run killed half-way (SIGKILL, no cleanup) resumes without paying for anything twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading

from flywheel.hosted import HostedClient, Request
from flywheel.hosted.fake_server import FakeProviderServer, default_chat_reply

CHILD = textwrap.dedent(
    """
    from flywheel.hosted import HostedClient, Request
    requests = [Request("chat", {"messages": [{"role": "user", "content": f"item {i}"}]})
                for i in range(10)]
    HostedClient("openai:fake-chat", kind="chat", concurrency=1, timeout=120).run(requests)
    """
)


def test_killed_run_resumes_without_repeating_calls(tmp_path, monkeypatch):
    sixth_arrived, release = threading.Event(), threading.Event()
    seen: list[str] = []

    def reply(prompt: str) -> str:
        seen.append(prompt)
        if len(seen) == 6:  # the child is killed while this call is in flight
            sixth_arrived.set()
            release.wait(30)
        return default_chat_reply(prompt)

    with FakeProviderServer(chat_reply=reply) as server:
        env = {
            **os.environ,
            "OPENAI_API_KEY": "k",
            "OPENAI_BASE_URL": server.openai_url,
            "FLYWHEEL_CACHE": str(tmp_path / "cache"),
            "FLYWHEEL_PROGRESS": "0",
        }
        child = subprocess.Popen([sys.executable, "-c", CHILD], env=env)
        try:
            assert sixth_arrived.wait(60), "the child never reached its sixth call"
            child.send_signal(signal.SIGKILL)
            child.wait(10)
        finally:
            release.set()
            if child.poll() is None:
                child.kill()
        assert server.count() == 6

        for key, value in env.items():
            if key.startswith(("OPENAI", "FLYWHEEL")):
                monkeypatch.setenv(key, value)
        requests = [
            Request("chat", {"messages": [{"role": "user", "content": f"item {i}"}]})
            for i in range(10)
        ]
        resumed = HostedClient("openai:fake-chat", kind="chat", concurrency=2)
        outcomes = resumed.run(requests)
        assert all(o.ok for o in outcomes)
        assert resumed.meter.cached == 5 and resumed.meter.calls == 5
        # items 0-4 were paid once (by the child); 5 was lost with the child; 5-9 sent now
        sent = [body["messages"][0]["content"] for _, body in server.requests]
        assert sorted(sent) == sorted([f"item {i}" for i in range(10)] + ["item 5"])
