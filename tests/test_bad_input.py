"""Bad input, table by table (issue 22): every class of input an attacker or an unlucky school
sends, the outcome expected (a message naming the problem, the exit or HTTP status), the budget
it must stay in (peak memory, time) and what becomes of the gradebook (a fingerprint before and
after: nothing stored lost).

`CLASSES` below is the index: each class of the issue, and where it is checked. Most are rows of
`tests.bad_inputs.BAD_CASES`, run here through the real command line, all in one process whose
peak memory is reset between rows (`test_every_class_of_bad_input`); the rest (servers, killed
processes, races) are tests of their own, in this module or beside the code they guard, named
by their node id; `test_every_class_is_checked_somewhere` keeps the index honest. The
reproductions are the issue's cases scaled down to run in a second; each one fails without the
fix it guards."""

from __future__ import annotations

import ast
import io
import os
import re
import resource
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Iterator

import cv2
import httpx
import numpy as np
import pypdfium2 as pdfium
import pytest

from grader import db, store
from grader.answer_key import parse_answer_key
from grader.api.errors import public_message
from grader.errors import AnswerKeyInvalid, ImageUnreadable
from grader.imageio import iter_images, load_images
from grader.limits import KEY
from tests.bad_inputs import (
    BAD_CASES,
    CASES_BY_NAME,
    RUN_GRADER,
    alias_bomb,
    damage,
    file_bytes,
    gradebook_with_students,
    grid_key,
    nested,
    pdf_of,
    quick_check,
    rows_lost,
    run_bad_cases,
    stored_rows,
    template_gradebook,
)
from tests.servers import free_port, process_peak_mb, running_server

REPO = Path(__file__).resolve().parents[1]

# --- the index: every class of bad input, and where it is checked ------------------------------

