"""Fakes and tiny models for tests - the project's own and users' (no network, no real model).

The tiny-model builders write real sentence-transformers folders that train in milliseconds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from flywheel._internal.hashing import text_hash
from flywheel.retrieval.embedders import Embedder


def _tiny_backbone(path: Path, seed: int) -> Path:
    """A 2-layer, 32-wide BERT with the real MiniLM tokenizer, saved as a Hugging Face folder."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from flywheel.models import DEFAULT_BASE_MODEL, resolve_model

    backbone = Path(path)
    backbone.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(DEFAULT_BASE_MODEL))
    tokenizer.save_pretrained(str(backbone))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(str(backbone))
    return backbone


def build_tiny_sentence_transformer(
    path: str | Path, *, seed: int = 0, max_seq_length: int = 64
) -> str:
    """Write a tiny sentence-transformers model (2-layer BERT, dim 32, mean pooling, normalize).

    For tests that train or encode: a training step takes milliseconds on a CPU, where MiniLM
    takes seconds. The vocabulary is MiniLM's (copied from the installed package), so any text
    tokenizes as it would for the real model. Returns the folder as a string for
    ``SentenceTransformer(...)``.
    """
    import shutil
    import tempfile

    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules.normalize import Normalize
    from sentence_transformers.base.modules.transformer import Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    out = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        backbone = _tiny_backbone(Path(tmp) / "backbone", seed)
        transformer = Transformer(str(backbone), max_seq_length=max_seq_length)
        model = SentenceTransformer(
            modules=[transformer, Pooling(32, "mean"), Normalize()], device="cpu"
        )
        if out.exists():
            shutil.rmtree(out)
        model.save(str(out))
    return str(out)


def build_tiny_cross_encoder(path: str | Path, *, seed: int = 0, max_length: int = 64) -> str:
    """Write a tiny sentence-transformers ``CrossEncoder`` (2-layer BERT, one output score).

    Same backbone as :func:`build_tiny_sentence_transformer`, with a fresh scoring head.
    Returns the folder as a string for ``CrossEncoder(...)``.
    """
    import shutil
    import tempfile

    from sentence_transformers import CrossEncoder

    out = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        backbone = _tiny_backbone(Path(tmp) / "backbone", seed)
        model = CrossEncoder(str(backbone), num_labels=1, max_length=max_length, device="cpu")
        if out.exists():
            shutil.rmtree(out)
        model.save(str(out))
    return str(out)


# -- a fake embedder: the real Embedder (cache, batching, truncation) over a hashed bag of words --
_WORD = re.compile(r"\w+")


TINY_LM_WORDS = (
    "the a is of to and what how my card arrival activate lost stolen rate exchange fee "
    "question intent answer query passage score grade final 0 1 2 3 4 5 : ? . , # \n"
).split(" ")


def build_tiny_causal_lm(path: str | Path, *, seed: int = 0) -> Path:
    """A 2-layer, 16-wide random Llama with a word-level tokenizer built here, saved as a
    Hugging Face folder: ``local:PATH`` runs it in milliseconds (answers are noise, but
    deterministic, batched and cached like a real model's)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    specials = ["<pad>", "<s>", "</s>", "<unk>"]
    vocab = {w: i for i, w in enumerate(dict.fromkeys(specials + list(TINY_LM_WORDS)))}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
    )
    tokenizer.save_pretrained(str(folder))
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=vocab["<pad>"],
        bos_token_id=vocab["<s>"],
        eos_token_id=vocab["</s>"],
    )
    LlamaForCausalLM(config).save_pretrained(str(folder))
    return folder


class FakeSentenceModel:
    """Stands in for ``SentenceTransformer``: ``encode``, ``tokenizer``, ``max_seq_length``.

    Each word adds a signed one-hot at a hashed position, rows are L2-normalised: deterministic,
    no torch, microseconds per text, and texts sharing words get similar vectors, so "the doc
    with the query's words ranks first" holds in a test. ``calls`` and ``encoded`` record what
    was asked of it, so tests can prove the embedding cache spared the model.
    """

    def __init__(self, dim: int = 32, max_seq_length: int = 256) -> None:
        self.dim = dim
        self.max_seq_length = max_seq_length
        self.prompts: dict[str, str] = {}
        self.calls = 0
        self.encoded: list[str] = []

    def encode(self, texts: Sequence[str], **_: Any) -> np.ndarray:
        self.calls += 1
        self.encoded.extend(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower())[: self.max_seq_length - 2]:
                digest = int(text_hash(word), 16)
                out[row, digest % self.dim] += 1.0 if (digest >> 64) & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out

    def tokenizer(self, texts: Sequence[str], **_: Any) -> dict[str, list[list[int]]]:
        """Word count + 2 special tokens, like a WordPiece tokenizer on plain English."""
        return {"input_ids": [[0] * (len(_WORD.findall(text)) + 2) for text in texts]}

    def get_embedding_dimension(self) -> int:
        return self.dim


class FakeEmbedder(Embedder):
    """A real :class:`~flywheel.retrieval.embedders.Embedder` over :class:`FakeSentenceModel`.

    Caches on disk only when given a ``cache_dir`` (tests pass ``tmp_path``), so a test never
    writes into the user's real cache. ``model_id`` is ``"<name>-<dim>"``.
    """

    def __init__(
        self,
        dim: int = 32,
        *,
        name: str = "fake-embedder",
        cache_dir: Path | None = None,
        batch_size: int = 64,
        max_seq_length: int = 256,
    ) -> None:
        super().__init__(
            name,
            batch_size=batch_size,
            max_seq_length=max_seq_length,
            cache_dir=cache_dir,
            use_cache=cache_dir is not None,
        )
        self.dim = dim

    @property
    def model_id(self) -> str:
        return f"{self.model_name}-{self.dim}"

    def _load_model(self) -> FakeSentenceModel:
        return FakeSentenceModel(self.dim, self.max_seq_length)
