"""CSV export and the export/regrade commands on a real SQLite file and a real PostgreSQL
database (conftest.gradebook_url)."""

from __future__ import annotations

import pandas as pd
import pytest

from grader import db, store
from grader.answer_key import load_answer_key
from grader.cli import main
from grader.export import BOM, safe_cell
from grader.roster import RosterEntry
from tests.test_store import KEY_PATH, all_right, graded_page, save


@pytest.mark.parametrize("value, cell", [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("+1+1", "'+1+1"), ("-3", "'-3"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"),
    ("Ana", "Ana"), ("李明", "李明"), (2.0, "2"), (0.5, "0.5"), (None, ""), (3, 3),
])
def test_safe_cell(value, cell):
    assert safe_cell(value) == cell


@pytest.fixture
def gradebook_db(gradebook_url):
    url = gradebook_url
    engine = db.open_engine(url)
    key = load_answer_key(KEY_PATH)
    with db.write_session(engine) as session:
        store.upsert_students(session, [RosterEntry("s1", "=cmd|' /C calc'!A0", "5A"),
                                        RosterEntry("s2", "李明", "5A")])
    save(engine, key, graded_page(key, all_right(key), "s1"), "1" * 64)
    save(engine, key, graded_page(key, dict(all_right(key), q1=("-7", 0.98)), "s2"), "2" * 64)
    yield url, engine, key
    engine.dispose()


def test_gradebook_csv_reads_back_with_pandas_and_holds_no_formula(gradebook_db, tmp_path):
    url, engine, key = gradebook_db
    out = tmp_path / "gradebook.csv"
    assert main(["export", "--assignment", key.id, "--db", url, "--out", str(out)]) == 0
    raw = out.read_bytes()
    assert raw.startswith(BOM.encode("utf-8"))
    table = pd.read_csv(out, encoding="utf-8-sig", dtype={"student_id": str})
    assert list(table.columns) == (["student_id", "name", "class"] + [q.id for q in key.questions]
                                   + ["total", "max", "percent", "to_review", "status"])
    full = sum(q.points for q in key.questions)
    rows = table.set_index("student_id")
    assert rows.loc["s1", "total"] == full and rows.loc["s1", "percent"] == 100.0
    assert rows.loc["s2", "name"] == "李明" and rows.loc["s2", "q1"] == 0
    assert rows.loc["s2", "total"] == full - key.question("q1").points
    # No cell of the file starts like a formula.
    for cell in table.astype(str).to_numpy().ravel():
        assert not cell.startswith(("=", "+", "-", "@")), cell
    assert rows.loc["s1", "name"].startswith("'=")


def test_long_export_one_row_per_answer(gradebook_db, tmp_path):
    url, engine, key = gradebook_db
    out = tmp_path / "answers.csv"
    assert main(["export", "--assignment", key.id, "--db", url, "--out", str(out), "--long"]) == 0
    table = pd.read_csv(out, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert len(table) == 2 * len(key.questions)
    misread = table[(table.student_id == "s2") & (table.question == "q1")].iloc[0]
    assert misread.text == "'-7" and misread.verdict == "incorrect"
    for cell in table.to_numpy().ravel():
        assert not cell.startswith(("=", "+", "-", "@")), cell


def test_export_of_an_unknown_assignment_is_a_clear_error(gradebook_db, tmp_path, capsys):
    url, _, _ = gradebook_db
    assert main(["export", "--assignment", "nope", "--db", url, "--out",
                 str(tmp_path / "x.csv")]) == 1
    assert "no assignment 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()


def test_regrade_command_reports_changes(gradebook_db, tmp_path, capsys):
    url, engine, key = gradebook_db
    edited = tmp_path / "key.yaml"
    head, tail = KEY_PATH.read_text(encoding="utf-8").split("id: q1", 1)
    edited.write_text(head + "id: q1" + tail.replace("answers: ['15']", "answers: ['15', '-7']", 1),
                      encoding="utf-8")
    assert main(["regrade", "--assignment", key.id, "--db", url, "--key", str(edited),
                 "--no-model"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1 score changes: 李明 q1 0 -> 1") and "key version 2" in out
    assert main(["regrade", "--assignment", key.id, "--db", url, "--no-model"]) == 0
    assert capsys.readouterr().out.startswith("no scores change")
