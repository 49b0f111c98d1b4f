"""GET /search, /compare, /similar, /documents, the document view and the page's endpoints."""

from __future__ import annotations

from capture_helpers import RETRIEVERS, XSS_TEXT, XSS_TITLE

from flywheel.data.events import PreferenceEvent, ReformulationEvent, RetrievalEvent
from flywheel.server.compare import preference_pairs
from flywheel.server.snippets import make_snippet
from flywheel.store import Store
from flywheel.store.live import live_qid


def test_search_returns_ranked_results_and_logs_what_was_shown(api, store: Store) -> None:
    response = api.get("/search", params={"q": "Why do  CATS purr", "session_id": "s1", "k": 3})
    assert response.status_code == 200
    body = response.json()
    assert body["qid"] == live_qid("why do cats purr") == live_qid(" why do cats   PURR ")
    assert body["query"] == "Why do CATS purr"
    assert body["session_id"] == "s1" and body["retriever"] == "bm25"
    assert [r["rank"] for r in body["results"]] == [1, 2, 3]
    top = body["results"][0]
    assert top["chunk_id"] == "cat-1" and top["title"] == "Why cats purr"
    marked = [top["snippet"][a:b] for a, b in top["highlights"]]
    assert marked == ["Cats", "purr", "purr"]
    assert store.queries(source="live") == {body["qid"]: "Why do CATS purr"}
    [event] = store.events()
    assert isinstance(event, RetrievalEvent)
    assert event.event_id == body["event_id"] and event.session_id == "s1"
    assert [(cid, rank) for cid, rank, _ in event.results] == [
        (r["chunk_id"], r["rank"]) for r in body["results"]
    ]
    assert event.results[0][2] == top["score"]


def test_a_new_session_id_is_made_when_none_is_sent(api) -> None:
    first = api.get("/search", params={"q": "dogs"}).json()["session_id"]
    second = api.get("/search", params={"q": "dogs"}).json()["session_id"]
    assert len(first) == 32 and first != second


def test_the_next_query_in_a_session_is_logged_as_a_reformulation(api, store: Store) -> None:
    first = api.get("/search", params={"q": "cat noises", "session_id": "s1"}).json()
    second = api.get(
        "/search", params={"q": "why cats purr", "session_id": "s1", "previous_qid": first["qid"]}
    ).json()
    again = api.get(
        "/search",
        params={"q": "why cats purr", "session_id": "s1", "previous_qid": second["qid"]},
    )
    assert again.status_code == 200
    [reformulation] = store.events(kind="reformulation")
    assert reformulation == ReformulationEvent(
        event_id=reformulation.event_id,
        session_id="s1",
        qid=second["qid"],
        previous_qid=first["qid"],
        timestamp=reformulation.timestamp,
    )
    unknown = api.get("/search", params={"q": "fish", "previous_qid": "never-seen"})
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["field"] == "previous_qid"
    assert len(store.events(kind="retrieval")) == 3  # the refused search logged nothing


def test_bad_search_parameters(api, store: Store) -> None:
    assert api.get("/search", params={"q": "   "}).json()["detail"][0]["field"] == "q"
    assert api.get("/search").json()["detail"][0]["field"] == "query.q"
    too_many = api.get("/search", params={"q": "cats", "k": 1000})
    assert too_many.status_code == 422 and too_many.json()["detail"][0]["field"] == "query.k"
    unknown = api.get("/search", params={"q": "cats", "retriever": "bm99"})
    assert unknown.status_code == 422
    assert "known: bm25, bm25,stemmer=none" in unknown.json()["message"]
    assert store.events() == []


def test_compare_logs_both_lists_and_a_vote_becomes_document_preferences(api, store) -> None:
    found = api.get("/compare", params={"q": "cats sleep", "session_id": "s2", "k": 4}).json()
    assert sorted(side["retriever"] for side in found["sides"]) == sorted(RETRIEVERS)
    shown = {e.event_id: e for e in store.events(kind="retrieval")}
    assert set(shown) == {side["event_id"] for side in found["sides"]}
    assert {e.retriever for e in shown.values()} == set(RETRIEVERS)
    winner, loser = found["sides"]
    vote = {"session_id": "s2", "qid": found["qid"],
            "winner": winner["event_id"], "loser": loser["event_id"]}  # fmt: skip
    first = api.post("/feedback/compare", json=vote).json()
    expected = preference_pairs(
        [r["chunk_id"] for r in winner["results"]], [r["chunk_id"] for r in loser["results"]]
    )
    assert expected  # the two configurations order these documents differently
    stored = store.events(kind="preference")
    assert sorted((e.winner, e.loser) for e in stored) == sorted(expected)
    assert first["added"] == len(expected) == len(first["event_ids"])
    retry = api.post("/feedback/compare", json=vote).json()
    assert (retry["added"], retry["unchanged"]) == (0, len(expected))
    assert len(store.events(kind="preference")) == len(expected)
    assert all(isinstance(e, PreferenceEvent) and e.session_id == "s2" for e in stored)


