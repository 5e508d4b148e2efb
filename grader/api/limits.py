"""The request-size limit and the body deadline, as pure ASGI middleware so it sees the body
before anything buffers it."""

from __future__ import annotations

import asyncio
import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from grader.settings import MB

# The rest of an unread body makes the connection useless for another request: close it.
CLOSE = {"Connection": "close"}


class BodyLimit:
    """Refuse bodies over `limit` bytes: by Content-Length before reading, else while streaming;
    and bodies that take longer than `timeout_s` to arrive (a client sending a byte a second
    held its connection for good, issue 22).

    Both raise HTTPException (413, 408) inside `receive`, which FastAPI's body reading re-raises
    untouched, so the app's handler answers it as JSON like any other error.
    """

    def __init__(self, app: ASGIApp, limit: int, timeout_s: float = 120.0) -> None:
        self.app = app
        self.limit = limit
        self.timeout_s = timeout_s

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
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        body_done = False

        async def capped_receive() -> Message:
            nonlocal received, body_done
            if body_done:  # after the body: waiting for a disconnect has no deadline
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                raise HTTPException(408, f"the request body did not arrive within {self.timeout_s:g} s "
                                    f"({received / MB:.2f} MB came); send it again on a faster "
                                    "connection, or fewer files at once", headers=CLOSE) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise HTTPException(413, _too_large(received, self.limit, at_least=True), headers=CLOSE)
                body_done = not message.get("more_body", False)
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
