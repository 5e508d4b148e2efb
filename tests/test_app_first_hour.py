"""Issue 20, a teacher's first hour, through the real app (Streamlit's AppTest, real SQLite
files in tmp_path, the real model): the Start screen and its demo summary, state kept in the
URL, an upload interrupted by a refresh, rosters as spreadsheets save them, own-sheet boxes,
delete with confirmation and undo, the name as read, the Review buttons' order."""

from __future__ import annotations

import json

import cv2
import numpy as np
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from grader import db, store
from grader.answer_key import load_answer_key
from grader.app_support import record_upload
from grader.demo import DEMO_ROSTER, demo_photo
from grader.files import FileStore
from grader.orm import Answer, Override, Student, Submission
from grader.paths import ANSWER_KEYS_DIR
from grader.worksheet import render_page
from tests.test_app import REPO, count


def open_page(monkeypatch, url: str, page: str, **query: str) -> AppTest:
    """A fresh browser session (as after a refresh, or a bookmark) on `page` with the URL's
    query parameters."""
    monkeypatch.setenv("GRADER_DATABASE_URL", url)
    monkeypatch.setenv("GRADER_DEMO", "0")
    app = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=120)
    app.query_params.update(query)
    app.run()
    app.switch_page(page).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def click(app: AppTest, key: str) -> AppTest:
    app.button(key=key).click().run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def engine_of(url: str):
    return db.open_engine(url)


# --- first start ------------------------------------------------------------------------------

def test_start_says_what_to_do_and_what_the_demo_holds(monkeypatch, seeded):
    app = open_page(monkeypatch, seeded, "pages/start.py")
    steps = " ".join(m.value for m in app.markdown)
    assert "1. Print a worksheet" in steps and "3. Upload them on Grade" in steps
    links = [link.proto.page for link in app.get("page_link")]
    assert any("assignments" in p for p in links) and any("grade" in p for p in links)
    summary = " ".join(i.value for i in app.info)
    assert "5 assignments" in summary and "6 graded photos" in summary and "failed" in summary
    assert not any(b.key == "finish-demo" for b in app.button)


def test_a_demo_stopped_halfway_says_so_and_is_finished(monkeypatch, seeded):
    engine = engine_of(seeded)
    with db.write_session(engine) as session:
        chinese = store.list_submissions(session, "chinese-dictation")[0]
        store.delete_submission(session, chinese.id)
    app = open_page(monkeypatch, seeded, "pages/start.py")
    assert any("not there yet: chinese-dictation-s03.jpg" in w.value for w in app.warning)
    click(app, "finish-demo")
    assert any("Demo finished" in s.value for s in app.success)
    assert any("6 graded photos" in i.value for i in app.info)
    with db.read_session(engine) as session:
        assert len(store.list_submissions(session, "chinese-dictation")) == 1


def test_new_assignment_offers_the_form_first_in_teachers_words(monkeypatch, empty):
    app = open_page(monkeypatch, empty, "pages/assignments.py")
    assert [t.label for t in app.tabs] == ["With a form", "From your own sheet",
                                           "From a YAML file"]
    editor = next(e for e in app.data_editor if e.key == "form-questions")
    config = json.loads(editor.proto.columns)
    assert [config[c]["label"] for c in ("answers", "points", "kind")] == ["answer", "points",
                                                                          "kind"]
    kinds = config["kind"]["type_config"]["options"]
    assert [k["label"] for k in kinds] == ["number", "word", "Chinese", "math", "choice"]
    assert all(len(config[c].get("help", "")) > 10 for c in ("label", "answers", "points", "kind"))


# --- state in the URL -------------------------------------------------------------------------

