"""The gradebook as files a spreadsheet or a school system reads: CSV, Canvas and Google
Classroom import CSVs, and XLSX.

CSV is UTF-8 with a byte-order mark, so spreadsheet programs show Chinese names correctly; every
text cell starting with `=`, `+`, `-`, `@` (or a tab / carriage return) is prefixed with `'` so a
spreadsheet shows it as text instead of running it as a formula (OWASP "CSV injection").
Numbers stay numbers. In XLSX every text cell is written as a string cell, which no spreadsheet
evaluates, so names keep their look (no `'`).

    gradebook_csv / unassigned_csv / answers_csv     one assignment (students, stray pages, answers)
    term_csv                                         students by assignments, percent or points
    canvas_csv / classroom_csv                       the import layouts of Canvas and Classroom
    gradebook_xlsx / term_xlsx                       the same tables as workbooks
    statistics_csv                                   item analysis and common wrong answers

A missing student's cells are empty in every format (a school system reads empty as "not handed
in", never as 0); the status column (ours) says `missing`.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from openpyxl import Workbook
from openpyxl.styles import Font

from grader.errors import GraderError
from grader.item_analysis import ClassStats
from grader.store import Gradebook, TermGradebook, TermRow

BOM = "\ufeff"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
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


def gradebook_table(book: Gradebook) -> tuple[list[str], list[list[Any]]]:
    """One row per roster student: id, name, class, a column per question (its id), total, max,
    percent, answers still in review and the status (missing / incomplete / in review /
    graded). A page not handed in gives empty cells; a missing student's total is empty."""
    header = ["student_id", "name", "class", *[qid for qid, _, _ in book.questions],
              "total", "max", "percent", "to_review", "status"]
    rows = [[r.student_id, r.name, r.class_name, *[r.scores[qid] for qid, _, _ in book.questions],
             None if r.missing else r.total, r.max_points, None if r.missing else r.percent,
             r.to_review, r.status] for r in book.rows]
    return header, rows


def gradebook_csv(book: Gradebook) -> str:
    return _csv_text(*gradebook_table(book))


UNASSIGNED_COLUMNS = ("page_id", "photo", "page", "name_as_read", "total", "max", "to_review")


def unassigned_table(book: Gradebook) -> tuple[list[str], list[list[Any]]]:
    """Pages matched to no student: never in a student's row, listed for the teacher to assign."""
    return list(UNASSIGNED_COLUMNS), [[p.submission_id, p.photo_name, p.page, p.name_text, p.total,
                                       p.max_points, p.to_review] for p in book.unassigned]


def unassigned_csv(book: Gradebook) -> str:
    return _csv_text(*unassigned_table(book))


LONG_COLUMNS = ("student_id", "name", "class", "page", "question", "text", "confidence",
                "verdict", "points", "max", "status", "margin", "overridden", "grader_points",
                "reason", "by", "when", "photo")


def answers_csv(rows: Sequence[dict]) -> str:
    """One row per answer (`store.answer_rows`): who, which question, what was read, verdict,
    points, status, margin; for a teacher's override the grader's own points before it, the
    reason, who and when (UTC); and the photo."""
    return _csv_text(LONG_COLUMNS, ([row.get(c) for c in LONG_COLUMNS] for row in rows))


STATISTICS_COLUMNS = ("question", "label", "max", "students", "facility", "discrimination",
                      "item_rest", "mean_percent", "median_percent", "common_wrong_answers")


def statistics_csv(stats: ClassStats, wrong: Mapping[str, Sequence[tuple[str, int]]]) -> str:
    """One row per question: its facility, upper-lower discrimination and item-rest correlation
    over the students analysed (grader.item_analysis), the class's mean and median percent
    (the same on every row, so the file stands alone), and its most common wrong answers as
    `answer (count)` joined by `; `."""
    rows = ([i.question_id, i.label, i.max_points, i.students, i.facility, i.discrimination,
             i.item_rest, stats.mean_percent, stats.median_percent,
             "; ".join(f"{text} ({count})" for text, count in wrong.get(i.question_id, ()))]
            for i in stats.items)
    return _csv_text(STATISTICS_COLUMNS, rows)


# --- the term: students by assignments ----------------------------------------------------------

TERM_MODES = ("percent", "points")


def _check_mode(mode: str) -> None:
    if mode not in TERM_MODES:
        raise GraderError(f"the term gradebook shows 'percent' or 'points', not {mode!r}")


def _term_cell(row: TermRow, assignment_id: str, mode: str) -> Any:
    cell = row.cells[assignment_id]
    if cell.status == "":
        return None  # not an assignment of this student's class
    if cell.points is None:
        return "missing"
    return cell.percent if mode == "percent" else cell.points


