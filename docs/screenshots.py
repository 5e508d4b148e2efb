"""Take the README's screenshots of the real app: `python docs/screenshots.py [NAME ...]` starts
the app on a fresh demo gradebook (in a temporary folder), opens each screen in headless Chromium
and writes docs/screenshot-<screen>.png: what a new teacher sees first (Start), every screen, the
Gradebook's class statistics, Grade and Review on a phone-size screen (390x844), and a student's
marked sheet (page 1 of the PDF the Gradebook hands out, rendered at 100 dpi). With names, only
those screenshots are written (e.g. `statistics marked-sheet`)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import cv2
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.app_browser import launch_chromium, streamlit_server, wait_idle  # noqa: E402

DOCS = Path(__file__).resolve().parent
WANTED: set[str] = set()  # screenshot names to write; empty: all


def shoot(page, name: str, full_page: bool = False) -> None:
    if WANTED and name not in WANTED:
        return
    page.wait_for_timeout(1500)  # charts and images finish drawing
    target = DOCS / f"screenshot-{name}.png"
    page.screenshot(path=str(target), full_page=full_page)
    print(f"wrote {target}")


def teachers_sheet():
    """A plain sheet as a teacher might make it in a word processor: a title, ten questions,
    a box after each; no markers, no QR code."""
    import numpy as np

    page = np.full((2339, 1654, 3), 255, np.uint8)
    cv2.putText(page, "Capitals quiz - week 5", (140, 200), cv2.FONT_HERSHEY_SIMPLEX, 2.2,
                (0, 0, 0), 4, cv2.LINE_AA)
    for i in range(10):
        y = 380 + i * 180
        cv2.putText(page, f"{i + 1}. Capital of country {i + 1}:", (140, y + 75),
                    cv2.FONT_HERSHEY_SIMPLEX, 1.3, (0, 0, 0), 2, cv2.LINE_AA)
        cv2.rectangle(page, (900, y), (1500, y + 120), (0, 0, 0), 4)
    return page


def own_sheet(page, folder: Path) -> None:
    """The teacher's own sheet: a blank page uploaded, its boxes detected and drawn."""
    blank = folder / "capitals-quiz.png"
    cv2.imwrite(str(blank), teachers_sheet())
    page.get_by_role("tab", name="From your own sheet").click()
    wait_idle(page)
    # The own-sheet tab's uploader comes before the YAML tab's (the last tab).
    page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(
        str(blank))
    wait_idle(page, 120_000)
    capitals = ["Paris", "Rome | Roma", "Madrid", "Berlin", "Lisbon | Lisboa", "Vienna | Wien",
                "Oslo", "Dublin", "Prague | Praha", "Athens"]
    page.get_by_placeholder("Paris").fill("\n".join(capitals))
    page.get_by_placeholder("my-quiz-1").fill("capitals-quiz")
    page.get_by_placeholder("My quiz 1").fill("Capitals quiz, week 5")
    page.get_by_placeholder("My quiz 1").press("Enter")
    wait_idle(page)
    page.get_by_text("answer boxes on").first.scroll_into_view_if_needed()
    shoot(page, "own-sheet")


def statistics(page, base: str) -> None:
    """The Gradebook's class statistics: distribution, mean and median, facility and
    discrimination per question."""
    page.goto(f"{base}/gradebook?assignment=arithmetic-basics")
    page.get_by_role("heading", name="Gradebook", exact=True).wait_for()
    wait_idle(page)
    page.get_by_role("heading", name="Class statistics").evaluate(
        "element => element.scrollIntoView({block: 'start'})")  # the top of the screenshot
    shoot(page, "statistics")


def marked_sheet(url: str) -> None:
    """Chen Jing's arithmetic sheet as it goes back to her: one answer overridden with a reason
    (as a teacher does in Review), accepted answers shown beside wrong ones, provisional marks
    where an answer is still in review."""
    if WANTED and "marked-sheet" not in WANTED:
        return
    import pypdfium2 as pdfium

    from grader import db, feedback, store
    from grader.files import FileStore
    from grader.template import template_image

    engine = db.open_engine(url)
    with db.write_session(engine) as session:
        answers = store.list_answers(session, "arithmetic-basics")
        mine = [a for a in answers if a.submission.student_id == "s03"]
        chosen = next((a for a in mine if a.points < a.max_points), mine[-1])
        store.override_answer(session, chosen.id, chosen.max_points / 2,
                              reason="方法对 right method, slip at the end", by="Ms Li")
    with db.read_session(engine) as session:
        key, _ = store.load_key(session, "arithmetic-basics")
        sheets = store.student_sheets(session, "arithmetic-basics", "s03")
    files = FileStore.for_engine(engine)
    pdf = feedback.sheets_pdf(key, sheets, feedback.FeedbackOptions(provisional=True, show_answers=True),
                              template_image, lambda p: files.thumbnail(p.photo_sha256, p.source_page))
    image = pdfium.PdfDocument(pdf)[0].render(scale=100 / 72).to_pil()
    target = DOCS / "screenshot-marked-sheet.png"
    image.save(target, optimize=True)
    print(f"wrote {target}")


def main(names: list[str]) -> int:
    WANTED.update(names)
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        url = f"sqlite:///{folder}/gradebook.db"
        with streamlit_server(url, folder / "streamlit.log", timeout_s=120) as base, \
                sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(base, timeout=180_000)
            page.get_by_role("heading", name="Start", exact=True).wait_for(timeout=180_000)
            wait_idle(page, 180_000)  # the first start grades the demo photos
            shoot(page, "start")
            page.goto(f"{base}/assignments")
            page.get_by_role("heading", name="Assignments", exact=True).wait_for()
            wait_idle(page)
            shoot(page, "assignments")
            own_sheet(page, folder)
            for screen in ("grade", "review", "gradebook"):
                page.goto(f"{base}/{screen}")
                page.get_by_role("heading", name=screen.capitalize(), exact=True).wait_for()
                wait_idle(page)
                shoot(page, screen)
            page.goto(f"{base}/review")
            wait_idle(page)
            page.get_by_role("tab", name="Groups").click()
            wait_idle(page)
            shoot(page, "groups")
            page.set_viewport_size({"width": 390, "height": 844})
            for screen in ("grade", "review"):
                page.goto(f"{base}/{screen}?show=All+answers")
                page.get_by_role("heading", name=screen.capitalize(), exact=True).wait_for()
                wait_idle(page)
                shoot(page, f"phone-{screen}")
            page.set_viewport_size({"width": 1400, "height": 1000})
            statistics(page, base)
            browser.close()
        marked_sheet(url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
