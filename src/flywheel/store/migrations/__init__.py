"""Alembic migrations shipped inside the package; run by :func:`flywheel.store.engine.migrate`."""
