"""Tiny corpora made in the test."""

from __future__ import annotations

import pytest

from flywheel.data.types import Corpus, Document


@pytest.fixture
def tiny_corpus() -> Corpus:
    docs = [
        Document("cat", "Cats are small felines that purr and chase mice.", title="Cats"),
        Document("dog", "Dogs are loyal companions that bark and fetch sticks.", title="Dogs"),
        Document("bird", "Birds have feathers and most of them can fly.", title="Birds"),
        Document("fish", "Fish swim in rivers, lakes and the sea using gills."),
        Document("rocket", "A rocket engine burns propellant to produce thrust.", title="Rockets"),
    ]
    return {doc.doc_id: doc for doc in docs}


@pytest.fixture
def tiny_queries() -> dict[str, str]:
    return {"q1": "which animal will purr", "q2": "rocket thrust propellant", "q3": "gills swim"}
