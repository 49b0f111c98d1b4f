from __future__ import annotations

import numpy as np
import pytest

from flywheel.retrieval.cache import EmbeddingCache
from flywheel.testing import FakeEmbedder

TEXTS = ["alpha beta", "gamma delta epsilon", "zeta", "eta theta iota kappa"]
IDS = ["a", "b", "c", "d"]


def test_second_encode_never_calls_the_model(tmp_path):
    first = FakeEmbedder(cache_dir=tmp_path)
    vectors = first.encode_documents(IDS, TEXTS)
    assert first.model.calls >= 1 and sorted(first.model.encoded) == sorted(TEXTS)
    again = FakeEmbedder(cache_dir=tmp_path)  # a new process would look like this
    cached = again.encode_documents(IDS, TEXTS)
    assert again._model is None or again.model.calls == 0
    np.testing.assert_array_equal(cached, vectors)
    assert cached.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(cached, axis=1), 1.0, rtol=1e-6)


def test_changed_text_is_encoded_alone(tmp_path):
    embedder = FakeEmbedder(cache_dir=tmp_path)
    embedder.encode_documents(IDS, TEXTS)
    embedder.model.encoded.clear()
    changed = [*TEXTS[:3], "eta theta iota lambda"]
    out = embedder.encode_documents(IDS, changed)
    assert embedder.model.encoded == ["eta theta iota lambda"]
    np.testing.assert_array_equal(out[3], embedder.model.encode(["eta theta iota lambda"])[0])


def test_duplicates_are_encoded_once_and_order_is_kept(tmp_path):
    embedder = FakeEmbedder(cache_dir=tmp_path, batch_size=2)
    texts = ["one two", "three", "one two", "four five six"]
    out = embedder.encode_documents(["w", "x", "y", "z"], texts)
    assert sorted(embedder.model.encoded) == ["four five six", "one two", "three"]
    np.testing.assert_array_equal(out[0], out[2])
    np.testing.assert_array_equal(out[1], embedder.model.encode(["three"])[0])
    # batches go longest first, so similar lengths share a batch
    assert embedder.model.encoded[0] == "four five six"


def test_different_model_never_reuses_entries(tmp_path):
    FakeEmbedder(cache_dir=tmp_path, name="model-a").encode_documents(IDS, TEXTS)
    other = FakeEmbedder(cache_dir=tmp_path, name="model-b")
    other.encode_documents(IDS, TEXTS)
    assert sorted(other.model.encoded) == sorted(TEXTS)
    shorter = FakeEmbedder(cache_dir=tmp_path, name="model-a", max_seq_length=3)
    shorter.encode_documents(IDS, TEXTS)  # another max_seq_length is another cache
    assert sorted(shorter.model.encoded) == sorted(TEXTS)
    assert len({p.name for p in tmp_path.iterdir()}) == 3


def test_truncation_rate_counts_texts_over_the_limit(tmp_path):
    embedder = FakeEmbedder(cache_dir=tmp_path, max_seq_length=4)  # fake: words + 2 specials
    embedder.encode_documents(IDS, TEXTS)  # token counts 4, 5, 3, 6 -> 2 of 4 over
    assert embedder.truncation_rate == pytest.approx(0.5)
    again = FakeEmbedder(cache_dir=tmp_path, max_seq_length=4)
    again.encode_documents(IDS[:1], TEXTS[:1])  # from the cache alone
    assert again.truncation_rate == 0.0


def test_cache_files_are_written_atomically(tmp_path, monkeypatch):
    embedder = FakeEmbedder(cache_dir=tmp_path)
    embedder.encode_documents(IDS[:2], TEXTS[:2])
    folder = embedder.cache.folder
    shards = sorted(p.name for p in folder.iterdir())
    assert not [name for name in shards if name.endswith(".tmp")]
    assert sum(name.endswith(".keys.json") for name in shards) == 1

    def crash(*args, **kwargs):
        raise OSError("disk full")

    # a crash while writing the keys file leaves no visible shard and no temp file
    monkeypatch.setattr("flywheel.retrieval.cache.json.dump", crash)
    with pytest.raises(OSError, match="disk full"):
        embedder.encode_documents(IDS, TEXTS)
    monkeypatch.undo()
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    reloaded = EmbeddingCache(folder)
    reloaded.refresh()
    assert len(reloaded) == 2


def test_compaction_keeps_every_vector(tmp_path):
    embedder = FakeEmbedder(cache_dir=tmp_path)
    for i, text in enumerate(TEXTS):
        embedder.encode_documents([IDS[i]], [text])
    cache = embedder.cache
    assert cache.shard_count == 4
    before = embedder.encode_documents(IDS, TEXTS)
    cache.compact()
    assert cache.shard_count == 1 and len(list(tmp_path.rglob("shard-*.npy"))) == 1
    fresh = FakeEmbedder(cache_dir=tmp_path)
    np.testing.assert_array_equal(fresh.encode_documents(IDS, TEXTS), before)
    assert fresh._model is None or fresh.model.calls == 0


def test_uncached_mode_matches_cached_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("FLYWHEEL_CACHE", str(tmp_path / "user-cache"))
    cached = FakeEmbedder(cache_dir=tmp_path / "c").encode_documents(IDS, TEXTS)
    plain = FakeEmbedder().encode_documents(IDS, TEXTS)
    np.testing.assert_array_equal(plain, cached)
    assert not (tmp_path / "user-cache").exists()


def test_primed_vectors_are_used_and_only_the_rest_is_encoded(tmp_path):
    # the loop primes the fine-tuned model's cache with the vectors its dev gate computed
    elsewhere = FakeEmbedder()  # the same model, in another place (training's evaluator)
    computed = elsewhere.model.encode(TEXTS[:3], normalize_embeddings=True)
    embedder = FakeEmbedder(cache_dir=tmp_path)
    assert embedder.prime(TEXTS[:3], computed) == 3
    assert embedder.prime(TEXTS[:3], computed) == 0  # already there: nothing added twice
    embedder.model.encoded.clear()
    out = embedder.encode_documents(IDS, TEXTS)
    assert embedder.model.encoded == [TEXTS[3]]
    fresh = FakeEmbedder().encode_documents(IDS, TEXTS)
    np.testing.assert_allclose(out, fresh, rtol=1e-6, atol=1e-7)


def test_priming_refuses_a_mismatch_and_other_numerics(tmp_path):
    embedder = FakeEmbedder(cache_dir=tmp_path)
    with pytest.raises(Exception, match="one per text"):
        embedder.prime(TEXTS, np.zeros((2, embedder.dim), np.float32))
    assert FakeEmbedder().prime(TEXTS, np.zeros((4, 32), np.float32)) == 0  # no cache
    int8 = FakeEmbedder(cache_dir=tmp_path)
    int8.backend = type(int8.backend)("ort-int8")  # vectors from PyTorch never fill an int8 cache
    assert int8.prime(TEXTS, np.ones((4, 32), np.float32)) == 0
