"""ONNX Runtime inference for sentence-transformers bi-encoders, with int8 weights on CPU.

Why not sentence-transformers' own ``backend="onnx"``: it goes through ``optimum``, whose ONNX
release pins ``transformers<4.58`` and whose OpenVINO release pins an older transformers and a
newer torch, neither installable beside the transformers 5 that sentence-transformers 6 needs.
So this module does the same three steps with the libraries underneath: ``torch.onnx.export``
traces the *whole* model (transformer, pooling, any dense layer, normalisation) into one graph,
``onnxruntime.quantization.quantize_dynamic`` turns its weights into per-channel int8, and an
``onnxruntime.InferenceSession`` runs it. The exported graph is cached next to the embeddings,
keyed by the model's weights, so the export (seconds) happens once per model.

Measured on SciFact with all-MiniLM-L6-v2 on 2 cores: ``benchmarks/encode_speed.py --backends``.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from flywheel.errors import ConfigError, MissingDependencyError

logger = logging.getLogger(__name__)

OPSET = 17
EXPORT_VERSION = 1  # bump when the export recipe changes, so cached graphs are rebuilt


def _require_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise MissingDependencyError("onnxruntime", extra="onnx") from exc
    return onnxruntime


def _graph_module(model: Any, input_names: Sequence[str], output: str) -> Any:
    """A ``torch.nn.Module`` over a sentence-transformers model: token tensors in, ``output``
    out, so the exported graph holds every module of the model (pooling, dense layers, the
    cross-encoder's activation included)."""
    import torch

    activation = getattr(model, "activation_fn", None) if output == "scores" else None

    class Graph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: Any) -> Any:
            features = dict(zip(input_names, tensors, strict=True))
            values = self.model(features)[output]
            return activation(values) if activation is not None else values

    return Graph().eval()


def _fresh(graph_dir: Path) -> bool:
    meta = graph_dir / "export.json"
    if not (graph_dir / "model.onnx").is_file() or not meta.is_file():
        return False
    return json.loads(meta.read_text(encoding="utf-8")).get("version") == EXPORT_VERSION


def export_graph(model: Any, sample: Any, out_dir: Path, *, output: str, quantize: bool) -> Path:
    """Export a loaded sentence-transformers model to ``out_dir/model.onnx`` (int8 weights when
    ``quantize``), tracing it on ``sample`` (tokenizer output). Atomic: a half-written export is
    never picked up as a cached one."""
    import torch

    _require_onnxruntime()
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in sample]
    tensors = tuple(sample[k].to("cpu") for k in names)
    axes = {name: {0: "batch", 1: "tokens"} for name in names}
    axes[output] = {0: "batch"}
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        plain = Path(tmp) / "model_fp32.onnx"
        with torch.no_grad():
            torch.onnx.export(
                _graph_module(model.to("cpu"), names, output),
                tensors,
                str(plain),
                input_names=names,
                output_names=[output],
                dynamic_axes=axes,
                opset_version=OPSET,
                dynamo=False,
            )
        final = plain
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            final = Path(tmp) / "model_int8.onnx"
            quantize_dynamic(str(plain), str(final), weight_type=QuantType.QInt8, per_channel=True)
        os.replace(final, out_dir / "model.onnx")
    record = {"inputs": names, "output": output, "quantized": quantize, "opset": OPSET}
    (out_dir / "export.json").write_text(
        json.dumps({**record, "version": EXPORT_VERSION}), encoding="utf-8"
    )
    return out_dir / "model.onnx"


def _open_graph(
    model: Any,
    graph_dir: Path,
    samples: list[Any],
    *,
    output: str,
    quantize: bool,
    threads: int | None,
) -> tuple[Any, list[str]]:
    """An inference session over ``graph_dir``, exporting ``model`` first (traced on ``samples``)
    when no current export is there; returns the session and its input names."""
    ort = _require_onnxruntime()
    if not _fresh(graph_dir):
        logger.info("exporting %s to ONNX (%s)", graph_dir.name, "int8" if quantize else "fp32")
        sample = getattr(model, "preprocess", None) or model.tokenize
        export_graph(model, sample(samples), graph_dir, output=output, quantize=quantize)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or (os.cpu_count() or 1)
    session = ort.InferenceSession(
        str(graph_dir / "model.onnx"), options, providers=["CPUExecutionProvider"]
    )
    inputs = json.loads((graph_dir / "export.json").read_text(encoding="utf-8"))["inputs"]
    return session, inputs


