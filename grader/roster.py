"""The class roster: parsing the school's CSV and matching a handwritten name to a student.

Matching is deliberately cautious: a name read from the name box is assigned to a student only
when one roster name is clearly the best (score above a floor AND ahead of the runner-up by a
gap); otherwise the page stays unassigned for the teacher. A wrong student, silently, is the
worst outcome a gradebook can have.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Sequence

from rapidfuzz import fuzz

from grader.errors import GraderError
from grader.normalize import NormalizeOptions, normalize
from grader.vocab import Kind


@dataclass(frozen=True)
class RosterEntry:
    id: str
    name: str = ""
    class_name: str = ""


@dataclass(frozen=True)
class NameMatchConfig:
    """min_score: rapidfuzz similarity (0-100) the best roster name needs; min_gap: its lead over
    the second best (two students with similar names are never guessed between)."""

    min_score: float = 80.0
    min_gap: float = 20.0


_ID_COLUMNS = ("id", "student_id", "student id", "student", "学号")
_NAME_COLUMNS = ("name", "student_name", "student name", "姓名")
_CLASS_COLUMNS = ("class", "class_name", "class name", "form", "group", "班级")


def parse_roster(text: str, source: str = "roster") -> list[RosterEntry]:
    """Students from CSV text with a header row: an id column (id, student_id, student) and
    optional name and class columns. Raises GraderError naming the line at fault."""
    rows = [row for row in csv.reader(io.StringIO(text.lstrip("\ufeff")))
            if any(cell.strip() for cell in row)]
    if not rows:
        raise GraderError(f"{source}: the roster is empty; expected a CSV with an 'id' column")
    header = [cell.strip().lower() for cell in rows[0]]

    def column(names: Sequence[str]) -> int | None:
        return next((header.index(n) for n in names if n in header), None)

    id_col = column(_ID_COLUMNS)
    if id_col is None:
        raise GraderError(f"{source}: expected a header row with an 'id' column (and optionally "
                          f"'name' and 'class'), got {rows[0]}")
    name_col, class_col = column(_NAME_COLUMNS), column(_CLASS_COLUMNS)
    entries: dict[str, RosterEntry] = {}
    for line, row in enumerate(rows[1:], start=2):
        student_id = _cell(row, id_col)
        if not student_id:
            raise GraderError(f"{source}, line {line}: the student id is empty")
        if student_id in entries:
            raise GraderError(f"{source}, line {line}: student id {student_id!r} appears twice")
        entries[student_id] = RosterEntry(student_id, _cell(row, name_col), _cell(row, class_col))
    if not entries:
        raise GraderError(f"{source}: the roster has a header but no students")
    return list(entries.values())


def _cell(row: Sequence[str], column: int | None) -> str:
    return row[column].strip() if column is not None and column < len(row) else ""


def _name_key(name: str) -> str:
    return normalize(name, Kind.TEXT, NormalizeOptions(case_sensitive=False, ignore_spaces=False))


@dataclass(frozen=True)
class NameMatch:
    student_id: str | None  # None: no safe match; leave the page for the teacher
    score: float
    reason: str


def match_name(read_name: str, roster: Sequence[RosterEntry],
               config: NameMatchConfig = NameMatchConfig()) -> NameMatch:
    """The roster student whose name the handwriting reads as, only when unambiguous."""
    key = _name_key(read_name)
    if not key:
        return NameMatch(None, 0.0, "the name box is empty")
    named = [(entry, _name_key(entry.name)) for entry in roster if entry.name.strip()]
    if not named:
        return NameMatch(None, 0.0, "the roster has no names")
    # ratio for spelling slips, token_sort_ratio for "Wang Wei" written as "Wei Wang"; no
    # partial matching, which would let "Li" match "Lily".
    scored = sorted(((max(fuzz.ratio(key, name), fuzz.token_sort_ratio(key, name)), entry.id)
                     for entry, name in named), reverse=True)
    best_score, best_id = scored[0]
    runner_up = scored[1][0] if len(scored) > 1 else 0.0
    if best_score < config.min_score:
        return NameMatch(None, best_score, f"no roster name is close to {read_name!r}")
    if best_score - runner_up < config.min_gap:
        return NameMatch(None, best_score, f"{read_name!r} matches more than one roster name")
    return NameMatch(best_id, best_score, "name box")
