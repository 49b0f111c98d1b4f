"""The synthetic_positives table (migration 0004) on SQLite and PostgreSQL: a synthetic pair's
positive is stored with its query in one transaction, replaced when written again, read back
for synthetic queries only, and removed with its query."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import delete, func, inspect, select

from flywheel.errors import ConfigError, DataFormatError
from flywheel.store import Store
from flywheel.store.engine import alembic_config, current_revision, head_revision, make_engine
from flywheel.store.schema import queries, synthetic_positives
from flywheel.store.synthetic import add_synthetic_pairs, synthetic_positive_texts

QUESTION = "Lava cools into basalt when it reaches the sea."
MASKED = "Volcanic rock The rock forms columns as it shrinks."


def _pairs(store: Store, masked: str = MASKED, *, missing_doc: bool = False) -> dict:
    rows = [
        {"qid": "syn-ict-1", "text": QUESTION, "source": "synthetic"},
        {"qid": "syn-llm-2", "text": "why do rocks form columns?", "source": "synthetic"},
    ]
    judgments = [
        {"qid": "syn-ict-1", "doc_id": "dX" if missing_doc else "d1", "grade": 1},
        {"qid": "syn-llm-2", "doc_id": "d1", "grade": 1},
    ]
    positives = [{"qid": "syn-ict-1", "doc_id": "d1", "generator": "ict", "text": masked}]
    return add_synthetic_pairs(store, rows, judgments, positives, split="train")


def _rows(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(synthetic_positives)).scalar())


@pytest.fixture
def docs(store: Store) -> Store:
    store.add_documents(
        [{"doc_id": "d1", "title": "Volcanic rock", "text": f"{QUESTION} The rock forms "
          "columns as it shrinks."}, {"doc_id": "d2", "text": "Tides follow the moon."}]
    )  # fmt: skip
    store.add_queries({"r1": "what makes tides"})
    store.add_judgments({"r1": {"d2": 1}}, split="train")
    return store


def test_positives_round_trip_into_the_dataset_and_only_there(docs: Store) -> None:
    written = _pairs(docs)
    assert written["positives"] == 1 and written["queries"].added == 2
    assert synthetic_positive_texts(docs) == {"syn-ict-1": {"d1": MASKED}}
    dataset = docs.to_dataset()
    assert dataset.positive_texts == {"syn-ict-1": {"d1": MASKED}}
    assert dataset.qrels["train"]["syn-ict-1"] == {"d1": 1}
    assert MASKED not in dataset.texts().values()
    assert docs.queries(source="synthetic") == {
        "syn-ict-1": QUESTION,
        "syn-llm-2": "why do rocks form columns?",
    }
    assert {j.source for j in docs.judgments() if j.qid.startswith("syn-")} == {"derived"}


def test_writing_again_replaces_and_never_duplicates(docs: Store) -> None:
    _pairs(docs)
    again = _pairs(docs)
    assert again["queries"].unchanged == 2 and again["judgments"].unchanged == 2
    assert _rows(docs) == 1
    _pairs(docs, "another masked passage")
    assert _rows(docs) == 1
    assert synthetic_positive_texts(docs) == {"syn-ict-1": {"d1": "another masked passage"}}


def test_a_bad_pair_stores_nothing(docs: Store) -> None:
    with pytest.raises(DataFormatError):
        _pairs(docs, missing_doc=True)  # the judgment names no stored document
    assert docs.queries(source="synthetic") == {} and _rows(docs) == 0
    with pytest.raises(ConfigError, match="name no query"):
        add_synthetic_pairs(
            docs, [], [], [{"qid": "q", "doc_id": "d1", "generator": "ict", "text": "t"}],
            split="train",
        )  # fmt: skip


def test_real_queries_never_get_a_positive_and_deleting_a_query_removes_its_own(
    docs: Store,
) -> None:
    _pairs(docs)
    with docs.engine.begin() as conn:  # a row that should not exist: it must still not count
        conn.execute(
            synthetic_positives.insert(),
            {"qid": "r1", "doc_id": "d2", "generator": "ict", "text": "stray"},
        )
    assert "r1" not in docs.to_dataset().positive_texts
    with docs.engine.begin() as conn:
        conn.execute(delete(queries).where(queries.c.qid.in_(["r1", "syn-ict-1"])))
    assert _rows(docs) == 0 and docs.to_dataset().positive_texts == {}


def test_a_store_at_0003_upgrades_in_place_keeping_its_synthetic_pairs(db_url: str) -> None:
    engine = make_engine(db_url)
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0003_hosted_usage_synthetic")
        row = {"qid": "syn-ict-old", "text": QUESTION, "source": "synthetic"}
        conn.execute(queries.insert(), row)
    assert "synthetic_positives" not in inspect(engine).get_table_names()
    engine.dispose()
    with Store(db_url) as store:
        assert current_revision(store.engine) == head_revision()  # 0004 and every later one
        assert store.queries(source="synthetic") == {"syn-ict-old": QUESTION}
        assert store.to_dataset().positive_texts == {} and _rows(store) == 0
