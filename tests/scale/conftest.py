"""A tiny BEIR folder and tiny models for the batch-job tests."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TOPICS = ["apple orchard harvest", "rocket orbit launch", "violin concert music",
          "river fishing boat", "bread bakery oven", "chess knight opening"]  # fmt: skip


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    from flywheel.testing import build_tiny_sentence_transformer

    return build_tiny_sentence_transformer(tmp_path_factory.mktemp("scale") / "st", seed=3)


@pytest.fixture(scope="session")
def tiny_cross_encoder(tmp_path_factory) -> str:
    from flywheel.testing import build_tiny_cross_encoder

    return build_tiny_cross_encoder(tmp_path_factory.mktemp("scale") / "ce", seed=5)


@pytest.fixture
def beir_folder(tmp_path: Path) -> Path:
    """6 topics x 6 documents; 2 training queries per topic, each with one judged document."""
    root = tmp_path / "tiny-beir"
    (root / "qrels").mkdir(parents=True)
    docs, queries, qrels = [], [], ["query-id\tcorpus-id\tscore"]
    for t, topic in enumerate(TOPICS):
        for j in range(6):
            words = " ".join([topic] * (1 + j % 3))
            docs.append({"_id": f"d{t}-{j}", "title": f"T{t}", "text": f"{words} passage {j}"})
        for k in range(2):
            queries.append({"_id": f"q{t}-{k}", "text": f"{topic.split()[k]} question {k}"})
            qrels.append(f"q{t}-{k}\td{t}-{k}\t1")
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (root / "qrels" / "train.tsv").write_text("\n".join(qrels) + "\n")
    return root
