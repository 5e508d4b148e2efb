"""Generators of bad input for tests/test_bad_input.py and bench/limits.py (issue 22): keys,
PDFs and PNG headers that claim more than they hold, and gradebooks to damage."""

from __future__ import annotations

import io
import random
import struct
import zlib
from pathlib import Path

import pypdfium2 as pdfium

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
