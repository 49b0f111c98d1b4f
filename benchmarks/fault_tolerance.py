"""Nothing lost in silence: the importers, the event API and the SDK under bad input and a
``kill -9`` of the server.

* **files**: ``--files`` generated files (all four formats, all four record kinds), each with
  good records and one bad one (a value every door must refuse); each is imported without
  ``--skip-invalid`` and classified: refused with ``file:line``, a traceback (any exception
  that is not a ``FlywheelError``), wrongly accepted, or a partial write (the store changed
  although the file was refused);
* **api**: ``--requests`` generated requests against the app in-process (every operation of its
  OpenAPI schema; bodies that are random JSON or valid events with one field broken): 5xx;
* **sdk**: ``--events`` events logged over HTTP by 4 threads with 1% bad ones mixed in: good
  events stored vs sent;
* **kill**: the same while the server is killed with SIGKILL mid-load and restarted on the same
  port (loopback only): good events lost, acknowledged events missing.

    python benchmarks/fault_tolerance.py                  # 1000 files, 5000 requests
    python benchmarks/fault_tolerance.py --files 200 --requests 500 --events 2000

Targets: 0 tracebacks, 0 wrongly accepted, 0 partial writes, 0 5xx, 0 good lost, 0 missing.
The last line printed is a JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq

from flywheel.errors import FlywheelError
from flywheel.sdk import HTTPTransport, Logger
from flywheel.server.process import ServerProcess
from flywheel.store import Store

TOKEN = "fault-token"
DOCS = [{"doc_id": f"d{i}", "title": f"Doc {i}", "text": f"about topic {i}"} for i in range(20)]
QUERIES = {f"q{i}": f"question {i}" for i in range(10)}
T = "2024-05-01T12:00:00Z"

GOOD = {
    "corpus": lambda n: {"doc_id": f"new{n}", "text": "fine text", "title": "t"},
    "queries": lambda n: {"qid": f"nq{n}", "text": "a fine question"},
    "judgments": lambda n: {"qid": "q1", "doc_id": f"d{n % 20}", "grade": 1 + n % 3},
    "events": lambda n: {"kind": "click", "session_id": "s", "qid": "q1", "chunk_id": "d1",
                         "rank": 1 + n % 5, "timestamp": T, "event_id": f"g{n}"},
}  # fmt: skip
#: (field, bad value, formats it is bad in: "typed" = JSONL/Parquet, "all" = every format)
BAD = {
    "corpus": [("text", "a\x00b", "all"), ("metadata", {"a": math.nan}, "typed"),
               ("doc_id", {"x": 1}, "typed"), ("text", None, "all"), ("doc_id", "\ud800", "all"),
               ("metadata", "{not json", "all")],
    "queries": [("text", None, "all"), ("text", "x\x00", "all"), ("qid", ["a"], "typed"),
                ("text", "   ", "all"), ("source", "martian", "all")],
    "judgments": [("grade", 9, "all"), ("grade", "high", "all"), ("split", {"a": 1}, "typed"),
                  ("split", ["t"], "typed"), ("doc_id", "nope", "all"), ("qid", "qx", "all"),
                  ("scale", 0, "all")],
    "events": [("rank", 0, "all"), ("rank", -3, "all"), ("rank", 10**30, "all"),
               ("rank", "--5", "all"), ("rank", "\u00b2", "all"), ("rank", "3", "typed"),
               ("timestamp", 1e20, "all"), ("timestamp", -1e15, "all"),
               ("timestamp", math.nan, "typed"), ("timestamp", "9999-12-31T23:30:00-05:00", "all"),
               ("session_id", {"id": 1}, "typed"), ("session_id", "a\x00b", "all"),
               ("chunk_id", "ghost", "all"), ("qid", "nobody", "all"), ("kind", "swipe", "all")],
}  # fmt: skip
RAW_LINES = ["[" * 100_000, '{"doc_id": ' + "9" * 5000 + "}", "\xff\xfe", "[1, 2]", "{bad"]


def write_file(path: Path, rows: list[dict], rng: random.Random) -> bool:
    """Write ``rows`` in ``path``'s format; False when the format cannot hold them."""
    if path.suffix == ".jsonl":
        lines = [json.dumps(r) for r in rows]
        if rng.random() < 0.15:  # a line no JSON reader can take
            lines.insert(rng.randrange(len(lines) + 1), rng.choice(RAW_LINES))
        path.write_bytes(("\n".join(lines) + "\n").encode("utf-8", "surrogatepass"))
        return True
    if path.suffix in (".csv", ".tsv"):
        names = sorted({k for r in rows for k in r})
        if rng.random() < 0.1:
            names.append(names[0])  # a duplicated header column
        sep = "," if path.suffix == ".csv" else "\t"

        def cell(value) -> str:
            if isinstance(value, dict):
                value = json.dumps(value)
            text = "" if value is None else str(value)
            return '"' + text.replace('"', '""') + '"'

        body = [sep.join(names)] + [sep.join(cell(r.get(n)) for n in names) for r in rows]
        path.write_bytes(("\n".join(body) + "\n").encode("utf-8", "surrogatepass"))
        return True
    try:
        names = sorted({k for r in rows for k in r})  # from_pylist keeps the first row's keys
        pq.write_table(pa.Table.from_pydict({k: [r.get(k) for r in rows] for k in names}), path)
        return True
    except (pa.ArrowException, OverflowError, TypeError, UnicodeEncodeError):
        return False


