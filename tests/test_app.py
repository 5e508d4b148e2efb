"""The teacher's app through Streamlit's AppTest: every screen on an empty and on a seeded
gradebook (real SQLite files in tmp_path, the real model in models/), and the main actions
change the database as they should."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from grader import db, item_analysis, store
from grader.demo import DEMO_PHOTOS, DEMO_ROSTER, demo_photo, seed_demo
from grader.files import FileStore
from grader.orm import Answer, Assignment, Override, Student, Submission
from grader.paths import ANSWER_KEYS_DIR

REPO = Path(__file__).resolve().parents[1]
SCREENS = ["pages/start.py", "pages/assignments.py", "pages/roster.py", "pages/grade.py", "pages/review.py",
           "pages/gradebook.py"]


def open_app(monkeypatch, url: str, page: str | None = None, demo: bool = False) -> AppTest:
    monkeypatch.setenv("GRADER_DATABASE_URL", url)
    monkeypatch.setenv("GRADER_DEMO", "1" if demo else "0")
    app = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=120).run()
    if page is not None:
        app.switch_page(page).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def count(url: str, column) -> int:
    with db.read_session(db.open_engine(url)) as session:
        return session.scalar(select(func.count(column)))


# --- first start ----------------------------------------------------------------------------------

def test_first_start_seeds_the_demo_once(seeded):
    assert count(seeded, Assignment.id) == len(list(ANSWER_KEYS_DIR.glob("*.yaml")))
    assert count(seeded, Student.id) == len(DEMO_ROSTER)
    with db.read_session(db.open_engine(seeded)) as session:
        graded = session.scalars(select(Submission).where(Submission.status == "ok")).all()
        failed = session.scalars(select(Submission).where(Submission.status == "failed")).all()
        assert len(graded) == len(DEMO_PHOTOS)
        students = {s.student_id for s in graded}
        assert students == {sid for _, sid in DEMO_PHOTOS}  # read from the QR codes
        assert len(failed) == 1 and "desk" in failed[0].photo_name and failed[0].error
    before = count(seeded, Submission.id)
    assert seed_demo(db.open_engine(seeded)).seeded is False  # a second start adds nothing
    assert count(seeded, Submission.id) == before


@pytest.mark.parametrize("page", SCREENS)
def test_every_screen_opens_on_an_empty_gradebook(monkeypatch, empty, page):
    app = open_app(monkeypatch, empty, page)
    assert app.title[0].value == Path(page).stem.capitalize()
    if page not in ("pages/roster.py", "pages/start.py"):
        assert any("No assignments yet" in i.value for i in app.info)
    assert count(empty, Assignment.id) == 0  # opening a screen writes nothing


@pytest.mark.parametrize("page", SCREENS)
def test_every_screen_shows_the_seeded_gradebook(monkeypatch, seeded, page):
    app = open_app(monkeypatch, seeded, page)
    assert not app.error, [e.value for e in app.error]
    if page in ("pages/grade.py", "pages/review.py", "pages/gradebook.py"):
        assert app.selectbox[0].value == "arithmetic-basics"  # the demo's main sheet first


# --- assignments ----------------------------------------------------------------------------------

def test_load_demo_assignments_from_an_empty_gradebook(monkeypatch, empty):
    app = open_app(monkeypatch, empty, "pages/assignments.py")
    app.button(key="load-demo").click().run()
    assert count(empty, Assignment.id) == 5
    assert any("demo assignments" in s.value for s in app.success)


KEY_YAML = """id: spelling-1
title: Spelling 1
questions:
  - {id: q1, page: 1, box: [0.2, 0.2, 0.3, 0.06], kind: text, answers: [cat], points: 1}
  - {id: q2, page: 1, box: [0.2, 0.3, 0.3, 0.06], kind: text, answers: [dog], points: 1}