def test_a_vote_must_name_this_sessions_retrieval_events(api) -> None:
    found = api.get("/compare", params={"q": "dogs", "session_id": "s3"}).json()
    ids = [side["event_id"] for side in found["sides"]]
    vote = {"session_id": "other", "qid": found["qid"], "winner": ids[0], "loser": ids[1]}
    response = api.post("/feedback/compare", json=vote)
    assert response.status_code == 422 and response.json()["detail"][0]["field"] == "winner"
    same = api.post("/feedback/compare", json=vote | {"session_id": "s3", "loser": ids[0]})
    assert same.json()["detail"][0]["field"] == "loser"


def test_preference_pairs_pair_differing_documents_rank_by_rank() -> None:
    assert preference_pairs(["a", "b", "c", "d"], ["a", "x", "c", "y"]) == [("b", "x"), ("d", "y")]
    assert preference_pairs(["a", "b", "c"], ["c", "a", "b"]) == [("a", "c"), ("b", "c")]
    assert preference_pairs(["a", "b"], ["a", "b"]) == []
    assert preference_pairs(["a", "b", "c"], ["x"]) == [("a", "x")]


def test_compare_needs_two_retrievers(store: Store) -> None:
    from fastapi.testclient import TestClient

    from flywheel.server import create_app

    with TestClient(create_app(store, "bm25")) as client:
        response = client.get("/compare", params={"q": "cats"})
        assert response.status_code == 400
        assert "two --retriever" in response.json()["detail"]
        assert client.get("/config").json()["compare"] is False


def test_similar_and_documents(api, store: Store) -> None:
    store.add_documents([{"doc_id": "notes/cat-4", "text": "A cat nap note."}])
    assert api.get("/documents/notes%2Fcat-4").json()["text"] == "A cat nap note."
    assert "A cat nap note." in api.get("/view/notes/cat-4").text
    similar = api.get("/similar/dog-2", params={"k": 2}).json()
    ids = [r["chunk_id"] for r in similar["results"]]
    assert "dog-2" not in ids and ids[0] in {"cat-2", "dog-1"} and len(ids) == 2
    assert api.get("/documents/cat-3").json() == {
        "chunk_id": "cat-3",
        "title": "Cat whiskers",
        "text": "Whiskers help cats measure gaps and sense movement in the dark.",
    }
    missing = api.get("/documents/nope")
    assert missing.status_code == 404 and "no document 'nope'" in missing.json()["detail"]
    assert store.events() == []  # reading is not logging


def test_corpus_text_is_escaped_everywhere(api) -> None:
    view = api.get("/view/xss")
    assert view.status_code == 200
    assert "<script>" not in view.text and "<img" not in view.text
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in view.text
    assert "script-src 'self'" in view.headers["content-security-policy"]
    found = api.get("/search", params={"q": "tricky cats purr loudly"}).json()
    xss = next(r for r in found["results"] if r["chunk_id"] == "xss")
    assert xss["title"] == XSS_TITLE  # JSON carries the raw text; the page inserts it as text
    assert "onerror" in xss["snippet"] and XSS_TEXT.startswith(xss["snippet"][:20])


def test_the_page_and_its_files_are_served(client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and 'src="/static/app.js"' in page.text
    script = client.get("/static/app.js").text
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script
    assert "sendBeacon" in script and "visibilitychange" in script
    assert client.get("/static/style.css").status_code == 200
    info = client.get("/config").json()
    assert info["retrievers"] == RETRIEVERS and info["compare"] and info["auth"]


def test_snippets_cut_around_the_first_query_word() -> None:
    text = "word " * 100 + "the mitochondria make energy " + "filler " * 100
    snippet, spans = make_snippet(text, "mitochondrial energy", width=80)
    assert snippet.startswith("…") and snippet.endswith("…")
    assert [snippet[a:b] for a, b in spans] == ["mitochondria", "energy"]
    short, spans = make_snippet("Cats purr.", "dogs")
    assert (short, spans) == ("Cats purr.", [])
