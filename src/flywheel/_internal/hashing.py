"""Content hashes used to deduplicate documents, chunks and cached embeddings."""

from __future__ import annotations

import hashlib
from pathlib import Path


def text_hash(text: str) -> str:
    """Stable 16-byte hex digest of a text (blake2b)."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def file_hash(path: str | Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        while block := handle.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()


def dir_weights_hash(path: str | Path) -> str:
    """Hash of a model folder's weight files, so a fine-tuned model never reuses base embeddings."""
    root = Path(path)
    digest = hashlib.blake2b(digest_size=16)
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and p.suffix in {".safetensors", ".bin", ".onnx", ".xml"}
    )
    for file in files:
        digest.update(str(file.relative_to(root)).encode())
        digest.update(file_hash(file).encode())
    return digest.hexdigest()
