"""POST /events and the /feedback shortcuts: validation, atomicity, idempotency, limits, auth."""

from __future__ import annotations

import dataclasses
import typing

import pytest
from capture_helpers import AUTH, TOKEN, click

from flywheel.data.events import EVENT_CLASSES, ClickEvent, DocumentFeedbackEvent, EventKind
from flywheel.server.schemas import EVENT_MODELS, MAX_BATCH
from flywheel.store import Store

TS = "2025-03-01T10:00:00+00:00"


def test_every_event_kind_has_a_model_with_the_dataclass_fields() -> None:
    assert set(EVENT_MODELS) == set(EventKind)
    for kind, cls in EVENT_CLASSES.items():
        dataclass_fields = {f.name for f in dataclasses.fields(cls)} - {"kind"}
        model_fields = set(EVENT_MODELS[kind].model_fields) - {"kind"}
        extra = {"query"} if kind is EventKind.RETRIEVAL else set()
        assert model_fields == dataclass_fields | extra, kind
        literal = typing.get_args(EVENT_MODELS[kind].model_fields["kind"].annotation)
        assert literal == (kind.value,)


def test_one_event_is_stored_and_read_back(api, store: Store) -> None:
    body = click("q-purr", event_id="e-1", timestamp=TS, user_id="u9")
    response = api.post("/events", json=body)
    assert response.status_code == 200
    assert response.json() == {"added": 1, "unchanged": 0, "event_ids": ["e-1"]}
    [event] = store.events()
    assert event == ClickEvent(
        event_id="e-1",
        session_id="s1",
        qid="q-purr",
        user_id="u9",
        chunk_id="cat-1",
        rank=1,
        timestamp=event.timestamp,
    )
    assert event.timestamp.isoformat() == TS


def test_a_batch_with_a_new_query_is_stored_in_one_call(api, store: Store) -> None:
    events = [
        {
            "kind": "retrieval",
            "event_id": "r1",
            "session_id": "s1",
            "qid": "app-42",
            "query": "  purring   cats ",
            "results": [["cat-1", 1, 3.5], {"chunk_id": "cat-2", "rank": 2, "score": 1.0}],
            "retriever": "my-app",
            "timestamp": TS,
        },
        {"kind": "citation", "event_id": "c1", "session_id": "s1", "qid": "app-42",
         "chunk_ids": ["cat-1"], "timestamp": TS},
        {"kind": "answer_feedback", "event_id": "a1", "session_id": "s1", "qid": "app-42",
         "positive": True, "comment": "spot on", "timestamp": TS},
    ]  # fmt: skip
    response = api.post("/events", json={"events": events})
    assert response.status_code == 200, response.text
    assert response.json()["added"] == 3
    assert store.queries(source="live") == {"app-42": "purring cats"}
    retrieval = store.events(kind="retrieval")[0]
    assert retrieval.results == (("cat-1", 1, 3.5), ("cat-2", 2, 1.0))
    assert retrieval.retriever == "my-app"
    kinds = sorted(e.kind for e in store.events(qid="app-42"))
    assert kinds == ["answer_feedback", "citation", "retrieval"]