"""


def test_yaml_upload_is_checked_inline_then_saved(monkeypatch, empty):
    app = open_app(monkeypatch, empty, "pages/assignments.py")
    broken = KEY_YAML.replace("kind: text, answers: [dog]", "kind: poem, answers: [dog]")
    app.file_uploader(key="key-upload").set_value(("spelling.yaml", broken.encode(), "text/yaml"))
    app.run()
    message = " ".join(e.value for e in app.error)
    assert "spelling.yaml" in message and "kind" in message and "q2" in message
    assert not any(b.key == "save-yaml" for b in app.button)
    app.file_uploader(key="key-upload").set_value(("spelling.yaml", KEY_YAML.encode(),
                                                   "text/yaml"))
    app.run()
    app.button(key="save-yaml").click().run()
    with db.read_session(db.open_engine(empty)) as session:
        key, version = store.load_key(session, "spelling-1")
        assert version.version == 1
    assert [q.answers for q in key.questions] == [["cat"], ["dog"]]


def test_form_validates_the_id_and_saves_a_key(monkeypatch, empty):
    app = open_app(monkeypatch, empty, "pages/assignments.py")
    app.text_input(key="form-id").input("bad id!").run()
    assert any("id" in e.value for e in app.error)
    assert count(empty, Assignment.id) == 0
    app.text_input(key="form-id").input("quiz-1")
    app.text_input(key="form-title").input("Quiz 1").run()
    app.button(key="save-form").click().run()
    with db.read_session(db.open_engine(empty)) as session:
        key, _ = store.load_key(session, "quiz-1")
    assert [q.answers for q in key.questions] == [["12"], ["0.5", "1/2"], ["apple"]]


def test_own_sheet_boxes_are_detected_and_saved_as_a_key(monkeypatch, empty, tmp_path):
    import cv2

    from grader.answer_key import load_answer_key
    from grader.worksheet import render_page

    blank = render_page(load_answer_key(ANSWER_KEYS_DIR / "arithmetic-basics.yaml"), 1)
    scan = cv2.imencode(".png", blank)[1].tobytes()
    app = open_app(monkeypatch, empty, "pages/assignments.py")
    app.file_uploader(key="own-upload").set_value(("my-sheet.png", scan, "image/png")).run()
    found = next(m.value for m in app.markdown if m.value.startswith("Found"))
    boxes = int(found.split("**")[1])
    assert boxes >= 10
    assert app.image, "the page with its detected boxes is shown"
    app.text_input(key="own-id").input("my-sheet")
    app.text_input(key="own-title").input("My sheet").run()
    assert any("still have “?”" in w.value for w in app.warning)
    assert not any(b.key == "save-own" for b in app.button)  # placeholders are not saved
    app.text_area(key="own-answers").input("\n".join(f"{n} | {n}.0" for n in range(boxes)))
    app.run()
    app.button(key="save-own").click().run()
    assert not app.exception
    with db.read_session(db.open_engine(empty)) as session:
        key, _ = store.load_key(session, "my-sheet")
    assert len(key.questions) == boxes
    assert key.questions[2].answers == ["2", "2.0"]
    assert key.template_path(1).exists()  # the blank page is kept as the template


# --- roster ---------------------------------------------------------------------------------------

def test_roster_csv_import(monkeypatch, empty):
    app = open_app(monkeypatch, empty, "pages/roster.py")
    csv = "id,name,class\nx1,Maya Ito,6B\nx2,李雷,6B\n".encode()
    app.file_uploader(key="roster-upload").set_value(("class.csv", csv, "text/csv")).run()
    app.button(key="roster-import").click().run()
    assert count(empty, Student.id) == 2
    assert any("2 students read" in s.value for s in app.success)
    app.file_uploader(key="roster-upload").set_value(("bad.csv", b"name\nAna\n", "text/csv"))
    app.run()
    assert any("'id' column" in e.value for e in app.error)
    assert not any(b.key == "roster-import" for b in app.button)  # nothing to import
    assert count(empty, Student.id) == 2


def test_roster_table_saves_without_changing_anyone(monkeypatch, seeded):
    app = open_app(monkeypatch, seeded, "pages/roster.py")
    assert list(app.dataframe[0].value["id"]) == [s.id for s in DEMO_ROSTER]
    app.button(key="roster-save").click().run()
    assert any("0 students added or changed" in s.value for s in app.success)
    assert count(seeded, Student.id) == len(DEMO_ROSTER)


# --- grade ----------------------------------------------------------------------------------------

def pdf_of(jpeg: bytes) -> bytes:
    """A one-page PDF holding the photo, as a scanner app would send it."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.open(io.BytesIO(jpeg)).save(buffer, format="PDF", resolution=150.0)
    return buffer.getvalue()