HERE = "tests/test_bad_input.py"
CLASSES: dict[str, list[str]] = {
    # photos and PDFs (rows of BAD_CASES, or node ids)
    "empty file": ["photo: empty file"],
    "truncated file": ["photo: truncated JPEG"],
    "1x1 image": ["photo: 1x1 PNG"],
    "text file named .jpg": ["photo: text file named .jpg"],
    "20000x20000 image": ["photo: PNG header 20000x20000"],
    "image bomb (header claims 100000x100000)": ["photo: 74-byte PNG bomb 100000x100000",
                                                 "recognize: 9000x2000 PNG + 74-byte bomb + a crop"],
    "oversized file": ["photo: 300 MB file (a video by mistake)", "key: 50 MB file"],
    "corrupt PDF": ["PDF: cut in half"],
    "encrypted PDF": ["PDF: password-protected"],
    "0-page PDF": ["PDF: 0 pages"],
    "500-page PDF (over the page limit)": ["PDF: 51 pages"],
    "small PDF with huge pages": ["PDF: 25 pages of 2500x2500 pt (3.5 KB)",
                                  "tests/test_api.py::test_grade_refuses_a_pdf_of_poster_pages_before_rendering",
                                  f"{HERE}::test_a_pdf_of_big_pages_is_rendered_one_page_at_a_time"],
    "HEIC": ["photo: broken HEIC", "tests/test_phone_photos.py::test_a_heic_photo_decodes_like_its_jpeg"],
    "CMYK": ["photo: CMYK JPEG"],
    "16-bit": ["photo: 16-bit PNG"],
    "EXIF-rotated photo": ["photo: EXIF-rotated (graded)"],
    "blank wall": ["photo: blank wall"],
    "another assignment's sheet": ["photo: another assignment's sheet"],
    # keys and rosters
    "YAML alias bomb": ["key: YAML alias bomb (9 x 8 levels, 372 bytes)", "key: 150 YAML aliases",
                        f"{HERE}::test_a_key_over_the_budget_is_refused_fast_with_a_short_message"],
    "malformed key": ["key: malformed YAML", "key: nested 10,000 deep",
                      "tests/test_answer_key.py::test_bad_key_is_refused_with_a_precise_message"],
    "duplicate key": ["key: duplicate question ids"],
    "huge key": ["key: 4,900 questions", "key: 50 MB file",
                 f"{HERE}::test_a_big_key_within_the_budget_is_checked_in_well_under_a_second"],
    "unknown key": ["key: unknown assignment id"],
    "rosters in other encodings": ["roster: unknown encoding", "roster: GBK (read)", "roster: 50 MB file",
                                   "roster: a 200 KB cell (a quote never closed)",
                                   "tests/test_roster.py::test_read_roster_finds_encoding_and_separator"],
    # the gradebook
    "locked database": ["tests/test_store.py::test_a_locked_database_gives_a_clear_error_and_loses_nothing"],
    "read-only database": [f"{HERE}::test_a_read_only_gradebook_is_refused_untouched"],
    "corrupt database": ["gradebook: damaged pages", "gradebook: not a database at all"],
    "foreign database": ["gradebook: another program's SQLite file"],
    "newer database": ["gradebook: written by a newer grader"],
    "disk full": ["gradebook: disk full while grading"],
    "SIGKILL mid-batch": [
        "tests/test_grading.py::test_a_batch_killed_mid_way_and_rerun_leaves_no_duplicates_or_partial_pages",
        f"{HERE}::test_grade_workers_end_when_the_grade_command_is_killed"],
    "concurrent graders": [
        "tests/test_grading.py::test_two_processes_grading_into_one_database_lose_nothing",
        "tests/test_store.py::test_two_processes_writing_at_once_lose_nothing",
        "tests/test_store.py::test_two_processes_creating_one_new_gradebook_at_once_both_succeed"],
    # the API and the app
    "token cases": ["tests/test_api.py::test_missing_or_wrong_token_is_refused",
                    "tests/test_api.py::test_grading_endpoints_need_the_token",
                    "tests/test_api.py::test_token_checked_before_the_body_is_read",
                    "tests/test_api.py::test_serve_api_refuses_non_loopback_without_token",
                    f"{HERE}::test_wrong_tokens_are_slowed_per_client_named_by_a_trusted_proxy",
                    f"{HERE}::test_without_trusted_proxies_a_forwarded_for_header_escapes_nothing"],
    "oversize requests": ["tests/test_api.py::test_oversized_body_refused_by_content_length",
                          "tests/test_api.py::test_oversized_body_refused_while_streaming",
                          "tests/test_api.py::test_oversized_multipart_refused",
                          "tests/test_api.py::test_huge_image_refused_from_its_header"],
    "slow requests": [f"{HERE}::test_slow_headers_are_cut_off_with_408",
                      f"{HERE}::test_slow_body_is_cut_off_with_408_and_the_connection_closed",
                      f"{HERE}::test_many_slow_clients_are_all_cut_off"],
    "too many connections": [f"{HERE}::test_connections_beyond_the_cap_are_answered_503_and_the_server_keeps_serving"],
    "malformed requests": ["tests/test_api.py::test_ocr_bad_input", "tests/test_api.py::test_grade_bad_input",
                           "tests/test_api.py::test_bad_content_length_refused",
                           "tests/test_api.py::test_schema_fuzz_finds_no_server_error"],
    "client that goes away": [f"{HERE}::test_a_client_that_goes_away_is_one_line_in_the_log"],
    "path-traversal file names": ["tests/test_api.py::test_upload_label_is_never_a_path",
                                  "tests/test_api.py::test_gradebook_of_unknown_assignment_is_404",
                                  f"{HERE}::test_api_messages_show_file_names_not_server_paths"],
    "gradebook failure over the API (503, no paths)": [
        f"{HERE}::test_a_gradebook_failure_answers_503_without_the_servers_paths"],
    "API docs offline": [f"{HERE}::test_the_docs_load_no_script_from_the_internet"],
    "the app on a network": ["tests/test_app_auth.py::test_the_app_refuses_a_network_without_a_password",
                             "tests/test_app_auth.py::test_the_app_asks_for_the_password_and_slows_guessing",
                             "tests/test_app_auth.py::test_a_login_survives_a_reload_in_a_real_browser"],
}


