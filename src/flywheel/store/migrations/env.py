"""Alembic environment: always driven from code with a live connection (no ini file, no URL).

:func:`flywheel.store.engine.migrate` puts the connection in ``config.attributes``; this file
only hands it to Alembic, so migrations work from an installed package and from any folder.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached when someone runs the alembic CLI
    raise RuntimeError(
        "flywheel migrations run through flywheel.store.engine.migrate(); "
        "open the store with flywheel.store.Store(url) instead of the alembic CLI"
    )

context.configure(connection=connection, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
