"""The FastAPI app: ``create_app(store, retriever)`` over a store and its retrievers.

``flywheel serve`` builds it through :func:`app_from_env` (so several uvicorn workers can each
build their own); tests and embedding applications call :func:`create_app` directly.

Every write goes through one :class:`~flywheel.server.writer.EventWriter`, which commits
before the response is sent: an acknowledged event survives the server being killed.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from flywheel._version import __version__
from flywheel.errors import ConfigError
from flywheel.retrieval.base import Retriever
from flywheel.server.auth import TokenAuth
from flywheel.server.engine import RetrieverConfig, SearchEngine
from flywheel.server.errors import install_error_handlers
from flywheel.server.middleware import DEFAULT_MAX_BODY, BodyLimit, SecurityHeaders
from flywheel.server.routes import events, feedback, otlp, page, search
from flywheel.server.routes.page import STATIC
from flywheel.server.writer import EventWriter
from flywheel.store import Store

log = logging.getLogger(__name__)

#: Environment variable carrying :class:`ServeConfig` to uvicorn's worker processes.
CONFIG_ENV = "FLYWHEEL_SERVE_CONFIG"
TOKEN_ENV = "FLYWHEEL_TOKEN"

RetrieverLike = Retriever | RetrieverConfig | str


def _retrievers(
    retriever: RetrieverLike | Sequence[RetrieverLike] | Mapping[str, RetrieverLike],
) -> dict[str, Retriever | RetrieverConfig]:
    if isinstance(retriever, Mapping):
        items = list(retriever.items())
    else:
        many = retriever if isinstance(retriever, list | tuple) else [retriever]
        items = [
            (r if isinstance(r, str) else r.label if isinstance(r, RetrieverConfig) else r.name, r)
            for r in many
        ]
    out: dict[str, Retriever | RetrieverConfig] = {}
    for name, value in items:
        if name in out:
            raise ConfigError(f"retriever '{name}' is given twice; give each a different name")
        out[name] = RetrieverConfig.parse(value) if isinstance(value, str) else value
    return out


def create_app(
    store: Store,
    retriever: RetrieverLike | Sequence[RetrieverLike] | Mapping[str, RetrieverLike] = "bm25",
    *,
    token: str | None = None,
    k: int = 10,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    otlp_missing_docs: str = "report",
) -> FastAPI:
    """The capture API and search page over ``store``.

    ``retriever``: a spec (``"bm25"``, ``"dense:MODEL"``, ``"bm25,k1=0.9"``), a built
    retriever, or several (a list, or ``{name: ...}``); the first is the default and two or
    more turn on the side-by-side mode. ``token``: what ``Authorization: Bearer`` must carry;
    ``None`` leaves the server open, which only ``flywheel serve --insecure-local`` (bound to
    127.0.0.1) does. ``otlp_missing_docs``: ``report`` refuses (and counts) spans naming
    documents the store lacks, ``add`` stores those documents from the spans' content.
    """
    if token is not None and not token.strip():
        raise ConfigError(f"{TOKEN_ENV} is empty; set a long random value or unset it")
    app = FastAPI(
        title="rag-flywheel capture API",
        version=__version__,
        description="Log retrievals and user feedback; search the store. "
        "Writes need `Authorization: Bearer $FLYWHEEL_TOKEN`.",
    )
    app.state.store = store
    app.state.engine = SearchEngine(store, _retrievers(retriever))
    app.state.writer = EventWriter(store)
    app.state.auth = TokenAuth(token)
    app.state.k = k
    app.state.otlp_missing_docs = otlp_missing_docs
    install_error_handlers(app)
    for module in (events, otlp, search, feedback, page):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    return app


@dataclass
class ServeConfig:
    """What ``flywheel serve`` passes to each worker (as JSON in ``FLYWHEEL_SERVE_CONFIG``;
    the token stays in ``FLYWHEEL_TOKEN``)."""

    db: str
    retrievers: list[str] = field(default_factory=lambda: ["bm25"])
    insecure: bool = False
    k: int = 10
    max_body_bytes: int = DEFAULT_MAX_BODY
    otlp_missing_docs: str = "report"

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def app_from_env() -> FastAPI:
    """uvicorn's factory: the app described by ``FLYWHEEL_SERVE_CONFIG``."""
    raw = os.environ.get(CONFIG_ENV)
    if not raw:
        raise ConfigError(f"{CONFIG_ENV} is not set; start the server with 'flywheel serve'")
    config = ServeConfig(**json.loads(raw))
    token = os.environ.get(TOKEN_ENV) or None
    if token is None and not config.insecure:
        raise ConfigError(f"{TOKEN_ENV} is not set; refusing to serve without a token")
    app = create_app(
        Store(config.db),
        [RetrieverConfig.parse(spec) for spec in config.retrievers],
        token=token,
        k=config.k,
        max_body_bytes=config.max_body_bytes,
        otlp_missing_docs=config.otlp_missing_docs,
    )
    app.state.engine.warm()
    return app
