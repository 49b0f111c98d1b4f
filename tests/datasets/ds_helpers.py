"""Helpers shared by the training-data tests (a unique name: other areas have tests too)."""

from __future__ import annotations

import math

import numpy as np


def unit(cos: float, sign: float = 1.0) -> list[float]:
    """A 2-d unit vector whose dot product with [1, 0] is ``cos``."""
    return [cos, sign * math.sqrt(max(0.0, 1.0 - cos * cos))]


def fake_encode(query_texts, doc_ids, doc_texts):
    """Deterministic bag-of-characters embeddings: no model, same result every time."""

    def vec(text: str) -> np.ndarray:
        v = np.zeros(32, dtype=np.float32)
        for ch in text.lower():
            v[ord(ch) % 32] += 1
        return v / (np.linalg.norm(v) or 1)

    return np.stack([vec(t) for t in query_texts]), np.stack([vec(t) for t in doc_texts])