def run_files(count: int, seed: int) -> dict:
    rng = random.Random(seed)
    tmp = Path(tempfile.mkdtemp(prefix="fault-files-"))
    store = Store(str(tmp / "flywheel.db"))
    store.add_documents(DOCS)
    store.add_queries(QUERIES)
    out = {"tried": 0, "refused_file_line": 0, "tracebacks": 0, "wrongly_accepted": 0,
           "partial_writes": 0, "unwritable": 0}  # fmt: skip
    examples: list[str] = []
    formats = [".jsonl", ".csv", ".tsv", ".parquet"]
    n = 0
    while out["tried"] < count:
        n += 1
        kind, suffix = rng.choice(sorted(GOOD)), formats[n % 4]
        typed = suffix in (".jsonl", ".parquet")
        field, value, where = rng.choice([b for b in BAD[kind] if typed or b[2] == "all"])
        rows = [GOOD[kind](n * 10 + i) for i in range(rng.randint(1, 5))]
        bad = dict(rng.choice(rows))
        bad[field] = value
        if isinstance(bad.get("event_id"), str):
            bad["event_id"] += "-bad"
        rows.insert(rng.randrange(len(rows) + 1), bad)
        path = tmp / f"{kind}-{n}{suffix}"
        if not write_file(path, rows, rng):
            out["unwritable"] += 1
            continue
        out["tried"] += 1
        before = store.status().to_dict()
        try:
            store.ingest_file(kind, path)
            out["wrongly_accepted"] += 1
            examples.append(f"accepted: {kind} {suffix} {field}={value!r}")
        except FlywheelError as exc:
            if re.match(rf"^{re.escape(str(path))}:\d+: ", str(exc)):
                out["refused_file_line"] += 1
            else:
                examples.append(f"no line: {exc}")
            if store.status().to_dict() != before:
                out["partial_writes"] += 1
        except Exception as exc:  # noqa: BLE001 - counting tracebacks is the point
            out["tracebacks"] += 1
            examples.append(f"traceback: {kind} {suffix} {field}: {type(exc).__name__}: {exc}")
    store.close()
    out["examples"] = examples[:5]
    return out


# --- the API -------------------------------------------------------------------------------

ODD = ["", "\x00", "a\x00b", "é", "[/x]", "9" * 400, "-1", "1e400", "\ud800", "x" * 3000]
EDGE = [0, -1, 10**30, math.nan, math.inf, "9999-12-31T23:30:00-05:00", 1e20, -1e15, {"a": 1},
        [], None, True, "", *ODD]  # fmt: skip
VALID = {"kind": "click", "session_id": "s1", "qid": "q1", "chunk_id": "d1", "rank": 1,
         "timestamp": T}  # fmt: skip


