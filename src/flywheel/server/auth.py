"""Who may read the corpus and write events: the holder of ``FLYWHEEL_TOKEN``.

An API client sends ``Authorization: Bearer TOKEN``. The search page cannot: ``sendBeacon``
(used for dwell times when the user leaves) sets no headers. So the page trades the token
once for a cookie (``POST /auth/login``) holding an HMAC of the token, never the token itself,
``HttpOnly`` and ``SameSite=Strict`` so another site cannot make the browser use it.
Comparisons are constant-time. Without a token (``flywheel serve --insecure-local``, bound to
loopback) every request is allowed.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

COOKIE = "flywheel_session"
bearer = HTTPBearer(auto_error=False, description="The server's FLYWHEEL_TOKEN")


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "replace")


@dataclass(frozen=True)
class TokenAuth:
    """The server's token, or ``None`` for an open (loopback-only) server."""

    token: str | None

    @property
    def required(self) -> bool:
        return self.token is not None

    def _cookie_value(self) -> str:
        assert self.token is not None
        return hmac.new(self.token.encode(), b"flywheel page session", hashlib.sha256).hexdigest()

    def check_token(self, candidate: str) -> bool:
        return self.token is None or hmac.compare_digest(_bytes(candidate), self.token.encode())

    def allows(self, request: Request, credentials: HTTPAuthorizationCredentials | None) -> bool:
        if self.token is None:
            return True
        if credentials is not None and credentials.scheme.lower() == "bearer":
            return self.check_token(credentials.credentials)
        cookie = request.cookies.get(COOKIE)
        # compare bytes: compare_digest raises on a str with non-ASCII characters, and a
        # cookie is whatever the client sends
        return cookie is not None and hmac.compare_digest(
            _bytes(cookie), self._cookie_value().encode()
        )

    def set_cookie(self, response: Response, *, secure: bool) -> None:
        if self.token is not None:
            response.set_cookie(
                COOKIE, self._cookie_value(), httponly=True, samesite="strict", secure=secure
            )


async def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """Dependency of every route that reads the corpus or writes events."""
    auth: TokenAuth = request.app.state.auth
    if not auth.allows(request, credentials):
        raise HTTPException(
            status_code=401,
            detail="missing or wrong token; send 'Authorization: Bearer $FLYWHEEL_TOKEN' "
            "(the search page asks for it once)",
            headers={"WWW-Authenticate": "Bearer"},
        )


Authorized = Depends(require_token)
