"""End to end: generated photos of every demo key -> `python -m grader grade` with the real model
in models/ -> a real SQLite gradebook in tmp_path.

What is asserted about readings is what the key-aware verdict promises whatever the model's
accuracy: a right answer is never auto-marked incorrect and a wrong one never auto-marked
correct (doubtful ones go to review). Exact totals are asserted on the arithmetic sheet with
its canonical digit answers, which the model reads reliably; for the other keys the stored and
printed totals are checked for consistency.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from grader import db, store
from grader.answer_key import list_answer_keys, load_answer_key
from grader.cli import main
from grader.paths import ANSWER_KEYS_DIR, REPO_ROOT
from grader.scoring import match_text
from grader.simulate import PhotoParams, fill_answers, simulate_photo
from grader.vocab import ReviewReason
from grader.worksheet import render_page

KEYS = {k.id: k for k in list_answer_keys()}
ARITHMETIC = "arithmetic-basics"


def wrong_answer(answer: str) -> str:
    """A near miss: the first digit or letter changed."""
    for i, ch in enumerate(answer):
        if ch.isdigit():
            return answer[:i] + str((int(ch) + 3) % 10) + answer[i + 1:]
        if ch.isalpha() and ch.isascii():
            return answer[:i] + ("b" if ch.lower() != "b" else "d") + answer[i + 1:]
        if "\u4e00" <= ch <= "\u9fff":
            return answer[:i] + ("大" if ch != "大" else "小") + answer[i + 1:]
    return answer + "1"


def write_photo(path: Path, key, answers: dict[str, str], seed: int, student: str | None = None,
                name: str = "", page: int = 1, stacked: frozenset[str] = frozenset()) -> Path:
    rng = np.random.default_rng(seed)
    sheet = fill_answers(render_page(key, page, student, name), key, page, answers, rng, stacked)
    params = PhotoParams.random(rng, severity=0.3, frame=(1600, 1200))
    path.write_bytes(simulate_photo(sheet, rng, params).jpeg)
    return path


@pytest.fixture(scope="session")
def photos(tmp_path_factory):
    """Per demo key and page: a per-student sheet of student "r" with every canonical answer,
    and one of student "m" with near misses and blanks. photos[key][kind] = [(path, answers)]."""
    folder = tmp_path_factory.mktemp("photos")
    out = {}
    for i, (key_id, key) in enumerate(sorted(KEYS.items())):
        right = {q.id: q.answers[0] for q in key.questions}
        mixed = {q.id: (wrong_answer(q.answers[0]) if j % 3 == 0 else q.answers[0])
                 for j, q in enumerate(key.questions) if j % 5 != 4}
        out[key_id] = {kind: [(write_photo(folder / f"{key_id}-{kind}-{page}.jpg", key, answers,
                                           10 * page + i + (50 if kind == "mixed" else 0),
                                           student=kind[0], page=page), answers)
                              for page in range(1, key.pages + 1)]
                       for kind, answers in (("right", right), ("mixed", mixed))}
    return out


def one(photos, key_id: str, kind: str) -> tuple[Path, dict[str, str]]:
    """The photo of a one-page key."""
    [(path, answers)] = photos[key_id][kind]
    return path, answers


def grade(args: list[str], capsys) -> tuple[int, list[dict]]:
    code = main(["grade", "--json", "--no-progress", *args])
    out = capsys.readouterr().out
    return code, json.loads(out)


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'gradebook.db'}"


def check_verdicts(result: dict, key, written: dict[str, str]) -> None:
    """What holds for any model: blanks are blank, status/verdict/score agree, and the grader
    never marks incorrect a reading that matches the key nor correct a wrong one it read as wrong
    without the key's likelihood behind it."""
    for q in result["questions"]:
        question = key.question(q["id"])
        if not written.get(q["id"], ""):
            assert (q["status"], q["verdict"], q["score"]) == ("blank", "blank", 0), q
            continue
        assert q["status"] in ("auto", "review"), q
        assert (q["status"] == "review") == (q["verdict"] == "review"), q
        if q["verdict"] == "correct":
            assert q["score"] == q["max"], q
        if q["verdict"] == "incorrect":
            assert q["score"] == 0 and not match_text(q["text"], question).exact, q


