"""``flywheel serve``: the capture API and the feedback search page, with uvicorn.

Refuses to start without ``FLYWHEEL_TOKEN`` unless ``--insecure-local``, which serves without
a token and binds to 127.0.0.1 only. The work is in :mod:`flywheel.server`.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from flywheel.cli._common import DbOption, console, open_store
from flywheel.errors import ConfigError, MissingDependencyError

LOOPBACK = ("127.0.0.1", "localhost", "::1")
DEFAULT_MAX_BODY = (
    2_000_000  # mirrors flywheel.server.middleware (not imported: FastAPI is optional)
)


def serve(
    db: DbOption = None,
    retriever: Annotated[
        list[str] | None,
        typer.Option(
            "--retriever",
            "-r",
            help="Retriever spec, options after commas: bm25 | dense:MODEL | hybrid | "
            "'bm25,k1=0.9,b=0.4'. Repeat it: the first is the default; two or more turn on "
            "the page's compare mode. Default: bm25.",
        ),
    ] = None,
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default 127.0.0.1; needs the token).")
    ] = None,
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    insecure_local: Annotated[
        bool,
        typer.Option(
            "--insecure-local",
            help="Serve without FLYWHEEL_TOKEN, on 127.0.0.1 only (for trying it out).",
        ),
    ] = False,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes.")] = 1,
    k: Annotated[int, typer.Option(min=1, max=100, help="Results per search.")] = 10,
    max_body: Annotated[
        int, typer.Option(min=1024, help="Largest request body in bytes (413 above).")
    ] = DEFAULT_MAX_BODY,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
    otlp_missing_docs: Annotated[
        str,
        typer.Option(
            help="Spans on POST /v1/traces naming documents the store lacks: 'report' refuses "
            "them (counted in the OTLP answer), 'add' stores the documents from the spans.",
        ),
    ] = "report",
) -> None:
    """Serve the event API (POST /events, /feedback/..., OTLP POST /v1/traces), GET /search
    and the search page."""
    try:
        import uvicorn

        from flywheel.server.app import CONFIG_ENV, TOKEN_ENV, ServeConfig
        from flywheel.server.engine import RetrieverConfig
    except ImportError as exc:
        raise MissingDependencyError(exc.name or "fastapi", "server") from None

    token = os.environ.get(TOKEN_ENV) or None
    if insecure_local:
        if host is not None and host not in LOOPBACK:
            raise ConfigError(
                f"--insecure-local binds to 127.0.0.1 only, not {host}; drop --host, or set "
                f"{TOKEN_ENV} and leave out --insecure-local to serve on {host}"
            )
        host = "127.0.0.1"
    elif token is None:
        raise ConfigError(
            f"{TOKEN_ENV} is not set, and the server will not take writes without a token; "
            f"set it (export {TOKEN_ENV}=$(python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))')) or try it on this machine with --insecure-local"
        )
    host = host or "127.0.0.1"
    specs = retriever or ["bm25"]
    for spec in specs:
        RetrieverConfig.parse(spec)  # fail on a typo before anything is built
    if otlp_missing_docs not in ("report", "add"):
        raise ConfigError(f"--otlp-missing-docs is 'report' or 'add', not '{otlp_missing_docs}'")
    store = open_store(db)
    documents = store.counts()["documents"]
    if not documents:
        raise ConfigError(
            f"the store at {store.url} has no documents to search; "
            "load some first: flywheel ingest beir DIR"
        )
    config = ServeConfig(
        db=store.url,
        retrievers=list(specs),
        insecure=token is None,
        k=k,
        max_body_bytes=max_body,
        otlp_missing_docs=otlp_missing_docs,
    )
    store.close()
    os.environ[CONFIG_ENV] = config.to_json()
    shown = f"[{host}]" if ":" in host else host
    console.print(
        f"store {config.db} ({documents:,} documents); retrievers: {', '.join(specs)}; "
        + ("[yellow]no token: loopback only[/]" if token is None else "writes need the token")
    )
    console.print(f"search page: http://{shown}:{port}/   API: http://{shown}:{port}/docs")
    uvicorn.run(
        "flywheel.server.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        log_level="info",
    )
