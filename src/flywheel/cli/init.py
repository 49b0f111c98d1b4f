"""``flywheel init``: create (or migrate) the store."""

from __future__ import annotations

from flywheel.cli._common import DbOption, console, open_store


def init(db: DbOption = None) -> None:
    """Create the store, or bring an existing one to the newest schema."""
    store = open_store(db)
    console.print(f"store ready at {store.url}")
    console.print("next: flywheel ingest beir DIR  (or: flywheel ingest corpus FILE)")
