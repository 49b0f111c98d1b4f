"""One validation model at every door (issue 18, failure 2): the same event record is accepted
or refused alike by a JSONL file import, the HTTP API and the SDK, bounds included, on records
Hypothesis generates around the edges of every field."""

from __future__ import annotations

import json
import math
from pathlib import Path

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flywheel.errors import DataFormatError
from flywheel.sdk import RejectedError, StoreTransport
from flywheel.store import Store

IDS = st.sampled_from(["s1", "cat-1", "", " ", "a\x00b", "\ud800", "x" * 300])
NUMBERS = st.sampled_from(
    [0, 1, 2, -1, 100_000, 100_001, 10**30, 1.5, 2.0, "3", "--5", "\u00b2", True, None,
     math.nan, math.inf, -0.0, 86_400_000, 86_400_001]
)  # fmt: skip
TIMES = st.sampled_from(
    ["2024-05-01T12:00:00Z", "2024-05-01", "9999-12-31T23:30:00-05:00", "0001-01-01T00:00:00",
     1_700_000_000, 1e20, -1e15, math.nan, "yesterday", "1969-12-31T23:59:59Z", {"t": 1}]
)  # fmt: skip
SESSIONS = st.sampled_from(["s1", {"id": 1}, ["s"], 7, "", "a\x00b"])


@st.composite
def records(draw) -> dict:
    kind = draw(st.sampled_from(["click", "dwell", "preference", "retrieval", "citation"]))
    record: dict = {
        "kind": kind,
        "session_id": draw(SESSIONS),
        "qid": "q-purr",
        "timestamp": draw(TIMES),
    }
    if kind == "click":
        record |= {"chunk_id": "cat-1", "rank": draw(NUMBERS)}
    elif kind == "dwell":
        record |= {"chunk_id": "cat-1", "dwell_ms": draw(NUMBERS)}
    elif kind == "preference":
        record |= {"winner": draw(st.sampled_from(["cat-1", "cat-2"])), "loser": "cat-2"}
    elif kind == "retrieval":
        record["results"] = [["cat-1", draw(NUMBERS), draw(NUMBERS)]]
    else:
        record["chunk_ids"] = [draw(IDS)]
    return record


def via_file(store: Store, tmp: Path, record: dict) -> bool:
    path = tmp / "events.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8", errors="surrogatepass")
    try:
        store.ingest_file("events", path)
        return True
    except DataFormatError as exc:
        assert str(exc).startswith(f"{path}:1: ")
        return False


def via_api(api: TestClient, record: dict) -> bool:
    body = json.dumps({"events": [record]}).encode("utf-8", "surrogatepass")
    response = api.post("/events", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code < 500, response.text
    return response.status_code == 200


def via_sdk(store: Store, record: dict) -> bool:
    try:
        StoreTransport(store).send([record])
        return True
    except RejectedError:
        return False


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(record=records(), n=st.integers(0, 10**9))
def test_file_api_and_sdk_agree_on_every_record(
    api: TestClient, store: Store, tmp_path: Path, record: dict, n: int
) -> None:
    outcomes = {
        door: accept({**record, "event_id": f"e{n}-{door}"})
        for door, accept in {
            "file": lambda r: via_file(store, tmp_path, r),
            "api": lambda r: via_api(api, r),
            "sdk": lambda r: via_sdk(store, r),
        }.items()
    }
    assert len(set(outcomes.values())) == 1, (record, outcomes)


def test_the_bounds_the_api_held_are_held_by_files_too(api, store: Store, tmp_path: Path) -> None:
    base = {"session_id": "s1", "qid": "q-purr", "timestamp": "2024-05-01T12:00:00Z"}
    refused = [
        {"kind": "click", "chunk_id": "cat-1", "rank": 0},
        {"kind": "click", "chunk_id": "cat-1", "rank": -3},
        {"kind": "click", "chunk_id": "cat-1", "rank": 10**30},
        {"kind": "dwell", "chunk_id": "cat-1", "dwell_ms": -1},
        {"kind": "retrieval", "results": [["cat-1", 1, math.nan]]},
        {"kind": "preference", "winner": "cat-1", "loser": "cat-1"},
        {"kind": "click", "chunk_id": "cat-1", "rank": 1, "session_id": {"id": 1}},
        {"kind": "click", "chunk_id": "cat-1", "rank": 1, "timestamp": 1e20},
        {"kind": "click", "chunk_id": "cat-1", "rank": 1, "timestamp": "9999-12-31T23:30:00-05:00"},
    ]  # fmt: skip
    for n, extra in enumerate(refused):
        record = {**base, **extra, "event_id": f"bound-{n}"}
        assert not via_file(store, tmp_path, record), record
        assert not via_api(api, record), record
    assert store.events() == []
