"""Planted data for the few-shot tests: three topics with disjoint vocabularies."""

from __future__ import annotations

import numpy as np

from flywheel.fewshot import Example

TOPICS = {
    "billing": ["invoice", "payment", "charge", "refund", "bill", "card", "fee", "price"],
    "shipping": ["parcel", "delivery", "courier", "tracking", "shipment", "arrive", "box", "late"],
    "account": ["password", "login", "username", "reset", "profile", "email", "locked", "signin"],
}


def planted(per_topic: int = 10, *, labels: bool = True, seed: int = 0) -> list[Example]:
    """``per_topic`` questions per topic, four words of the topic each, with answer/reasoning."""
    rng = np.random.default_rng(seed)
    out = []
    for topic, words in TOPICS.items():
        for i in range(per_topic):
            question = " ".join(rng.choice(words, size=4, replace=False))
            out.append(
                Example(
                    qid=f"{topic}-{i}",
                    question=question,
                    answer=topic,
                    reasoning=f"the question is about {topic}",
                    intent=topic if labels else None,
                    positive_feedback=1,
                )
            )
    return out
