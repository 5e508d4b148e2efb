"""Peak memory and time per class of bad input (issue 22), each in a fresh process.

    nice -n 10 .venv/bin/python bench/limits.py [--only functions|commands]

Two tables. "functions": the core function behind each budget, called directly. "commands":
every row of tests/bad_inputs.BAD_CASES (the table tests/test_bad_input.py checks) through the
real `python -m grader ...`, beside a gradebook of 300 students and the demo keys: exit status,
peak memory, CPU and wall seconds, and what became of the gradebook (`kept`: every stored row
still there, unchanged, and PRAGMA quick_check ok; `untouched`: the file's bytes unchanged;
`LOST`/`CHANGED` otherwise). Every case runs in its own Python process (so one case's memory
never counts for another) and prints its outcome: the first line of the message a teacher would
see, or `ok`. Peak memory is the process's peak resident set (VmHWM; ru_maxrss would carry over
a big parent's), imports included; the target is < 1 GB each.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

PRELUDE = """
import json, sys, time
sys.path.insert(0, {repo!r})
from pathlib import Path
from grader.errors import GraderError
from tests.bad_inputs import vm_hwm_mb
work = Path({work!r})
started = time.perf_counter()
try:
{body}
    outcome = "ok" if outcome is None else outcome
except GraderError as error:
    outcome = str(error)
print(json.dumps({{"outcome": outcome, "s": time.perf_counter() - started,
                  "mb": vm_hwm_mb()}}))
"""

# (class, setup run here with the work folder, body run in the measured process)
CASES: list[tuple[str, str]] = [
    ("key: alias bomb, 9 x 8 levels", """
from grader.answer_key import parse_answer_key
from tests.bad_inputs import alias_bomb
outcome = parse_answer_key(alias_bomb(8), "lol.yaml") and None"""),
    ("key: 4,900 questions", """
from grader.answer_key import parse_answer_key
from tests.bad_inputs import grid_key
outcome = parse_answer_key(grid_key(4900), "big.yaml") and None"""),
    ("key: 2,000 questions (accepted)", """
from grader.answer_key import parse_answer_key
from tests.bad_inputs import grid_key
outcome = parse_answer_key(grid_key(2000), "big.yaml") and None"""),
    ("key: nested 10,000 deep", """
from grader.answer_key import parse_answer_key
from tests.bad_inputs import nested
outcome = parse_answer_key(nested(10000), "deep.yaml") and None"""),
    ("PDF: 25 pages of 2500x2500 pt", """
from grader.imageio import load_images
from tests.bad_inputs import pdf_of
outcome = load_images(pdf_of(25, 2500), "big.pdf") and None"""),
    ("PDF: 12 pages of 24 MP, rendered", """
from grader.imageio import iter_images
from tests.bad_inputs import pdf_of
count, pages = iter_images(pdf_of(12, 1760), "scan.pdf")
outcome = f"ok: {sum(1 for _ in pages)} pages"
"""),
    ("PDF: 0 pages", """
from grader.imageio import load_images
from tests.bad_inputs import pdf_of
outcome = load_images(pdf_of(0, 100), "empty.pdf") and None"""),
    ("PNG header 20000x20000", """
from grader.imageio import load_images
from tests.bad_inputs import png_claiming
outcome = load_images(png_claiming(20000, 20000), "huge.png") and None"""),
    ("photo: 49 MP JPEG graded (accepted size)", """
import cv2, numpy as np
from grader.answer_key import load_answer_key
from grader.batch import FileJob, GradingSpec, grade_pages
from grader.paths import ANSWER_KEYS_DIR
from grader.reader import load_reader
image = np.random.default_rng(0).integers(90, 200, (7000, 7000, 3), dtype=np.uint8)
data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 70])[1].tobytes()
del image
key_path = ANSWER_KEYS_DIR / "arithmetic-basics.yaml"
key = load_answer_key(key_path)
spec = GradingSpec(key, key_path.read_text())
(outcome,) = [o.error or "graded" for o in grade_pages(FileJob(data, "big.jpg"), spec, load_reader())]
outcome = f"{len(data) / 1e6:.0f} MB: {outcome}"
"""),
    ("recognize: 9000x2000 + 100000x100000 bomb + crop", """