class OrtSentenceEncoder:
    """Encode texts with an exported graph; the same calls :class:`~flywheel.retrieval.
    embedders.Embedder` makes on a ``SentenceTransformer`` (``encode``, ``tokenizer``,
    ``max_seq_length``, ``prompts``, ``get_embedding_dimension``).

    ``model`` is the torch ``SentenceTransformer`` (its tokenizer, prompts and limits are used;
    it is exported when ``graph_dir`` holds no graph yet). ``threads`` defaults to the cores.
    """

    def __init__(
        self, model: Any, graph_dir: Path, *, quantize: bool, threads: int | None = None
    ) -> None:
        self.tokenizer = model.tokenizer
        self.prompts = dict(getattr(model, "prompts", None) or {})
        self.max_seq_length = int(model.max_seq_length)
        self._session, self._inputs = _open_graph(
            model,
            graph_dir,
            ["a short sample text", "a second, longer sample text here"],
            output="sentence_embedding",
            quantize=quantize,
            threads=threads,
        )
        self._dim: int | None = None

    def get_embedding_dimension(self) -> int:
        if self._dim is None:
            self._dim = int(self.encode(["dimension probe"]).shape[1])
        return self._dim

    def encode(
        self,
        sentences: Sequence[str],
        *,
        batch_size: int = 32,
        prompt_name: str | None = None,
        normalize_embeddings: bool = True,
        **_: Any,
    ) -> np.ndarray:
        """Embeddings for ``sentences`` in order (float32); the graph already pools."""
        if prompt_name is not None and prompt_name not in self.prompts:
            raise ConfigError(f"unknown prompt {prompt_name!r}; the model has {list(self.prompts)}")
        prefix = self.prompts.get(prompt_name, "") if prompt_name else ""
        texts = [prefix + text for text in sentences]
        parts: list[np.ndarray] = []
        for start in range(0, len(texts), batch_size):
            batch = self.tokenizer(
                texts[start : start + batch_size],
                padding=True,
                truncation=True,
                max_length=self.max_seq_length,
                return_tensors="np",
            )
            feed = {name: batch[name].astype(np.int64) for name in self._inputs}
            parts.append(self._session.run(None, feed)[0].astype(np.float32))
        out = np.concatenate(parts) if parts else np.empty((0, 0), dtype=np.float32)
        if normalize_embeddings and len(out):
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            np.divide(out, norms, out=out, where=norms > 0)
        return out


class OrtCrossEncoder:
    """Score ``(query, text)`` pairs with an exported cross-encoder; ``predict`` mirrors
    ``CrossEncoder.predict`` (the model's activation is part of the graph). Pairs are scored
    longest-first in batches, as sentence-transformers does, so batches carry little padding."""

    def __init__(
        self, model: Any, graph_dir: Path, *, quantize: bool, threads: int | None = None
    ) -> None:
        self.tokenizer = model.tokenizer
        self.max_length = getattr(model, "max_length", None) or 512
        self._session, self._inputs = _open_graph(
            model,
            graph_dir,
            [("a query", "a passage"), ("another query", "more text")],
            output="scores",
            quantize=quantize,
            threads=threads,
        )

    def predict(self, pairs: Sequence[tuple[str, str]], *, batch_size: int = 32, **_: Any) -> Any:
        order = sorted(range(len(pairs)), key=lambda i: -len(pairs[i][0]) - len(pairs[i][1]))
        out = np.empty(len(pairs), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            batch = self.tokenizer(
                [pairs[i][0] for i in rows],
                [pairs[i][1] for i in rows],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="np",
            )
            feed = {name: batch[name].astype(np.int64) for name in self._inputs}
            scores = self._session.run(None, feed)[0].reshape(len(rows), -1)
            if scores.shape[1] != 1:
                raise ConfigError(
                    f"the cross-encoder returns {scores.shape[1]} labels per pair; a re-ranker "
                    "needs one score (num_labels=1)"
                )
            out[rows] = scores[:, 0]
        return out
