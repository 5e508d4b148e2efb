"""The app's door (issue 22): open on this machine only; on a network, the password first.

`require_login()` runs at the top of every rerun, before any screen: it stops the script with a
refusal when the app is bound beyond loopback without GRADER_APP_PASSWORD, and with a login form
until this browser has given the password (grader.app_auth checks it in constant time, slowing
down wrong guesses per client, the client read through GRADER_TRUSTED_PROXIES behind a reverse
proxy). A login gives the browser a signed session cookie (12 hours), so a reload does not ask
again; "Log out" in the sidebar ends it. Streamlit cannot set a cookie from the server, so a
few lines of script set it in the page (`st.html`); the server only ever reads it, from the
request that opened the session (`st.context.cookies`), and checks its signature and expiry.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import streamlit as st

from grader.app_auth import (
    SESSION_COOKIE,
    THROTTLE,
    Network,
    SessionTokens,
    client_address,
    exposure_problem,
    load_secret,
    parse_trusted_proxies,
)
from grader.errors import GraderError
from grader.settings import Settings

LOGGED_IN = "_grader_logged_in"
TOKEN = "_grader_session_token"  # this browser session's token
COOKIE_TO_WRITE = "_grader_cookie_to_write"  # "" deletes the cookie
LOGGED_OUT = "_grader_logged_out"  # the cookie the page was opened with no longer counts


@st.cache_resource(show_spinner=False)
def _tokens(password: str, secret_file: str) -> SessionTokens:
    """One per password and process: it holds the revoked tokens of logouts."""
    return SessionTokens(load_secret(Path(secret_file)), password)


def require_login() -> None:
    settings = Settings.from_env()
    password = settings.app_password
    problem = exposure_problem(st.get_option("server.address"), password)
    if problem:
        st.error(problem)
        st.stop()
    if password is None:
        return
    try:
        trusted = parse_trusted_proxies(settings.trusted_proxies)
    except GraderError as error:
        st.error(str(error))
        st.stop()
    tokens = _tokens(password, str(settings.app_secret_file))
    if _logged_in(tokens):
        _session_controls(tokens)
        return
    _write_cookie(tokens)  # a logout's deletion
    st.title("Homework grader")
    with st.form("login"):
        offered = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Log in", type="primary")
    if submitted:
        client = _client(trusted)
        attempt = THROTTLE.attempt(client, offered, password, time.monotonic())
        if attempt.ok:
            token = tokens.issue(time.time())
            st.session_state.update({LOGGED_IN: True, TOKEN: token, COOKIE_TO_WRITE: token, LOGGED_OUT: False})
            st.rerun()
        st.error(attempt.message)
    st.stop()


def _logged_in(tokens: SessionTokens) -> bool:
    """Logged in in this session, or the page was opened with a valid session cookie."""
    now = time.time()
    if st.session_state.get(LOGGED_IN):
        if tokens.valid(st.session_state.get(TOKEN), now):
            return True
        st.session_state[LOGGED_IN] = False  # expired, or logged out elsewhere
    if st.session_state.get(LOGGED_OUT):
        return False
    cookie = st.context.cookies.get(SESSION_COOKIE)
    if tokens.valid(cookie, now):
        st.session_state.update({LOGGED_IN: True, TOKEN: cookie})
        return True
    return False


def _session_controls(tokens: SessionTokens) -> None:
    _write_cookie(tokens)
    if st.sidebar.button("Log out", icon=":material/logout:"):
        tokens.revoke(st.session_state.get(TOKEN), time.time())
        st.session_state.update({LOGGED_IN: False, TOKEN: None, COOKIE_TO_WRITE: "", LOGGED_OUT: True})
        st.rerun()


def _write_cookie(tokens: SessionTokens) -> None:
    """Set (or with "" delete) the session cookie in this browser, once."""
    value = st.session_state.pop(COOKIE_TO_WRITE, None)
    if value is None:
        return
    max_age = int(tokens.lifetime_s) if value else 0
    # SameSite=Strict: no other site's page can open a session with it; Secure behind HTTPS.
    script = (f"<script>document.cookie = {json.dumps(SESSION_COOKIE)} + '=' + {json.dumps(value)} + "
              f"'; Path=/; Max-Age={max_age}; SameSite=Strict' + "
              "(location.protocol === 'https:' ? '; Secure' : '');</script>")
    with st.sidebar:
        st.html(script, unsafe_allow_javascript=True)


def _client(trusted: tuple[Network, ...]) -> str:
    """Who is logging in: the TCP peer, or behind a trusted proxy the client it names."""
    peer = st.context.ip_address
    forwarded = ", ".join(st.context.headers.get_all("X-Forwarded-For")) or None
    return client_address(peer if isinstance(peer, str) else None, forwarded, trusted)
