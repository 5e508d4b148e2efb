"""The app's door (issue 22): `make run` served every interface and the app had no login, so
anyone on the school network could read and change grades."""

from __future__ import annotations

import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

from grader.app_auth import THROTTLE, LoginThrottle, exposure_problem, password_matches


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
