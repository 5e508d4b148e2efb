"""The class roster: parsing the school's CSV and matching a handwritten name to a student.

Matching is deliberately cautious: a name read from the name box is assigned to a student only
when one roster name is clearly the best (score above a floor AND ahead of the runner-up by a
gap); otherwise the page stays unassigned for the teacher. A wrong student, silently, is the
worst outcome a gradebook can have.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
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
    email: str = ""  # optional; Google Classroom matches imported grades by it


@dataclass(frozen=True)
class NameMatchConfig:
    """min_score: rapidfuzz similarity (0-100) the best roster name needs; min_gap: its lead over
    the second best (two students with similar names are never guessed between)."""

    min_score: float = 80.0
    min_gap: float = 20.0


_ID_COLUMNS = ("id", "student_id", "student id", "student", "学号")
_NAME_COLUMNS = ("name", "student_name", "student name", "姓名")
_CLASS_COLUMNS = ("class", "class_name", "class name", "form", "group", "班级")
_EMAIL_COLUMNS = ("email", "e-mail", "email address", "mail", "邮箱", "电子邮箱")


def read_roster(data: bytes, source: str = "roster") -> list[RosterEntry]:
    """Students from the bytes of a roster file as spreadsheets save it: the encoding and the
    separator are found by decode_roster and sniff_delimiter, then parse_roster reads it."""
    text = decode_roster(data, source)
    return parse_roster(text, source, sniff_delimiter(text))


# Excel on Chinese Windows saves "CSV" in the ANSI code page (GBK, read as its superset
# GB18030); "Unicode text" is UTF-16 with a BOM; "CSV UTF-8" has a UTF-8 BOM.
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))
_SAVE_AS = "save it from the spreadsheet as “CSV UTF-8” and import that file"


def decode_roster(data: bytes, source: str = "roster") -> str:
    """The text of a roster file: UTF-8 (with or without BOM), UTF-16/32 (BOM, or UTF-16 told
    by its zero bytes), GBK/GB18030 or Windows-1252. A legacy code page is accepted only when
    the text reads as names in it (Chinese characters for GBK, Latin letters for 1252);
    otherwise GraderError says why, so names are never imported as replacement characters."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _decode(data, encoding, source)
    if b"\x00" in data:
        even, odd = data[0::2].count(0), data[1::2].count(0)
        if max(even, odd) < len(data) // 4:
            raise GraderError(f"{source}: not a text file (it holds zero bytes); {_SAVE_AS}")
        return _decode(data, "utf-16-le" if odd > even else "utf-16-be", source)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    for encoding, plausible in (("gb18030", _reads_as_chinese), ("cp1252", _reads_as_latin)):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if plausible(text):
            return text
    raise GraderError(f"{source}: the file's encoding could not be established (it is not "
                      "UTF-8 or UTF-16, and read as GBK or Windows-1252 it does not give "
                      f"names); {_SAVE_AS}")


def _decode(data: bytes, encoding: str, source: str) -> str:
    try:
        return data.decode(encoding).lstrip("\ufeff")
    except UnicodeDecodeError as error:
        raise GraderError(f"{source}: broken {encoding.upper()} text at byte {error.start}; "
                          f"{_SAVE_AS}") from None


def _is_han(char: str) -> bool:
    return "\u3400" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff"


def _reads_as_chinese(text: str) -> bool:
    """GB18030 decodes almost any bytes, so a Latin-1 "é" before a letter also becomes a
    character: accept only Chinese characters, CJK punctuation and full-width forms, most of
    them in GB2312 (the common characters real names use)."""
    wide = [c for c in text if ord(c) > 0x7F]
    allowed = all(_is_han(c) or "\u3000" <= c <= "\u303f" or "\uff00" <= c <= "\uffef"
                  or c == "\u00b7" for c in wide)
    common = sum(_encodes(c, "gb2312") for c in wide)
    return allowed and common * 2 >= len(wide)


def _reads_as_latin(text: str) -> bool:
    return all(c.isalpha() or c in "’‘“”–—·" for c in text if ord(c) > 0x7F)


def _encodes(char: str, encoding: str) -> bool:
    try:
        char.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


def sniff_delimiter(text: str) -> str:
    """Comma, semicolon (Excel where the decimal mark is a comma) or tab (Excel's "Unicode
    text"): whichever splits the header line into the most cells."""
    header = next((line for line in text.lstrip("\ufeff").splitlines() if line.strip()), "")
    return max((",", ";", "\t"), key=header.count)