def test_the_assignment_and_review_filters_survive_a_refresh(monkeypatch, seeded):
    app = open_page(monkeypatch, seeded, "pages/review.py")
    app.selectbox(key="pick-Assignment").set_value("english-vocabulary").run()
    app.radio(key="review-filter").set_value("All answers").run()
    app.selectbox(key="review-question").set_value("w2").run()
    query = dict(app.query_params)
    assert query["assignment"] == "english-vocabulary"
    assert (query["show"], query["question"]) == ("All answers", "w2")
    again = open_page(monkeypatch, seeded, "pages/review.py", **query)  # refresh / new tab
    assert again.selectbox(key="pick-Assignment").value == "english-vocabulary"
    assert again.radio(key="review-filter").value == "All answers"
    assert again.selectbox(key="review-question").value == "w2"
    gradebook = open_page(monkeypatch, seeded, "pages/gradebook.py",
                          assignment="english-vocabulary")  # a bookmark of another screen
    assert gradebook.selectbox(key="pick-Assignment").value == "english-vocabulary"
    stale = open_page(monkeypatch, seeded, "pages/grade.py", assignment="gone-quiz")
    assert any("gone-quiz" in w.value for w in stale.warning)


def test_after_a_refresh_the_upload_shows_what_is_graded_and_grades_the_rest(monkeypatch,
                                                                             seeded):
    key = load_answer_key(ANSWER_KEYS_DIR / "arithmetic-basics.yaml")
    first = demo_photo(key, DEMO_ROSTER[0], np.random.default_rng(41))
    second = demo_photo(key, DEMO_ROSTER[1], np.random.default_rng(42))
    app = open_page(monkeypatch, seeded, "pages/grade.py")
    uploader = next(u for u in app.file_uploader if u.key.startswith("uploads"))
    uploader.set_value([("first.jpg", first, "image/jpeg")]).run()
    click(app, "grade")
    assert "upload" in app.query_params  # the upload is named in the URL before grading
    # The refresh came while the upload of both photos was being graded: the first done.
    token = record_upload(FileStore.for_engine(engine_of(seeded)),
                          [("first.jpg", first), ("second.jpg", second)])
    again = open_page(monkeypatch, seeded, "pages/grade.py", assignment=key.id, upload=token)
    table = next(d.value for d in again.dataframe if "state" in d.value.columns)
    assert dict(zip(table["file"], table["state"])) == {"first.jpg": "graded",
                                                       "second.jpg": "waiting"}
    click(again, "grade-rest")
    with db.read_session(engine_of(seeded)) as session:
        assert store.graded_pages(session, key.id, store.photo_hash(second))
    table = next(d.value for d in again.dataframe if "state" in d.value.columns)
    assert list(table["state"]) == ["graded", "graded"]


# --- rosters as spreadsheets save them ----------------------------------------------------------

def test_a_gbk_roster_is_imported_with_the_right_names(monkeypatch, empty):
    data = "学号,姓名,班级\nc1,陈静,六(2)班\nc2,欧阳喆,六(2)班\n".encode("gbk")
    app = open_page(monkeypatch, empty, "pages/roster.py")
    app.file_uploader(key="roster-upload").set_value(("class.csv", data, "text/csv")).run()
    assert list(app.dataframe[0].value["name"]) == ["陈静", "欧阳喆"]  # shown before importing
    click(app, "roster-import")
    with db.read_session(engine_of(empty)) as session:
        assert sorted(e.name for e in store.roster_entries(session)) == ["欧阳喆", "陈静"]


def test_a_roster_of_unknown_encoding_is_refused_not_garbled(monkeypatch, empty):
    app = open_page(monkeypatch, empty, "pages/roster.py")
    data = b"id,name\n1,\x81\x30\x81\xff\xfe\xfd\n"
    app.file_uploader(key="roster-upload").set_value(("class.csv", data, "text/csv")).run()
    assert any("encoding could not be established" in e.value for e in app.error)
    assert not any(b.key == "roster-import" for b in app.button)
    assert count(empty, Student.id) == 0


# --- own-sheet boxes ----------------------------------------------------------------------------

