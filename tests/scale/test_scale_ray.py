"""The Ray engine equals the single-process path: same vectors, same negatives, same scores.

One small local Ray (2 CPUs, no dashboard, 200 MB object store) serves every test here; each
job runs a real Ray Data pipeline with a pool of two actors and writes Parquet shards.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from flywheel.data.types import Document
from flywheel.datasets.hard_negatives import HardNegativeConfig, mine_hard_negatives
from flywheel.retrieval.embedders import Embedder
from flywheel.retrieval.rerank import CrossEncoderReranker
from flywheel.scale import (
    Pair,
    RayOptions,
    encode_corpus,
    fill_cache,
    mine_negatives,
    read_embeddings,
    read_negatives,
    read_scores,
    score_pairs,
    scores_to_run,
)

ray = pytest.importorskip("ray", reason="the 'ray' extra is not installed")

TOPICS = ["apple orchard harvest", "rocket orbit launch", "violin concert music",
          "river fishing boat", "bread bakery oven", "chess knight opening"]  # fmt: skip
OPTIONS = RayOptions(workers=2, batch_size=8)


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module; the jobs find it running and leave it up."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=200 * 1024 * 1024,
        configure_logging=False,
        log_to_driver=False,
    )
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus() -> dict[str, Document]:
    docs = {}
    for t, topic in enumerate(TOPICS):
        for j in range(6):  # lengths differ, so batches pad differently on each path
            words = " ".join([topic] * (1 + j % 3))
            docs[f"d{t}-{j}"] = Document(f"d{t}-{j}", f"{words} passage {j}", title=f"T{t}")
    return docs


def test_encoding_on_ray_equals_the_single_process_path(
    local_ray, tiny_model: str, corpus, tmp_path: Path
) -> None:
    report = encode_corpus(corpus, tmp_path / "emb", model=tiny_model, engine="ray", ray=OPTIONS)
    assert (report.engine, report.workers, report.documents) == ("ray", 2, len(corpus))
    assert len(list((tmp_path / "emb").glob("*.parquet"))) >= 2  # written by the workers
    shards = read_embeddings(tmp_path / "emb")
    local = Embedder(tiny_model, use_cache=False)
    texts = [d.text_for_encoding for d in corpus.values()]
    expected = local.encode_documents(list(corpus), texts)
    assert shards.doc_ids == list(corpus)  # input order restored
    assert shards.embeddings.shape == expected.shape == (len(corpus), 32)
    np.testing.assert_allclose(shards.embeddings, expected, rtol=0, atol=1e-6)
    assert shards.tokens == local.token_counts(texts)
    assert shards.manifest["engine"] == "ray" and shards.manifest["workers"] == 2

    cached = Embedder(tiny_model, cache_dir=tmp_path / "cache")
    assert fill_cache(tmp_path / "emb", cached) == len(corpus)
    encoded: list[str] = []
    cached._encode = lambda batch, kind: encoded.extend(batch)  # would record any encoding
    again = cached.encode_documents(list(corpus), texts)
    assert encoded == []  # every vector came from the cache the Ray job filled
    np.testing.assert_array_equal(again, shards.embeddings)


def test_mining_on_ray_equals_the_single_process_path(
    local_ray, tiny_model: str, corpus, tmp_path: Path
) -> None:
    queries = {f"q{t}-{k}": f"{topic.split()[k]} question {k}" for t, topic in
               enumerate(TOPICS) for k in range(2)}  # fmt: skip
    qrels = {qid: {f"d{qid[1]}-{int(qid[-1])}": 1, f"d{qid[1]}-5": 2} for qid in queries}
    qrels["q0-0"]["d1-1"] = 0  # judged non-relevant: may be mined, as locally
    config = HardNegativeConfig(  # no margin: a random tiny model scores everything alike
        range_min=1, range_max=12, num_negatives=2, sampling="random", relative_margin=None
    )
    ids = list(corpus)
    embedder = Embedder(tiny_model, use_cache=False)
    docs = embedder.encode_documents(ids, [d.text_for_encoding for d in corpus.values()])
    local = mine_hard_negatives(
        queries, qrels, None, query_embeddings=embedder.encode_queries(list(queries.values())),
        doc_embeddings=docs, doc_ids=ids, config=config,
    )  # fmt: skip
    mined = mine_negatives(
        queries, qrels, doc_ids=ids, doc_embeddings=docs, out=tmp_path / "neg",
        config=config, model=tiny_model, engine="ray", ray=RayOptions(workers=2, batch_size=3),
    )  # fmt: skip
    assert len(local.examples) == len(queries) * 2
    assert all(len(e.negative_ids) == 2 for e in local.examples)
    assert [(e.qid, e.positive_id, e.negative_ids, e.negative_ranks) for e in mined.examples] == [
        (e.qid, e.positive_id, e.negative_ids, e.negative_ranks) for e in local.examples
    ]
    np.testing.assert_allclose(
        [s for e in mined.examples for s in e.negative_scores],
        [s for e in local.examples for s in e.negative_scores],
        rtol=0,
        atol=1e-6,
    )
    assert mined.stats.to_dict() == local.stats.to_dict()  # summed over 4 batches
    assert read_negatives(tmp_path / "neg").examples == mined.examples
    rows = mined.rows(queries, {d: c.text_for_encoding for d, c in corpus.items()})
    assert rows and set(rows[0]) >= {"anchor", "positive", "negative_1", "negative_2"}


def test_scoring_on_ray_equals_the_single_process_path(
    local_ray, tmp_path: Path, corpus, tiny_cross_encoder: str
) -> None:
    model = tiny_cross_encoder
    pairs = [
        Pair(f"q{i % 4}", doc_id, f"question about {TOPICS[i % 6]}", doc.text_for_encoding)
        for i, (doc_id, doc) in enumerate(corpus.items())
    ]
    one = RayOptions(workers=1, batch_size=8)  # one actor: the pool logic is tested above
    report = score_pairs(pairs, tmp_path / "scores", model=model, engine="ray", ray=one)
    assert (report.pairs, report.workers) == (len(pairs), 1)
    scored = read_scores(tmp_path / "scores")
    expected = CrossEncoderReranker(model).score([(p.query, p.text) for p in pairs])
    assert [(q, d) for q, d, _ in scored] == [(p.qid, p.doc_id) for p in pairs]
    np.testing.assert_allclose([s for _, _, s in scored], expected, rtol=0, atol=1e-6)
    run = scores_to_run(scored)
    assert sum(map(len, run.values())) == len(pairs)


def test_asking_for_more_workers_than_fit_fails_before_any_work(local_ray, tmp_path) -> None:
    from flywheel.errors import ConfigError

    with pytest.raises(ConfigError, match="5 workers need 5 CPUs; the Ray cluster has 2 CPUs"):
        encode_corpus({"a": "text"}, tmp_path / "x", model="unused", engine="ray",
                      ray=RayOptions(workers=5))  # fmt: skip
    assert not (tmp_path / "x").exists()
