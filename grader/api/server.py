"""Serving the API with uvicorn, with deadlines on slow clients and a cap on connections.

uvicorn (h11) waits forever for a request's headers and resets its keep-alive timer on every
byte, so a client sending a byte a second holds a connection open for good (issue 22: 300 such
clients never timed out). `GuardedH11Protocol` gives every request `header_timeout_s` from the
connection (or the end of the previous response) to its last header line, then answers 408 and
closes. The body has its own deadline in grader.api.limits.BodyLimit.

It also caps the open connections at `max_connections`: a connection beyond the cap is answered
503 with Retry-After once its request line has arrived (answering before the request would
make the client's TCP stack drop the answer) and closed, without the app ever seeing it, so
file descriptors and memory stay bounded however many clients connect. uvicorn's own
`limit_concurrency` answers a plain-text 503 and logs a warning per refusal; this one answers
like every other error, as JSON, and logs one line per burst.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("grader.api")


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on the request line and headers."""

    header_timeout_s: float = 10.0
    max_connections: int | None = None
    _header_timer: asyncio.TimerHandle | None = None
    _over_cap = False
    _pending = b""  # what a connection beyond the cap sent before its request line ended

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # self.connections is the server's set of open connections, this one included.
        self._over_cap = self.max_connections is not None and len(self.connections) > self.max_connections
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._over_cap:
            self._refuse_when_asked(data)
            return
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the request line and headers are all in
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm()  # the next request on this connection gets the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _refuse_when_asked(self, data: bytes) -> None:
        """Beyond the cap: wait for the request line, then 503 and close (nothing reaches the app)."""
        self._pending += data
        if b"\n" not in self._pending and len(self._pending) < 8192:
            return
        self._disarm()
        _warn_busy(self.max_connections)
        body = json.dumps({"success": False, "error": f"the server is busy: {self.max_connections} "
                           "connections are open, the most it takes at once; try again in a moment"}).encode()
        self.transport.write(b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
                             b"retry-after: 1\r\nconnection: close\r\ncontent-length: " +
                             str(len(body)).encode() + b"\r\n\r\n" + body)
        self.transport.close()

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        client = "%s:%d" % self.client if self.client else "a client"
        log.info("closed the connection of %s: no complete request headers within %g s", client,
                 self.header_timeout_s)
        # h11 cannot answer a request it has not parsed; the 408 is written as is.
        body = json.dumps({"success": False, "error": f"the request headers did not arrive within "
                           f"{self.header_timeout_s:g} s"}).encode()
        self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                             b"connection: close\r\ncontent-length: " + str(len(body)).encode() +
                             b"\r\n\r\n" + body)
        self.transport.close()


_last_busy_warning = [0.0]


def _warn_busy(cap: int | None) -> None:
    """One log line per burst of refusals (at most one every 10 s), not one per connection."""
    now = time.monotonic()
    if now - _last_busy_warning[0] >= 10:
        _last_busy_warning[0] = now
        log.warning("refused connections beyond the cap of %s open at once (answered 503; "
                    "serve-api --max-connections)", cap)


def protocol_with(header_timeout_s: float, max_connections: int | None = None) -> type[H11Protocol]:
    """The protocol class uvicorn instantiates per connection, with the header deadline and the
    connection cap set."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,),
                {"header_timeout_s": header_timeout_s, "max_connections": max_connections})
