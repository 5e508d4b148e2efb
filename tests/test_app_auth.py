"""The app's door (issue 22): `make run` served every interface and the app had no login, so
anyone on the school network could read and change grades."""

from __future__ import annotations

import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

from grader.app_auth import (
    SESSION_COOKIE,
    THROTTLE,
    LoginThrottle,
    SessionTokens,
    client_address,
    exposure_problem,
    load_secret,
    parse_trusted_proxies,
    password_matches,
    throttle_key,
)
from grader.errors import GraderError
from tests.app_browser import launch_chromium, require_browser, streamlit_server, wait_idle


@pytest.mark.parametrize("address, password, refused", [
    ("127.0.0.1", None, False),
    ("localhost", None, False),
    ("0.0.0.0", None, True),
    (None, None, True),  # Streamlit's unset address: every interface
    ("192.168.1.10", None, True),
    ("0.0.0.0", "s3cret", False),
    ("0.0.0.0", "", True),  # an empty password is none
])
def test_a_network_needs_a_password(address, password, refused):
    problem = exposure_problem(address, password or None)
    assert (problem is not None) is refused
    if refused:
        assert "GRADER_APP_PASSWORD" in problem


def test_wrong_passwords_are_slowed_down_per_client():
    throttle = LoginThrottle(free_tries=3, max_wait_s=60)
    now = 1000.0
    waits = [throttle.attempt("10.0.0.5", "guess", "right", now + i * 100).wait_s for i in range(3)]
    assert waits == [0, 0, 1]  # the third failure makes the next try wait 1 s
    early = throttle.attempt("10.0.0.5", "right", "right", now + 200.5)
    assert not early.ok and "wait" in early.message  # even the right password waits its turn
    assert throttle.attempt("10.0.0.7", "right", "right", now + 200.5).ok  # another client is not held up
    assert throttle.attempt("10.0.0.5", "guess", "right", now + 201.5).wait_s == 2  # doubling
    assert throttle.attempt("10.0.0.5", "guess", "right", now + 203.5).wait_s == 4
    assert throttle.attempt("10.0.0.5", "right", "right", now + 207.5).ok  # and a success clears it
    assert throttle.attempt("10.0.0.5", "guess", "right", now + 207.6).wait_s == 0
    assert LoginThrottle(free_tries=0, max_wait_s=60)._delay(40) == 60


def test_password_comparison():
    assert password_matches("s3cret", "s3cret") and not password_matches("s3cre", "s3cret")
    assert not password_matches("é" * 3, "s3cret")


def _app():
    from pages._login import require_login

    require_login()
    import streamlit as st

    st.write("the gradebook")


def _shown(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown) + " ".join(e.value for e in at.error)


def test_the_app_asks_for_the_password_and_slows_guessing(monkeypatch):
    monkeypatch.setenv("GRADER_APP_PASSWORD", "s3cret")
    THROTTLE.reset()
    at = AppTest.from_function(_app).run()
    assert "the gradebook" not in _shown(at) and at.text_input[0].label == "Password"
    for _ in range(3):
        at.text_input[0].input("guess")
        at.button[0].click()
        at.run()
        assert "Wrong password" in _shown(at) and "the gradebook" not in _shown(at)
    at.text_input[0].input("s3cret")
    at.button[0].click()
    at.run()
    assert "wait" in _shown(at) and "the gradebook" not in _shown(at)  # throttled: not even checked
    THROTTLE.reset()
    at.text_input[0].input("s3cret")
    at.button[0].click()
    at.run()
    assert "the gradebook" in _shown(at) and not at.text_input
    at.run()  # the login lasts for the session
    assert "the gradebook" in _shown(at)
    THROTTLE.reset()


def test_the_app_refuses_a_network_without_a_password(monkeypatch):
    monkeypatch.delenv("GRADER_APP_PASSWORD", raising=False)
    at = AppTest.from_function(_app).run()
    assert "the gradebook" in _shown(at)  # .streamlit/config.toml binds 127.0.0.1: open
    kept = config.get_option("server.address")
    try:
        for address in ("0.0.0.0", None):  # as `streamlit run --server.address 0.0.0.0`, or unset
            config.set_option("server.address", address)
            at = AppTest.from_function(_app).run()
            assert "without a password" in _shown(at) and "the gradebook" not in _shown(at)
    finally:
        config.set_option("server.address", kept)


# --- who the client is, behind a reverse proxy ------------------------------------------------

PROXIES = parse_trusted_proxies("127.0.0.1, 10.0.0.0/8, ::1")


