"""How many events per second does `flywheel serve` acknowledge on SQLite, and are they all
stored?

One process runs the real server (`flywheel serve`, uvicorn, a SQLite store in a temporary
folder, bearer token on); a second process sends events to it on loopback for ``--seconds``
(60 by default) from ``--concurrency`` keep-alive connections, and records the id of every
event the server acknowledged (HTTP 200). Then every acknowledged id is looked up in the store:
``lost`` must be 0. Two modes, because they answer different questions:

* ``single``: one event per request, the way a naive client logs;
* ``batch``: ``--batch-size`` events per request, the way ``flywheel.Logger`` sends them.

    python benchmarks/event_load.py                       # 60 s each mode
    python benchmarks/event_load.py --seconds 10 --modes single --workers 2

The event mix is what a search session produces: for every retrieval (10 results), two
clicks, one dwell and one thumbs. The last line printed is a JSON object with every figure.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

TOKEN = "benchmark-token"
SESSIONS = 50


def make_store(db: Path, docs: int, queries: int) -> None:
    from flywheel.store import Store

    with Store(str(db)) as store:
        store.add_documents(
            {"doc_id": f"d{i}", "title": f"Document {i}", "text": f"text of document {i} " * 20}
            for i in range(docs)
        )
        store.add_queries({f"q{i}": f"query number {i}" for i in range(queries)})


def make_event(n: int, run: str, docs: int, queries: int) -> dict:
    qid, doc = f"q{n % queries}", f"d{n % docs}"
    head = {"event_id": uuid.uuid4().hex, "session_id": f"{run}-{n % SESSIONS}", "qid": qid,
            "timestamp": datetime.now(UTC).isoformat()}  # fmt: skip
    match n % 5:
        case 0:
            results = [[f"d{(n + r) % docs}", r + 1, 10.0 - r] for r in range(10)]
            return {"kind": "retrieval", **head, "results": results, "retriever": "bm25"}
        case 1 | 2:
            return {"kind": "click", **head, "chunk_id": doc, "rank": 1 + n % 10}
        case 3:
            return {"kind": "dwell", **head, "chunk_id": doc, "dwell_ms": 1000 + n % 60_000}
        case _:
            return {"kind": "document_feedback", **head, "chunk_id": doc, "positive": n % 2 == 0}


# --- the client process ----------------------------------------------------------------------


def client(config: dict) -> None:
    """Send for ``seconds``; write acknowledged ids and latencies to ``out``."""
    deadline = time.monotonic() + config["seconds"]
    lock = threading.Lock()
    acked: list[str] = []
    latencies: list[float] = []
    errors: list[str] = []
    counter = iter(range(10**12))

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", config["port"], timeout=30)
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        mine_ids: list[str] = []
        mine_lat: list[float] = []
        while time.monotonic() < deadline:
            with lock:
                numbers = [next(counter) for _ in range(config["batch_size"])]
            events = [
                make_event(n, config["run"], config["docs"], config["queries"]) for n in numbers
            ]
            body = json.dumps(events[0] if config["mode"] == "single" else {"events": events})
            start = time.perf_counter()
            try:
                conn.request("POST", "/events", body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", config["port"], timeout=30)
                continue
            mine_lat.append(time.perf_counter() - start)
            if response.status == 200:
                mine_ids.extend(json.loads(payload)["event_ids"])
            else:
                errors.append(f"HTTP {response.status}: {payload[:200]!r}")
        conn.close()
        with lock:
            acked.extend(mine_ids)
            latencies.extend(mine_lat)

    threads = [threading.Thread(target=worker) for _ in range(config["concurrency"])]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return (
            1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else 0
        )

    Path(config["out"]).write_text(json.dumps({
        "acked": acked, "requests": len(latencies), "elapsed_s": elapsed,
        "p50_ms": pct(0.50), "p99_ms": pct(0.99), "errors": len(errors), "first_errors": errors[:3],
    }))  # fmt: skip


# --- the orchestrating process ---------------------------------------------------------------


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU time of ``root`` and its live descendants (Linux /proc), so the
    server's cost per event can be read apart from what the other processes on the machine
    take."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        children = [child for child, parent in parents.items() if parent == pid]
        tree.update(children)
        frontier.extend(children)
    return sum(times.get(pid, 0.0) for pid in tree)


def run_mode(server, db: Path, mode: str, args: argparse.Namespace, tmp: Path) -> dict:
    from sqlalchemy import select

    from flywheel.store import Store, schema

    run = f"{mode}-{uuid.uuid4().hex[:6]}"
    batch = 1 if mode == "single" else args.batch_size
    out = tmp / f"{run}.json"
    config = {"mode": mode, "batch_size": batch, "seconds": args.seconds, "port": server.port,
              "concurrency": args.concurrency, "run": run, "docs": args.docs,
              "queries": args.queries, "out": str(out)}  # fmt: skip
    cpu_before = tree_cpu_seconds(server.process.pid)
    subprocess.run([sys.executable, __file__, "--client", json.dumps(config)], check=True)
    server_cpu = tree_cpu_seconds(server.process.pid) - cpu_before
    result = json.loads(out.read_text())
    acked = set(result["acked"])
    with Store(str(db)) as store, store.engine.connect() as conn:
        e = schema.events
        stored = set(
            conn.execute(select(e.c.event_id).where(e.c.session_id.like(f"{run}-%"))).scalars()
        )  # noqa: E501
    return {
        "mode": mode,
        "batch_size": batch,
        "requests": result["requests"],
        "events_acked": len(result["acked"]),
        "events_per_s": len(result["acked"]) / result["elapsed_s"],
        "requests_per_s": result["requests"] / result["elapsed_s"],
        "p50_ms": result["p50_ms"],
        "p99_ms": result["p99_ms"],
        "errors": result["errors"],
        "first_errors": result["first_errors"],
        "duplicate_acks": len(result["acked"]) - len(acked),
        "lost": len(acked - stored),
        "server_cpu_s": server_cpu,
        "server_cpu_ms_per_event": 1000 * server_cpu / max(1, len(result["acked"])),
        "seconds": result["elapsed_s"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--modes", default="single,batch", help="single,batch")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8, help="connections")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers")
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client(json.loads(args.client))
        return 0

    from rich.console import Console
    from rich.table import Table

    from flywheel.server.process import ServerProcess

    console = Console(width=130)
    figures: list[dict] = []
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        db = tmp / "flywheel.db"
        make_store(db, args.docs, args.queries)
        with ServerProcess(db, token=TOKEN, workers=args.workers) as server:
            for mode in args.modes.split(","):
                console.print(f"[bold]{mode}[/]: sending for {args.seconds:.0f} s ...")
                figures.append(run_mode(server, db, mode, args, tmp))
        db_bytes = sum(p.stat().st_size for p in tmp.glob("flywheel.db*"))

    table = Table(title=f"Event load: flywheel serve on SQLite ({args.workers} uvicorn worker(s), "
                  f"{args.concurrency} connections, {os.cpu_count()} CPUs)")  # fmt: skip
    for column in ("mode", "events/request", "requests", "events acked", "events/s",
                   "p50 ms", "p99 ms", "server CPU ms/event", "errors", "lost"):  # fmt: skip
        table.add_column(column, justify="right")
    for f in figures:
        table.add_row(f["mode"], str(f["batch_size"]), f"{f['requests']:,}",
                      f"{f['events_acked']:,}", f"{f['events_per_s']:,.0f}", f"{f['p50_ms']:.1f}",
                      f"{f['p99_ms']:.1f}", f"{f['server_cpu_ms_per_event']:.3f}",
                      str(f["errors"]), str(f["lost"]))  # fmt: skip
    console.print(table)
    target = 1000
    for f in figures:
        verdict = "meets" if f["events_per_s"] >= target else "misses"
        console.print(
            f"{f['mode']}: {verdict} the {target:,} events/s target; "
            f"{f['lost']} of {f['events_acked']:,} acknowledged events missing"
        )
        if f["first_errors"]:
            console.print(f"  first errors: {f['first_errors']}")
    summary = {
        "benchmark": "event_load",
        "dataset": f"synthetic-{args.docs}-docs-{args.queries}-queries",
        "system": f"flywheel-serve-sqlite-wal-uvicorn-{args.workers}-workers",
        "machine": f"{platform.machine()}-{os.cpu_count()}-cpus",
        "concurrency": args.concurrency,
        "seconds_per_mode": args.seconds,
        "store_bytes": db_bytes,
        "target_events_per_s": target,
    }
    for f in figures:
        key = f"{f['mode']}{f['batch_size'] if f['mode'] == 'batch' else ''}"
        summary |= {
            f"{key}_events_per_s": round(f["events_per_s"], 1),
            f"{key}_requests_per_s": round(f["requests_per_s"], 1),
            f"{key}_events_acked": f["events_acked"],
            f"{key}_p50_ms": round(f["p50_ms"], 2),
            f"{key}_p99_ms": round(f["p99_ms"], 2),
            f"{key}_errors": f["errors"],
            f"{key}_lost": f["lost"],
            f"{key}_server_cpu_ms_per_event": round(f["server_cpu_ms_per_event"], 4),
            f"{key}_meets_target": f["events_per_s"] >= target,
        }
    summary["lost_total"] = sum(f["lost"] for f in figures)
    summary["load_average_1min_at_end"] = os.getloadavg()[0]
    print(json.dumps(summary))
    return 1 if summary["lost_total"] else 0


if __name__ == "__main__":
    sys.exit(main())