def parse_roster(text: str, source: str = "roster", delimiter: str = ",") -> list[RosterEntry]:
    """Students from CSV text with a header row: an id column (id, student_id, student) and
    optional name, class and e-mail columns. Raises GraderError naming the line at fault."""
    rows = _csv_rows(text, source, delimiter)
    if not rows:
        raise GraderError(f"{source}: the roster is empty; expected a CSV with an 'id' column")
    header = [cell.strip().lower() for cell in rows[0]]

    def column(names: Sequence[str]) -> int | None:
        return next((header.index(n) for n in names if n in header), None)

    id_col = column(_ID_COLUMNS)
    if id_col is None:
        raise GraderError(f"{source}: expected a header row with an 'id' column (and optionally "
                          f"'name' and 'class'), got {rows[0]}")
    name_col, class_col, email_col = column(_NAME_COLUMNS), column(_CLASS_COLUMNS), column(_EMAIL_COLUMNS)
    entries: dict[str, RosterEntry] = {}
    for line, row in enumerate(rows[1:], start=2):
        student_id = _cell(row, id_col)
        if not student_id:
            raise GraderError(f"{source}, line {line}: the student id is empty")
        if student_id in entries:
            raise GraderError(f"{source}, line {line}: student id {student_id!r} appears twice")
        entries[student_id] = RosterEntry(student_id, _cell(row, name_col), _cell(row, class_col),
                                          _cell(row, email_col))
    if not entries:
        raise GraderError(f"{source}: the roster has a header but no students")
    return list(entries.values())


def _csv_rows(text: str, source: str, delimiter: str) -> list[list[str]]:
    """The non-blank rows. The csv module refuses a cell over 128 K characters (a file that is
    not a class list, or a quote never closed) with csv.Error: named here, line included."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=delimiter)
    rows: list[list[str]] = []
    start = 1  # the line the row being read began on (where the reader stopped can be far on)
    try:
        for row in reader:
            rows += [row] if any(cell.strip() for cell in row) else []
            start = reader.line_num + 1
    except csv.Error as error:
        raise GraderError(f"{source}, line {start}: not a roster CSV ({error}; a quote left open?); "
                          "expected one student per line") from None
    return rows


def _cell(row: Sequence[str], column: int | None) -> str:
    return row[column].strip() if column is not None and column < len(row) else ""


def _name_key(name: str) -> str:
    return normalize(name, Kind.TEXT, NormalizeOptions(case_sensitive=False, ignore_spaces=False))


@dataclass(frozen=True)
class NameMatch:
    student_id: str | None  # None: no safe match; leave the page for the teacher
    score: float
    reason: str


_HAN_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff·]+")


def name_forms(name: str) -> list[str]:
    """The forms a roster name can be written in: the whole name, and for a name held in two
    scripts ("Chen Jing 陈静") its Chinese part and its Latin part alone, so a name box read
    `陈静` or `Chen Jing` finds it."""
    whole = _name_key(name)
    han = _name_key("".join(_HAN_RUN.findall(name)))
    latin = _name_key(_HAN_RUN.sub(" ", name))
    return list(dict.fromkeys(f for f in (whole, han, latin) if f))


def match_name(read_name: str, roster: Sequence[RosterEntry],
               config: NameMatchConfig = NameMatchConfig()) -> NameMatch:
    """The roster student whose name the handwriting reads as, only when unambiguous."""
    key = _name_key(read_name)
    if not key:
        return NameMatch(None, 0.0, "the name box is empty")
    named = [(entry, name_forms(entry.name)) for entry in roster if entry.name.strip()]
    if not named:
        return NameMatch(None, 0.0, "the roster has no names")
    # ratio for spelling slips, token_sort_ratio for "Wang Wei" written as "Wei Wang"; no
    # partial matching, which would let "Li" match "Lily".
    scored = sorted(((max(max(fuzz.ratio(key, form), fuzz.token_sort_ratio(key, form))
                          for form in forms), entry.id)
                     for entry, forms in named), reverse=True)
    best_score, best_id = scored[0]
    runner_up = scored[1][0] if len(scored) > 1 else 0.0
    if best_score < config.min_score:
        return NameMatch(None, best_score, f"no roster name is close to {read_name!r}")
    if best_score - runner_up < config.min_gap:
        return NameMatch(None, best_score, f"{read_name!r} matches more than one roster name")
    return NameMatch(best_id, best_score, "name box")