def test_every_class_is_checked_somewhere():
    """Each entry of the index is a row of BAD_CASES or a test function that exists, and every
    row of BAD_CASES is indexed: the table cannot quietly lose a class."""
    missing = []
    for where in (w for targets in CLASSES.values() for w in targets):
        if "::" not in where:
            missing += [] if where in CASES_BY_NAME else [where]
            continue
        path, name = where.split("::")
        tree = ast.parse((REPO / path).read_text())
        if name not in {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}:
            missing.append(where)
    assert missing == []
    indexed = {w for targets in CLASSES.values() for w in targets}
    assert [name for name in CASES_BY_NAME if name not in indexed] == []


# --- the table through the command line: message, budget, the gradebook before and after --------


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    return run_bad_cases(BAD_CASES, tmp_path_factory.mktemp("bad-cases"), sys.executable, REPO)


@pytest.mark.parametrize("name", list(CASES_BY_NAME))
def test_every_class_of_bad_input(outcomes, name):
    outcome = outcomes[name]
    case = outcome.case
    text = outcome.output
    assert outcome.status == case.status and "Traceback" not in text, (outcome.status, text[-3000:])
    for words in case.says:
        assert words in text, (words, text[-3000:])
    assert "PDFium" not in text and "Success" not in text  # was "cannot be opened (... PDFium: Success)"
    assert outcome.mb < 1024, f"peak {outcome.mb} MB"  # issue 22: under 1 GB on any input
    if case.max_grow_mb is not None:
        assert outcome.grown_mb < case.max_grow_mb, f"grew {outcome.grown_mb} MB: read what it should refuse"
    # The budget is CPU time, the work done whatever the shared machine's load; the wall bound
    # catches a case that waits instead of working (a lock, a pipe).
    assert outcome.cpu_s < case.max_s, f"{outcome.cpu_s:.1f} CPU s"
    assert outcome.s < 120, f"{outcome.s:.1f} s"
    if case.gradebook == "untouched":
        assert outcome.bytes_after == outcome.bytes_before, "the gradebook's file changed"
        return
    assert outcome.rows_before and outcome.rows_lost() == {}, outcome.rows_lost()  # nothing stored lost
    assert outcome.check_after == ["ok"], outcome.check_after  # and nothing half-written
    added = {t: len(rows - outcome.rows_before.get(t, set())) for t, rows in (outcome.rows_after or {}).items()}
    for table, count in case.adds:
        assert added[table] == count, (table, added)
    if case.argv[0] == "grade" and case.status == 2 and case.recorded:
        assert added["submissions"] >= 1, "the failed photo was not kept for a retry"


def test_the_fingerprint_sees_a_row_lost_or_changed_and_a_damaged_page(tmp_path):
    # The table's "nothing stored lost" must be able to fail: one student renamed, one deleted,
    # one added (allowed: a bad photo is kept for a retry), then a page of the file overwritten.
    path = tmp_path / "gradebook.db"
    template_gradebook(path)
    before = stored_rows(path)
    assert before and len(before["students"]) >= 300 and quick_check(path) == ["ok"]
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE students SET name = 'Someone Else' WHERE id = 's1'")
        connection.execute("DELETE FROM students WHERE id = 's2'")
        connection.execute("INSERT INTO students (id, name, class, created_at) VALUES ('n1', 'New', '', '2026-01-01')")
    connection.close()
    assert rows_lost(before, stored_rows(path)) == {"students": 2}
    assert rows_lost(before, before) == {}
    bytes_before = file_bytes(tmp_path)
    damage(path)
    assert file_bytes(tmp_path) != bytes_before and quick_check(path) != ["ok"]


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux's unshare")
def test_a_read_only_gradebook_is_refused_untouched(tmp_path):
    # A read-only mount refuses writes even to root (chmod does not), so the folder is mounted
    # read-only in a private mount namespace; where user namespaces are not allowed, say so.
    template_gradebook(tmp_path / "gradebook.db")
    (tmp_path / "wall.jpg").write_bytes(cv2.imencode(".jpg", np.full((900, 1200, 3), 128, np.uint8))[1])
    before = (stored_rows(tmp_path / "gradebook.db"), file_bytes(tmp_path))
    grade = shlex.join([sys.executable, "-c", RUN_GRADER, "grade", "--key", "arithmetic-basics", "--db",
                        f"sqlite:///{tmp_path / 'gradebook.db'}", "--no-progress", str(tmp_path / "wall.jpg")])
    folder = shlex.quote(str(tmp_path))
    script = f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} && exec {grade}"
    done = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    if done.returncode != 1 and "mount" in done.stderr and "grader" not in done.stderr:
        pytest.skip(f"no private read-only mount here: {done.stderr.strip()[:200]}")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "gradebook.db is read-only (" in done.stderr and "nothing was changed" in done.stderr, done.stderr
    assert peak_mb(done) < 1024
    assert (stored_rows(tmp_path / "gradebook.db"), file_bytes(tmp_path)) == before



