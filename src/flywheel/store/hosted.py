"""Hosted usage per run, and rejected synthetic questions: written and read through a Store.

Functions, not :class:`~flywheel.store.Store` methods, so the store's core stays small; each
write is one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select

from flywheel.store.schema import hosted_runs, synthetic_rejections


def record_hosted_run(
    store: Any,
    *,
    command: str,
    usage: Mapping[str, Any],
    started_at: datetime,
    status: str,
    details: Mapping[str, Any] | None = None,
) -> str:
    """Store one run's usage (a :meth:`UsageMeter.to_dict`); returns the new ``run_id``."""
    run_id = f"hosted-{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    row = {
        "run_id": run_id,
        "command": command,
        "model": f"{usage['provider']}:{usage['model']}",
        "started_at": started_at,
        "finished_at": datetime.now(UTC),
        "status": status,
        "calls": int(usage.get("calls", 0)),
        "cached_calls": int(usage.get("cached_calls", 0)),
        "retries": int(usage.get("retries", 0)),
        "failures": int(usage.get("failures", 0)),
        "input_tokens": int(usage.get("input_tokens", 0)),
        "output_tokens": int(usage.get("output_tokens", 0)),
        "search_units": float(usage.get("search_units", 0.0)),
        "cost_usd": usage.get("cost_usd"),
        "details": dict(details or {}),
    }
    with store.engine.begin() as conn:
        conn.execute(hosted_runs.insert(), row)
    return run_id


def hosted_runs_list(store: Any) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(hosted_runs).order_by(hosted_runs.c.started_at)).mappings()
        return [dict(r) for r in rows]


def hosted_usage_summary(conn: Connection) -> list[dict[str, Any]]:
    """Per command and model: runs, calls, cached calls, retries, tokens, cost (status)."""
    h = hosted_runs
    query = (
        select(
            h.c.command,
            h.c.model,
            func.count(),
            func.sum(h.c.calls),
            func.sum(h.c.cached_calls),
            func.sum(h.c.retries),
            func.sum(h.c.input_tokens),
            func.sum(h.c.output_tokens),
            func.sum(h.c.cost_usd),
            func.count(h.c.cost_usd),
        )
        .group_by(h.c.command, h.c.model)
        .order_by(h.c.command, h.c.model)
    )
    out = []
    for command, model, runs, calls, cached, retries, tin, tout, cost, priced in conn.execute(
        query
    ):
        out.append(
            {
                "command": command,
                "model": model,
                "runs": int(runs),
                "calls": int(calls or 0),
                "cached_calls": int(cached or 0),
                "retries": int(retries or 0),
                "input_tokens": int(tin or 0),
                "output_tokens": int(tout or 0),
                "cost_usd": float(cost or 0.0) if priced == runs else None,
            }
        )
    return out


def add_synthetic_rejections(
    store: Any, run_id: str, rejections: Iterable[Mapping[str, Any]]
) -> int:
    """Store rejected synthetic questions: dicts with text, doc_id, generator, reason, detail."""
    now = datetime.now(UTC)
    rows = [
        {
            "run_id": run_id,
            "text": r["text"],
            "doc_id": r.get("doc_id"),
            "generator": r["generator"],
            "reason": r["reason"],
            "detail": r.get("detail", ""),
            "created_at": now,
        }
        for r in rejections
    ]
    if rows:
        with store.engine.begin() as conn:
            conn.execute(synthetic_rejections.insert(), rows)
    return len(rows)


def synthetic_rejection_list(store: Any, run_id: str | None = None) -> list[dict[str, Any]]:
    s = synthetic_rejections
    query = select(s).order_by(s.c.rejection_id)
    if run_id is not None:
        query = query.where(s.c.run_id == run_id)
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]
