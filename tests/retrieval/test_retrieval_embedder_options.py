from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from flywheel.errors import ConfigError, MissingDependencyError
from flywheel.retrieval import Embedder
from flywheel.testing import FakeEmbedder


def test_importing_retrieval_loads_no_heavy_library():
    code = (
        "import sys, flywheel.retrieval, flywheel.testing; "
        "print(sorted(m for m in ('torch', 'faiss', 'sentence_transformers', 'transformers') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_bad_options_fail_before_loading_anything():
    with pytest.raises(ConfigError, match="choose one of: torch, onnx, openvino, ort, ort-int8"):
        Embedder(backend="tensorrt")
    with pytest.raises(ConfigError, match="choose one of: float32, float16, bfloat16"):
        Embedder(precision="int3")
    with pytest.raises(ConfigError, match="torch backend only"):
        Embedder(backend="onnx", precision="float16")
    with pytest.raises(ConfigError, match="batch_size"):
        Embedder(batch_size=0)
    with pytest.raises(ConfigError, match="one text per id"):
        FakeEmbedder().encode_documents(["a", "b"], ["only one"])


@pytest.mark.skipif(importlib.util.find_spec("optimum") is not None, reason="optimum installed")
def test_onnx_without_optimum_names_the_extra():
    with pytest.raises(MissingDependencyError, match=r"rag-flywheel\[onnx\]"):
        Embedder(backend="onnx").encode_queries(["x"])


def test_model_id_tracks_the_weights(tmp_path):
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights v1")
    first = Embedder(str(folder), cache_dir=tmp_path).model_id
    assert first.startswith("my-model@")
    (folder / "model.safetensors").write_bytes(b"weights v2")  # "fine-tuned" in place
    assert Embedder(str(folder), cache_dir=tmp_path).model_id != first


def test_empty_inputs_give_empty_matrices(tmp_path):
    embedder = FakeEmbedder(dim=8, cache_dir=tmp_path)
    assert embedder.encode_documents([], []).shape == (0, 8)
    assert embedder.encode_queries([]).shape == (0, 8)
    assert embedder.truncation_rate == 0.0
