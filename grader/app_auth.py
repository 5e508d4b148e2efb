"""Who may come in: the rule that a network needs a secret, the app's password check, its
signed session, and who a client is behind a reverse proxy.

The REST API refuses a non-loopback bind without GRADER_API_TOKEN; the app follows the same rule
with GRADER_APP_PASSWORD (issue 22): on this machine only it is open, on a network it asks for
the password first. Wrong passwords (and wrong API tokens) are slowed down per client: after
`free_tries` failures each next try must wait twice as long as the last (1 s, 2 s, 4 s ... at
most `max_wait_s`), so guessing a reasonable password over the network takes years.

A client is its TCP peer, unless that peer is a reverse proxy listed in GRADER_TRUSTED_PROXIES:
then it is the first address in X-Forwarded-For, read from the right, that is not itself a
trusted proxy. So behind a proxy one guesser does not slow every teacher down (they would all
share the proxy's address), and nobody escapes the throttle by writing X-Forwarded-For
themselves (only a trusted proxy's header is read). IPv6 clients count per /64, the block one
household or attacker gets.

After a login the browser keeps a session token (a cookie, `SessionTokens`): an expiry and a
random id, signed with HMAC-SHA256 under a key derived from a server secret and the password, so
a reload needs no retyping, a forged or expired token is refused, and changing the password ends
every session. This module is plain Python; the login screen that uses it is pages/_login.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import math
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from grader.errors import GraderError

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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


# --- who the client is -----------------------------------------------------------------------


def parse_trusted_proxies(text: str | None) -> tuple[Network, ...]:
    """GRADER_TRUSTED_PROXIES: addresses or networks, comma-separated ("127.0.0.1, 10.0.0.0/8").
    A typo is an error, not a silently untrusted proxy (or worse, a trusted everyone)."""
    networks = []
    for item in (text or "").split(","):
        if not item.strip():
            continue
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise GraderError(f"GRADER_TRUSTED_PROXIES: {item.strip()!r} is not an IP address or "
                              "network (expected e.g. 127.0.0.1 or 10.0.0.0/8)") from None
    return tuple(networks)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def client_address(peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The client behind `peer` (the TCP peer; None: this machine, as Streamlit reports
    loopback). X-Forwarded-For is read only when the peer is a trusted proxy, from the right:
    each proxy appends the address it saw, so the first untrusted entry from the right is the
    last one a trusted proxy wrote, and whatever a client wrote further left is ignored."""
    peer = peer or "127.0.0.1"
    address = _ip(peer)
    if address is None or not forwarded_for or not _trusted(address, trusted):
        return peer
    hops = [hop for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        hop_ip = _ip(hop)
        if hop_ip is None:
            return hop.strip()[:64]  # garbage from beyond the proxies: a key of its own
        if not _trusted(hop_ip, trusted):
            return str(hop_ip)
    return str(_ip(hops[0]) or peer) if hops else peer  # every hop a proxy: the leftmost


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, trusted: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in trusted)


def throttle_key(client: str) -> str:
    """The bucket a client's failures count in: its IPv4 address, or its IPv6 /64."""
    address = _ip(client)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address) if address else client


# --- slowing down guessers --------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    ok: bool
    wait_s: float = 0.0  # before the next try may be checked
    message: str = ""
    held: bool = False  # refused without checking: the client must wait wait_s first