@pytest.mark.parametrize("peer, forwarded, client", [
    ("203.0.113.9", None, "203.0.113.9"),  # no proxy
    ("203.0.113.9", "198.51.100.1", "203.0.113.9"),  # an untrusted peer's header is ignored
    ("127.0.0.1", "198.51.100.1", "198.51.100.1"),  # the proxy names its client
    (None, "198.51.100.1", "198.51.100.1"),  # Streamlit reports loopback as None
    ("127.0.0.1", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # what the client wrote is left of it
    ("10.1.2.3", "198.51.100.1, 10.9.9.9", "198.51.100.1"),  # two trusted proxies in a row
    ("127.0.0.1", None, "127.0.0.1"),  # loopback without a header: this machine
    ("::1", "2001:db8::5", "2001:db8::5"),
    ("127.0.0.1", "198.51.100.1:4711", "198.51.100.1"),
])
def test_the_client_behind_trusted_proxies(peer, forwarded, client):
    assert client_address(peer, forwarded, PROXIES) == client


def test_without_trusted_proxies_the_header_counts_for_nothing():
    assert client_address("127.0.0.1", "198.51.100.1", ()) == "127.0.0.1"


def test_a_typo_in_the_trusted_proxies_is_an_error():
    with pytest.raises(GraderError, match="'10.0.0.0/33' is not an IP address or network"):
        parse_trusted_proxies("127.0.0.1, 10.0.0.0/33")


def test_ipv6_clients_count_per_64_and_the_throttle_forgets_the_oldest():
    assert throttle_key("2001:db8:1:2:aaaa::1") == throttle_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert throttle_key("::ffff:198.51.100.1") == "198.51.100.1"
    throttle = LoginThrottle(free_tries=0, max_clients=100)
    for n in range(300):
        throttle.attempt(f"10.0.{n // 256}.{n % 256}", "guess", "right", float(n))
    assert len(throttle._failures) == 100 and "10.0.1.43" in throttle._failures  # the newest kept
    held = throttle.attempt("2001:db8:1:2::1", "guess", "right", 1000.0)
    assert held.wait_s == 2 and throttle.attempt("2001:db8:1:2::2", "right", "right", 1000.1).wait_s > 0


# --- the session a browser keeps ---------------------------------------------------------------


def test_session_tokens_are_signed_expire_and_end_with_the_password(tmp_path):
    secret = load_secret(tmp_path / "data" / "app_secret")
    assert len(secret) == 32 and (tmp_path / "data" / "app_secret").stat().st_mode & 0o777 == 0o600
    assert load_secret(tmp_path / "data" / "app_secret") == secret  # kept across restarts
    tokens = SessionTokens(secret, "s3cret", lifetime_s=3600)
    token = tokens.issue(now=1000.0)
    assert tokens.valid(token, 1000.0) and tokens.valid(token, 4599.0)
    assert not tokens.valid(token, 4600.0)  # expired
    body, signature = token.rsplit(".", 1)
    version, expiry, nonce = body.split(".")
    assert not tokens.valid(f"{version}.{int(expiry) + 86400}.{nonce}.{signature}", 1000.0)  # longer life
    assert not tokens.valid(body + "." + signature[:-1] + ("A" if signature[-1] != "A" else "B"), 1000.0)
    assert not tokens.valid("", 1000.0) and not tokens.valid(None, 1000.0) and not tokens.valid("v1.x.y.z", 1000.0)
    assert not SessionTokens(secret, "new password").valid(token, 1000.0)  # a new password ends it
    assert not SessionTokens(load_secret(tmp_path / "other"), "s3cret").valid(token, 1000.0)
    tokens.revoke(token, 1001.0)
    assert not tokens.valid(token, 1002.0) and tokens.valid(tokens.issue(1002.0), 1002.0)


def test_a_login_survives_a_reload_in_a_real_browser(tmp_path):
    # Issue 22: the login lasted for the browser session; a reload asked for the password again.
    sync_api = require_browser()
    env = {"GRADER_APP_PASSWORD": "s3cret", "GRADER_DEMO": "0",
           "GRADER_APP_SECRET_FILE": str(tmp_path / "app_secret")}
    with streamlit_server(f"sqlite:///{tmp_path / 'g.db'}", tmp_path / "app.log", env) as base, \
            sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page()
        page.goto(base)
        password = page.get_by_label("Password", exact=True)
        password.wait_for(timeout=60_000)
        password.fill("s3cret")
        page.get_by_role("button", name="Log in").click()
        logout = page.get_by_role("button", name="Log out")
        logout.wait_for(timeout=60_000)
        wait_idle(page)
        (cookie,) = [c for c in page.context.cookies() if c["name"] == SESSION_COOKIE]
        assert cookie["sameSite"] == "Strict" and cookie["expires"] > 0
        page.reload()
        logout.wait_for(timeout=60_000)  # still logged in: no password asked
        wait_idle(page)
        assert page.get_by_label("Password", exact=True).count() == 0
        forged = {**cookie, "value": cookie["value"][:-2] + "xx"}
        other = browser.new_context()
        other.add_cookies([{k: forged[k] for k in ("name", "value", "domain", "path")}])
        stranger = other.new_page()
        stranger.goto(base)
        stranger.get_by_label("Password", exact=True).wait_for(timeout=60_000)  # a forged cookie: the door
        copied = browser.new_context()
        copied.add_cookies([{k: cookie[k] for k in ("name", "value", "domain", "path")}])
        logout.click()
        page.get_by_label("Password", exact=True).wait_for(timeout=60_000)
        page.reload()
        page.get_by_label("Password", exact=True).wait_for(timeout=60_000)  # logged out stays out
        thief = copied.new_page()
        thief.goto(base)
        thief.get_by_label("Password", exact=True).wait_for(timeout=60_000)  # the token ended with the logout
        browser.close()
