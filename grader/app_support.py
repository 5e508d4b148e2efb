"""What the teacher's app needs from the core beyond `store` and `grading`: answer boxes drawn
in their verdict's colour, answer keys built from a form or a teacher's own sheet, and the common
wrong answers of a question. (Uploads are graded by grader.grading, with the photo kept for a
retry and a thumbnail of the page in a grader.files.FileStore.)

No Streamlit here (the pages import this module, not the other way round).
"""

from __future__ import annotations

import json
import math
import secrets
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import cv2
import numpy as np
import yaml
from sqlalchemy.orm import Session

from grader import store
from grader.answer_key import AnswerKey, parse_answer_key
from grader.errors import GraderError
from grader.files import FileStore
from grader.imageio import iter_images
from grader.layout import PAPER_MM, page_size_px
from grader.photo_check import PhotoCheck, check_photo
from grader.vocab import Kind, Mode, Status, Verdict
from grader.worksheet import prompt_fits

NOT_GRADED = "none"  # the colour of a box not graded yet (template editor)

# BGR. Green correct, red incorrect, amber review, grey blank (the app's legend says so).
VERDICT_COLORS: dict[str, tuple[int, int, int]] = {
    Verdict.CORRECT: (60, 160, 40),
    Verdict.PARTIAL: (0, 170, 230),
    Verdict.INCORRECT: (40, 40, 215),
    Verdict.REVIEW: (0, 175, 255),
    Verdict.BLANK: (150, 150, 150),
    NOT_GRADED: (200, 120, 40),
}


def answer_color_name(verdict: str, status: str) -> str:
    """Which colour an answer's box gets: its status decides for review and blank, else the
    verdict (a teacher's override shows as the verdict it set)."""
    if status in (Status.REVIEW, Status.BLANK):
        return str(status)
    return verdict if verdict in VERDICT_COLORS else Verdict.REVIEW


# --- drawing -----------------------------------------------------------------------------------

