"""The search page (``/``), its document view, login, and what the page asks the server.

The page is three static files (``static/index.html``, ``app.js``, ``style.css``), no build
step. The document view is rendered here with every corpus string passed through
:func:`html.escape`; the page itself only ever inserts text nodes.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.security import HTTPAuthorizationCredentials

from flywheel._version import __version__
from flywheel.server.auth import Authorized, TokenAuth, bearer
from flywheel.server.errors import ApiError
from flywheel.server.schemas import Login, ServerInfo

STATIC = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(tags=["page"])

_VIEW = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/style.css"></head>
<body class="view"><main>
<p class="muted">{chunk_id}</p><h1>{title}</h1><article>{paragraphs}</article>
<p class="muted">Close this tab to go back to your results.</p>
</main></body></html>
"""


@router.get("/", include_in_schema=False)
def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html")


@router.get("/view/{chunk_id:path}", include_in_schema=False, dependencies=[Authorized])
def view(request: Request, chunk_id: str) -> HTMLResponse:
    doc = request.app.state.engine.document(chunk_id)
    paragraphs = "".join(
        f"<p>{html.escape(part)}</p>" for part in doc.text.split("\n") if part.strip()
    )
    page = _VIEW.format(
        title=html.escape(doc.title or chunk_id),
        chunk_id=html.escape(chunk_id),
        paragraphs=paragraphs,
    )
    return HTMLResponse(page)


@router.get("/config", response_model=ServerInfo, summary="What the page needs to know")
def config(request: Request) -> ServerInfo:
    state = request.app.state
    return ServerInfo(
        retrievers=state.engine.names,
        compare=len(state.engine.names) > 1,
        auth=state.auth.required,
        k=state.k,
        version=__version__,
    )


@router.post("/auth/login", status_code=204, summary="Trade the token for the page's cookie")
def login(request: Request, body: Login) -> Response:
    auth: TokenAuth = request.app.state.auth
    if not auth.check_token(body.token):
        raise ApiError(401, "wrong token; use the FLYWHEEL_TOKEN the server was started with")
    response = Response(status_code=204)
    auth.set_cookie(response, secure=request.url.scheme == "https")
    return response


@router.get("/auth/check", summary="Does this request carry the token or the cookie?")
def check(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> dict[str, bool]:
    auth: TokenAuth = request.app.state.auth
    return {"required": auth.required, "signed_in": auth.allows(request, credentials)}


@router.get("/health", summary="Liveness")
def health() -> dict[str, str]:
    return {"status": "ok"}
