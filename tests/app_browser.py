"""A real `streamlit run` of the app on a free loopback port and the system's headless Chromium,
shared by the browser test and docs/screenshots.py. Playwright drives /usr/bin/chromium (the
Debian package): `playwright install` would download a browser, which this project never does."""

from __future__ import annotations

import os
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from tests.servers import free_port, running_server

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@contextmanager
def streamlit_server(database_url: str, log_path: Path, extra_env: dict[str, str] | None = None,
                     timeout_s: float = 90.0) -> Iterator[str]:
    """`streamlit run streamlit_app.py` against `database_url`; yields the base URL once the
    server answers its health check, and stops the server (only it) afterwards."""
    port = free_port()
    env = {**os.environ, "GRADER_DATABASE_URL": database_url, **(extra_env or {})}
    command = [sys.executable, "-m", "streamlit", "run", str(REPO / "streamlit_app.py"),
               "--server.headless", "true", "--server.address", "127.0.0.1",
               "--server.port", str(port), "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none"]
    base = f"http://127.0.0.1:{port}"
    with running_server(command, cwd=REPO, env=env, log_path=log_path,
                        health_url=f"{base}/_stcore/health", timeout_s=timeout_s):
        yield base


def require_browser():
    """Playwright's sync API, once the system Chromium is known to be there. A machine without
    it (a fresh one: `make test` installs no browser) skips the calling test and says why; CI,
    where .ci/run installs Chromium and sets GRADER_REQUIRE_BROWSER=1, fails it instead, so a
    browser test never goes quietly missing there."""
    import pytest

    if shutil.which(CHROMIUM) is None:
        reason = (f"Chromium is not installed ({CHROMIUM} is missing), so the app is not tested in a "
                  "browser here; install it with `apt-get install chromium chromium-driver`")
        if os.environ.get("GRADER_REQUIRE_BROWSER") == "1":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    import playwright.sync_api

    return playwright.sync_api


def launch_chromium(playwright):
    """Headless Chromium from the Debian package, no network side-traffic of its own."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                      headless=True)


def wait_idle(page, timeout_ms: int = 60_000) -> None:
    """Wait until the script run an action caused is over: the app root says notRunning (the
    frontend marks a rerun as requested as soon as a widget changes) and has said so for half
    a second, so what the page shows is the outcome of the last action."""
    page.wait_for_function(
        """() => {
            const app = document.querySelector('[data-testid="stApp"]');
            const state = app && app.getAttribute('data-test-script-state');
            const now = Date.now();
            if (state !== 'notRunning') {
                window.__idleSince = null;
                return false;
            }
            window.__idleSince = window.__idleSince || now;
            return now - window.__idleSince > 500;
        }""", timeout=timeout_ms, polling=100)
