"""Take the README's screenshots of the real app: `python docs/screenshots.py` starts the app on
a fresh demo gradebook (in a temporary folder), opens each screen in headless Chromium and
writes docs/screenshot-<screen>.png."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.app_browser import launch_chromium, streamlit_server, wait_idle  # noqa: E402

DOCS = Path(__file__).resolve().parent
SCREENS = ("assignments", "grade", "review", "gradebook")


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/gradebook.db"
        with streamlit_server(url, Path(folder) / "streamlit.log", timeout_s=120) as base, \
                sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(base, timeout=180_000)
            page.get_by_role("heading", name="Assignments", exact=True).wait_for(timeout=180_000)
            wait_idle(page, 180_000)  # the first start grades the demo photos
            for screen in SCREENS:
                page.goto(f"{base}/{screen}")
                wait_idle(page)
                page.wait_for_timeout(1500)  # charts and images finish drawing
                target = DOCS / f"screenshot-{screen}.png"
                page.screenshot(path=str(target), full_page=False)
                print(f"wrote {target}")
            browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
