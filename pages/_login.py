"""The app's door (issue 22): open on this machine only; on a network, the password first.

`require_login()` runs at the top of every rerun, before any screen: it stops the script with a
refusal when the app is bound beyond loopback without GRADER_APP_PASSWORD, and with a login form
until this browser session has given the password (grader.app_auth checks it, in constant time,
slowing down wrong guesses per client address). A login lasts for the browser session.
"""

from __future__ import annotations

import time

import streamlit as st

from grader.app_auth import THROTTLE, exposure_problem
from grader.settings import Settings

LOGGED_IN = "_grader_logged_in"


def require_login() -> None:
    password = Settings.from_env().app_password
    problem = exposure_problem(st.get_option("server.address"), password)
    if problem:
        st.error(problem)
        st.stop()
    if password is None or st.session_state.get(LOGGED_IN):
        return
    st.title("Homework grader")
    with st.form("login"):
        offered = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Log in", type="primary")
    if submitted:
        address = st.context.ip_address
        client = address if isinstance(address, str) else "unknown"
        attempt = THROTTLE.attempt(client, offered, password, time.monotonic())
        if attempt.ok:
            st.session_state[LOGGED_IN] = True
            st.rerun()
        st.error(attempt.message)
    st.stop()
