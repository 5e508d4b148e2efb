"""Bad input for tests/test_bad_input.py and bench/limits.py (issue 22): generators (keys, PDFs
and PNG headers that claim more than they hold, gradebooks to damage), and BAD_CASES, the table
of every class of bad input through the command line with its expected outcome and budget,
run by `run_bad_cases` (peak memory and time per case, the gradebook before and after)."""

from __future__ import annotations

import hashlib
import io
import random
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import pypdfium2 as pdfium
from PIL import Image

from grader import db, store
from grader.roster import RosterEntry


def alias_bomb(levels: int, width: int = 9) -> str:
    """A "billion laughs" key: each level lists the previous one `width` times (issue 22: nine
    per level over eight levels is 372 bytes that expand to 43 million strings)."""
    lines = ['a0: &a0 ["lol"]']
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * width) + "]")
    return "\n".join(lines) + f"\nid: k\ntitle: t\nquestions: *a{levels}\n"


def grid_key(count: int, pages: int = 50) -> str:
    """A valid key with `count` questions in a grid of non-overlapping boxes over `pages`."""
    per_page = -(-count // pages)
    columns = 10
    rows = -(-per_page // columns)
    lines = ["id: big", "title: Big", f"pages: {pages}", "questions:"]
    for n in range(count):
        page, slot = divmod(n, per_page)
        row, column = divmod(slot, columns)
        box = [column / columns, row / rows, 0.9 / columns, 0.9 / rows]
        lines.append(f"  - {{id: q{n}, page: {page + 1}, box: {box}, kind: number, answers: ['1']}}")
    return "\n".join(lines) + "\n"


def nested(depth: int) -> str:
    return "id: k\ntitle: t\nquestions: " + "[" * depth + "]" * depth + "\n"


def pdf_of(pages: int, width_pt: float, height_pt: float | None = None) -> bytes:
    """A real PDF of blank pages (a few hundred bytes however large the pages claim to be)."""
    pdf = pdfium.PdfDocument.new()
    for _ in range(pages):
        pdf.new_page(width_pt, height_pt or width_pt)
    buffer = io.BytesIO()
    pdf.save(buffer)
    pdf.close()
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A PNG signature and IHDR for a huge image with a tiny (invalid) body: 74 bytes or so."""
    ihdr = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + ihdr + struct.pack(">I", zlib.crc32(ihdr))
    idat = b"IDAT" + zlib.compress(b"\x00" * 8)
    data += struct.pack(">I", len(idat) - 4) + idat + struct.pack(">I", zlib.crc32(idat))
    return data + struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))


def gradebook_with_students(path: Path, count: int = 300) -> None:
    engine = db.open_engine(f"sqlite:///{path}")
    with db.write_session(engine) as session:
        store.upsert_students(session, [RosterEntry(f"s{i}", f"Student {i}", "7a") for i in range(count)])
    engine.dispose()


def damage(path: Path, page: int = 5, page_size: int = 4096) -> None:
    """Garbage over one page inside the file, as a failing disk or a bad copy leaves it."""
    data = bytearray(path.read_bytes())
    data[page * page_size:(page + 1) * page_size] = random.Random(1).randbytes(page_size)
    path.write_bytes(bytes(data))


def vm_hwm_mb() -> int:
    """This process's peak resident memory in MB (VmHWM). Not ru_maxrss: a child forked from a
    big test process inherits its parent's high-water mark there, even across exec."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) // 1024


# `python -c RUN_GRADER args...` runs `python -m grader args...` and prints `peak-mb=N` on stderr.
RUN_GRADER = """
import atexit, runpy, sys
from tests.bad_inputs import vm_hwm_mb
atexit.register(lambda: sys.stderr.write(f"\\npeak-mb={vm_hwm_mb()}\\n"))
sys.argv = ["grader", *sys.argv[1:]]
runpy.run_module("grader", run_name="__main__", alter_sys=True)
"""


# --- the table: every class of bad input through the command line ----------------------------
#
# Each case writes its files into a work folder beside a gradebook (300 students and the demo
# keys), runs one `python -m grader ...` and states what must come out: the exit status, the
# message's words, the budget (peak memory of the process, seconds) and what becomes of the
# gradebook: "kept" (every row stored before is still there, unchanged; failed photos may be
# added) or "untouched" (the file's bytes are the same). tests/test_bad_input.py checks every
# row; bench/limits.py prints the measured outcome, peak and time of every row.


@dataclass(frozen=True)
class BadCase:
    name: str
    argv: tuple[str, ...]  # after `python -m grader`; {db} is the gradebook's URL
    write: Callable[[Path], None]  # puts the inputs into the work folder
    status: int  # exit status
    says: tuple[str, ...]  # words of the message (stdout and stderr together)
    gradebook: str = "kept"  # or "untouched"
    max_s: float = 10.0  # CPU seconds (not wall time: the test machine is shared and busy)
    max_grow_mb: int | None = None  # the peak over what the process held before it (nothing big read)
    recorded: bool = True  # grade, exit 2: the failed photo is kept in the gradebook for a retry
    change_gradebook: Callable[[Path], None] | None = None  # damage it, make it foreign ...
    file_size_limit: int | None = None  # RLIMIT_FSIZE: the disk fills this many bytes past the gradebook
    adds: tuple[tuple[str, int], ...] = ()  # (table, rows) the command must add (a roster it reads)


def _put(name: str, data: bytes | Callable[[], bytes]) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        (folder / name).write_bytes(data() if callable(data) else data)
    return write


def _sparse(name: str, size: int) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        with open(folder / name, "wb") as out:  # takes no disk
            out.truncate(size)
    return write


def _grey_jpeg() -> bytes:
    return cv2.imencode(".jpg", np.full((1600, 1200, 3), 128, np.uint8))[1].tobytes()


def _cmyk_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("CMYK", (1200, 1600), (0, 0, 0, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


def _encrypted_pdf() -> bytes:
    """A one-page PDF under the standard security handler (RC4, revision 2) whose user password
    is not empty: a reader needs the password, as with a protected scan."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
               b"<< /Filter /Standard /V 1 /R 2 /Length 40 /P -4 /O <" + b"11" * 32 + b"> /U <" + b"22" * 32 + b"> >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += (b"trailer\n<< /Size %d /Root 1 0 R /Encrypt 4 0 R /ID [<" % (len(objects) + 1) + b"ab" * 16
            + b"> <" + b"ab" * 16 + b">] >>\nstartxref\n%d\n%%%%EOF\n" % xref)
    return bytes(out)


def crop_of(text: str) -> np.ndarray:
    crop = np.full((48, 96), 255, np.uint8)
    cv2.putText(crop, text, (18, 38), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 0, 3)
    return crop


def demo_photo_of(key_id: str, seed: int = 3) -> bytes:
    from grader.answer_key import load_answer_key
    from grader.demo import DEMO_ROSTER, demo_photo
    from grader.paths import ANSWER_KEYS_DIR

    key = load_answer_key(ANSWER_KEYS_DIR / f"{key_id}.yaml")
    return demo_photo(key, DEMO_ROSTER[0], np.random.default_rng(seed))


def _exif_rotated() -> bytes:
    """The demo photo turned on its side, with EXIF orientation 6 saying how to turn it back."""
    image = Image.open(io.BytesIO(demo_photo_of("arithmetic-basics"))).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif.tobytes(), quality=90)
    return buffer.getvalue()


def _broken_heic() -> bytes:
    return b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64


def _newer_schema(path: Path) -> None:
    import sqlite3

    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    connection.close()


def _foreign(path: Path) -> None:
    import sqlite3

    path.unlink()
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE books (title TEXT)")
        connection.execute("INSERT INTO books VALUES ('Emma')")
    connection.close()


def _not_a_database(path: Path) -> None:
    path.write_bytes(b"these are my lesson notes, not a database\n" * 100)


def _duplicate_ids_key() -> bytes:
    return (b"id: k\ntitle: t\nquestions:\n"
            b"  - {id: q1, page: 1, box: [0.1, 0.1, 0.2, 0.1], kind: number, answers: ['1']}\n"
            b"  - {id: q1, page: 1, box: [0.1, 0.3, 0.2, 0.1], kind: number, answers: ['2']}\n")


GRADE = ("grade", "--key", "arithmetic-basics", "--db", "{db}", "--json", "--no-progress")
UNMATCHED = "could not be matched to the worksheet"

BAD_CASES: list[BadCase] = [
    # answer keys
    BadCase("key: YAML alias bomb (9 x 8 levels, 372 bytes)", ("grade", "--key", "lol.yaml", "--db", "{db}", "x.jpg"),
            lambda f: (f / "lol.yaml").write_text(alias_bomb(8)), 1,
            ("lol.yaml", "aliases expand to more than 200,000"), max_s=5),
    BadCase("key: 150 YAML aliases", ("grade", "--key", "many.yaml", "--db", "{db}", "x.jpg"),
            lambda f: (f / "many.yaml").write_text("x: &x 1\nl: [" + ", ".join(["*x"] * 150) + "]\nid: k\n"),
            1, ("more than 100 YAML aliases",), max_s=5),
    BadCase("key: nested 10,000 deep", ("grade", "--key", "deep.yaml", "--db", "{db}", "x.jpg"),
            lambda f: (f / "deep.yaml").write_text(nested(10_000)), 1, ("nests more than 20 levels",),
            max_s=5),
    BadCase("key: 4,900 questions", ("grade", "--key", "big.yaml", "--db", "{db}", "x.jpg"),
            lambda f: (f / "big.yaml").write_text(grid_key(4_900)), 1,
            ("4,900 questions; the limit is 2,000",), max_s=5),
    BadCase("key: 50 MB file", ("grade", "--key", "huge.yaml", "--db", "{db}", "x.jpg"),
            _sparse("huge.yaml", 50_000_000), 1, ("huge.yaml: the key is 50.0 MB; the limit is 1.0 MB",),
            max_s=5, max_grow_mb=30),
    BadCase("key: malformed YAML", ("grade", "--key", "bad.yaml", "--db", "{db}", "x.jpg"),
            _put("bad.yaml", b"id: k\ntitle: [unclosed\nquestions: []\n"), 1, ("bad.yaml", "line"),
            max_s=5),
    BadCase("key: duplicate question ids", ("grade", "--key", "dup.yaml", "--db", "{db}", "x.jpg"),
            _put("dup.yaml", _duplicate_ids_key), 1, ("dup.yaml", "q1"), max_s=5),
    BadCase("key: unknown assignment id", ("grade", "--key", "no-such-key", "--db", "{db}", "x.jpg"),
            lambda f: None, 1, ("no such answer key",), max_s=5),
    # photos
    BadCase("photo: empty file", (*GRADE, "empty.jpg"), _put("empty.jpg", b""), 2,
            ("empty.jpg: the file is empty (0 bytes)",)),
    BadCase("photo: truncated JPEG", (*GRADE, "cut.jpg"), _put("cut.jpg", lambda: _grey_jpeg()[:9000]), 2,
            ("cut.jpg: the JPEG file is truncated",)),
    BadCase("photo: 1x1 PNG", (*GRADE, "dot.png"),
            _put("dot.png", lambda: cv2.imencode(".png", np.zeros((1, 1), np.uint8))[1].tobytes()), 2,
            ("only 1x1 px; at least 8 px a side",)),
    BadCase("photo: text file named .jpg", (*GRADE, "notes.jpg"), _put("notes.jpg", b"Homework notes\n" * 40), 2,
            ("it looks like a text file",)),
    BadCase("photo: PNG header 20000x20000", (*GRADE, "huge.png"), _put("huge.png", lambda: png_claiming(20000, 20000)),
            2, ("400 megapixels; the limit is 50 megapixels",)),
    BadCase("photo: 74-byte PNG bomb 100000x100000", (*GRADE, "bomb.png"),
            _put("bomb.png", lambda: png_claiming(100000, 100000)), 2,
            ("10000 megapixels; the limit is 50 megapixels",)),
    BadCase("photo: 300 MB file (a video by mistake)", (*GRADE, "scan.tif"), _sparse("scan.tif", 300_000_000), 2,
            ("scan.tif: the file is 300 MB; the limit is",), max_grow_mb=30, recorded=False),
    BadCase("photo: broken HEIC", (*GRADE, "phone.heic"), _put("phone.heic", _broken_heic), 2,
            ("phone.heic: the HEIC/HEIF photo cannot be read",)),
    BadCase("photo: blank wall", (*GRADE, "wall.jpg"), _put("wall.jpg", _grey_jpeg), 2, (UNMATCHED,)),
    BadCase("photo: CMYK JPEG", (*GRADE, "cmyk.jpg"), _put("cmyk.jpg", _cmyk_jpeg), 2, (UNMATCHED,)),
    BadCase("photo: 16-bit PNG", (*GRADE, "deep.png"),
            _put("deep.png", lambda: cv2.imencode(".png", np.full((1600, 1200), 30000, np.uint16))[1].tobytes()),
            2, (UNMATCHED,)),
    BadCase("photo: another assignment's sheet", (*GRADE, "algebra.jpg"),
            _put("algebra.jpg", lambda: demo_photo_of("algebra-basics")), 2,
            ("shows a sheet of assignment 'algebra-basics' (page 1), not 'arithmetic-basics'",), max_s=20),
    BadCase("photo: EXIF-rotated (graded)", (*GRADE, "sideways.jpg"), _put("sideways.jpg", _exif_rotated), 0,
            ('"total"',), max_s=30),
    # PDFs (the damaged one before the 0-page one: PDFium's reason is the last error of the
    # process, and one runner process runs them all, so a stale "damaged" would show)
    BadCase("PDF: 25 pages of 2500x2500 pt (3.5 KB)", (*GRADE, "posters.pdf"),
            _put("posters.pdf", lambda: pdf_of(25, 2500)), 2,
            ("PDF page 1 is 6944x6944 px (48 megapixels); the limit is 25",)),
    BadCase("PDF: cut in half", (*GRADE, "broken.pdf"), _put("broken.pdf", lambda: pdf_of(2, 595, 842)[:200]), 2,
            ("the PDF cannot be opened: it is damaged",)),
    BadCase("PDF: 51 pages", (*GRADE, "thick.pdf"), _put("thick.pdf", lambda: pdf_of(51, 595, 842)), 2,
            ("the PDF has 51 pages; at most 50",)),
    BadCase("PDF: 0 pages", (*GRADE, "none.pdf"), _put("none.pdf", lambda: pdf_of(0, 100)), 2,
            ("none.pdf: the PDF has no pages",)),
    BadCase("PDF: password-protected", (*GRADE, "locked.pdf"), _put("locked.pdf", _encrypted_pdf), 2,
            ("locked.pdf: the PDF cannot be opened: it is password-protected",)),
    # rosters
    BadCase("roster: unknown encoding", (*GRADE, "--roster", "class.csv", "wall.jpg"),
            lambda f: (_put("class.csv", bytes(range(128, 256)) * 4)(f), _put("wall.jpg", _grey_jpeg)(f)), 1,
            ("class.csv", "encoding"), max_s=5),
    BadCase("roster: 50 MB file", (*GRADE, "--roster", "class.csv", "wall.jpg"),
            lambda f: (_sparse("class.csv", 50_000_000)(f), _put("wall.jpg", _grey_jpeg)(f)), 1,
            ("class.csv: the roster is 47.7 MB; the limit is 5 MB",), max_s=5, max_grow_mb=30),
    BadCase("roster: a 200 KB cell (a quote never closed)", (*GRADE, "--roster", "class.csv", "wall.jpg"),
            lambda f: (_put("class.csv", b'id,name\nz1,"Chen Jing\n' + b"z2,Wang Fang\n" * 20_000)(f),
                       _put("wall.jpg", _grey_jpeg)(f)), 1,
            ("class.csv, line 2: not a roster CSV (field larger than field limit", "a quote left open?"), max_s=5),
    BadCase("roster: GBK (read)", (*GRADE, "--roster", "class.csv", "wall.jpg"),
            lambda f: (_put("class.csv", "id,name\nz1,陈静\nz2,王芳\n".encode("gbk"))(f),
                       _put("wall.jpg", _grey_jpeg)(f)),
            2, (UNMATCHED,), adds=(("students", 2),)),
    # recognize
    BadCase("recognize: 9000x2000 PNG + 74-byte bomb + a crop",
            ("recognize", "--json", "wide.png", "bomb.png", "ok.png"),
            lambda f: (cv2.imwrite(str(f / "wide.png"), np.full((2000, 9000), 255, np.uint8)),
                       _put("bomb.png", png_claiming(100_000, 100_000))(f),
                       cv2.imwrite(str(f / "ok.png"), crop_of("42"))),
            2, ("9000x2000 px (18 megapixels); the limit is 16 megapixels", "10000 megapixels",
                '"path": "ok.png", "text": "'),
            gradebook="untouched"),
    # the gradebook itself
    BadCase("gradebook: damaged pages", (*GRADE, "wall.jpg"), _put("wall.jpg", _grey_jpeg), 1,
            ("gradebook.db is damaged", "backup"), gradebook="untouched", change_gradebook=damage),
    BadCase("gradebook: another program's SQLite file", (*GRADE, "wall.jpg"), _put("wall.jpg", _grey_jpeg), 1,
            ("another program's SQLite database (tables: books)",), gradebook="untouched",
            change_gradebook=_foreign),
    BadCase("gradebook: not a database at all", (*GRADE, "wall.jpg"), _put("wall.jpg", _grey_jpeg), 1,
            ("not a gradebook database",), gradebook="untouched", change_gradebook=_not_a_database),
    BadCase("gradebook: written by a newer grader", (*GRADE, "wall.jpg"), _put("wall.jpg", _grey_jpeg), 1,
            ("written by a newer grader",), gradebook="untouched", change_gradebook=_newer_schema),
    BadCase("gradebook: disk full while grading", (*GRADE, "sheet.jpg"),
            _put("sheet.jpg", lambda: demo_photo_of("arithmetic-basics")), 1,
            ("the disk is full or failing", "nothing of this write was stored"),
            file_size_limit=65536, max_s=30),
]
CASES_BY_NAME = {case.name: case for case in BAD_CASES}


def template_gradebook(path: Path) -> None:
    """What a school has stored before the bad input comes: 300 students and the demo keys."""
    from grader.demo import load_demo_keys

    gradebook_with_students(path)
    engine = db.open_engine(f"sqlite:///{path}")
    load_demo_keys(engine)
    engine.dispose()


def stored_rows(path: Path) -> dict[str, set[str]] | None:
    """Every row of every table, hashed, read on a read-only connection (None when the file
    cannot be read as a database): what the gradebook holds, whatever its bytes."""
    import sqlite3

    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = [r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            return {t: {_digest(row) for row in connection.execute(f'SELECT * FROM "{t}"')} for t in tables}
        finally:
            connection.close()
    except sqlite3.DatabaseError:
        return None


def _digest(row: tuple) -> str:
    return hashlib.sha256(repr(row).encode()).hexdigest()


def file_bytes(folder: Path) -> dict[str, str]:
    """SHA-256 of the gradebook's files; SQLite's shared-memory index (-shm) and an empty
    write-ahead log hold no data (a reader may make them)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("gradebook.db*"))
            if not p.name.endswith("-shm") and not (p.name.endswith("-wal") and not p.stat().st_size)}


def reset_peak() -> bool:
    """Reset this process's VmHWM to its present size (Linux: /proc/self/clear_refs, "5"), so
    one process can measure case after case; False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as out:
            out.write("5")
        return True
    except OSError:
        return False


# `python -c RUN_CASES JSON`: runs each {"name", "argv", "cwd", "fsize"} through grader.cli.main
# in this one process, its peak reset before each, and prints one JSON line per case.
RUN_CASES = """
import contextlib, io, json, os, resource, signal, sys, time, traceback
from grader.cli import main
from tests.bad_inputs import reset_peak, vm_hwm_mb
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the size limit fails with EFBIG
for case in json.loads(sys.argv[1]):
    os.chdir(case["cwd"])
    reset_peak()
    base = vm_hwm_mb()
    out, err = io.StringIO(), io.StringIO()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    started, cpu = time.perf_counter(), time.process_time()
    try:
        if case["fsize"] is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (case["fsize"], hard))
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(case["argv"])
    except SystemExit as exit:
        status = exit.code
    except BaseException:
        err.write(traceback.format_exc())
        status = "crashed"
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    print(json.dumps({"name": case["name"], "status": status, "output": out.getvalue() + err.getvalue(),
                      "s": time.perf_counter() - started, "cpu_s": time.process_time() - cpu,
                      "mb": vm_hwm_mb(), "base_mb": base}), flush=True)
"""


@dataclass
class Outcome:
    case: BadCase
    status: int | str
    output: str
    mb: int
    grown_mb: int
    s: float  # wall time
    cpu_s: float  # CPU time of the process, all its threads: the work done, whatever the machine's load
    rows_before: dict[str, set[str]] | None
    rows_after: dict[str, set[str]] | None
    bytes_before: dict[str, str]
    bytes_after: dict[str, str]
    check_after: list[str] | None  # PRAGMA quick_check afterwards (None: no readable database)

    def rows_lost(self) -> dict[str, int]:
        return rows_lost(self.rows_before, self.rows_after)


def rows_lost(before: dict[str, set[str]] | None, after: dict[str, set[str]] | None) -> dict[str, int]:
    """Rows stored before that are gone or changed, per table (empty: nothing lost)."""
    before, after = before or {}, after or {}
    return {t: len(rows - after.get(t, set())) for t, rows in before.items() if rows - after.get(t, set())}


def quick_check(path: Path) -> list[str] | None:
    """SQLite's own check of the file's pages and indexes, read-only: ["ok"] when sound, the
    problems found, or None when the file cannot be read as a database at all."""
    import sqlite3

    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return [row[0] for row in connection.execute("PRAGMA quick_check(5)")]
        finally:
            connection.close()
    except sqlite3.DatabaseError:
        return None


def run_bad_cases(cases: list[BadCase], root: Path, python: str, repo: Path,
                  fresh: bool = False) -> dict[str, Outcome]:
    """Each case in its own work folder with a copy of one template gradebook; all of them run
    in one process when its peak can be reset between cases (fast: the model loads once), else,
    or when `fresh` (bench/limits.py: the peak a teacher's command has, imports included), each
    in a fresh one."""
    import json
    import os
    import shutil
    import subprocess

    template = root / "template.db"
    template_gradebook(template)
    specs, folders = [], {}
    for n, case in enumerate(cases):
        folder = root / f"case{n:02d}"
        folder.mkdir()
        shutil.copy(template, folder / "gradebook.db")
        if case.change_gradebook:
            case.change_gradebook(folder / "gradebook.db")
        case.write(folder)
        folders[case.name] = folder
        argv = [a.replace("{db}", f"sqlite:///{folder / 'gradebook.db'}") for a in case.argv]
        fsize = None
        if case.file_size_limit is not None:
            fsize = (folder / "gradebook.db").stat().st_size + case.file_size_limit
        specs.append({"name": case.name, "argv": argv, "cwd": str(folder), "fsize": fsize})
    before = {name: (stored_rows(f / "gradebook.db"), file_bytes(f)) for name, f in folders.items()}
    batches = [specs] if reset_peak() and not fresh else [[spec] for spec in specs]
    results = {}
    for batch in batches:
        done = subprocess.run([python, "-c", RUN_CASES, json.dumps(batch)], capture_output=True, text=True,
                              cwd=repo, env={**os.environ, "PYTHONPATH": str(repo)}, timeout=900)
        for line in done.stdout.splitlines():
            if line.startswith("{"):
                result = json.loads(line)
                results[result["name"]] = result
        if done.returncode != 0:
            raise RuntimeError(f"the case runner died: {done.stderr[-3000:]}")
    outcomes = {}
    for case in cases:
        result, folder = results[case.name], folders[case.name]
        outcomes[case.name] = Outcome(case, result["status"], result["output"], result["mb"],
                                      result["mb"] - result["base_mb"], result["s"], result["cpu_s"],
                                      before[case.name][0], stored_rows(folder / "gradebook.db"),
                                      before[case.name][1], file_bytes(folder), quick_check(folder / "gradebook.db"))
    return outcomes