def test_a_known_qid_keeps_its_stored_text(api, store: Store) -> None:
    body = {"kind": "retrieval", "session_id": "s", "qid": "q-purr", "query": "other words",
            "results": [], "timestamp": TS}  # fmt: skip
    assert api.post("/events", json=body).status_code == 200
    assert store.queries()["q-purr"] == "why do cats purr"
    assert store.queries(source="live") == {}


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (click("q-purr", rank="1"), "rank", "valid integer"),
        (click("q-purr", rank=0), "rank", "greater than or equal to 1"),
        (click("q-purr", colour="red"), "colour", "Extra inputs are not permitted"),
        (
            {"kind": "click", "session_id": "s1", "qid": "q-purr", "rank": 1},
            "chunk_id",
            "Field required",
        ),
        ({"kind": "swipe", "session_id": "s1", "qid": "q-purr"}, "kind", "does not match"),
        ({"session_id": "s1", "qid": "q-purr"}, "kind", "Unable to extract tag"),
        (
            {**click("q-purr"), "kind": "document_feedback", "positive": "yes"},
            "positive",
            "valid boolean",
        ),
        (click("q-purr", timestamp="yesterday"), "timestamp", "valid datetime"),
        (click("q-purr", event_id="has space"), "event_id", "pattern"),
        (click("nobody"), "qid", "unknown query 'nobody'"),
        (click("q-purr", chunk_id="ghost"), "chunk_id", "unknown document or chunk 'ghost'"),
        (
            {
                "kind": "preference",
                "session_id": "s",
                "qid": "q-purr",
                "winner": "cat-1",
                "loser": "cat-1",
            },
            "body",
            "the same chunk",
        ),
        (
            {
                "kind": "click",
                "session_id": "s",
                "qid": "q-purr",
                "chunk_id": "cat-1",
                "rank": 1,
                "query": "x",
            },
            "query",
            "Extra inputs",
        ),
    ],
)
def test_a_bad_event_is_a_422_naming_the_field(api, store, body, field, words) -> None:
    response = api.post("/events", json=body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    assert detail["field"] == field
    assert words in detail["msg"]
    assert response.json()["message"].startswith(f"{field}: ")
    assert store.events() == []


def test_a_batch_is_all_or_nothing(api, store: Store) -> None:
    good = click("q-purr", event_id="g1", timestamp=TS)
    for bad, field in (
        (click("q-purr", rank=-3), "events[1].rank"),  # refused by the schema
        (click("q-purr", chunk_id="ghost"), "events[1].chunk_id"),  # refused by the store
    ):
        response = api.post("/events", json={"events": [good, bad, click("q-bark")]})
        assert response.status_code == 422
        assert response.json()["detail"][0]["field"] == field
    assert store.events() == []
    assert store.counts()["queries"] == len(store.queries())  # nothing half-written


def test_a_batch_with_a_new_query_and_a_bad_event_stores_neither(api, store: Store) -> None:
    events = [
        {"kind": "retrieval", "session_id": "s", "qid": "new-q", "query": "new words",
         "results": [["cat-1", 1, 1.0]], "timestamp": TS},
        click("new-q", chunk_id="ghost"),
    ]  # fmt: skip
    assert api.post("/events", json={"events": events}).status_code == 422
    assert "new-q" not in store.queries()


def test_retries_never_duplicate(api, store: Store) -> None:
    batch = {"events": [click("q-purr", event_id=f"e{i}", timestamp=TS) for i in range(3)]}
    first = api.post("/events", json=batch).json()
    again = api.post("/events", json=batch).json()
    assert (first["added"], first["unchanged"]) == (3, 0)
    assert (again["added"], again["unchanged"]) == (0, 3)
    assert len(store.events()) == 3
    # without event_id the id is a content hash: the same record twice is one event
    anonymous = click("q-bark", chunk_id="dog-1", timestamp=TS)
    ids = [api.post("/events", json=anonymous).json()["event_ids"][0] for _ in range(2)]
    assert ids[0] == ids[1]
    assert len(store.events()) == 4


def test_reusing_an_event_id_for_other_content_is_a_conflict(api, store: Store) -> None:
    api.post("/events", json=click("q-purr", event_id="e1", timestamp=TS))
    response = api.post("/events", json=click("q-purr", event_id="e1", rank=2, timestamp=TS))
    assert response.status_code == 409
    assert response.json()["field"] == "event_id"
    assert "new event needs a new event_id" in response.json()["detail"]
    assert store.events()[0].rank == 1


def test_body_size_and_batch_length_limits(api, store: Store) -> None:
    huge = {"events": [click("q-purr", session_id="s" * 200) for _ in range(300)]}
    response = api.post("/events", json=huge)
    assert response.status_code == 413
    assert "larger than 50,000 bytes" in response.json()["detail"]

    def chunks():
        yield b'{"events": ['
        for _ in range(2000):
            yield b'{"kind": "click", "session_id": "s", "qid": "q", "chunk_id": "c", "rank": 1},'
        yield b"]}"

    streamed = api.post("/events", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413
    too_many = {"events": [click("q-purr")] * (MAX_BATCH + 1)}
    from flywheel.server import create_app

    roomy = create_app(store, "bm25", token=TOKEN, max_body_bytes=10_000_000)
    from fastapi.testclient import TestClient

    with TestClient(roomy, headers=AUTH) as client:
        response = client.post("/events", json=too_many)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "events"
    assert store.events() == []


def test_writes_need_the_token(client, store: Store) -> None:
    body = click("q-purr")
    assert client.post("/events", json=body).status_code == 401
    wrong = client.post("/events", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"] == "Bearer"
    assert client.get("/search", params={"q": "cats"}).status_code == 401
    assert client.post("/feedback/click", json=body).status_code == 401
    assert store.events() == []
    # the page's login: the cookie carries an HMAC of the token, not the token
    assert client.get("/auth/check").json() == {"required": True, "signed_in": False}
    assert client.post("/auth/login", json={"token": "nope"}).status_code == 401
    login = client.post("/auth/login", json={"token": TOKEN})
    assert login.status_code == 204
    cookie = login.cookies.get("flywheel_session")
    assert cookie and TOKEN not in cookie
    assert "httponly" in login.headers["set-cookie"].lower()
    assert "samesite=strict" in login.headers["set-cookie"].lower()
    assert client.post("/events", json=body).status_code == 200
    assert client.get("/auth/check").json() == {"required": True, "signed_in": True}


def test_an_open_server_takes_writes_without_a_token(store: Store) -> None:
    from fastapi.testclient import TestClient

    from flywheel.server import create_app

    with TestClient(create_app(store, "bm25", token=None)) as client:
        assert client.get("/config").json()["auth"] is False
        assert client.post("/events", json=click("q-purr")).status_code == 200


SHORTCUT_BODIES = {
    "answer": {"positive": False, "comment": "missed the point"},
    "document": {"chunk_id": "cat-1", "positive": True},
    "click": {"chunk_id": "cat-1", "rank": 1},
    "dwell": {"chunk_id": "cat-1", "dwell_ms": 42_000},
    "more-like-this": {"chunk_id": "cat-1"},
    "preference": {"winner": "cat-1", "loser": "cat-2"},
    "citation": {"chunk_ids": ["cat-1", "cat-2"]},
}


@pytest.mark.parametrize("path", sorted(SHORTCUT_BODIES))
def test_feedback_shortcuts_store_their_kind(api, store: Store, path: str) -> None:
    body = {"session_id": "s1", "qid": "q-purr", "event_id": "f1"} | SHORTCUT_BODIES[path]
    response = api.post(f"/feedback/{path}", json=body)
    assert response.status_code == 200, response.text
    [event] = store.events()
    from flywheel.server.routes.feedback import SHORTCUTS

    assert event.kind == SHORTCUTS[path][0]
    for name, value in SHORTCUT_BODIES[path].items():
        assert getattr(event, name) == (tuple(value) if isinstance(value, list) else value)
    wrong_kind = api.post(f"/feedback/{path}", json=body | {"kind": "retrieval"})
    assert wrong_kind.status_code == 422
    assert wrong_kind.json()["detail"][0]["field"] == "kind"


def test_document_feedback_shortcut_rejects_strings_for_booleans(api, store) -> None:
    body = {"session_id": "s1", "qid": "q-purr", "chunk_id": "cat-1", "positive": "true"}
    response = api.post("/feedback/document", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "positive"
    assert api.post("/feedback/document", json=body | {"positive": True}).status_code == 200
    assert isinstance(store.events()[0], DocumentFeedbackEvent)


def test_openapi_lists_every_endpoint_and_the_bearer_scheme(client) -> None:
    spec = client.get("/openapi.json").json()
    paths = set(spec["paths"])
    assert {"/events", "/search", "/compare", "/feedback/compare", "/similar/{chunk_id}"} <= paths
    assert {f"/feedback/{p}" for p in SHORTCUT_BODIES} <= paths
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert client.get("/health").json() == {"status": "ok"}