def draw_boxes(page_bgr: np.ndarray, boxes: Sequence[tuple[float, float, float, float]],
               colors: Sequence[str], labels: Sequence[str] = ()) -> np.ndarray:
    """A copy of the page with each box (x, y, w, h page fractions) outlined in its colour
    (a VERDICT_COLORS name) and labelled; the input stays untouched."""
    out = page_bgr.copy()
    height, width = out.shape[:2]
    thickness = max(2, width // 300)
    for index, (box, color) in enumerate(zip(boxes, colors)):
        x, y, w, h = box
        p0 = (round(x * width), round(y * height))
        p1 = (round((x + w) * width), round((y + h) * height))
        bgr = VERDICT_COLORS.get(color, VERDICT_COLORS[NOT_GRADED])
        overlay = out.copy()
        cv2.rectangle(overlay, p0, p1, bgr, -1)
        out = cv2.addWeighted(overlay, 0.18, out, 0.82, 0)  # a tint keeps the ink readable
        cv2.rectangle(out, p0, p1, bgr, thickness)
        if index < len(labels) and labels[index]:
            cv2.putText(out, str(labels[index]), (p0[0] + thickness + 2, p1[1] - thickness - 2),
                        cv2.FONT_HERSHEY_SIMPLEX, max(0.4, width / 1600), bgr,
                        max(1, thickness // 2), cv2.LINE_AA)
    return out


def annotated_page(page_bgr: np.ndarray, key: AnswerKey, page: int,
                   answers: Iterable[Any]) -> np.ndarray:
    """The registered page with every question's box in the colour of its stored answer
    (objects with question_id, verdict and status, e.g. grader.store.AnswerView)."""
    by_id = {a.question_id: a for a in answers}
    questions = key.questions_on_page(page or 1)
    colors = [answer_color_name(by_id[q.id].verdict, by_id[q.id].status) if q.id in by_id
              else NOT_GRADED for q in questions]
    return draw_boxes(page_bgr, [q.box for q in questions], colors, [q.label for q in questions])


def to_rgb(image_bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)


# --- answer keys from the app ------------------------------------------------------------------

QUESTION_COLUMNS = ("id", "label", "kind", "answers", "points", "prompt", "mode", "threshold",
                    "tolerance")
ROWS_PER_COLUMN, COLUMNS_PER_PAGE = 11, 2
TWO_COLUMN_X, BOX_W, BOX_H = (0.22, 0.70), 0.24, 0.056
ONE_COLUMN_BOX = (0.62, 0.32)  # x, w: the prompt gets the page's width left of the box
# The narrower of the two columns' prompt slots (left of the left box, after the label "22."),
# and the smallest type a prompt may shrink to there: 26 px at 200 dpi, about 9.4 pt.
SLOT_W, PROMPT_MIN_PX = 0.22 - 0.05 - 0.012 - 0.045, 26


def _row_y(row: int) -> float:
    return round(0.1735 + 0.073 * row, 4)


def auto_box(index: int) -> tuple[int, list[float]]:
    """(page, box) for the index-th question of a form-made key of short prompts: two columns
    of eleven boxes per page, spaced like the demo sheets so prompts fit to the left of each box."""
    per_page = ROWS_PER_COLUMN * COLUMNS_PER_PAGE
    page, slot = divmod(index, per_page)
    column, row = divmod(slot, ROWS_PER_COLUMN)
    return page + 1, [TWO_COLUMN_X[column], _row_y(row), BOX_W, BOX_H]


def auto_layout(prompts: Sequence[str], paper: str) -> list[tuple[int, list[float]]]:
    """(page, box) per question: a page in two columns where every prompt on it fits the
    narrow slot in at most two lines of readable type, else a page of one column with the
    prompts the width of the page (a sentence to translate does not fit a two-column slot)."""
    width, height = page_size_px(paper if paper in PAPER_MM else "A4")  # the key check names a bad paper
    slot = (round(SLOT_W * width), round(BOX_H * height))
    per_two, out, page, start = ROWS_PER_COLUMN * COLUMNS_PER_PAGE, [], 1, 0
    while start < len(prompts):
        chunk = prompts[start:start + per_two]
        if all(not p or prompt_fits(p, *slot, PROMPT_MIN_PX) for p in chunk):
            out += [(page, auto_box(i)[1]) for i in range(len(chunk))]
        else:
            chunk = prompts[start:start + ROWS_PER_COLUMN]
            x, w = ONE_COLUMN_BOX
            out += [(page, [x, _row_y(row), w, BOX_H]) for row in range(len(chunk))]
        start += len(chunk)
        page += 1
    return out


def split_answers(cell: Any) -> list[str]:
    """Accepted answers typed in one cell, separated by `|` (commas belong to answers like 1,5)."""
    if cell is None or (isinstance(cell, float) and math.isnan(cell)):
        return []
    return [part.strip() for part in str(cell).split("|") if part.strip()]


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == ""


def _question(row: dict, index: int, page: int | None = None,
              box: Sequence[float] | None = None) -> dict:
    """A question mapping from an edited table row; empty cells take the key defaults, and
    whatever is wrong is left for the key validation to name."""
    auto_page, auto = auto_box(index)
    question: dict[str, Any] = {
        "id": str(row.get("id") or f"q{index + 1}").strip(),
        "label": str(row.get("label") or index + 1).strip(),
        "page": page or auto_page,
        "box": [float(v) for v in (box if box is not None else auto)],
        "kind": str(row.get("kind") or Kind.TEXT).strip(),
        "answers": split_answers(row.get("answers")),
        "points": row.get("points") if not _blank(row.get("points")) else 1,
    }
    if not _blank(row.get("prompt")):
        question["prompt"] = str(row["prompt"])
    match: dict[str, Any] = {"mode": str(row.get("mode") or Mode.AUTO)}
    for name in ("threshold", "tolerance"):
        if not _blank(row.get(name)):
            match[name] = float(row[name])
    question["match"] = match
    return question


def key_yaml_from_form(key_id: str, title: str, paper: str, rows: Sequence[dict]) -> str:
    """Answer-key YAML from the app's form (boxes laid out automatically: `auto_layout`);
    validate it with parse_answer_key, which names any field that is wrong."""
    layout = auto_layout([str(row.get("prompt") or "").strip() for row in rows], paper)
    questions = [_question(row, i, *layout[i]) for i, row in enumerate(rows)]
    pages = max((q["page"] for q in questions), default=1)
    data = {"id": key_id.strip(), "title": title.strip(), "paper": paper, "pages": pages,
            "questions": questions}
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def key_yaml_from_boxes(key_id: str, title: str, paper: str, rows: Sequence[dict],
                        template_paths: Sequence[Path]) -> str:
    """Answer-key YAML for a teacher's own sheet: one question per box row (x, y, w, h page
    fractions, page), the saved blank page images as templates."""
    questions = []
    for i, row in enumerate(rows):
        cells = [row.get(c) for c in ("x", "y", "w", "h")]
        box = [float(v) if v is not None and not _blank(v) else 0.0 for v in cells]
        page = int(row["page"]) if not _blank(row.get("page")) else 1
        questions.append(_question(row, i, page, box))
    data = {"id": key_id.strip(), "title": title.strip(), "paper": paper,
            "pages": len(template_paths), "questions": questions,
            "templates": [str(p) for p in template_paths]}
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def box_rows(boxes: Sequence[tuple[float, float, float, float]], page: int = 1) -> list[dict]:
    """Detected boxes as editable table rows (one question each, in reading order); the
    answers are "?" for the teacher to fill in, as in grader.own_sheet.draft_key."""
    return [{"id": f"q{i + 1}", "label": str(i + 1), "page": page, "x": b[0], "y": b[1],
             "w": b[2], "h": b[3], "kind": str(Kind.TEXT), "answers": "?", "points": 1}
            for i, b in enumerate(boxes)]


def apply_table_edits(rows: Sequence[dict], edits: dict) -> list[dict]:
    """Rows after a Streamlit data editor's edit state ({"edited_rows": {index: {column:
    value}}, "deleted_rows": [index], "added_rows": [{column: value}]}); indices are those of
    `rows`, edits apply before deletions, added rows go at the end."""
    out = [dict(row) for row in rows]
    for index, changes in (edits.get("edited_rows") or {}).items():
        if 0 <= int(index) < len(out):
            out[int(index)].update(changes)
    gone = {int(i) for i in edits.get("deleted_rows") or ()}
    out = [row for i, row in enumerate(out) if i not in gone]
    out.extend(dict(row) for row in edits.get("added_rows") or ())
    return out


def answers_from_lines(rows: Sequence[dict], text: str) -> list[dict]:
    """Rows with their accepted answers taken from pasted lines, one per row in order; an
    empty line (or no line) leaves the row's answers as they are."""
    lines = text.splitlines()
    return [{**row, "answers": lines[i].strip()} if i < len(lines) and lines[i].strip() else
            dict(row) for i, row in enumerate(rows)]


def check_key(yaml_text: str, source: str) -> AnswerKey:
    """parse_answer_key under the app's name for the draft (AnswerKeyInvalid names the field)."""
    return parse_answer_key(yaml_text, source=source)


# --- statistics ---------------------------------------------------------------------------------

@dataclass
class WrongAnswer:
    question_id: str
    text: str
    count: int


HIGHLIGHT_RGB = (230, 30, 30)  # the answer box on the page beside a Review card


def common_wrong_answers(groups: Sequence[store.AnswerGroup], limit: int = 3) -> list[WrongAnswer]:
    """Per question, the most frequent readings scored wrong (answer groups whose every answer
    is incorrect), at most `limit` each."""
    per_question: dict[str, Counter] = {}
    for group in groups:
        if group.verdicts and all(v == Verdict.INCORRECT for v in group.verdicts):
            per_question.setdefault(group.question_id, Counter())[group.text] += group.count
    out: list[WrongAnswer] = []
    for question_id, counter in per_question.items():
        out.extend(WrongAnswer(question_id, text, n) for text, n in counter.most_common(limit))
    return out


def page_with_box(page_bgr: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """The registered page (the kept thumbnail) as RGB with one answer box outlined, so the
    teacher sees where on the page a crop comes from; `box` is (x, y, w, h) as fractions of the
    page, as in the answer key. The outline is thick enough to see on a small picture."""
    height, width = page_bgr.shape[:2]
    x, y, w, h = box
    image = cv2.cvtColor(page_bgr, cv2.COLOR_BGR2RGB)
    thickness = max(2, round(width / 150))
    pad = thickness * 2
    cv2.rectangle(image, (round(x * width) - pad, round(y * height) - pad),
                  (round((x + w) * width) + pad, round((y + h) * height) + pad), HIGHLIGHT_RGB,
                  thickness)
    return image


def wrong_by_question(wrong: Sequence[WrongAnswer]) -> dict[str, list[tuple[str, int]]]:
    """The common wrong answers keyed by question, as export.statistics_csv takes them."""
    out: dict[str, list[tuple[str, int]]] = {}
    for answer in wrong:
        out.setdefault(answer.question_id, []).append((answer.text, answer.count))
    return out


# --- an upload that outlives a refresh -----------------------------------------------------------

@dataclass(frozen=True)
class UploadItem:
    """One file of an upload and where it stands: `graded` (pages stored), `failed` (kept with
    the reason) or `waiting` (not graded yet: the refresh came first)."""

    name: str
    sha256: str
    state: str
    detail: str = ""


def record_upload(files: FileStore, uploads: Sequence[tuple[str, bytes]]) -> str:
    """Keep every file of an upload (named by its SHA-256, as FileStore keeps photos) and a list
    of them under a new token, before any grading: the token in the page's URL then tells a
    reloaded screen which photos this upload holds."""
    items = []
    for name, data in uploads:
        digest = store.photo_hash(data)
        files.save_photo(digest, data)
        items.append({"name": name, "sha256": digest})
    token = secrets.token_hex(6)
    path = files.root / "uploads" / f"{token}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
    return token


def upload_items(files: FileStore, token: str) -> list[tuple[str, str]] | None:
    """(name, sha256) of the upload a token names; None for a token that names none."""
    if not token.isalnum():  # it comes from the URL: never a path
        return None
    path = files.root / "uploads" / f"{token}.json"
    if not path.exists():
        return None
    return [(item["name"], item["sha256"]) for item in json.loads(path.read_text("utf-8"))]


def upload_status(session: Session, assignment_id: str,
                  items: Sequence[tuple[str, str]]) -> list[UploadItem]:
    """Where each file of an upload stands in the gradebook now."""
    out = []
    for name, digest in items:
        pages = store.graded_pages(session, assignment_id, digest)
        failed = store.find_submission(session, assignment_id, digest)
        if pages:
            out.append(UploadItem(name, digest, "graded", f"{len(pages)} page(s) stored"))
        elif failed is not None and failed.status == "failed":
            out.append(UploadItem(name, digest, "failed", failed.error or ""))
        else:
            out.append(UploadItem(name, digest, "waiting", "not graded yet"))
    return out


def check_upload(data: bytes, name: str, expect_markers: bool) -> PhotoCheck | None:
    """The quick photo check of an uploaded file before grading; None for a PDF (a scan, no
    photo to retake). A file that cannot be read is one problem, named as grading would."""
    if data.lstrip()[:5] == b"%PDF-":
        return None
    try:
        _, images = iter_images(data, name)
        return check_photo(next(images), expect_markers)
    except GraderError as error:
        return PhotoCheck((str(error),), 0)
