"""Results that leave the app (issue 21), on the demo gradebook as the app seeds it (real model,
real generated photos, their crops and page thumbnails in a real SQLite file): students' marked
sheets read back as PDF text and as rendered pixels, the per-assignment and term gradebooks with a
missing student and an unassigned page, the long export's overrides, the Canvas, Google Classroom
and XLSX files read back, and the same files over a real API server."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import httpx
import numpy as np
import pypdfium2 as pdfium
import pytest
from openpyxl import load_workbook

from grader import db, demo, export, feedback, fonts, store
from grader.cli import main
from grader.orm import Answer, Submission
from grader.roster import RosterEntry, parse_roster
from grader.vocab import Status, Verdict

ARITHMETIC, DICTATION = "arithmetic-basics", "chinese-dictation"
REASON = "方法对 right method, slip at the end"
FORMULA_NAME = "=HYPERLINK(\"http://x\")"


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory) -> Path:
    """The seeded demo, then: a roster student with no page (王小明), one with a name that looks
    like a formula, an e-mail for Ana, Dara's arithmetic page unassigned (Dara missing there),
    one of Chen Jing's answers overridden with a reason by "Ms Li", one of Ben's left in review."""
    folder = tmp_path_factory.mktemp("results")
    engine = db.open_engine(f"sqlite:///{folder / 'gradebook.db'}")
    report = demo.seed_demo(engine)
    assert report.graded == len(demo.DEMO_PHOTOS), report
    with db.write_session(engine) as session:
        store.upsert_students(session, [RosterEntry("s05", "王小明", "5A"),
                                        RosterEntry("s06", FORMULA_NAME, "5A"),
                                        RosterEntry("s01", "Ana Silva", "5A", "ana@school.example")])
        pages = {s.student_id: s for s in store.list_submissions(session, ARITHMETIC)}
        store.assign_student(session, pages["s04"].id, None)
        wrong = next(a for a in pages["s03"].answers if a.verdict != Verdict.CORRECT)
        store.override_answer(session, wrong.id, wrong.max_points, reason=REASON, by="Ms Li")
        for answer in pages["s02"].answers:  # exactly one answer of Ben's in review
            if answer.status == Status.REVIEW:
                answer.status, answer.verdict = Status.AUTO, Verdict.CORRECT
        pages["s02"].answers[0].status = pages["s02"].answers[0].verdict = Status.REVIEW
    engine.dispose()
    return folder


@pytest.fixture
def url(results_dir, tmp_path) -> str:
    shutil.copytree(results_dir, tmp_path / "copy")
    return f"sqlite:///{tmp_path / 'copy' / 'gradebook.db'}"


def read_pdf(path_or_bytes) -> pdfium.PdfDocument:
    return pdfium.PdfDocument(path_or_bytes)


def page_text(document: pdfium.PdfDocument, index: int = 0) -> str:
    return document[index].get_textpage().get_text_range()


SCALE = 2.0  # render at 144 dpi


def mark_pixels(document, key, question) -> tuple[int, int]:
    """(green, red) pixels of the rendered page at the right end of a question's box and in the
    margin after it, where the tick or the cross is drawn (the pens of the demo's handwriting
    are blue, black and grey)."""
    image = np.asarray(document[0].render(scale=SCALE).to_pil().convert("RGB")).astype(int)
    _, page_height = feedback.page_size_pt(key)
    x, y, w, h = feedback.box_on_pdf(key, question)
    top, bottom = round((page_height - y - h) * SCALE), round((page_height - y) * SCALE)
    left, right = round((x + w - 30) * SCALE), round((x + w + 40) * SCALE)
    r, g, b = (image[top:bottom, left:right, i] for i in range(3))
    green = int(((g > 100) & (r < 60) & (b < 110)).sum())
    red = int(((r > 170) & (g < 70) & (b < 70)).sum())
    return green, red


def glyph_pixels(document, character: str) -> np.ndarray:
    """The rendered grey pixels of the first occurrence of a character on page 1 (its box as
    the PDF's text layer places it), at a fixed size so two glyphs compare."""
    page = document[0]
    textpage = page.get_textpage()
    index = next(i for i in range(textpage.count_chars()) if textpage.get_text_range(i, 1) == character)
    left, bottom, right, top = textpage.get_charbox(index)
    image = np.asarray(page.render(scale=SCALE).to_pil().convert("L")).astype(int)
    height = page.get_height()
    x0, y0 = round(left * SCALE), round((height - top) * SCALE)
    return image[y0:y0 + 24, x0:x0 + 24]


# --- marked sheets ---------------------------------------------------------------------------------

def test_a_students_marked_sheet_names_them_marks_each_box_and_totals(url, tmp_path, capsys):
    out = tmp_path / "sheets"
    assert main(["feedback", "--assignment", ARITHMETIC, "--db", url, "--out", str(out),
                 "--provisional", "--show-answers"]) == 0
    # one PDF per student with a page: Dara's page is unassigned, 王小明 handed nothing in
    assert sorted(p.name for p in out.iterdir()) == [f"s0{i}-{ARITHMETIC}.pdf" for i in (1, 2, 3)]
    assert "no page from 3" in capsys.readouterr().err
    engine = db.open_engine(url)
    with db.read_session(engine) as session:
        key, _ = store.load_key(session, ARITHMETIC)
        sheet = store.student_sheets(session, ARITHMETIC, "s03")[0]
    document = read_pdf(out / f"s03-{ARITHMETIC}.pdf")
    assert len(document) == 1
    text = page_text(document)
    assert "Chen Jing 陈静 (5A)" in text
    assert f"Total {sheet.total:g} / {sheet.max_points:g}" in text
    answers = sheet.pages[0].answers
    reasoned = next(a for a in answers if a.reason == REASON)
    # the reason is note 1 under the sheet, its number under the box
    assert f"Note 1 (question {key.question(reasoned.question_id).label}): {REASON}" in text
    assert "note 1" in text
    correct = next(a for a in answers if a.verdict == Verdict.CORRECT and not a.reason)
    wrong = next(a for a in answers if a.verdict == Verdict.INCORRECT)
    assert f"Answer: {key.question(wrong.question_id).answers[0]}" in text
    green, red = mark_pixels(document, key, key.question(correct.question_id))
    assert green > 40 and red == 0, (green, red)  # a tick
    green, red = mark_pixels(document, key, key.question(wrong.question_id))
    assert red > 40 and green == 0, (green, red)  # a cross
    # The Chinese name renders as glyphs: its characters are inked, and unlike two missing-glyph
    # boxes they differ from each other.
    assert fonts.missing_characters("陈静方法对", fonts.PRINT_CJK) == ""
    chen, jing = glyph_pixels(document, "陈"), glyph_pixels(document, "静")
    assert (chen < 128).sum() > 20 and (jing < 128).sum() > 20
    assert chen.shape == jing.shape and np.abs(chen - jing).mean() > 10


def test_answers_in_review_refuse_the_export_unless_marked_provisional(url, tmp_path, capsys):
    out = tmp_path / "sheets"
    assert main(["feedback", "--assignment", ARITHMETIC, "--db", url, "--out", str(out)]) == 1
    assert "1 answer(s) are still in review (Ben Okafor 1)" in capsys.readouterr().err
    assert not out.exists()  # nothing written
    assert main(["feedback", "--assignment", ARITHMETIC, "--db", url, "--out", str(out),
                 "--student", "s02", "--provisional"]) == 0
    text = page_text(read_pdf(out / f"s02-{ARITHMETIC}.pdf"))
    assert "Provisional: 1 answer(s) not yet checked" in text and "provisional" in text.split("\n", 4)[-1]
    # Without --show-answers no accepted answer is printed.
    assert "Answer:" not in text


def test_reasons_too_long_for_the_notes_band_go_on_a_page_of_their_own(url, tmp_path):
    long_reason = "请再检查一次 " + " ".join(f"step {i} needs its working shown" for i in range(40))
    engine = db.open_engine(url)
    with db.write_session(engine) as session:
        page = next(s for s in store.list_submissions(session, ARITHMETIC) if s.student_id == "s01")
        store.override_answer(session, page.answers[0].id, 0.0, reason=long_reason, by="Ms Li")
    out = tmp_path / "sheets"
    assert main(["feedback", "--assignment", ARITHMETIC, "--db", url, "--out", str(out),
                 "--student", "s01"]) == 0
    document = read_pdf(out / f"s01-{ARITHMETIC}.pdf")
    assert len(document) == 2  # the sheet, then the rest of the note
    assert "Notes continue on the next page." in page_text(document, 0)
    assert page_text(document, 1).startswith("Ana Silva (5A)")
    first = page_text(document, 0)
    notes = first[first.index("Note 1 ("):].replace("Notes continue on the next page.", "")
    notes += "".join(page_text(document, 1).splitlines()[3:])  # after name, title and total
    assert "".join(notes.split()) == "".join(f"Note 1 (question 1): {long_reason}".split())


def test_the_class_pack_has_every_student_in_roster_order_each_on_a_new_page(url, tmp_path):
    out = tmp_path / "pack"
    assert main(["feedback", "--assignment", DICTATION, "--db", url, "--out", str(out), "--one-pdf"]) == 0
    document = read_pdf(out / f"{DICTATION}-feedback.pdf")
    assert len(document) == 1 and page_text(document).startswith("Chen Jing 陈静 (5A)")
    assert main(["feedback", "--assignment", ARITHMETIC, "--db", url, "--out", str(out), "--one-pdf",
                 "--provisional"]) == 0
    document = read_pdf(out / f"{ARITHMETIC}-feedback.pdf")
    assert [page_text(document, i).split(" (5A)")[0] for i in range(len(document))] == \
        ["Ana Silva", "Ben Okafor", "Chen Jing 陈静"]


# --- gradebooks ------------------------------------------------------------------------------------

def read_csv(path_or_text) -> list[list[str]]:
    text = path_or_text if isinstance(path_or_text, str) else Path(path_or_text).read_text("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_every_roster_student_has_a_row_and_unassigned_pages_are_apart(url, tmp_path, capsys):
    out = tmp_path / "book.csv"
    assert main(["export", "--assignment", ARITHMETIC, "--db", url, "--out", str(out)]) == 0
    rows = read_csv(out)
    header, body = rows[0], {r[0]: dict(zip(rows[0], r)) for r in rows[1:]}
    assert header[-5:] == ["total", "max", "percent", "to_review", "status"]
    assert sorted(body) == ["s01", "s02", "s03", "s04", "s05", "s06"]  # no row for the stray page
    assert body["s04"]["status"] == body["s05"]["status"] == "missing"
    assert body["s05"]["name"] == "王小明" and body["s05"]["total"] == "" and body["s05"]["q1"] == ""
    assert body["s06"]["name"] == "'" + FORMULA_NAME  # formula-safe
    assert body["s01"]["status"] == "graded" and body["s02"]["status"] == "in review"
    stray = read_csv(tmp_path / "book.unassigned.csv")
    assert stray[0] == list(export.UNASSIGNED_COLUMNS) and len(stray) == 2
    assert stray[1][1] == f"{ARITHMETIC}-s04.jpg"
    assert "1 page(s) matched to no student" in capsys.readouterr().err


def test_term_gradebook_percent_and_points_with_missing_students(url, tmp_path):
    out = tmp_path / "term.csv"
    assert main(["export", "--term", "--db", url, "--out", str(out), "--mode", "points"]) == 0
    rows = read_csv(out)
    header, body = rows[0], {r[0]: dict(zip(rows[0], r)) for r in rows[1:]}
    columns = [h for h in header if h.endswith("[points]")]
    # every assignment with a graded page (algebra has none: left out), oldest first
    assert [c.rsplit("(", 1)[1].split(")")[0] for c in columns] == [DICTATION, "english-vocabulary", ARITHMETIC]
    engine = db.open_engine(url)
    with db.read_session(engine) as session:
        book = {r.student_id: r for r in store.gradebook(session, ARITHMETIC).rows}
    arithmetic = columns[2]
    assert float(body["s01"][arithmetic]) == book["s01"].total
    assert body["s04"][arithmetic] == "missing" and body["s05"][columns[0]] == "missing"
    assert float(body["s05"]["total"]) == 0 and float(body["s05"]["max"]) == 16 + 16 + 20
    assert int(body["s05"]["missing"]) == 3
    percent = read_csv(main(["export", "--term", "--db", url, "--out", str(out)]) == 0 and out)
    row = next(r for r in percent[1:] if r[0] == "s01")
    assert float(row[percent[0].index(arithmetic.replace("[points]", "[%]"))]) == book["s01"].percent


def test_long_export_carries_the_override_reason_who_and_when(url, tmp_path):
    out = tmp_path / "long.csv"
    assert main(["export", "--assignment", ARITHMETIC, "--db", url, "--out", str(out), "--long"]) == 0
    rows = read_csv(out)
    assert rows[0] == list(export.LONG_COLUMNS)
    overridden = [dict(zip(rows[0], r)) for r in rows[1:] if r[rows[0].index("overridden")] == "yes"]
    assert len(overridden) == 1
    row = overridden[0]
    assert (row["name"], row["reason"], row["by"]) == ("Chen Jing 陈静", REASON, "Ms Li")
    assert row["when"].endswith(" UTC") and row["when"][:2] == "20"
    assert float(row["grader_points"]) < float(row["points"])


def test_canvas_and_classroom_import_files(url, tmp_path):
    canvas, classroom = tmp_path / "canvas.csv", tmp_path / "classroom.csv"
    assert main(["export", "--assignment", ARITHMETIC, "--db", url, "--out", str(canvas), "--format", "canvas"]) == 0
    assert main(["export", "--assignment", ARITHMETIC, "--db", url, "--out", str(classroom),
                 "--format", "classroom"]) == 0
    engine = db.open_engine(url)
    with db.read_session(engine) as session:
        book = store.gradebook(session, ARITHMETIC)
    ana = next(r for r in book.rows if r.student_id == "s01")
    rows = read_csv(canvas)
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", book.title]
    assert rows[1] == ["    Points Possible", "", "", "", "", "20"]
    assert next(r for r in rows if r[2] == "s01") == ["Ana Silva", "", "s01", "ana@school.example", "5A",
                                                      f"{ana.total:g}"]
    assert next(r for r in rows if r[2] == "s05")[5] == ""  # missing: left ungraded, never 0
    rows = read_csv(classroom)
    assert rows[0] == ["Email Address", "First Name", "Last Name", book.title]
    assert next(r for r in rows[1:] if r[0]) == ["ana@school.example", "Ana", "Silva", f"{ana.total:g}"]
    assert next(r for r in rows if r[2] == "王") == ["", "小明", "王", ""]


def test_xlsx_keeps_chinese_names_numbers_and_formula_looking_text(url, tmp_path):
    out = tmp_path / "book.xlsx"
    assert main(["export", "--assignment", ARITHMETIC, "--db", url, "--out", str(out), "--format", "xlsx"]) == 0
    workbook = load_workbook(out)
    assert workbook.sheetnames == ["Gradebook", "Unassigned pages"]
    sheet = workbook["Gradebook"]
    header = [c.value for c in sheet[1]]
    rows = {r[0].value: {h: c for h, c in zip(header, r)} for r in sheet.iter_rows(min_row=2)}
    assert rows["s05"]["name"].value == "王小明" and rows["s05"]["status"].value == "missing"
    assert rows["s05"]["total"].value is None
    assert isinstance(rows["s01"]["total"].value, (int, float))
    assert rows["s06"]["name"].value == FORMULA_NAME and rows["s06"]["name"].data_type == "s"
    assert workbook["Unassigned pages"].max_row == 2


def test_roster_email_column_is_read():
    entries = parse_roster("id,name,class,email\ns1,Ana,5A,ana@x.example\ns2,李明,5A,\n")
    assert [e.email for e in entries] == ["ana@x.example", ""]


# --- the API ---------------------------------------------------------------------------------------

def test_the_api_serves_sheets_term_and_imports(url, tmp_path):
    from tests.test_api import serve

    folder = Path(url.removeprefix("sqlite:///")).parent
    with serve(folder, None) as base, httpx.Client(base_url=base, timeout=120) as client:
        refused = client.get(f"/assignments/{ARITHMETIC}/feedback/s02.pdf")
        assert refused.status_code == 409 and "still in review" in refused.json()["error"]
        one = client.get(f"/assignments/{ARITHMETIC}/feedback/s03.pdf", params={"show_answers": True})
        assert one.status_code == 200 and one.headers["content-type"] == "application/pdf"
        assert "Chen Jing 陈静" in page_text(read_pdf(one.content))
        assert client.get(f"/assignments/{ARITHMETIC}/feedback/s05.pdf").status_code == 404
        pack = client.get(f"/assignments/{ARITHMETIC}/feedback.pdf", params={"provisional": True})
        assert pack.status_code == 200 and len(read_pdf(pack.content)) == 3
        term = client.get("/gradebook/term.csv", params={"mode": "points"})
        out = tmp_path / "term.csv"
        assert main(["export", "--term", "--db", url, "--out", str(out), "--mode", "points"]) == 0
        assert term.status_code == 200 and term.content == out.read_bytes()
        canvas = client.get("/gradebook/term.csv", params={"format": "canvas", "assignments": [ARITHMETIC]})
        assert canvas.text.lstrip("\ufeff").startswith("Student,ID,SIS User ID,SIS Login ID,Section,")
        xlsx = client.get(f"/assignments/{ARITHMETIC}/gradebook.xlsx")
        assert load_workbook(io.BytesIO(xlsx.content))["Gradebook"].max_row == 7
        stray = client.get(f"/assignments/{ARITHMETIC}/unassigned.csv")
        assert len(read_csv(stray.text)) == 2
        assert client.get("/assignments/nope/feedback.pdf").status_code == 404


def test_a_gradebook_of_revision_0001_gains_override_authors_and_emails(tmp_path):
    """An existing gradebook survives the upgrade to head: its students keep their rows, with an
    empty e-mail, and overrides can be recorded with who made them."""
    from alembic import command
    from alembic.script import ScriptDirectory

    from grader.db import _alembic_config

    path = tmp_path / "old.db"
    engine = db.open_engine(f"sqlite:///{path}", migrate=False)
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.exec_driver_sql("INSERT INTO students (id, name, class, created_at) VALUES "
                                   "('s1', 'Ana', '5A', '2026-01-01')")
    engine.dispose()
    engine = db.open_engine(f"sqlite:///{path}")
    assert db.schema_revision(engine) == ScriptDirectory.from_config(config).get_current_head()
    with db.read_session(engine) as session:
        assert [(s.id, s.email) for s in store.list_students(session)] == [("s1", "")]
        assert session.query(Answer).count() == session.query(Submission).count() == 0