def test_grade_uploads_photos_and_keeps_failures(monkeypatch, seeded):
    from grader.answer_key import load_answer_key

    key = load_answer_key(ANSWER_KEYS_DIR / "arithmetic-basics.yaml")
    photo = demo_photo(key, DEMO_ROSTER[1], np.random.default_rng(5))
    scan = pdf_of(demo_photo(key, DEMO_ROSTER[2], np.random.default_rng(6)))
    before = count(seeded, Submission.id)
    app = open_app(monkeypatch, seeded, "pages/grade.py")
    uploader = next(u for u in app.file_uploader if u.key.startswith("uploads"))
    uploader.set_value([("new.jpg", photo, "image/jpeg"), ("scan.pdf", scan, "application/pdf"),
                        ("broken.jpg", b"not a photo", "image/jpeg")]).run()
    app.button(key="grade").click().run()
    assert not app.exception
    assert count(seeded, Submission.id) == before + 3
    with db.read_session(db.open_engine(seeded)) as session:
        new = store.find_submission(session, key.id, store.photo_hash(photo))
        broken = store.find_submission(session, key.id, store.photo_hash(b"not a photo"))
        assert new.status == "ok" and new.student_id == DEMO_ROSTER[1].id
        assert len(new.answers) == len(key.questions)
        assert broken.status == "failed" and "broken.jpg" in broken.error
        kept = FileStore.for_engine(db.open_engine(seeded)).photo(broken.photo_sha256)
    assert kept == b"not a photo"  # kept for a retry
    assert any("broken.jpg" in e.value for e in app.error)
    assert any("2 pages graded" in w.value for w in app.warning)
    with db.read_session(db.open_engine(seeded)) as session:
        from_pdf = store.find_submission(session, key.id, store.photo_hash(scan))
        assert from_pdf.status == "ok" and from_pdf.student_id == DEMO_ROSTER[2].id
    app.button(key="retry").click().run()
    assert any("still failing" in s.value for s in app.success)


def test_grade_changes_the_student_of_a_page(monkeypatch, seeded):
    app = open_app(monkeypatch, seeded, "pages/grade.py")
    box = next(s for s in app.selectbox if s.key.startswith("student-"))
    submission_id = int(box.key.split("-")[1])
    other = "s02" if box.value != "s02" else "s01"
    box.set_value(other).run()
    with db.read_session(db.open_engine(seeded)) as session:
        page = session.get(Submission, submission_id)
        assert (page.student_id, page.student_method) == (other, "teacher")


# --- review ---------------------------------------------------------------------------------------

def test_review_marks_one_answer_and_a_whole_group(monkeypatch, seeded):
    app = open_app(monkeypatch, seeded, "pages/review.py")
    app.radio(key="review-filter").set_value("All answers").run()
    first = next(b for b in app.button if b.key.startswith("no-"))
    answer_id = int(first.key.split("-")[1])
    first.click().run()
    with db.read_session(db.open_engine(seeded)) as session:
        answer = session.get(Answer, answer_id)
        assert (answer.points, answer.verdict, answer.status) == (0.0, "incorrect", "teacher")
        assert len(answer.overrides) == 1
    app.session_state["review-tab"] = "Groups"  # what the tab click does in a browser
    app.run()
    assert not any(b.key.startswith("no-") for b in app.button)  # only the open tab is drawn
    group = next(b for b in app.button if b.key.startswith("gok-"))
    group.click().run()
    assert any("set to" in s.value for s in app.success)
    assert count(seeded, Override.id) > 1
    # the Groups tab stays open after grading a group (issue 21)
    assert app.session_state["review-tab"] == "Groups"
    assert any(b.key.startswith("gok-") for b in app.button)


def test_review_card_shows_the_page_names_the_student_and_moves_on(monkeypatch, seeded):
    app = open_app(monkeypatch, seeded, "pages/review.py")
    app.radio(key="review-filter").set_value("All answers").run()
    cards = [b.key.split("-")[1] for b in app.button if b.key.startswith("no-")]
    assert len(cards) > 2
    # every card has the whole page (its kept thumbnail, box outlined) beside the crop
    assert len(app.get("image")) == 2 * len(cards)
    # the current answer is the first; its buttons answer to A and X, Next/Previous to N and P
    shortcuts = {b.key: b.proto.shortcut.upper() for b in app.button if b.proto.shortcut}
    assert shortcuts == {f"ok-{cards[0]}": "A", f"no-{cards[0]}": "X",
                         "review-prev": "P", "review-next": "N"}
    app.button(key=f"ok-{cards[0]}").click().run()
    with db.read_session(db.open_engine(seeded)) as session:
        answer = session.get(Answer, int(cards[0]))
        name = store.who(answer.submission)
        expected = f"{name}, {answer.question_id}: "
    assert any(s.value.startswith(expected) and "→" in s.value for s in app.success), \
        [s.value for s in app.success]
    # in 'All answers' the decided answer stays; the next one becomes current
    shortcuts = {b.key: b.proto.shortcut.upper() for b in app.button if b.proto.shortcut}
    assert shortcuts[f"ok-{cards[1]}"] == "A"
    app.button(key="review-prev").click().run()
    shortcuts = {b.key: b.proto.shortcut.upper() for b in app.button if b.proto.shortcut}
    assert shortcuts[f"ok-{cards[0]}"] == "A"


