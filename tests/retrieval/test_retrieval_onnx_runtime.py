"""The ONNX Runtime backends: fp32 equals torch, int8 stays close, the export is made once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from flywheel.retrieval import Embedder
from flywheel.testing import build_tiny_sentence_transformer

TEXTS = [
    "Cats are small felines that purr and chase mice.",
    "A rocket engine burns propellant to produce thrust, and the exhaust leaves the nozzle.",
    "short",
    "Fish swim in rivers, lakes and the sea using gills " * 6,
]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_tiny_sentence_transformer(tmp_path_factory.mktemp("tiny") / "st")


def _encode(model: str, backend: str, cache: Path) -> np.ndarray:
    embedder = Embedder(model, backend=backend, cache_dir=cache / "embeddings", batch_size=2)
    return embedder.encode_documents([str(i) for i in range(len(TEXTS))], TEXTS)


def test_ort_fp32_matches_torch(tiny_model: str, tmp_path: Path) -> None:
    torch_vectors = _encode(tiny_model, "torch", tmp_path)
    ort_vectors = _encode(tiny_model, "ort", tmp_path)
    assert ort_vectors.shape == torch_vectors.shape
    np.testing.assert_allclose(ort_vectors, torch_vectors, atol=1e-5)


def test_ort_int8_is_close_and_cached_apart(tiny_model: str, tmp_path: Path) -> None:
    torch_vectors = _encode(tiny_model, "torch", tmp_path)
    int8 = _encode(tiny_model, "ort-int8", tmp_path)
    cosines = (torch_vectors * int8).sum(axis=1)
    assert cosines.min() > 0.95 and not np.allclose(int8, torch_vectors, atol=1e-6)
    graphs = list((tmp_path / "onnx").glob("*/model.onnx"))
    assert len(graphs) == 1  # one export for ort-int8; the torch vectors needed none
    stamp = graphs[0].stat().st_mtime_ns
    again = Embedder(tiny_model, backend="ort-int8", cache_dir=tmp_path / "elsewhere" / "e")
    again.cache_dir = tmp_path / "embeddings"  # same graph folder, fresh embedding cache
    # dynamic int8 quantises activations per batch, so another batching moves values by ~1e-4
    np.testing.assert_allclose(again.encode_queries(TEXTS), int8, atol=1e-3)
    assert graphs[0].stat().st_mtime_ns == stamp  # reused, not exported again


def test_queries_and_dimension_through_ort(tiny_model: str, tmp_path: Path) -> None:
    embedder = Embedder(tiny_model, backend="ort", cache_dir=tmp_path / "embeddings")
    assert embedder.dimension == 32
    vectors = embedder.encode_queries(["which animal will purr"])
    assert vectors.shape == (1, 32)
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([1.0], abs=1e-5)


def test_cross_encoder_through_ort_scores_like_torch(tmp_path: Path) -> None:
    from flywheel.retrieval.rerank import CrossEncoderReranker
    from flywheel.testing import build_tiny_cross_encoder

    model = build_tiny_cross_encoder(tmp_path / "ce")
    pairs = [
        ("which animal will purr", TEXTS[0]),
        ("rocket thrust", TEXTS[1]),
        ("gills", TEXTS[3]),
        ("x", "short"),
    ]
    scores = {
        backend: CrossEncoderReranker(
            model, backend=backend, cache_dir=tmp_path / "onnx", batch_size=3
        ).score(pairs)
        for backend in ("torch", "ort", "ort-int8")
    }
    np.testing.assert_allclose(scores["ort"], scores["torch"], atol=1e-5)
    assert np.abs(scores["ort-int8"] - scores["torch"]).max() < 0.05
    assert len(list((tmp_path / "onnx").glob("*/model.onnx"))) == 2