@pytest.mark.parametrize("key_id", sorted(KEYS))
def test_grade_every_demo_key_end_to_end(key_id, photos, url, capsys):
    key = KEYS[key_id]
    sheets = [(kind, page, path, answers) for kind in ("right", "mixed")
              for page, (path, answers) in enumerate(photos[key_id][kind], start=1)]
    code, results = grade(["--key", key_id, "--db", url, *[str(s[2]) for s in sheets]], capsys)
    assert code == 0 and [r["photo"] for r in results] == [str(s[2]) for s in sheets]
    for result, (kind, page, _, written) in zip(results, sheets):
        assert set(result) == {"photo", "assignment", "page", "student", "total", "max",
                               "questions"}
        assert (result["assignment"], result["page"], result["student"]) == (key_id, page,
                                                                              kind[0])
        on_page = key.questions_on_page(page)
        assert result["max"] == sum(q.points for q in on_page)
        assert result["total"] == sum(q["score"] for q in result["questions"])
        assert [q["id"] for q in result["questions"]] == [q.id for q in on_page]
        for q in result["questions"]:
            # an answer in review says why (issue 19), the others do not
            fields = {"id", "text", "confidence", "verdict", "score", "max", "status"}
            assert set(q) == fields | ({"reason"} if q["status"] == "review" else set()), q
            assert q.get("reason") is None or q["reason"] in set(ReviewReason), q
            assert q["status"] in ("auto", "review", "blank") and 0 <= q["score"] <= q["max"]
        check_verdicts(result, key, written)
    # The gradebook combines a student's pages: its totals are the printed ones added up.
    engine = db.open_engine(url)
    with db.read_session(engine) as session:
        rows = {r.student_id: r for r in store.gradebook(session, key_id).rows}
    engine.dispose()
    for student in ("r", "m"):
        printed = [r for r in results if r["student"] == student]
        assert rows[student].total == sum(r["total"] for r in printed)
        assert rows[student].max_points == sum(q.points for q in key.questions)


def test_arithmetic_verdicts_are_right_where_automatic(photos, url, capsys):
    """Accuracy of the automatic verdicts on digits, the model's easiest kind: every answer the
    grader decides without review is decided right, so the total of a sheet is exact up to its
    review items. Needs a model that reads digits (the final one); the interim model of the ink
    side, at 46 % on numbers, fails it with confidently misread digits, and crnn-2 read a
    strongly slanted right 3/8 as 319 at confidence 0.965; crnn-3 trained on slanted crops too."""
    key = KEYS[ARITHMETIC]
    for kind in ("right", "mixed"):
        path, written = one(photos, ARITHMETIC, kind)
        _, [result] = grade(["--key", ARITHMETIC, "--db", url, str(path)], capsys)
        for q in result["questions"]:
            if q["status"] == "auto":
                right = written.get(q["id"], "") in key.question(q["id"]).answers
                assert (q["score"] == q["max"]) == right, (q, written.get(q["id"]))
        in_review = [q for q in result["questions"] if q["status"] == "review"]
        assert len(in_review) <= 4, in_review  # at most a fifth of the sheet to look at


@pytest.fixture(scope="session")
def stacked_sheet(tmp_path_factory):
    """The arithmetic sheet with every answer right and every fraction written stacked (3 over
    4), as the demo writes every other one: (photo, written answers, the stacked questions)."""
    key = KEYS[ARITHMETIC]
    written = {q.id: next((a for a in q.answers if "/" in a), q.answers[0]) for q in key.questions}
    stacked = frozenset(q for q, text in written.items() if "/" in text)
    path = write_photo(tmp_path_factory.mktemp("stacked") / "stacked.jpg", key, written, 7,
                       student="s", stacked=stacked)
    return path, written, stacked


def test_stacked_fractions_are_graded_like_inline_ones(stacked_sheet, url, capsys):
    """Stacked fractions through `grade` with the real model (issue 19): read as a/b, none
    of the right ones marked incorrect, and most decided without the teacher."""
    path, written, stacked = stacked_sheet
    key = KEYS[ARITHMETIC]
    assert len(stacked) >= 6
    _, [result] = grade(["--key", ARITHMETIC, "--db", url, str(path)], capsys)
    check_verdicts(result, key, written)
    fractions = [q for q in result["questions"] if q["id"] in stacked]
    assert not [q for q in fractions if q["verdict"] == "incorrect"], fractions
    correct = [q for q in fractions if (q["status"], q["verdict"]) == ("auto", "correct")]
    assert len(correct) >= len(stacked) - 2, fractions


