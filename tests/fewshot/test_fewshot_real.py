"""The slow tier: the real MiniLM on a slice of the intent-labelled TREC questions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flywheel.fewshot import (
    BuildConfig,
    Example,
    NearestNeighbourSelector,
    QualityConfig,
    RandomSelector,
    build_library,
    evaluate_selectors,
)
from flywheel.fewshot.selectors import ExamplePool
from flywheel.retrieval.embedders import Embedder

TREC = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "intent" / "trec_qc"
pytestmark = pytest.mark.slow


def _read(split: str, n: int) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in (TREC / f"{split}.jsonl").read_text().splitlines()]
    return [(r["text"], r["label_coarse"]) for r in rows[:n]]


@pytest.mark.skipif(not TREC.is_dir(), reason="shared intent datasets not present")
def test_library_from_trec_questions_covers_at_least_as_well_as_nearest(tmp_path) -> None:
    embedder = Embedder(cache_dir=tmp_path, device="cpu")
    train = [Example(f"t{i}", q, intent=label) for i, (q, label) in enumerate(_read("train", 400))]
    library = build_library(
        train, embedder=embedder, config=BuildConfig(quality=QualityConfig.relaxed())
    )
    assert {g["group_id"] for g in library.groups} == {e.intent for e in train}  # 6 coarse types
    assert all(len(reps) == 2 for reps in library.representatives().values())
    test = _read("test", 150)
    vectors = embedder.encode_queries([q for q, _ in test])
    entries = library.pool
    pool = ExamplePool(
        [e.example for e in entries],
        embedder.encode_documents(
            [e.example.qid for e in entries], [e.example.question for e in entries]
        ),
        [e.group_id or "" for e in entries],
    )
    report = evaluate_selectors(
        {
            "nearest": NearestNeighbourSelector(pool),
            "random": RandomSelector(pool),
            "library": library.selector(embedder),
        },
        [q for q, _ in test],
        vectors,
        [label for _, label in test],
        {e.qid: e.intent for e in train},
        k=4,
        n_resamples=200,
    )
    assert report.mean("library", "coverage") >= report.mean("nearest", "coverage")
    assert report.mean("library", "coverage") > report.mean("random", "coverage")
    assert report.mean("library", "redundancy") < report.mean("nearest", "redundancy")
