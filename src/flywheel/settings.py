"""Where things live: the store URL, the cache, local datasets. Read from the environment."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DB_URL = "sqlite:///flywheel.db"


def db_url(explicit: str | None = None) -> str:
    """The store's URL: the explicit one, else ``FLYWHEEL_DB``, else ``flywheel.db`` here."""
    url = explicit or os.environ.get("FLYWHEEL_DB") or DEFAULT_DB_URL
    if "://" not in url:  # a bare path is a SQLite file
        url = f"sqlite:///{url}"
    return url


def cache_dir() -> Path:
    """Embedding and index cache: ``FLYWHEEL_CACHE`` or ``~/.cache/rag-flywheel``."""
    path = Path(os.environ.get("FLYWHEEL_CACHE") or Path.home() / ".cache" / "rag-flywheel")
    return path


def datasets_dir() -> Path | None:
    """A local folder of BEIR datasets (``FLYWHEEL_DATASETS``), if set."""
    value = os.environ.get("FLYWHEEL_DATASETS")
    return Path(value) if value else None


def ensure_offline() -> None:
    """Keep Hugging Face offline unless the user opted in with ``FLYWHEEL_ALLOW_NETWORK=1``.

    No machine this toolkit is tested on can reach a model hub; failing fast beats hanging.
    """
    if os.environ.get("FLYWHEEL_ALLOW_NETWORK") != "1":
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
