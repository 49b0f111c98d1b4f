"""A server killed (SIGKILL) in the middle of a load loses nothing it acknowledged."""

from __future__ import annotations

import threading
import time
import uuid

import httpx
from capture_helpers import TOKEN, seed

from flywheel.server.process import ServerProcess
from flywheel.store import Store


def test_acknowledged_events_survive_a_kill(tmp_path) -> None:
    db = tmp_path / "flywheel.db"
    with Store(str(db)) as store:
        seed(store)
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def send(url: str, batch_size: int) -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5) as client:
            while not stop.is_set():
                events = [
                    {"kind": "click", "event_id": uuid.uuid4().hex, "session_id": "load",
                     "qid": "q-purr", "chunk_id": "cat-1", "rank": 1}
                    for _ in range(batch_size)
                ]  # fmt: skip
                try:
                    response = client.post(f"{url}/events", json={"events": events})
                except httpx.TransportError:
                    return  # the server is gone
                if response.status_code == 200:
                    with lock:
                        acked.extend(response.json()["event_ids"])

    server = ServerProcess(db, token=TOKEN).start()
    try:
        threads = [threading.Thread(target=send, args=(server.url, n)) for n in (1, 1, 10, 25)]
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        server.kill()  # no shutdown code runs
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
    finally:
        stop.set()
        server.stop()
    assert len(acked) > 100, server.output()
    with Store(str(db)) as store:
        stored = {e.event_id for e in store.events(session_id="load")}
    missing = set(acked) - stored
    assert not missing, f"{len(missing)} acknowledged events lost"
