"""Every refusal as a 4xx whose body names the field and the fix.

FastAPI's own 422 lists Pydantic's raw locations (``["body", "batch", "events", 2, "click",
"rank"]``, union tags included). Clients want ``events[2].rank``; this module turns both
Pydantic errors and the store's record errors into that one shape::

    {"detail": [{"field": "events[2].rank", "msg": "...", "type": "...", "loc": [...]}],
     "message": "events[2].rank: Input should be a valid integer"}
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from flywheel.data.events import EventKind
from flywheel.errors import ConfigError, FlywheelError, NotFoundError, UnknownComponentError

# Pydantic puts union tags into locations; they are not fields.
_TAGS = {"batch", "event", "object", "list", *(kind.value for kind in EventKind)}
_TAG_ERRORS = {"union_tag_invalid", "union_tag_not_found"}


class ApiError(FlywheelError):
    """A request the server refuses: HTTP ``status``, a message, and the field at fault."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        self.status = status
        self.field = field
        super().__init__(message)


def field_path(loc: Sequence[Any], error_type: str = "") -> str:
    """``("body", "batch", "events", 2, "click", "rank")`` -> ``"events[2].rank"``."""
    parts: list[str] = []
    for item in loc:
        if item == "body" or (isinstance(item, str) and item in _TAGS):
            continue
        if isinstance(item, int):
            if parts:
                parts[-1] += f"[{item}]"
            else:
                parts.append(f"[{item}]")
        else:
            parts.append(str(item))
    if error_type in _TAG_ERRORS:
        parts.append("kind")
    return ".".join(parts) or "body"


def problems(items: Iterable[dict[str, Any]]) -> JSONResponse:
    details = list(items)
    first = details[0]
    message = f"{first['field']}: {first['msg']}"
    if len(details) > 1:
        message += f" ({len(details) - 1} more problem{'s' if len(details) > 2 else ''})"
    return JSONResponse(status_code=422, content={"detail": details, "message": message})


async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
    return problems(
        {
            "field": field_path(error.get("loc", ()), error.get("type", "")),
            "msg": error.get("msg", ""),
            "type": error.get("type", ""),
            "loc": list(error.get("loc", ())),
        }
        for error in exc.errors()
    )


async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
    if exc.status == 422:
        return problems([{"field": exc.field or "body", "msg": str(exc), "type": "value_error"}])
    return JSONResponse(status_code=exc.status, content={"detail": str(exc), "field": exc.field})


async def _not_found(_: Request, exc: NotFoundError) -> JSONResponse:
    return JSONResponse(status_code=404, content={"detail": str(exc)})


async def _config(_: Request, exc: ConfigError) -> JSONResponse:
    return JSONResponse(status_code=400, content={"detail": str(exc)})


async def _unknown(_: Request, exc: UnknownComponentError) -> JSONResponse:
    return problems([{"field": exc.kind, "msg": str(exc), "type": "value_error"}])


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(NotFoundError, _not_found)
    app.add_exception_handler(ConfigError, _config)
    app.add_exception_handler(UnknownComponentError, _unknown)