def term_table(term: TermGradebook, mode: str = "percent") -> tuple[list[str], list[list[Any]]]:
    """One row per student, a column per assignment (percent or points, `missing` where no page
    was handed in, empty where the assignment is not the student's class's), then the points
    over the term (a missing assignment counts 0 of its maximum), their maximum, the percent and
    how many assignments are missing."""
    _check_mode(mode)
    unit = "%" if mode == "percent" else "points"
    header = ["student_id", "name", "class",
              *[f"{title} ({aid}) [{unit}]" for aid, title, _ in term.assignments],
              "total", "max", "percent", "missing"]
    rows = [[r.student_id, r.name, r.class_name,
             *[_term_cell(r, aid, mode) for aid, _, _ in term.assignments],
             r.total, r.max_points, r.percent, r.missing] for r in term.rows]
    return header, rows


def term_csv(term: TermGradebook, mode: str = "percent") -> str:
    return _csv_text(*term_table(term, mode))


# --- school systems' import layouts -------------------------------------------------------------

# Canvas's gradebook import takes the layout of its own gradebook export: identity columns
# Student, ID, SIS User ID, SIS Login ID, Section, then one column per assignment headed by its
# name (a name Canvas does not know becomes a new assignment), a "Points Possible" row under the
# header, and the score in points; an empty cell leaves the grade ungraded.
CANVAS_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")


def canvas_csv(term: TermGradebook) -> str:
    """The Canvas gradebook import CSV: our student id as SIS User ID, the e-mail (when the
    roster has one) as SIS Login ID, the class as Section, points per assignment."""
    header = [*CANVAS_IDENTITY, *[title for _, title, _ in term.assignments]]
    possible = ["    Points Possible", "", "", "", "", *[m for _, _, m in term.assignments]]
    rows = [[r.name, "", r.student_id, r.email, r.class_name,
             *[r.cells[aid].points for aid, _, _ in term.assignments]] for r in term.rows]
    return _csv_text(header, [possible, *rows])


# Google Classroom imports grades into an assignment from a sheet or CSV by the students' e-mail
# addresses: an e-mail column, the names (shown, not matched), and a grade column per assignment.
CLASSROOM_IDENTITY = ("Email Address", "First Name", "Last Name")


def split_name(name: str) -> tuple[str, str]:
    """(first, last) of a roster name: the last word is the surname of "Ana Lopez"; a Chinese
    name written without a space, like 陈静, starts with the surname (one character)."""
    parts = name.split()
    if len(parts) > 1:
        return " ".join(parts[:-1]), parts[-1]
    if name and ord(name[0]) >= 0x2E80 and len(name) > 1:
        return name[1:], name[0]
    return name, ""


def classroom_csv(term: TermGradebook) -> str:
    """The Google Classroom grade import CSV: e-mail, first and last name, points per
    assignment (empty where none was handed in)."""
    header = [*CLASSROOM_IDENTITY, *[title for _, title, _ in term.assignments]]
    rows = [[r.email, *split_name(r.name), *[r.cells[aid].points for aid, _, _ in term.assignments]]
            for r in term.rows]
    return _csv_text(header, rows)


def without_email(term: TermGradebook) -> list[str]:
    """Students Google Classroom cannot match (no e-mail on the roster), by name."""
    return [r.name or r.student_id for r in term.rows if not r.email]


# --- XLSX ---------------------------------------------------------------------------------------

def _sheet(workbook: Workbook, title: str, header: Sequence[str], rows: Iterable[Sequence[Any]],
           first: bool = False) -> None:
    sheet = workbook.active if first else workbook.create_sheet()
    assert sheet is not None
    sheet.title = title
    sheet.append(list(header))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([None if v is None else v for v in row])
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # a string cell, never a formula, whatever it starts with
    sheet.freeze_panes = "D2"


def _xlsx_bytes(workbook: Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def gradebook_xlsx(book: Gradebook) -> bytes:
    """The gradebook (sheet "Gradebook") and the pages matched to no student (sheet
    "Unassigned pages") as an XLSX workbook."""
    workbook = Workbook()
    _sheet(workbook, "Gradebook", *gradebook_table(book), first=True)
    _sheet(workbook, "Unassigned pages", *unassigned_table(book))
    return _xlsx_bytes(workbook)


def term_xlsx(term: TermGradebook, mode: str = "percent") -> bytes:
    workbook = Workbook()
    _sheet(workbook, "Term", *term_table(term, mode), first=True)
    return _xlsx_bytes(workbook)


def write_csv(text: str, path: str | Path) -> Path:
    """Write CSV text (BOM included) as UTF-8; the file is replaced only once complete."""
    return write_bytes(text.encode("utf-8"), path)


def write_bytes(data: bytes, path: str | Path) -> Path:
    """Write a file (CSV, XLSX, PDF); the file is replaced only once complete."""
    path = Path(path)
    temporary = path.with_name(path.name + ".partial")
    temporary.write_bytes(data)
    temporary.replace(path)
    return path
