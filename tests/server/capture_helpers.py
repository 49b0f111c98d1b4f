"""Shared by the capture tests (a unique module name: other test folders have a conftest too).

A tiny corpus about animals, plus one document that tries HTML injection."""

from __future__ import annotations

from flywheel.store import Store

TOKEN = "test-token-7d1f"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
RETRIEVERS = ["bm25", "bm25,stemmer=none"]
XSS_TITLE = "<script>window.__pwned = 1</script>Tricky <b>cats</b>"
XSS_TEXT = (
    '<img src=x onerror="window.__pwned = 2"> cats purr loudly <script>window.__pwned = 3</script>'
)

DOCS = [
    {
        "doc_id": "cat-1",
        "title": "Why cats purr",
        "text": "Cats purr when content and sometimes when stressed; the purr is 25 to 150 Hz.",
    },
    {
        "doc_id": "cat-2",
        "title": "How cats sleep",
        "text": "Cats sleep twelve to sixteen hours a day, mostly in short naps.",
    },
    {
        "doc_id": "cat-3",
        "title": "Cat whiskers",
        "text": "Whiskers help cats measure gaps and sense movement in the dark.",
    },
    {
        "doc_id": "dog-1",
        "title": "Why dogs bark",
        "text": "Dogs bark to warn, to ask for attention, and out of boredom.",
    },
    {
        "doc_id": "dog-2",
        "title": "How dogs sleep",
        "text": "Dogs sleep about twelve hours a day; puppies sleep even more.",
    },
    {
        "doc_id": "fish-1",
        "title": "How fish breathe",
        "text": "Fish breathe by passing water over their gills, which take oxygen from it.",
    },
    {
        "doc_id": "bird-1",
        "title": "Why birds sing",
        "text": "Birds sing to defend territory and to attract mates, mostly at dawn.",
    },
    {"doc_id": "xss", "title": XSS_TITLE, "text": XSS_TEXT},
]
QUERIES = {
    "q-purr": "why do cats purr",
    "q-bark": "why do dogs bark",
    "q-sleep": "how long do cats sleep",
    "q-fish": "how do fish breathe",
    "t-birds": "why do birds sing",
}
JUDGMENTS = [
    {"qid": "q-purr", "doc_id": "cat-1", "grade": 1, "split": "train"},
    {"qid": "q-bark", "doc_id": "dog-1", "grade": 1, "split": "train"},
    {"qid": "q-sleep", "doc_id": "cat-2", "grade": 1, "split": "train"},
    {"qid": "q-fish", "doc_id": "fish-1", "grade": 1, "split": "train"},
    {"qid": "t-birds", "doc_id": "bird-1", "grade": 1, "split": "test"},
]


def seed(store: Store) -> Store:
    store.add_documents(DOCS)
    store.add_queries(QUERIES)
    store.add_judgments(JUDGMENTS, source="benchmark")
    return store


def click(qid: str, **fields) -> dict:
    return {
        "kind": "click",
        "session_id": "s1",
        "qid": qid,
        "chunk_id": "cat-1",
        "rank": 1,
    } | fields
