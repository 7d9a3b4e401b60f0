"""Every error leaves the API as application/problem+json (RFC 9457): type, title, status, detail."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from appliance.errors import (
    AudioFormatError,
    ConfigError,
    Conflict,
    ModelUnavailable,
    NotFound,
    StorageError,
    TenantAccessDenied,
    VocalIQError,
)

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"


def problem(status: int, detail: str = "", *, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail or title, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _status_for(exc: VocalIQError) -> int:
    match exc:
        case NotFound() | TenantAccessDenied():
            return 404
        case AudioFormatError() | ConfigError():
            return 400
        case Conflict():
            return 409
        case StorageError() | ModelUnavailable():
            return 503
        case _:
            return 400


def install(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        return problem(422, "the request is not valid", errors=errors)

    @app.exception_handler(VocalIQError)
    async def ours(_: Request, exc: VocalIQError) -> JSONResponse:
        if isinstance(exc, StorageError):
            # The database's own words name tables, columns and values: they go to the log, not the client.
            log.warning("request failed", extra={"error": str(exc)})
            if isinstance(exc.__cause__, IntegrityError):  # two requests raced to the same unique name
                return problem(409, "the change conflicts with what is stored (a duplicate or a missing reference)")
            return problem(503, "the database is unavailable; try again")
        status = _status_for(exc)
        if status >= 500:
            log.warning("request failed", extra={"error": str(exc)})
        return problem(status, str(exc))

    @app.exception_handler(OverflowError)
    async def out_of_range(_: Request, exc: OverflowError) -> JSONResponse:
        return problem(422, "a number in the request is out of range")  # e.g. an id beyond 64 bits

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled API error", extra={"path": request.url.path})
        return problem(500, "internal error")
