"""The request-size limit, as pure ASGI middleware so it sees the body before anything
buffers it."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from grader.settings import MB


class BodyLimit:
    """Refuse bodies over `limit` bytes: by Content-Length before reading, else while streaming.

    The streaming cap raises HTTPException(413) inside `receive`, which FastAPI's body reading
    re-raises untouched, so the app's handler answers it as JSON like any other error.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared == -1:
            await _send_error(send, 400, "the Content-Length header is not a number")
            return
        if declared is not None and declared > self.limit:
            await _send_error(send, 413, _too_large(declared, self.limit))
            return
        received = 0

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise HTTPException(413, _too_large(received, self.limit, at_least=True))
            return message

        await self.app(scope, capped_receive, send)


def _content_length(scope: Scope) -> int | None:
    """The declared body length; None when absent, -1 when it is not a number."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            return int(value) if value.strip().isdigit() else -1
    return None


def _too_large(size: int, limit: int, at_least: bool = False) -> str:
    over = "more than " if at_least else ""
    return (
        f"the request body is {over}{size / MB:.1f} MB; the limit is {limit / MB:.1f} MB "
        "(send fewer or smaller files per request)"
    )


async def _send_error(send: Send, status: int, message: str) -> None:
    body = json.dumps({"success": False, "error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            # The unread body makes the connection unusable for another request: say so.
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