def test_a_key_that_refuses_stacked_fractions_sends_them_to_review(stacked_sheet, url, capsys,
                                                                   tmp_path):
    """`match: {stacked_fractions: false}`: the same stacked fractions wait for the teacher,
    with the reason shown; the inline answers of the sheet are graded as before."""
    path, written, stacked = stacked_sheet
    data = yaml.safe_load((ANSWER_KEYS_DIR / f"{ARITHMETIC}.yaml").read_text(encoding="utf-8"))
    for question in data["questions"]:
        question["match"] = {**question.get("match", {}), "stacked_fractions": False}
    strict = tmp_path / "strict.yaml"
    strict.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert not any(q.match.stacked_fractions for q in load_answer_key(strict).questions)
    _, [result] = grade(["--key", str(strict), "--db", url, str(path)], capsys)
    check_verdicts(result, KEYS[ARITHMETIC], written)
    by_id = {q["id"]: q for q in result["questions"]}
    found = [by_id[q] for q in stacked if by_id[q].get("reason") == "stacked_fraction"]
    assert len(found) >= len(stacked) - 2, [by_id[q] for q in stacked]
    assert not [q for q in stacked if by_id[q]["verdict"] == "correct"], [by_id[q] for q in stacked]
    assert not [q for q in result["questions"]
                if q["id"] not in stacked and q.get("reason") == "stacked_fraction"]


def test_same_photo_twice_is_stored_once(photos, url, capsys):
    path = str(one(photos, ARITHMETIC, "right")[0])
    _, first = grade(["--key", ARITHMETIC, "--db", url, path], capsys)
    _, second = grade(["--key", ARITHMETIC, "--db", url, path, path], capsys)
    assert second == first * 2
    with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
        assert connection.execute("SELECT COUNT(*) FROM submissions").fetchone() == (1,)
        assert connection.execute("SELECT COUNT(*) FROM answers").fetchone() == (20,)


def test_bad_photos_are_reported_and_the_batch_goes_on(photos, url, tmp_path, capsys):
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    wall = tmp_path / "wall.jpg"
    rng = np.random.default_rng(5)
    import cv2

    wall_image = np.full((900, 1200, 3), 180, np.uint8) + rng.integers(0, 20, (900, 1200, 1),
                                                                       dtype=np.uint8)
    wall.write_bytes(cv2.imencode(".jpg", wall_image)[1].tobytes())
    other = str(one(photos, "english-vocabulary", "right")[0])
    good = str(one(photos, ARITHMETIC, "right")[0])
    missing = str(tmp_path / "missing.jpg")
    code, results = grade(["--key", ARITHMETIC, "--db", url, str(text), str(wall), other,
                           missing, good], capsys)
    assert code == 2
    errors = [r.get("error", "") for r in results]
    assert set(results[0]) == {"photo", "error"} and "notes.jpg" in errors[0]
    assert errors[1] and errors[2] and "english-vocabulary" in errors[2]
    assert "missing.jpg" in errors[3] and "error" not in results[4]
    engine = db.open_engine(url)
    with db.read_session(engine) as session:
        failed = store.failed_submissions(session, ARITHMETIC)
        assert sorted(Path(s.photo_name).name for s in failed) == sorted(
            ["notes.jpg", "wall.jpg", Path(other).name])
        assert len(store.list_submissions(session, ARITHMETIC)) == 1
    engine.dispose()


def test_per_student_sheet_names_the_student_and_roster_names_are_matched(tmp_path, url, capsys):
    key = KEYS[ARITHMETIC]
    answers = {q.id: q.answers[0] for q in key.questions[:3]}
    qr_sheet = write_photo(tmp_path / "qr.jpg", key, answers, 31, student="s7", name="Ben Carter")
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name,class\ns7,Ben Carter,5A\ns8,李明,5A\n", encoding="utf-8")
    _, [result] = grade(["--key", ARITHMETIC, "--db", url, "--roster", str(roster),
                         str(qr_sheet)], capsys)
    assert result["student"] == "s7"


