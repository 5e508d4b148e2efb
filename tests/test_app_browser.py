"""The teacher's app in a real browser: `streamlit run` on a free loopback port with a gradebook
in tmp_path, driven through the system's headless Chromium with Playwright. Upload a photo, see
its score, override an answer in Review, download the gradebook CSV and find the override in it.
Screenshots of every step land in tmp_path when something fails."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest

from grader import db, export, store
from grader.answer_key import load_answer_key
from grader.demo import DEMO_ROSTER, demo_photo, load_demo_keys
from grader.paths import ANSWER_KEYS_DIR
from tests.app_browser import launch_chromium, require_browser, streamlit_server, wait_idle

KEY = "arithmetic-basics"


@pytest.fixture
def browser_kit():
    """Playwright's sync API; skipped with the reason where Chromium is missing (failed in CI)."""
    return require_browser()


@pytest.fixture
def gradebook(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    load_demo_keys(db.open_engine(url))  # keys and class only: the browser grades the photo
    return url


def select_option(page, label: str, option: str) -> None:
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text=label)
    box.locator('[role="combobox"], input').first.click()
    page.get_by_role("option", name=option, exact=True).first.click()
    wait_idle(page)


def test_upload_grade_override_and_export(browser_kit, gradebook, tmp_path):
    key = load_answer_key(ANSWER_KEYS_DIR / f"{KEY}.yaml")
    student = DEMO_ROSTER[0]
    photo = tmp_path / "ana.jpg"
    photo.write_bytes(demo_photo(key, student, np.random.default_rng(11)))
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with streamlit_server(gradebook, tmp_path / "streamlit.log", {"GRADER_DEMO": "0"}) as base, \
            browser_kit.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
        step = "start"
        try:
            step = "grade"
            page.goto(f"{base}/grade")
            page.get_by_role("heading", name="Grade", exact=True).wait_for(timeout=60_000)
            wait_idle(page)
            page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
                str(photo))
            page.get_by_role("button", name="Grade 1 file(s)").wait_for(timeout=30_000)
            page.get_by_role("button", name="Grade 1 file(s)").click()
            wait_idle(page, 180_000)
            page.get_by_text("1 pages graded").wait_for(timeout=30_000)
            maximum = sum(q.points for q in key.questions)
            score = page.get_by_text(f"/ {maximum:g} · ana.jpg").first
            score.wait_for()
            assert "ana.jpg" in score.inner_text()
            chosen = page.locator('[data-testid="stSelectbox"]').filter(
                has_text="from the QR code").first
            shown = chosen.inner_text() + " " + chosen.locator("input").first.input_value()
            assert student.name in shown, shown

            step = "review"
            page.goto(f"{base}/review")
            page.get_by_role("heading", name="Review", exact=True).wait_for()
            wait_idle(page)
            # issue 21: the Groups tab stays open after grading a group
            page.get_by_role("tab", name="Groups").click()
            wait_idle(page)
            with db.read_session(db.open_engine(gradebook)) as session:
                written = next(a for a in store.list_answers(session, KEY) if a.status != "blank")
            question = key.question(written.question_id)
            select_option(page, "Question", f"{question.label}. {question.prompt or ''}")
            page.get_by_role("button", name="✓ all").first.click()
            wait_idle(page)
            page.get_by_text("set to").first.wait_for()
            assert page.get_by_role("tab", name="Groups").get_attribute("aria-selected") == "true"
            page.get_by_role("tab", name="Answers").click()
            wait_idle(page)
            page.get_by_text("All answers").click()
            wait_idle(page)
            select_option(page, "Question", "q1")
            page.get_by_text("1 answers; the most doubtful first.").wait_for()
            # issue 21: the key X marks the current answer incorrect, the message names the student
            # The shortcut listener attaches after the card renders; on a loaded machine a press
            # can come before it (CI once saw nothing happen), so a press without its message
            # is repeated, at most three times (a second override of the same answer is harmless).
            from playwright.sync_api import TimeoutError as PlaywrightTimeout

            marked = page.get_by_text(f"{student.name}, q1:").first
            for _ in range(3):
                page.evaluate("() => document.activeElement && document.activeElement.blur()")
                page.keyboard.press("x")
                wait_idle(page)
                try:
                    marked.wait_for(timeout=15_000)
                    break
                except PlaywrightTimeout:
                    continue
            marked.wait_for()
            page.get_by_text("(incorrect)").first.wait_for()
            # The answer's form sends the typed points and reason with the click on Set points.
            page.locator('[data-testid="stNumberInputField"]').first.fill("0.5")
            page.get_by_placeholder("e.g. right method").first.fill("checked by hand")
            page.get_by_role("button", name="Set points", exact=True).first.click()
            wait_idle(page)
            page.get_by_text("→ 0.5").wait_for()

            step = "gradebook"
            page.goto(f"{base}/gradebook")
            page.get_by_role("heading", name="Gradebook", exact=True).wait_for()
            wait_idle(page)
            with page.expect_download() as download:
                page.get_by_role("button", name="Download gradebook (CSV)").click()
            data = Path(download.value.path()).read_bytes()

            step = "marked sheet and term"  # issue 21: what goes back to the student and school
            page.get_by_text("mark them provisional", exact=False).click()
            wait_idle(page)
            with page.expect_download() as download:
                page.get_by_role("button", name="Download this student's sheet (PDF)").click()
            sheet_pdf = Path(download.value.path()).read_bytes()
            with page.expect_download() as download:
                page.get_by_role("button", name="Download term (CSV)").click()
            term_data = Path(download.value.path()).read_bytes()
        except Exception:
            page.screenshot(path=str(shots / f"failed-at-{step}.png"), full_page=True)
            raise
        finally:
            browser.close()
    with db.read_session(db.open_engine(gradebook)) as session:
        exported = export.gradebook_csv(store.gradebook(session, KEY))
    assert data == exported.encode("utf-8")  # byte for byte what `grader export` writes
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    row = next(r for r in rows if r["student_id"] == student.id)
    assert row["q1"] == "0.5"
    text = pdfium.PdfDocument(sheet_pdf)[0].get_textpage().get_text_range()
    assert student.name in text and "Total " in text and "checked by hand" in text
    with db.read_session(db.open_engine(gradebook)) as session:
        assert term_data == export.term_csv(store.term_gradebook(session), "percent").encode("utf-8")
    term_rows = list(csv.DictReader(io.StringIO(term_data.decode("utf-8-sig"))))
    assert float(next(r for r in term_rows if r["student_id"] == student.id)["percent"]) > 0