def test_review_sets_points_with_a_reason(monkeypatch, seeded):
    app = open_app(monkeypatch, seeded, "pages/review.py")
    app.radio(key="review-filter").set_value("All answers").run()
    points = next(n for n in app.number_input if n.key.startswith("points-"))
    answer_id = int(points.key.split("-")[1])
    points.set_value(0.5)
    app.text_input(key=f"reason-{answer_id}").input("method right, slip at the end")
    app.button(key=f"set-{answer_id}").click().run()
    with db.read_session(db.open_engine(seeded)) as session:
        answer = session.get(Answer, answer_id)
        assert answer.points == 0.5 and answer.overrides[-1].reason.startswith("method right")


# --- gradebook ------------------------------------------------------------------------------------

def test_gradebook_table_matches_the_store(monkeypatch, seeded):
    app = open_app(monkeypatch, seeded, "pages/gradebook.py")
    with db.read_session(db.open_engine(seeded)) as session:
        book = store.gradebook(session, "arithmetic-basics")
    table = app.dataframe[0].value
    assert list(table["student"]) == [r.name for r in book.rows]
    assert list(table["total"]) == [r.total for r in book.rows]
    assert app.get("vega_lite_chart"), "per-question charts are drawn"
    assert any(b.proto.label == "Download gradebook (CSV)" for b in app.get("download_button"))


def test_gradebook_shows_class_statistics_and_their_csv(monkeypatch, seeded):
    app = open_app(monkeypatch, seeded, "pages/gradebook.py")
    with db.read_session(db.open_engine(seeded)) as session:
        analysis = item_analysis.class_stats(store.gradebook(session, "arithmetic-basics"))
    assert analysis.students > 0 and analysis.mean_percent is not None
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Mean"] == f"{analysis.mean_percent:g} %"
    assert metrics["Median"] == f"{analysis.median_percent:g} %"
    items = next(d.value for d in app.dataframe if "facility" in d.value.columns)
    assert list(items["facility"]) == [i.facility for i in analysis.items]
    labels = [b.proto.label for b in app.get("download_button")]
    assert "Download statistics (CSV)" in labels


def test_grade_without_a_model_says_why_and_grades_nothing(monkeypatch, seeded, tmp_path):
    monkeypatch.setenv("GRADER_MODELS_DIR", str(tmp_path / "no-model"))
    app = open_app(monkeypatch, seeded, "pages/grade.py")
    assert any("Grading is not possible right now" in e.value and "no-model" in e.value
               for e in app.error)
    assert app.button(key="grade").disabled


def test_editing_a_key_makes_a_new_version_and_regrade_keeps_overrides(monkeypatch, seeded):
    engine = db.open_engine(seeded)
    with db.write_session(engine) as session:
        answer = store.list_answers(session, "arithmetic-basics", "q2")[0]
        store.override_answer(session, answer.id, 1.0, reason="seen on paper")
        overridden = answer.id
    app = open_app(monkeypatch, seeded, "pages/assignments.py")
    app.toggle(key="edit-arithmetic-basics").set_value(True).run()
    text = app.text_area(key="yaml-arithmetic-basics").value
    app.text_area(key="yaml-arithmetic-basics").input(text.replace("id: arithmetic-basics",
                                                                   "id: other")).run()
    app.button(key="save-edit-arithmetic-basics").click().run()
    assert any("must keep its id" in e.value for e in app.error)
    edited = text.replace("answers: ['15']", "answers: ['15', '18']")
    assert edited != text
    app.text_area(key="yaml-arithmetic-basics").input(edited).run()
    app.button(key="save-edit-arithmetic-basics").click().run()
    with db.read_session(engine) as session:
        key, version = store.load_key(session, "arithmetic-basics")
        assert version.version == 2 and key.question("q1").answers == ["15", "18"]
    app.button(key="regrade-arithmetic-basics").click().run()
    assert any("Regraded:" in s.value and "key version 2" in s.value for s in app.success)
    with db.read_session(engine) as session:
        kept = session.get(Answer, overridden)
        assert (kept.points, kept.status) == (1.0, "teacher")


def test_a_gradebook_that_cannot_be_opened_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("GRADER_DATABASE_URL", f"sqlite:///{tmp_path / 'missing' / 'g.db'}")
    monkeypatch.setenv("GRADER_DEMO", "1")
    app = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=60).run()
    assert not app.exception
    assert any("cannot be opened" in e.value and "does not exist" in e.value for e in app.error)
    assert not (tmp_path / "missing").exists()