import subprocess, os, cv2, numpy as np
from tests.bad_inputs import png_claiming
cv2.imwrite(str(work / "huge.png"), np.full((2000, 9000), 255, np.uint8))
(work / "bomb.png").write_bytes(png_claiming(100000, 100000))
cv2.imwrite(str(work / "ok.png"), np.full((48, 96), 255, np.uint8))
from grader.commands import recognize
from grader.reader import load_reader
entries = []
for name in ("huge.png", "bomb.png", "ok.png"):
    try:
        recognize.read_gray(work / name); entries.append("read")
    except GraderError as error:
        entries.append(str(error).split(";")[0])
outcome = " | ".join(entries)
"""),
    ("gradebook: damaged pages", """
from grader import db
from tests.bad_inputs import damage, gradebook_with_students
gradebook_with_students(work / "g.db"); damage(work / "g.db")
outcome = db.open_engine(f"sqlite:///{work / 'g.db'}") and None"""),
    ("gradebook: another program's SQLite file", """
import sqlite3
from grader import db
with sqlite3.connect(work / "lib.db") as c: c.execute("CREATE TABLE books (title TEXT)")
outcome = db.open_engine(f"sqlite:///{work / 'lib.db'}") and None"""),
]


def run(name: str, body: str) -> dict:
    with tempfile.TemporaryDirectory() as work:
        script = PRELUDE.format(repo=str(REPO), work=work, body=textwrap.indent(body.strip("\n"), "    "))
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO,
                              timeout=600)
    if done.returncode != 0:
        return {"outcome": f"CRASH: {done.stderr.strip().splitlines()[-1:]}", "s": float("nan"), "mb": float("nan")}
    return json.loads(done.stdout.strip().splitlines()[-1])


def functions() -> None:
    print(f"{'class':<48} {'peak MB':>8} {'time s':>7}  outcome")
    for name, body in CASES:
        result = run(name, body)
        outcome = result["outcome"].replace("\n", " ")
        print(f"{name:<48} {result['mb']:8.0f} {result['s']:7.2f}  {outcome[:110]}", flush=True)


def gradebook_after(outcome) -> str:
    if outcome.case.gradebook == "untouched":
        return "untouched" if outcome.bytes_after == outcome.bytes_before else "CHANGED"
    if outcome.rows_lost():
        return "LOST " + ",".join(outcome.rows_lost())
    return "kept" if outcome.check_after == ["ok"] else f"DAMAGED {outcome.check_after}"


def first_message(output: str) -> str:
    """The message a teacher reads: the "error" of --json output, the total of a graded photo,
    else the first line."""
    total = re.search(r'"total": ([0-9.]+),\s*"max": ([0-9.]+)', output)
    if total and '"error"' not in output:
        return f"graded: {total[1]} of {total[2]} points"
    for line in output.splitlines():
        if '"error": "' in line:
            return line.split('"error": "', 1)[1].rsplit('"', 1)[0]
    lines = [line.strip() for line in output.splitlines() if line.strip() and line.strip() not in "[]{}"]
    return lines[0] if lines else ""


def commands() -> None:
    sys.path.insert(0, str(REPO))
    from tests.bad_inputs import BAD_CASES, run_bad_cases

    with tempfile.TemporaryDirectory() as root:
        outcomes = run_bad_cases(BAD_CASES, Path(root), sys.executable, REPO, fresh=True)
    print(f"{'class':<52} {'exit':>4} {'peak MB':>8} {'CPU s':>6} {'wall s':>6}  {'gradebook':<10} message")
    for name, outcome in outcomes.items():
        message = first_message(outcome.output)
        print(f"{name:<52} {outcome.status!s:>4} {outcome.mb:8d} {outcome.cpu_s:6.2f} {outcome.s:6.2f}  "
              f"{gradebook_after(outcome):<10} {message[:120]}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["functions", "commands"])
    only = parser.parse_args().only
    if only != "commands":
        functions()
    if only != "functions":
        print()
        commands()


if __name__ == "__main__":
    main()
