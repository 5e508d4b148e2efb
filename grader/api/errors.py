"""Errors -> `{"success": false, "error": ...}` with the status that says whose fault it is."""

from __future__ import annotations

import logging
import re
from typing import Any, Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from grader.errors import (
    AlignmentFailed,
    AnswerKeyInvalid,
    GraderError,
    ImageUnreadable,
    ModelUnavailable,
    StoreError,
    WrongAssignment,
)

log = logging.getLogger("grader.api")


class ApiError(Exception):
    """An error answered as `{"success": false, "error": message}` with `status`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def validation_message(errors: list[dict[str, Any]] | Any) -> str:
    parts = []
    for error in list(errors)[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body",)) or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


# Named core errors a request can cause, and the status that says whose fault it is.
GRADER_ERROR_STATUS: tuple[tuple[type[GraderError], int], ...] = (
    (ImageUnreadable, 415),
    (AnswerKeyInvalid, 422),
    (AlignmentFailed, 422),
    (WrongAssignment, 422),
    (ModelUnavailable, 503),
    (StoreError, 503),
)


# An absolute path (or a file URL) of the server inside a message: only its last part is shown.
_SERVER_PATH = re.compile(r"(?<![\w.])(?:[a-z][a-z0-9+]*:/{2,3})?/(?:[^\s/'\"(),;]+/)+([^\s/'\"(),;]*)")


def public_message(message: str) -> str:
    """The message with the server's file paths cut to their file names."""
    return _SERVER_PATH.sub(lambda m: m.group(1) or "(a folder)", message)


def store_message(error: StoreError) -> str:
    """What a client is told of a gradebook failure: the kind, never where the file lies."""
    text = str(error).lower()
    if "locked" in text:
        return "the gradebook is busy (locked by another program); try again in a minute"
    if "damaged" in text:
        return "the gradebook is damaged; the server's administrator must restore a backup"
    return "the gradebook is unavailable; the server's log has the details"


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"success": False, "error": message}, status_code=status, headers=dict(headers or {}))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return _error(error.status, error.message)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> JSONResponse:
        return _error(error.status_code, str(error.detail), error.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        return _error(422, validation_message(error.errors()))

    @app.exception_handler(GraderError)
    async def grader_error(request: Request, error: GraderError) -> JSONResponse:
        status = next((code for cls, code in GRADER_ERROR_STATUS if isinstance(error, cls)), 400)
        if isinstance(error, StoreError):
            log.warning("%s %s: %s", request.method, request.url.path, error)  # the path, for the admin
            return _error(status, store_message(error))
        return _error(status, public_message(str(error)))

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, _: ClientDisconnect) -> Response:
        # Nobody is left to answer; one line in the log instead of two tracebacks.
        client = f"{request.client.host}:{request.client.port}" if request.client else "a client"
        log.info("%s went away during %s %s", client, request.method, request.url.path)
        return Response(status_code=400)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        # Last resort: a bug of ours. Log it in full; the client gets a clean JSON line.
        log.exception("unhandled error in %s %s", request.method, request.url.path)
        return _error(500, "internal error; the server log has the details")