class LoginThrottle:
    """Failures per client (`throttle_key`); thread-safe (Streamlit runs each session in a
    thread, the API's token check runs in worker threads). At most `max_clients` are
    remembered: beyond that the ones whose wait is longest over are forgotten first, so a flood
    of addresses cannot grow it without bound."""

    def __init__(self, free_tries: int = 3, max_wait_s: float = 60.0, max_clients: int = 10_000) -> None:
        self.free_tries = free_tries
        self.max_wait_s = max_wait_s
        self.max_clients = max_clients
        self._lock = threading.Lock()
        self._failures: dict[str, tuple[int, float]] = {}  # key -> (count, time of the last)

    def attempt(self, client: str, offered: str, expected: str, now: float) -> Attempt:
        return self.check(client, now, lambda: password_matches(offered, expected))

    def check(self, client: str, now: float, verify: Callable[[], bool]) -> Attempt:
        """Run `verify()` unless `client` must wait; count a failure."""
        key = throttle_key(client)
        with self._lock:
            count, last = self._failures.get(key, (0, 0.0))
            wait = self._delay(count) - (now - last)
            if wait > 0:
                return Attempt(False, wait, f"Too many wrong passwords: wait {math.ceil(wait)} s and try "
                               "again.", held=True)
            if verify():
                self._failures.pop(key, None)
                return Attempt(True)
            self._failures[key] = (count + 1, now)
            if len(self._failures) > self.max_clients:
                self._forget_oldest()
            return Attempt(False, self._delay(count + 1), "Wrong password.")

    def _delay(self, failures: int) -> float:
        if failures < self.free_tries:
            return 0.0
        return min(2.0 ** (failures - self.free_tries), self.max_wait_s)

    def _forget_oldest(self) -> None:
        by_last = sorted(self._failures, key=lambda k: self._failures[k][1])
        for key in by_last[: len(by_last) - self.max_clients]:
            del self._failures[key]

    def reset(self) -> None:
        with self._lock:
            self._failures.clear()


THROTTLE = LoginThrottle()  # one per app process, shared by its sessions


# --- the session a browser keeps ---------------------------------------------------------------


SESSION_COOKIE = "grader_session"
SESSION_HOURS = 12.0  # a school day; then the password again


def load_secret(path: Path) -> bytes:
    """The server's signing secret: 32 random bytes in `path` (created 0600 on first use), so
    sessions survive a restart. Where the file cannot be written, a secret for this process
    only (sessions then end with it)."""
    try:
        data = path.read_bytes()
        if len(data) >= 32:
            return data
    except OSError:
        pass
    secret = secrets.token_bytes(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return load_secret(path) if path.stat().st_size >= 32 else secret
    except OSError:
        return secret
    with os.fdopen(descriptor, "wb") as out:
        out.write(secret)
    return secret


class SessionTokens:
    """Signed, expiring session tokens: `v1.<expiry>.<random id>.<HMAC-SHA256>` (URL-safe).

    The key is HMAC(server secret, password): a token proves that whoever holds the secret
    issued it while this password was set; without the secret a stolen token gives no handle
    on the password, and a new password makes every earlier token void."""

    def __init__(self, secret: bytes, password: str, lifetime_s: float = SESSION_HOURS * 3600) -> None:
        self._key = hmac.new(secret, b"grader-app-session\x00" + password.encode(), hashlib.sha256).digest()
        self.lifetime_s = lifetime_s
        self._lock = threading.Lock()
        self._revoked: dict[str, int] = {}  # token -> its expiry (a logout; this process only)

    def issue(self, now: float) -> str:
        body = f"v1.{int(now + self.lifetime_s)}.{secrets.token_urlsafe(16)}"
        return f"{body}.{self._sign(body)}"

    def valid(self, token: str | None, now: float) -> bool:
        if not isinstance(token, str) or not token or len(token) > 200:
            return False
        body, _, signature = token.rpartition(".")
        parts = body.split(".")
        if len(parts) != 3 or parts[0] != "v1" or not parts[1].isdigit():
            return False
        if not hmac.compare_digest(signature.encode(), self._sign(body).encode()):
            return False
        with self._lock:
            return now < int(parts[1]) and token not in self._revoked

    def revoke(self, token: str | None, now: float) -> None:
        """Log out: this token is refused from now on, even if copied elsewhere (until the
        process restarts; it expires anyway)."""
        if not self.valid(token, now):
            return
        with self._lock:
            self._revoked = {t: e for t, e in self._revoked.items() if e > now}
            self._revoked[str(token)] = int(str(token).split(".")[1])

    def _sign(self, body: str) -> str:
        mac = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")
