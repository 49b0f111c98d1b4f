"""The scale a grade was given on (migration 0005): stored, checked, updated, read back."""

from __future__ import annotations

import pytest

from flywheel.errors import DataFormatError
from flywheel.store import ResolvedGrade, Store


def test_scale_is_stored_checked_and_resolved_with_its_source(seeded: Store) -> None:
    seeded.add_judgments({"q1": {"d1": 1, "d2": 0}}, source="benchmark", split="train")
    seeded.add_judgments(
        [
            {"qid": "q1", "doc_id": "d1", "grade": 3, "scale": 3},
            {"qid": "q1", "doc_id": "d3", "grade": 1, "scale": 3},
            {"qid": "q2", "doc_id": "d2", "grade": 4, "scale": "5"},
        ],
        source="llm",
    )
    assert {(r.qid, r.doc_id): r.scale for r in seeded.judgments(sources=["llm"])} == {
        ("q1", "d1"): 3,
        ("q1", "d3"): 3,
        ("q2", "d2"): 5,
    }
    assert {r.scale for r in seeded.judgments(sources=["benchmark"])} == {None}
    resolved = seeded.resolved_qrels()
    assert resolved["q1"] == {
        "d1": ResolvedGrade(1, "benchmark", None),  # the benchmark outranks the LLM's 3
        "d2": ResolvedGrade(0, "benchmark", None),
        "d3": ResolvedGrade(1, "llm", 3),
    }
    assert resolved["q2"]["d2"] == ResolvedGrade(4, "llm", 5)
    assert seeded.qrels() == {"q1": {"d1": 1, "d2": 0, "d3": 1}, "q2": {"d2": 4}}
    # a new grading run replaces the grade and its scale
    seeded.add_judgments(
        [{"qid": "q2", "doc_id": "d2", "grade": 2, "scale": 3}], source="llm", replace=True
    )
    assert seeded.resolved_qrels(sources=["llm"])["q2"]["d2"] == ResolvedGrade(2, "llm", 3)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"grade": 3, "scale": 2.5}, "is not a scale"),
        ({"grade": 3, "scale": 9}, "is not a scale"),
        ({"grade": 4, "scale": 3}, "grade 4 is above its scale 0-3"),
    ],
)
def test_a_bad_scale_names_the_field_and_the_fix(seeded: Store, row, message) -> None:
    with pytest.raises(DataFormatError, match=message):
        seeded.add_judgments([{"qid": "q1", "doc_id": "d1", **row}], source="llm")
    assert seeded.judgments() == []