PHONE = {"width": 390, "height": 844}


def fits_the_width(page) -> None:
    """Nothing on the screen is wider than the phone: no sideways scrolling."""
    width = page.evaluate("() => document.scrollingElement.scrollWidth")
    assert width <= PHONE["width"] + 2, f"{width}px wide on a {PHONE['width']}px screen"


def test_a_teachers_first_hour(browser_kit, tmp_path):
    """Issue 20 in a browser: the first start guides, a refresh keeps the assignment, a GBK
    roster keeps its names, a HEIC photo is graded on a phone-size screen, a page is deleted and
    undone; Grade, Review and Gradebook fit a 390 px screen, Review's buttons in the order
    Correct, Incorrect, Points."""
    from grader.imageio import load_images
    from tests.test_phone_photos import heic_of

    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    key = load_answer_key(ANSWER_KEYS_DIR / f"{KEY}.yaml")
    heic = tmp_path / "IMG_0042.HEIC"
    heic.write_bytes(heic_of(load_images(demo_photo(key, DEMO_ROSTER[1],
                                                    np.random.default_rng(12)))[0]))
    roster = tmp_path / "class.csv"
    roster.write_bytes("学号,姓名,班级\nc1,陈静,六(2)班\nc2,欧阳喆,六(2)班\n".encode("gbk"))
    shots = tmp_path / "screenshots"
    shots.mkdir()
    # The demo is seeded here, as the app's first start does (tests/test_app.py checks that),
    # so the server, a child process, stays small: tests/test_bad_input.py measures the peak
    # memory of this process's children.
    from grader.demo import seed_demo

    seed_demo(db.open_engine(url))
    with streamlit_server(url, tmp_path / "streamlit.log", {"GRADER_DEMO": "1"}) as base, \
            browser_kit.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        step = "first start"
        try:
            page.goto(base)
            page.get_by_role("heading", name="Start", exact=True).wait_for(timeout=180_000)
            wait_idle(page, 180_000)
            page.get_by_text("1. Print a worksheet").wait_for()
            page.get_by_text("3. Upload them on Grade").wait_for()
            page.get_by_text("The demo gradebook holds").wait_for(timeout=60_000)

            step = "refresh keeps the assignment"
            page.goto(f"{base}/review")
            page.get_by_role("heading", name="Review", exact=True).wait_for()
            wait_idle(page)
            select_option(page, "Assignment",
                          "English vocabulary: write the word (english-vocabulary)")
            # The URL follows the choice once the rerun it caused has written st.query_params;
            # on a loaded machine that can come after wait_idle's half second of quiet.
            page.wait_for_function(
                "() => window.location.search.includes('assignment=english-vocabulary')",
                timeout=60_000, polling=200)
            page.reload()
            page.get_by_role("heading", name="Review", exact=True).wait_for()
            wait_idle(page)
            picked = page.locator('[data-testid="stSelectbox"]').filter(has_text="Assignment").first
            shown = picked.inner_text() + " " + picked.locator("input").first.input_value()
            assert "english-vocabulary" in shown, shown

            step = "GBK roster"
            page.goto(f"{base}/roster")
            page.get_by_role("heading", name="Roster", exact=True).wait_for()
            wait_idle(page)
            page.locator('input[type="file"]').set_input_files(str(roster))
            page.get_by_role("button", name="Import class.csv").wait_for(timeout=30_000)
            page.get_by_role("button", name="Import class.csv").click()
            wait_idle(page)
            page.get_by_text("2 students read").wait_for()

            step = "HEIC on a phone"
            page.set_viewport_size(PHONE)
            page.goto(f"{base}/grade?assignment={KEY}")
            page.get_by_role("heading", name="Grade", exact=True).wait_for()
            wait_idle(page)
            page.locator('input[type="file"]').set_input_files(str(heic))
            page.get_by_role("button", name="Grade 1 file(s)").wait_for(timeout=30_000)
            page.get_by_text("Photo check: 1 file(s) look fine.").wait_for(timeout=30_000)
            page.get_by_role("button", name="Grade 1 file(s)").click()
            wait_idle(page, 180_000)
            page.get_by_text("1 pages graded").wait_for(timeout=30_000)
            fits_the_width(page)

            step = "delete and undo"
            texts = page.locator('[data-testid="stMarkdownContainer"]').all_inner_texts()
            assert sum("IMG_0042.HEIC · page 1" in t for t in texts) == 1
            page.get_by_role("button", name="Delete this page").first.click()
            wait_idle(page)
            page.get_by_role("button", name="Yes, delete").click()
            wait_idle(page)
            page.get_by_text("Deleted page").wait_for()
            page.get_by_role("button", name="Undo").click()
            wait_idle(page)
            page.get_by_text("Restored page").wait_for()

            step = "review on a phone"
            page.goto(f"{base}/review?assignment={KEY}&show=All+answers")
            page.get_by_role("heading", name="Review", exact=True).wait_for()
            wait_idle(page)
            top = [page.get_by_role("button", name=name).first.bounding_box()
                   for name in ("✓ Correct", "✗ Incorrect", "Set points")]
            correct, incorrect, points = top
            assert (correct["y"], correct["x"]) <= (incorrect["y"], incorrect["x"])
            assert incorrect["y"] < points["y"]
            fits_the_width(page)

            step = "gradebook on a phone"
            page.goto(f"{base}/gradebook?assignment={KEY}")
            page.get_by_role("heading", name="Gradebook", exact=True).wait_for()
            wait_idle(page)
            page.get_by_role("button", name="Download gradebook (CSV)").wait_for()
            fits_the_width(page)
        except Exception:
            page.screenshot(path=str(shots / f"failed-at-{step}.png"), full_page=True)
            raise
        finally:
            browser.close()
    with db.read_session(db.open_engine(url)) as session:
        names = {e.id: e.name for e in store.roster_entries(session)}
        assert names["c1"] == "陈静" and names["c2"] == "欧阳喆"
        page_row = store.find_submission(session, KEY, store.photo_hash(heic.read_bytes()))
        assert page_row is not None and page_row.status == "ok"
