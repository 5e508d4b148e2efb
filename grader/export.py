"""The gradebook as CSV, for spreadsheets and school systems.

UTF-8 with a byte-order mark, so spreadsheet programs show Chinese names correctly; every text
cell starting with `=`, `+`, `-`, `@` (or a tab / carriage return) is prefixed with `'` so a
spreadsheet shows it as text instead of running it as a formula (OWASP "CSV injection").
Numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Iterable, Sequence

from grader.store import Gradebook

BOM = "\ufeff"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A CSV cell that no spreadsheet will evaluate: text starting like a formula gets a `'`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int):
        return value
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return BOM + buffer.getvalue()


def gradebook_csv(book: Gradebook) -> str:
    """One row per student: id, name, class, a column per question (its id), total, max,
    percent, and how many answers still wait for review. Missing pages give empty cells."""
    header = ["student_id", "name", "class", *[qid for qid, _, _ in book.questions],
              "total", "max", "percent", "to_review"]
    rows = ([r.student_id, r.name, r.class_name, *[r.scores[qid] for qid, _, _ in book.questions],
             r.total, r.max_points, r.percent, r.to_review] for r in book.rows)
    return _csv_text(header, rows)


LONG_COLUMNS = ("student_id", "name", "class", "page", "question", "text", "confidence",
                "verdict", "points", "max", "status", "margin", "overridden", "photo")


def answers_csv(rows: Sequence[dict]) -> str:
    """One row per answer (`store.answer_rows`): who, which question, what was read, verdict,
    points, status, margin, whether the teacher overrode it, and the photo."""
    return _csv_text(LONG_COLUMNS, ([row.get(c) for c in LONG_COLUMNS] for row in rows))


def write_csv(text: str, path: str | Path) -> Path:
    """Write CSV text (BOM included) as UTF-8; the file is replaced only once complete."""
    path = Path(path)
    temporary = path.with_name(path.name + ".partial")
    temporary.write_text(text, encoding="utf-8", newline="")
    temporary.replace(path)
    return path