# --- answer keys -------------------------------------------------------------------------------


KEY_CASES = [
    # (case, key text, message fragment)
    ("alias bomb, 8 levels", alias_bomb(8), "aliases expand to more than 200,000"),
    ("alias bomb, 4 levels", alias_bomb(4), "question #1"),
    ("many aliases", "x: &x 1\nl: [" + ", ".join(["*x"] * 150) + "]\nid: k\n", "more than 100 YAML aliases"),
    ("nesting 10,000 deep", nested(10_000), "nests more than 20 levels"),
    ("4,900 questions", grid_key(4_900), "4,900 questions; the limit is 2,000"),
    ("a 2 MB key", "id: k\ntitle: t\nprompt: '" + "x" * 2_000_000 + "'\n", "the limit is 1.0 MB"),
]


@pytest.mark.parametrize("text,fragment", [c[1:] for c in KEY_CASES], ids=[c[0] for c in KEY_CASES])
def test_a_key_over_the_budget_is_refused_fast_with_a_short_message(text, fragment):
    started, before = time.process_time(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(AnswerKeyInvalid) as caught:
        parse_answer_key(text, "lol.yaml")
    elapsed = time.process_time() - started  # CPU time: the shared machine's load does not count
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    message = str(caught.value)
    assert fragment in message and "lol.yaml" in message, message
    # The 8-level bomb took 6.3 GB and > 120 s, the 4-level one gave a 428,653-character message.
    assert len(message) < 3_000, len(message)
    assert elapsed < 2.0 and grown_mb < 200, (elapsed, grown_mb)


def test_a_big_key_within_the_budget_is_checked_in_well_under_a_second():
    text = grid_key(KEY.max_questions)
    started = time.process_time()
    key = parse_answer_key(text, "big.yaml")
    assert len(key.questions) == KEY.max_questions
    assert time.process_time() - started < 3.0  # CPU s; the pairwise overlap check alone took 13.7 s at 4,900
    overlapping = text.replace("{id: q1999, page: 50, box: [0.9,", "{id: q1999, page: 50, box: [0.05,", 1)
    assert overlapping != text
    with pytest.raises(AnswerKeyInvalid, match=r"question 'q1999', field 'box': expected boxes that do not "
                                               r"overlap.*question 'q19[0-9][0-9]'"):
        parse_answer_key(overlapping, "big.yaml")


def test_an_alias_for_a_shared_match_block_still_works():
    text = """\
id: k
title: t
questions:
  - {id: a, page: 1, box: [0.1, 0.1, 0.2, 0.1], kind: text, answers: [x], match: &lenient {threshold: 70}}
  - {id: b, page: 1, box: [0.1, 0.3, 0.2, 0.1], kind: text, answers: [y], match: *lenient}
"""
    key = parse_answer_key(text, "k.yaml")
    assert [q.match.threshold for q in key.questions] == [70, 70]


# --- photos and PDFs ---------------------------------------------------------------------------


PDF_CASES = [
    # (case, file bytes, message fragment)
    ("25 pages of 2500x2500 pt", pdf_of(25, 2500), "PDF page 1 is 6944x6944 px (48 megapixels); the limit is 25"),
    ("0 pages", pdf_of(0, 100), "the PDF has no pages"),
    ("51 pages", pdf_of(51, 595, 842), "the PDF has 51 pages; at most 50"),
    ("cut in half", pdf_of(2, 595, 842)[:200], "the PDF cannot be opened"),
]


@pytest.mark.parametrize("data,fragment", [c[1:] for c in PDF_CASES], ids=[c[0] for c in PDF_CASES])
def test_a_pdf_over_the_budget_is_refused_from_its_header(data, fragment):
    started = time.process_time()  # CPU time: the shared machine's load does not count
    with pytest.raises(ImageUnreadable) as caught:
        load_images(data, "big.pdf")
    message = str(caught.value)
    assert message.startswith("big.pdf: ") and fragment in message, message
    assert "PDFium" not in message and "Success" not in message  # was "cannot be opened (... PDFium: Success)"
    assert time.process_time() - started < 1.0  # CPU s; 25 huge pages took 39 s and 4.2 GB


def test_only_the_oversized_page_of_a_pdf_is_named():
    pdf = pdfium.PdfDocument(pdf_of(3, 595, 842))
    pdf.new_page(3000, 3000)  # page 4 of 4: a poster
    buffer = io.BytesIO()
    pdf.save(buffer)
    with pytest.raises(ImageUnreadable, match="PDF page 4 is 8333x8333 px"):
        iter_images(buffer.getvalue(), "scan.pdf")  # refused before any page is rendered


RENDER_ALL = """
import sys
from grader.imageio import iter_images
from tests.bad_inputs import vm_hwm_mb
count, pages = iter_images(open(sys.argv[1], "rb").read(), "scan.pdf")
shapes = {page.shape for page in pages}
print(count, shapes, vm_hwm_mb())
"""


def test_a_pdf_of_big_pages_is_rendered_one_page_at_a_time(tmp_path):
    # 12 pages of 24 megapixels (72 MB each as BGR): held together they were 0.9 GB and more.
    path = tmp_path / "scan.pdf"
    path.write_bytes(pdf_of(12, 1760))
    out = subprocess.run([sys.executable, "-c", RENDER_ALL, str(path)], capture_output=True, text=True,
                         cwd=REPO, check=True).stdout.split()
    assert out[0] == "12" and "(4889, 4889, 3)" in " ".join(out)
    assert int(out[-1]) < 450, f"peak {out[-1]} MB"


# --- the gradebook's door ----------------------------------------------------------------------


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`python -m grader args...`, which also prints its peak memory (`peak-mb=N`) on stderr."""
    return subprocess.run([sys.executable, "-c", RUN_GRADER, *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)


def peak_mb(done: subprocess.CompletedProcess) -> int:
    return int(re.findall(r"peak-mb=(\d+)", done.stderr)[-1])


def test_backup_copies_a_gradebook_that_opens_and_never_overwrites(tmp_path):
    path = tmp_path / "gradebook.db"
    gradebook_with_students(path)
    out = tmp_path / "copy.db"
    done = cli("backup", "--db", f"sqlite:///{path}", "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    engine = db.open_engine(f"sqlite:///{out}")
    with db.read_session(engine) as session:
        assert len(store.roster_entries(session)) == 300
    engine.dispose()
    kept = out.read_bytes()
    again = cli("backup", "--db", f"sqlite:///{path}", "--out", str(out), cwd=tmp_path)
    assert again.returncode == 1 and "exists already" in again.stderr and out.read_bytes() == kept
    damage(path)
    refused = cli("backup", "--db", f"sqlite:///{path}", "--out", str(tmp_path / "bad.db"), cwd=tmp_path)
    assert refused.returncode == 1 and "is damaged" in refused.stderr and not (tmp_path / "bad.db").exists()


NEXT_MIGRATION = '''
import sqlalchemy as sa
from alembic import op

revision = "0099"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("students", sa.Column("note", sa.String(20), nullable=True))
'''


def test_an_upgrade_keeps_a_backup_of_the_gradebook_before_it(tmp_path, monkeypatch):
    path = tmp_path / "gradebook.db"
    gradebook_with_students(path, 5)
    old = path.read_bytes()
    migrations = tmp_path / "migrations"
    shutil.copytree(db.MIGRATIONS_DIR, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    head = db.schema_revision(db.open_engine(f"sqlite:///{path}", migrate=False))
    (migrations / "versions" / "0099_note.py").write_text(NEXT_MIGRATION.format(head=head))
    monkeypatch.setattr(db, "MIGRATIONS_DIR", migrations)  # a newer grader's migrations
    engine = db.open_engine(f"sqlite:///{path}")
    assert db.schema_revision(engine) == "0099"
    engine.dispose()
    (backup,) = tmp_path.glob(f"gradebook.db.backup-{head}-*.db")
    with sqlite3.connect(backup) as copy:
        assert copy.execute("SELECT count(*) FROM students").fetchone() == (5,)
        assert "note" not in {row[1] for row in copy.execute("PRAGMA table_info(students)")}
    copy.close()
    assert len(old) > 0


# --- processes that clean up -------------------------------------------------------------------


def children(pid: int) -> set[int]:
    """Processes whose parent is `pid` (from /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_grade_workers_end_when_the_grade_command_is_killed(tmp_path):
    # Issue 22: after SIGKILL of `grade --workers 2`, its 2 workers were still running 38 s later.
    # Here the command starts its pool on the first photo, then blocks reading the second (a
    # FIFO nobody writes), and is killed there.
    (tmp_path / "first.jpg").write_bytes(b"not really a photo")
    os.mkfifo(tmp_path / "second.jpg")
    command = [sys.executable, "-m", "grader", "grade", "--key", "arithmetic-basics", "--db",
               f"sqlite:///{tmp_path / 'g.db'}", "--workers", "2", "--no-progress", "first.jpg", "second.jpg"]
    main = subprocess.Popen(command, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while not workers and time.monotonic() < deadline and main.poll() is None:
            time.sleep(0.2)
            workers = children(main.pid)
        assert workers, "the grade command started no worker"
        time.sleep(0.5)
        main.kill()
        main.wait()
        deadline = time.monotonic() + 5
        while any(alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(w) for w in workers), "workers outlived the killed grade command"
    finally:
        for worker in workers:
            if alive(worker):
                os.kill(worker, signal.SIGKILL)
        if main.poll() is None:
            main.kill()


# --- the API against slow, vanishing and curious clients --------------------------------------


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """A real `serve-api` with deadlines of 1.5 s (headers) and 2 s (body), on a damaged gradebook."""
    folder = tmp_path_factory.mktemp("api-bad")
    path = folder / "gradebook.db"
    gradebook_with_students(path)
    damage(path)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADER_")}
    env.update(GRADER_DATABASE_URL=f"sqlite:///{path}", PYTHONPATH=str(REPO))
    command = [sys.executable, "-m", "grader", "serve-api", "--port", str(port), "--header-timeout", "1.5",
               "--body-timeout", "2", "--log-level", "info"]
    log = folder / "server.log"
    with running_server(command, cwd=REPO, env=env, log_path=log,
                        health_url=f"http://127.0.0.1:{port}/health") as server:
        yield SimpleNamespace(port=port, url=f"http://127.0.0.1:{port}", log=log, folder=folder)
        peak = process_peak_mb(server.pid)
    assert "Traceback" not in log.read_text(), log.read_text()
    # After the slow, vanishing and failing clients below (issue 22: 2.1 GB, 604 MB held after).
    print(f"serve-api peak after the bad clients: {peak} MB")
    assert peak < 1024, f"serve-api peak {peak} MB"


def trickle(port: int, head: bytes, body: bytes = b"", limit_s: float = 15.0) -> tuple[float, bytes]:
    """Send `head` at once (when it ends the headers) or a byte every 0.1 s, then `body` a byte
    every 0.1 s; (seconds until the server closed, what it answered)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(0.1)
    started, answer = time.monotonic(), b""
    pending = list(body) if head.endswith(b"\r\n\r\n") else list(head + body)
    if head.endswith(b"\r\n\r\n"):
        sock.sendall(head)
    try:
        while time.monotonic() - started < limit_s:
            if pending:
                sock.send(bytes([pending.pop(0)]))
            try:
                data = sock.recv(4096)
            except socket.timeout:
                continue
            if not data:
                break
            answer += data
    except OSError:
        pass
    finally:
        sock.close()
    return time.monotonic() - started, answer


def test_slow_headers_are_cut_off_with_408(api):
    # Issue 22: a client sending 1 byte/s was never timed out (70 s); here 10 bytes/s.
    elapsed, answer = trickle(api.port, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 400 + b"\r\n\r\n"[:-1])
    assert elapsed < 4 and answer.startswith(b"HTTP/1.1 408"), (elapsed, answer)
    assert b"headers did not arrive within 1.5 s" in answer


def test_slow_body_is_cut_off_with_408_and_the_connection_closed(api):
    head = b"POST /ocr HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n"
    elapsed, answer = trickle(api.port, head, b" " * 400)
    assert elapsed < 5 and answer.startswith(b"HTTP/1.1 408"), (elapsed, answer)
    assert b"body did not arrive within 2 s" in answer


def test_many_slow_clients_are_all_cut_off(api):
    # 300 slow clients in the issue; 40 here, all at once.
    with ThreadPoolExecutor(40) as pool:
        results = list(pool.map(lambda _: trickle(api.port, b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"a" * 200),
                                range(40)))
    assert all(elapsed < 8 for elapsed, _ in results), sorted(e for e, _ in results)[-3:]
    assert httpx.get(f"{api.url}/health", timeout=5).status_code == 200


def test_a_client_that_goes_away_is_one_line_in_the_log(api):
    sock = socket.create_connection(("127.0.0.1", api.port))
    sock.sendall(b"POST /ocr HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 5000\r\n\r\n{\"image_base64\": \"")
    time.sleep(0.3)
    sock.close()
    deadline = time.monotonic() + 5
    while "went away during POST /ocr" not in api.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    text = api.log.read_text()
    assert text.count("went away during POST /ocr") == 1 and "Traceback" not in text, text


def test_the_docs_load_no_script_from_the_internet(api):
    page = httpx.get(f"{api.url}/docs", timeout=5).text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets and not [a for a in assets if a.startswith(("http:", "https:", "//"))], assets
    script = next(a for a in assets if a.endswith(".js"))
    served = httpx.get(f"{api.url}{script}", timeout=5)
    assert served.status_code == 200 and b"SwaggerUIBundle" in served.content
    redoc = httpx.get(f"{api.url}/redoc", timeout=5).text
    assert "cdn." not in redoc and "fonts.googleapis" not in redoc


def test_a_gradebook_failure_answers_503_without_the_servers_paths(api):
    answer = httpx.get(f"{api.url}/assignments", timeout=10)
    assert answer.status_code == 503, answer.text
    message = answer.json()["error"]
    assert "damaged" in message and "/" not in message and "gradebook.db" not in message, message
    assert str(api.folder) in api.log.read_text()  # the administrator's log names the file


@pytest.mark.parametrize("message, shown", [
    ("cannot open /srv/grader/models/crnn.int8.onnx (missing)", "cannot open crnn.int8.onnx (missing)"),
    ("sqlite:////srv/grader/data/gradebook.db is locked", "gradebook.db is locked"),
    ("/srv/grader/answer_keys/week3.yaml, line 4: bad", "week3.yaml, line 4: bad"),
    ("expected '3/4' or 1/2, got 'a/b/c'", "expected '3/4' or 1/2, got 'a/b/c'"),  # answers are not paths
])
def test_api_messages_show_file_names_not_server_paths(message, shown):
    assert public_message(message) == shown


# --- the API against crowds and guessers -----------------------------------------------------


@contextmanager
def guarded_api(folder: Path, *args: str, proxies: str | None = None) -> Iterator[SimpleNamespace]:
    """A real `serve-api` with a token (and GRADER_TRUSTED_PROXIES when given)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADER_")}
    env.update(GRADER_DATABASE_URL=f"sqlite:///{folder / 'gradebook.db'}", PYTHONPATH=str(REPO),
               GRADER_API_TOKEN="right-token")
    if proxies:
        env["GRADER_TRUSTED_PROXIES"] = proxies
    command = [sys.executable, "-m", "grader", "serve-api", "--port", str(port), "--log-level", "info", *args]
    log = folder / f"server-{port}.log"
    with running_server(command, cwd=REPO, env=env, log_path=log,
                        health_url=f"http://127.0.0.1:{port}/health") as server:
        yield SimpleNamespace(port=port, url=f"http://127.0.0.1:{port}", log=log)
        peak = process_peak_mb(server.pid)
    assert "Traceback" not in log.read_text(), log.read_text()
    print(f"serve-api peak after the crowd or the guessers: {peak} MB")
    assert peak < 1024, f"serve-api peak {peak} MB"


def token_try(url: str, token: str, forwarded_for: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    if forwarded_for:
        headers["X-Forwarded-For"] = forwarded_for
    return httpx.get(f"{url}/assignments", headers=headers, timeout=10)


def test_connections_beyond_the_cap_are_answered_503_and_the_server_keeps_serving(tmp_path):
    with guarded_api(tmp_path, "--max-connections", "4", "--header-timeout", "20") as api:
        idle = [socket.create_connection(("127.0.0.1", api.port)) for _ in range(4)]
        try:
            time.sleep(0.3)
            refused = httpx.get(f"{api.url}/health", timeout=5)
            assert refused.status_code == 503 and refused.headers["retry-after"] == "1", refused.text
            assert "4 connections are open, the most it takes at once" in refused.json()["error"]
            assert refused.json()["success"] is False
        finally:
            for sock in idle:
                sock.close()
        time.sleep(0.3)
        assert httpx.get(f"{api.url}/health", timeout=5).status_code == 200
        with ThreadPoolExecutor(30) as pool:  # a burst: answered 200 or 503, never hung or 500
            codes = list(pool.map(lambda _: httpx.get(f"{api.url}/health", timeout=10).status_code, range(60)))
        assert set(codes) <= {200, 503} and 200 in codes, codes
        assert api.log.read_text().count("refused connections beyond the cap of 4") == 1


def test_wrong_tokens_are_slowed_per_client_named_by_a_trusted_proxy(tmp_path):
    # Behind a reverse proxy every client arrives from the proxy's address: keyed by that, one
    # guesser would lock every school system out. The proxy (here 127.0.0.1) names the client.
    with guarded_api(tmp_path, proxies="127.0.0.1") as api:
        codes = [token_try(api.url, f"guess{n}", "198.51.100.1").status_code for n in range(11)]
        assert codes == [401] * 10 + [429], codes
        held = token_try(api.url, "right-token", "198.51.100.1")  # even the right token waits its turn
        assert held.status_code == 429 and 1 <= int(held.headers["retry-after"]) <= 2, held.text
        assert "too many wrong API tokens from 198.51.100.1" in held.json()["error"]
        # What the guesser writes into X-Forwarded-For itself sits left of what the proxy wrote.
        assert token_try(api.url, "right-token", "203.0.113.7, 198.51.100.1").status_code == 429
        assert token_try(api.url, "right-token", "198.51.100.2").status_code == 200  # another school system
        assert token_try(api.url, "right-token").status_code == 200  # the proxy itself is not held


def test_without_trusted_proxies_a_forwarded_for_header_escapes_nothing(tmp_path):
    with guarded_api(tmp_path) as api:
        codes = [token_try(api.url, f"guess{n}", f"198.51.100.{n}").status_code for n in range(11)]
        assert codes == [401] * 10 + [429], codes  # one client, whatever it claims to be
        spoofed = token_try(api.url, "right-token", "10.9.9.9")
        assert "too many wrong API tokens from 127.0.0.1" in spoofed.json()["error"]
        missing = httpx.get(f"{api.url}/assignments", timeout=10)
        assert missing.status_code == 401  # no token is not a guess: told what is wrong, not held