def test_a_name_not_on_the_roster_is_never_given_to_another_student(tmp_path, url, capsys):
    key = KEYS[ARITHMETIC]
    path = tmp_path / "named.jpg"
    rng = np.random.default_rng(3)
    page = render_page(key, 1)
    from grader.pipeline import name_box_px
    from grader.simulate import render_handwriting

    x, y, w, h = name_box_px(key.paper)
    mask = render_handwriting("Zoe Quinn", 48, rng)
    region = page[y + 4:y + 4 + mask.shape[0], x + 20:x + 20 + mask.shape[1]]
    region[mask > 128] = (120, 40, 20)
    path.write_bytes(simulate_photo(page, rng, PhotoParams.random(rng, 0.2)).jpeg)
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\ns1,Ben Carter\ns2,Ana Lopez\ns3,Lily Chen\n", encoding="utf-8")
    _, [result] = grade(["--key", ARITHMETIC, "--db", url, "--roster", str(roster), str(path)],
                        capsys)
    assert result["student"] is None


def test_key_change_regrades_and_keeps_overrides(photos, gradebook_url, tmp_path, capsys):
    url = gradebook_url  # SQLite, then PostgreSQL
    key = KEYS[ARITHMETIC]
    path, written = one(photos, ARITHMETIC, "mixed")
    _, [before] = grade(["--key", ARITHMETIC, "--db", url, str(path)], capsys)
    engine = db.open_engine(url)
    with db.write_session(engine) as session:
        q_first = store.list_answers(session, ARITHMETIC, question_id=key.questions[0].id)[0]
        store.override_answer(session, q_first.id, points=0, reason="no working shown")
    # The teacher accepts the near miss written for the first question as well.
    first = key.questions[0]
    original = (ANSWER_KEYS_DIR / f"{ARITHMETIC}.yaml").read_text(encoding="utf-8")
    head, tail = original.split(f"id: {first.id}\n", 1)
    wrong = written[first.id]
    assert wrong != first.answers[0]
    edited = head + f"id: {first.id}\n" + tail.replace(
        f"answers: ['{first.answers[0]}']", f"answers: ['{first.answers[0]}', '{wrong}']", 1)
    # and a question that lost points on its near miss now accepts what the model read there.
    # Chosen from the model's own readings, not from what was written: a key equal to the
    # reading is correct (or review when the reading was doubtful) whatever the model's
    # mistakes, so a retrained model keeps this test meaningful.
    old = {q["id"]: q for q in before["questions"]}
    changed = [q for q in key.questions[1:] if written.get(q.id, "") not in ("", *q.answers)
               and old[q.id]["text"] and old[q.id]["score"] < q.points]
    assert changed, before  # near misses were written: at least one must have cost points
    # one decided without review first: a regrade that changed nothing would leave it at 0
    target = min(changed, key=lambda q: old[q.id]["status"] != "auto")
    head, tail = edited.split(f"id: {target.id}\n", 1)
    edited = head + f"id: {target.id}\n" + tail.replace(
        f"answers: ['{target.answers[0]}']",
        f"answers: ['{target.answers[0]}', {json.dumps(old[target.id]['text'])}]", 1)
    key_file = tmp_path / f"{ARITHMETIC}.yaml"
    key_file.write_text(edited, encoding="utf-8")
    assert old[target.id]["text"] in load_answer_key(key_file).question(target.id).answers
    assert main(["regrade", "--assignment", ARITHMETIC, "--db", url, "--key", str(key_file)]) == 0
    report = capsys.readouterr().out
    assert "key version 2" in report and "1 teacher overrides kept" in report
    with db.read_session(engine) as session:
        answers = {a.question_id: a for a in store.list_answers(session, ARITHMETIC)}
    engine.dispose()
    assert answers[first.id].points == 0 and answers[first.id].overridden
    new_target = answers[target.id]
    # the reading is now accepted: full points, or review when the reading was doubtful
    assert new_target.points == target.points or new_target.status == "review"
    if new_target.points != old[target.id]["score"]:
        assert f"{target.id} {old[target.id]['score']:g} -> {new_target.points:g}" in report


def _count(db_path: Path) -> tuple[int, int, list]:
    with sqlite3.connect(db_path) as connection:
        subs = connection.execute("SELECT COUNT(*) FROM submissions WHERE status='ok'").fetchone()[0]
        answers = connection.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
        dupes = connection.execute("SELECT photo_sha256, COUNT(*) FROM submissions GROUP BY "
                                   "photo_sha256 HAVING COUNT(*) > 1").fetchall()
    return subs, answers, dupes


