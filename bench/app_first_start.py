"""Time from `streamlit run` to the first page showing the graded demo gradebook (the first
start seeds the demo: keys, class, a handful of generated photos graded), in headless Chromium.

    .venv/bin/python bench/app_first_start.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.app_browser import launch_chromium, streamlit_server  # noqa: E402


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        with streamlit_server(f"sqlite:///{folder}/gradebook.db", Path(folder) / "log") as base, \
                sync_playwright() as playwright:
            up = time.perf_counter()
            browser = launch_chromium(playwright)
            page = browser.new_page()
            page.goto(f"{base}/gradebook")
            page.get_by_text("Download gradebook (CSV)").first.wait_for(timeout=300_000)
            shown = time.perf_counter()
            browser.close()
    print(f"server answering after {up - started:.1f} s; gradebook of the graded demo shown "
          f"{shown - up:.1f} s later ({shown - started:.1f} s in all)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
