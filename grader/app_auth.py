"""Who may come in: the rule that a network needs a secret, and the app's password check.

The REST API refuses a non-loopback bind without GRADER_API_TOKEN; the app follows the same rule
with GRADER_APP_PASSWORD (issue 22): on this machine only it is open, on a network it asks for
the password first. Wrong passwords are slowed down per client address: after `free_tries`
failures each next try must wait twice as long as the last (1 s, 2 s, 4 s ... at most
`max_wait_s`), so guessing a reasonable password over the network takes years. This module is
plain Python; the login screen that uses it is pages/_login.py.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import threading
from dataclasses import dataclass

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def is_loopback(host: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and the usual names of this machine's loopback. None or ""
    (Streamlit's unset address) means every interface, so False."""
    if not host:
        return False
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # any other host name may resolve to a public interface


def exposure_problem(address: str | None, password: str | None) -> str | None:
    """Why the app must not serve at `address` (None when it may)."""
    if password or is_loopback(address):
        return None
    where = address or "every network interface"
    return (f"This app is served on {where} without a password: anyone on the network could read "
            "and change grades. Set GRADER_APP_PASSWORD (e.g. `export GRADER_APP_PASSWORD=$(python "
            "-c 'import secrets; print(secrets.token_urlsafe(12))')`) and start it again, or serve "
            "this machine only (make run binds 127.0.0.1).")


def password_matches(offered: str, expected: str) -> bool:
    """Constant-time comparison (of digests, so the length does not show either)."""
    digest = hashlib.sha256
    return hmac.compare_digest(digest(offered.encode()).digest(), digest(expected.encode()).digest())


@dataclass(frozen=True)
class Attempt:
    ok: bool
    wait_s: float = 0.0  # > 0: refused without checking, try again after this long
    message: str = ""


class LoginThrottle:
    """Failures per client address; thread-safe (Streamlit runs each session in a thread)."""

    def __init__(self, free_tries: int = 3, max_wait_s: float = 60.0) -> None:
        self.free_tries = free_tries
        self.max_wait_s = max_wait_s
        self._lock = threading.Lock()
        self._failures: dict[str, tuple[int, float]] = {}  # client -> (count, time of the last)

    def attempt(self, client: str, offered: str, expected: str, now: float) -> Attempt:
        with self._lock:
            count, last = self._failures.get(client, (0, 0.0))
            wait = self._delay(count) - (now - last)
            if wait > 0:
                return Attempt(False, wait, f"Too many wrong passwords: wait {wait:.0f} s and try again.")
            if password_matches(offered, expected):
                self._failures.pop(client, None)
                return Attempt(True)
            self._failures[client] = (count + 1, now)
            return Attempt(False, self._delay(count + 1), "Wrong password.")

    def _delay(self, failures: int) -> float:
        if failures < self.free_tries:
            return 0.0
        return min(2.0 ** (failures - self.free_tries), self.max_wait_s)

    def reset(self) -> None:
        with self._lock:
            self._failures.clear()


THROTTLE = LoginThrottle()  # one per app process, shared by its sessions