def test_own_sheet_rows_stay_deleted_and_kinds_are_set_for_many(monkeypatch, empty):
    key = load_answer_key(ANSWER_KEYS_DIR / "arithmetic-basics.yaml")
    scan = cv2.imencode(".png", render_page(key, 1))[1].tobytes()
    app = open_page(monkeypatch, empty, "pages/assignments.py")
    app.file_uploader(key="own-upload").set_value(("sheet.png", scan, "image/png")).run()
    editor = next(e for e in app.data_editor if e.key and "own-rows" in e.key)
    boxes = editor.value
    on_sheet = key.questions_on_page(1)
    assert len(boxes) == len(on_sheet)  # no marker, QR code or name box proposed
    assert abs(boxes["y"].min() - min(q.box[1] for q in on_sheet)) < 0.003
    app.session_state[editor.key] = {"edited_rows": {}, "added_rows": [], "deleted_rows": [0]}
    app.run()
    app.text_area(key="own-answers").input("\n".join(f"a{n}" for n in range(2, 21))).run()
    rows = next(e for e in app.data_editor if e.key and "own-rows" in e.key).value
    assert list(rows["label"])[:2] == ["2", "3"]  # the deleted row did not come back
    assert list(rows["answers"])[:2] == ["a2", "a3"]  # and the answers landed on their boxes
    app.multiselect(key="own-kind-rows").set_value(["2", "3"]).run()
    app.selectbox(key="own-kind").set_value("number").run()
    click(app, "own-set-kind")
    app.text_input(key="own-id").input("own-1")
    app.text_input(key="own-title").input("Own 1").run()
    click(app, "save-own")
    with db.read_session(engine_of(empty)) as session:
        saved, _ = store.load_key(session, "own-1")
    assert len(saved.questions) == len(on_sheet) - 1
    assert [q.kind for q in saved.questions[:3]] == ["number", "number", "text"]
    # The first row left is the second box (right column), which the first line answers.
    assert saved.questions[0].answers == ["a2"] and saved.questions[0].box[0] > 0.6


# --- delete, confirm, undo ----------------------------------------------------------------------

def delete_and_confirm(app: AppTest, key: str) -> AppTest:
    click(app, key)
    assert any("Undo stays possible" in w.value for w in app.warning)
    return click(app, f"yes-{key}")


def test_a_graded_page_is_deleted_after_asking_and_comes_back_on_undo(monkeypatch, seeded):
    app = open_page(monkeypatch, seeded, "pages/grade.py")
    key = next(b.key for b in app.button if b.key.startswith("delete-page-"))
    page_id = int(key.rsplit("-", 1)[1])
    with db.read_session(engine_of(seeded)) as session:
        answers = len(session.get(Submission, page_id).answers)
    click(app, key)
    click(app, f"no-{key}")  # cancelled: nothing happens
    assert count(seeded, Submission.id) == 7
    delete_and_confirm(app, key)
    assert count(seeded, Submission.id) == 6
    click(app, "undo")
    with db.read_session(engine_of(seeded)) as session:
        back = session.get(Submission, page_id)
        assert back is not None and len(back.answers) == answers
    assert any("Restored" in s.value for s in app.success)


def test_a_failed_photo_is_deleted_and_restored(monkeypatch, seeded):
    app = open_page(monkeypatch, seeded, "pages/grade.py")
    key = next(b.key for b in app.button if b.key.startswith("delete-failed-"))
    delete_and_confirm(app, key)
    with db.read_session(engine_of(seeded)) as session:
        assert store.failed_photos(session, "arithmetic-basics") == []
    click(app, "undo")
    with db.read_session(engine_of(seeded)) as session:
        assert len(store.failed_photos(session, "arithmetic-basics")) == 1


def test_a_deleted_student_leaves_pages_unassigned_until_undone(monkeypatch, seeded):
    app = open_page(monkeypatch, seeded, "pages/roster.py")
    app.selectbox(key="roster-delete-pick").set_value("s03").run()
    delete_and_confirm(app, "delete-student-s03")
    with db.read_session(engine_of(seeded)) as session:
        assert session.get(Student, "s03") is None
        pages = session.scalars(select(Submission).where(Submission.photo_name.like("%-s03.jpg")))
        assert [p.student_id for p in pages] == [None, None]  # kept, unassigned
    click(app, "undo")
    with db.read_session(engine_of(seeded)) as session:
        pages = session.scalars(select(Submission).where(Submission.photo_name.like("%-s03.jpg")))
        assert [p.student_id for p in pages] == ["s03", "s03"]


