"""Options every command that calls a hosted model shares, and recording its usage."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from flywheel.cli._common import console

ApiKey = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        help="Provider key (default: OPENAI_API_KEY / COHERE_API_KEY).",
        show_default=False,
    ),
]
BaseUrl = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        help="OpenAI-compatible endpoint (default: OPENAI_BASE_URL).",
        show_default=False,
    ),
]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Print calls, tokens and estimated cost; send nothing.")
]
MaxCost = Annotated[
    float | None,
    typer.Option(
        "--max-cost", help="Stop cleanly once this many US dollars are spent.", show_default=False
    ),
]
Concurrency = Annotated[int, typer.Option(help="Calls in flight at once.")]
Prices = Annotated[
    Path | None,
    typer.Option(
        "--prices", help="Your price table (YAML), over the shipped one.", show_default=False
    ),
]


def hosted_client(
    model: str, kind: str, *, api_key, base_url, max_cost, concurrency, prices, dry_run=False
) -> Any:
    """Checks credentials (naming the variable to set) before any work starts; a dry run
    prices the job without a key, since it sends nothing."""
    from flywheel.hosted import HostedClient

    return HostedClient(
        model,
        kind=kind,
        api_key=api_key,
        base_url=base_url,
        max_cost=max_cost,
        concurrency=concurrency,
        prices=prices,
        require_key=not dry_run,
    )


def record_usage(store: Any, command: str, client: Any, started: datetime, **details: Any) -> None:
    """Store the run's usage (``flywheel status`` shows it) and print one line about it."""
    from flywheel.store.hosted import record_hosted_run

    usage = client.meter.to_dict()
    status = "budget reached" if usage["budget_stopped"] else "completed"
    run_id = record_hosted_run(
        store, command=command, usage=usage, started_at=started, status=status, details=details
    )
    money = "unknown (no price)" if usage["cost_usd"] is None else client.meter.cost_text
    console.print(
        f"{client.name}: {usage['calls']} calls, {usage['cached_calls']} from cache, "
        f"{usage['retries']} retries, {usage['input_tokens'] + usage['output_tokens']:,} tokens, "
        f"cost {money} (recorded as {run_id})"
    )
    if usage["budget_stopped"]:
        console.print(
            "[yellow]--max-cost reached: stopped cleanly; what was bought is kept, "
            "run again with a higher budget to continue[/]"
        )