def _grade_process(db_path: Path, paths: list[Path]) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p))
    return subprocess.Popen([sys.executable, "-m", "grader", "grade", "--key", ARITHMETIC,
                             "--db", f"sqlite:///{db_path}", "--json", "--no-progress",
                             *map(str, paths)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, cwd=REPO_ROOT)


@pytest.fixture(scope="session")
def batch(tmp_path_factory):
    """Six distinct arithmetic photos."""
    folder = tmp_path_factory.mktemp("batch")
    key = KEYS[ARITHMETIC]
    rng = np.random.default_rng(77)
    paths = []
    for i in range(6):
        answers = {q.id: q.answers[0] for q in key.questions if rng.uniform() < 0.8}
        paths.append(write_photo(folder / f"b{i}.jpg", key, answers, 100 + i))
    return paths


def test_two_processes_grading_into_one_database_lose_nothing(batch, tmp_path):
    db_path = tmp_path / "shared.db"
    # Overlapping halves: photo 2 and 3 are graded by both processes at once.
    first, second = _grade_process(db_path, batch[:4]), _grade_process(db_path, batch[2:])
    for process in (first, second):
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err.decode()
        assert len(json.loads(out)) == 4
    subs, answers, dupes = _count(db_path)
    assert (subs, answers, dupes) == (6, 6 * 20, [])


def test_a_batch_killed_mid_way_and_rerun_leaves_no_duplicates_or_partial_pages(batch, tmp_path):
    db_path = tmp_path / "killed.db"
    process = _grade_process(db_path, batch)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1].decode()
        if db_path.exists():
            try:
                if _count(db_path)[0] >= 1:
                    break
            except sqlite3.OperationalError:
                pass  # schema not created yet
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    subs, answers, _ = _count(db_path)
    assert 1 <= subs < len(batch) and answers == subs * 20  # whole pages only
    rerun = _grade_process(db_path, batch)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err.decode()
    assert _count(db_path) == (len(batch), len(batch) * 20, [])


def test_a_multi_page_pdf_grades_each_page(batch, tmp_path, url, capsys):
    from PIL import Image

    pdf = tmp_path / "scans.pdf"
    pages = [Image.open(p).convert("RGB") for p in batch[:2]]
    pages[0].save(pdf, save_all=True, append_images=pages[1:], resolution=150)
    code, results = grade(["--key", ARITHMETIC, "--db", url, str(pdf)], capsys)
    assert code == 0 and [r["photo"] for r in results] == [f"{pdf}#page=1", f"{pdf}#page=2"]
    _, again = grade(["--key", ARITHMETIC, "--db", url, str(pdf)], capsys)
    assert again == results


@pytest.mark.parametrize("args, message", [
    (["--key", "no-such-key"], "no such answer key"),
    (["--key", str(ANSWER_KEYS_DIR / "missing.yaml")], "no such answer key"),
])
def test_bad_keys_give_clear_messages(args, message, url, capsys, tmp_path):
    photo = tmp_path / "x.jpg"
    photo.write_bytes(b"")
    assert main(["grade", "--db", url, *args, str(photo)]) == 1
    assert message in capsys.readouterr().err


def test_malformed_key_names_the_field(tmp_path, url, capsys):
    key = tmp_path / "bad.yaml"
    key.write_text((ANSWER_KEYS_DIR / f"{ARITHMETIC}.yaml").read_text(encoding="utf-8")
                   .replace("points: 1", "points: many", 1), encoding="utf-8")
    assert main(["grade", "--key", str(key), "--db", url, str(key)]) == 1
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "q1" in err and "points" in err


def test_locked_database_gives_a_clear_message(photos, tmp_path, capsys, monkeypatch):
    path = tmp_path / "locked.db"
    db.open_engine(f"sqlite:///{path}").dispose()
    monkeypatch.setattr(db, "BUSY_TIMEOUT_S", 0.2)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        code = main(["grade", "--key", ARITHMETIC, "--db", f"sqlite:///{path}", "--no-progress",
                     str(one(photos, ARITHMETIC, "right")[0])])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert code == 1 and "locked by another program" in capsys.readouterr().err