def random_json(rng: random.Random, depth: int = 0):
    pick = rng.random()
    if depth > 3 or pick < 0.5:
        return rng.choice([*EDGE, 1, 2.5, "click", "q1"])
    if pick < 0.75:
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    keys = [*VALID, "events", "winner", "loser", "results", rng.choice(ODD)]
    return {rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def random_body(rng: random.Random):
    if rng.random() < 0.3:
        return random_json(rng)
    event = dict(VALID)
    event[rng.choice([*VALID, "winner", "dwell_ms", "results", "query"])] = rng.choice(
        [*EDGE, random_json(rng)]
    )
    return {"events": [event, dict(VALID)]} if rng.random() < 0.5 else event


def run_api(count: int, seed: int) -> dict:
    from fastapi.testclient import TestClient

    from flywheel.server import create_app

    rng = random.Random(seed)
    tmp = Path(tempfile.mkdtemp(prefix="fault-api-"))
    store = Store(str(tmp / "flywheel.db"))
    store.add_documents(DOCS)
    store.add_queries(QUERIES)
    app = create_app(store, ["bm25"], token=TOKEN)
    ops = [(m.upper(), p, s) for p, ms in app.openapi()["paths"].items() for m, s in ms.items()]
    statuses: dict[int, int] = {}
    examples = []
    with TestClient(app, raise_server_exceptions=False) as client:
        for _ in range(count):
            method, path, spec = rng.choice(ops)
            url = re.sub(r"\{[^}]+\}", lambda _: quote(rng.choice(ODD + ["d1"]).encode(
                "utf-8", "surrogatepass"), safe="") or "x", path)  # fmt: skip
            params = {p["name"]: str(rng.choice(EDGE + ["cats", 5]))
                      for p in spec.get("parameters", []) if p.get("in") == "query"
                      and rng.random() < 0.7}  # fmt: skip
            headers = {}
            if rng.random() < 0.8:
                headers["Authorization"] = f"Bearer {TOKEN}".encode()
            if rng.random() < 0.2:
                headers["Cookie"] = ("flywheel_session=" + rng.choice(["é", "[/x]", "a"])).encode()
            content = None
            if "requestBody" in spec:
                headers["Content-Type"] = b"application/json"
                content = json.dumps(random_body(rng)).encode("utf-8", "surrogatepass")
            params = {k: v.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
                      for k, v in params.items()}  # fmt: skip
            response = client.request(method, url, params=params, headers=headers, content=content)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code >= 500 and len(examples) < 5:
                examples.append(f"{method} {url} {content[:200] if content else ''}")
    store.close()
    return {"requests": count, "status_5xx": sum(v for k, v in statuses.items() if k >= 500),
            "statuses": {str(k): v for k, v in sorted(statuses.items())}, "examples": examples}


# --- the SDK, with and without a kill -9 ---------------------------------------------------


class Acked(HTTPTransport):
    """Records the ids of every event the server acknowledged."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.acked: set[str] = set()
        self._lock = threading.Lock()

    def send(self, records) -> None:
        super().send(records)
        with self._lock:
            self.acked.update(r["event_id"] for r in records)


def run_sdk(events: int, seed: int, kill: bool) -> dict:
    rng = random.Random(seed)
    tmp = Path(tempfile.mkdtemp(prefix="fault-sdk-"))
    db = tmp / "flywheel.db"
    with Store(str(db)) as store:
        store.add_documents(DOCS)
        store.add_queries(QUERIES)
    server = ServerProcess(db, token=TOKEN).start()
    transport = Acked(server.url, token=TOKEN, max_retries=12, backoff=0.2, max_backoff=2.0)
    logger = Logger(transport, batch_size=100, flush_interval=0.05, spool=tmp / "spool.jsonl")
    good: set[str] = set()
    bad: set[str] = set()
    lock = threading.Lock()
    per_thread = events // 4

    def work(worker: int) -> None:
        local = random.Random(seed + worker)
        for n in range(per_thread):
            is_bad = local.random() < 0.01
            event_id = logger.log_click("s", "q1", "ghost" if is_bad else f"d{n % 20}",
                                        1 + n % 10)  # fmt: skip
            with lock:
                (bad if is_bad else good).add(event_id)
            if n % 200 == 0:
                time.sleep(0.01)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    restarts = 0
    if kill:
        time.sleep(rng.uniform(0.3, 0.8))
        server.kill()
        port = server.port
        server = ServerProcess(db, token=TOKEN)
        server.port, server.url = port, f"http://127.0.0.1:{port}"
        server.start()
        restarts = 1
    for thread in threads:
        thread.join()
    report = logger.close(raise_errors=False)
    seconds = time.perf_counter() - started
    server.stop()
    with Store(str(db)) as store:
        stored = {e.event_id for e in store.events()}
    return {
        "good_sent": len(good), "bad_sent": len(bad), "good_stored": len(good & stored),
        "good_lost": len(good - stored), "bad_stored": len(bad & stored),
        "refused": report.refused, "acknowledged_missing": len(transport.acked - stored),
        "restarts": restarts, "seconds": round(seconds, 2),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    files = run_files(args.files, args.seed)
    api = run_api(args.requests, args.seed)
    sdk = run_sdk(args.events, args.seed, kill=False)
    killed = run_sdk(args.events, args.seed + 1, kill=True)
    rows = [
        ("malformed files tried", files["tried"]),
        ("  refused with file:line", files["refused_file_line"]),
        ("  tracebacks", files["tracebacks"]),
        ("  wrongly accepted", files["wrongly_accepted"]),
        ("  partial writes", files["partial_writes"]),
        ("API requests fuzzed", api["requests"]),
        ("  5xx answers", api["status_5xx"]),
        ("SDK good events sent / stored", f"{sdk['good_sent']} / {sdk['good_stored']}"),
        ("  bad events refused (1%)", f"{sdk['refused']} of {sdk['bad_sent']}"),
        ("  acknowledged missing", sdk["acknowledged_missing"]),
        ("kill -9: good sent / stored", f"{killed['good_sent']} / {killed['good_stored']}"),
        ("  good lost", killed["good_lost"]),
        ("  acknowledged missing", killed["acknowledged_missing"]),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    for example in files["examples"] + api["examples"]:
        print("example:", example)
    print(json.dumps({"files": files, "api": api, "sdk": sdk, "kill9": killed}))


if __name__ == "__main__":
    main()