def test_an_override_is_withdrawn_with_its_history_kept_and_undone(monkeypatch, seeded):
    engine = engine_of(seeded)
    with db.write_session(engine) as session:
        answer = store.list_answers(session, "arithmetic-basics", "q1")[0]
        before = (answer.points, answer.verdict, answer.status)
        store.override_answer(session, answer.id, 0.0 if answer.points else 1.0, reason="paper")
        answer_id = answer.id
    app = open_page(monkeypatch, seeded, "pages/review.py", show="All answers", question="q1")
    delete_and_confirm(app, f"withdraw-{answer_id}")
    with db.read_session(engine) as session:
        answer = session.get(Answer, answer_id)
        assert (answer.points, answer.verdict, answer.status) == before
        assert [o.reason for o in answer.overrides] == ["paper", store.WITHDRAWN]
    click(app, "undo")
    with db.read_session(engine) as session:
        answer = session.get(Answer, answer_id)
        assert answer.status == "teacher" and answer.points != before[0]
        assert count(seeded, Override.id) == 3


# --- the name as read; the review buttons' order -------------------------------------------------

def test_an_unmatched_page_shows_the_name_as_read(monkeypatch, seeded):
    with db.write_session(engine_of(seeded)) as session:
        page = session.scalars(select(Submission).where(
            Submission.photo_name == "arithmetic-basics-s03.jpg")).one()
        store.assign_student(session, page.id, None)
        page.name_text = "陈静"
    app = open_page(monkeypatch, seeded, "pages/grade.py")
    assert any(c.value == "read: 陈静" for c in app.caption)


def widget_order(node, out: list[str]) -> list[str]:
    """Keys of the widgets in the order the page lays them out (a phone stacks columns)."""
    key = getattr(node, "key", None)
    if key and getattr(node, "type", "") in ("button", "number_input"):
        out.append(key)
    for child in getattr(node, "children", {}).values():
        widget_order(child, out)
    return out


def test_review_buttons_come_in_the_order_correct_incorrect_points(monkeypatch, seeded):
    app = open_page(monkeypatch, seeded, "pages/review.py", show="All answers")
    order = widget_order(app.main, [])
    answer_id = next(k for k in order if k.startswith("ok-")).split("-")[1]
    mine = [k.split("-")[0] for k in order if k.endswith(f"-{answer_id}")]
    assert mine[:4] == ["ok", "no", "points", "set"]


# --- phone photos as they come ------------------------------------------------------------------

def test_a_heic_photo_is_graded_and_a_blurred_one_is_called_for_a_retake(monkeypatch, seeded):
    from grader.imageio import load_images
    from tests.test_phone_photos import heic_of

    key = load_answer_key(ANSWER_KEYS_DIR / "arithmetic-basics.yaml")
    image = load_images(demo_photo(key, DEMO_ROSTER[3], np.random.default_rng(43)))[0]
    heic = heic_of(image)
    blurred = cv2.imencode(".jpg", cv2.GaussianBlur(image, (0, 0), 3))[1].tobytes()
    app = open_page(monkeypatch, seeded, "pages/grade.py")
    uploader = next(u for u in app.file_uploader if u.key.startswith("uploads"))
    uploader.set_value([("IMG_0042.HEIC", heic, "image/heic"),
                        ("shaky.jpg", blurred, "image/jpeg")]).run()
    retake = " ".join(m.value for m in app.markdown)
    assert "Retake 1 photo(s)" in retake and "**shaky.jpg**: too blurred" in retake
    assert "IMG_0042" not in retake
    click(app, "grade")
    with db.read_session(engine_of(seeded)) as session:
        page = store.find_submission(session, key.id, store.photo_hash(heic))
        assert page.status == "ok" and page.student_id == DEMO_ROSTER[3].id
