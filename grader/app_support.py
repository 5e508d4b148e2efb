"""What the teacher's app needs from the core beyond `store`: uploads graded into the gradebook
with a thumbnail of the registered page, failed photos kept for retry, answer boxes drawn in
their verdict's colour, answer keys built from a form or a teacher's own sheet, and the common
wrong answers of a question.

No Streamlit here (the pages import this module, not the other way round). Files the gradebook
rows refer to (uploaded photos kept for retry, page thumbnails, template images of teachers' own
sheets) live in a `FileStore` folder beside the SQLite database.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any, Iterable, Sequence

import cv2
import numpy as np
import yaml
from sqlalchemy.engine import Engine, make_url

from grader import db, store
from grader.answer_key import AnswerKey, parse_answer_key
from grader.paths import cache_dir
from grader.roster import RosterEntry

THUMB_WIDTH = 720  # px; enough to see each box's colour and the handwriting on a laptop screen

# BGR. Green correct, red incorrect, amber review, grey blank (the app's legend says so).
VERDICT_COLORS: dict[str, tuple[int, int, int]] = {
    "correct": (60, 160, 40),
    "partial": (0, 170, 230),
    "incorrect": (40, 40, 215),
    "review": (0, 175, 255),
    "blank": (150, 150, 150),
    "none": (200, 120, 40),  # a box not graded yet (template editor)
}


def answer_color_name(verdict: str, status: str) -> str:
    """Which colour an answer's box gets: its status decides for review and blank, else the
    verdict (a teacher's override shows as the verdict it set)."""
    if status in ("review", "blank"):
        return status
    return verdict if verdict in VERDICT_COLORS else "review"


# --- files beside the database -----------------------------------------------------------------

class FileStore:
    """Uploaded photos (kept for retry), registered-page thumbnails and template images, named
    by the photo's SHA-256 so they follow the gradebook rows without a schema change."""

    def __init__(self, root: Path):
        self.root = Path(root)

    @classmethod
    def for_engine(cls, engine: Engine) -> "FileStore":
        """`<db>-files/` beside an SQLite file; for a server database a folder in the cache."""
        url = make_url(str(engine.url))
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            path = Path(url.database).expanduser().resolve()
            return cls(path.with_name(path.stem + "-files"))
        digest = sha256(db.describe(str(engine.url)).encode()).hexdigest()[:12]
        return cls(cache_dir() / "files" / digest)

    def _path(self, folder: str, name: str) -> Path:
        path = self.root / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def save_photo(self, digest: str, data: bytes) -> None:
        path = self._path("photos", digest)
        if not path.exists():
            path.write_bytes(data)

    def photo(self, digest: str) -> bytes | None:
        path = self.root / "photos" / digest
        return path.read_bytes() if path.exists() else None

    def save_thumbnail(self, digest: str, source_page: int, page_bgr: np.ndarray) -> None:
        scale = THUMB_WIDTH / page_bgr.shape[1]
        small = cv2.resize(page_bgr, (THUMB_WIDTH, round(page_bgr.shape[0] * scale)),
                           interpolation=cv2.INTER_AREA)
        ok, buffer = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 85])
        if ok:
            self._path("thumbnails", f"{digest}-{source_page}.jpg").write_bytes(buffer.tobytes())

    def thumbnail(self, digest: str, source_page: int) -> np.ndarray | None:
        path = self.root / "thumbnails" / f"{digest}-{source_page}.jpg"
        if not path.exists():
            return None
        return cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_COLOR)

    def save_template(self, key_id: str, page: int, page_bgr: np.ndarray) -> Path:
        path = self._path("templates", f"{key_id}.page-{page}.png")
        cv2.imwrite(str(path), page_bgr)
        return path


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
        bgr = VERDICT_COLORS.get(color, VERDICT_COLORS["none"])
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
    (objects with question_id, verdict and status, e.g. grader.orm.Answer)."""
    by_id = {a.question_id: a for a in answers}
    questions = key.questions_on_page(page or 1)
    colors = [answer_color_name(by_id[q.id].verdict, by_id[q.id].status) if q.id in by_id
              else "none" for q in questions]
    return draw_boxes(page_bgr, [q.box for q in questions], colors, [q.label for q in questions])


def to_rgb(image_bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)


# --- grading uploads -----------------------------------------------------------------------------

@dataclass
class UploadContext:
    """What every upload of one grading batch is graded against (loaded once per batch)."""

    key: AnswerKey
    key_version_id: int
    roster: list[RosterEntry]


def prepare_upload(engine: Engine, assignment_id: str) -> UploadContext:
    with db.read_session(engine) as session:
        key, version = store.load_key(session, assignment_id)
        return UploadContext(key, version.id, store.roster_entries(session))


@dataclass
class PageResult:
    """One page of an uploaded file: stored (submission id) or failed (the reason)."""

    label: str
    photo_sha256: str
    source_page: int
    submission_id: int | None = None
    error: str | None = None
    already_graded: bool = False


def grade_upload(engine: Engine, files: FileStore, context: UploadContext, data: bytes,
                 name: str, recognizer) -> list[PageResult]:
    """Grade an uploaded photo or PDF into the gradebook, one write transaction per page.

    The pages are graded by `batch.grade_pages`, the code the `grade` command and the API use.
    A page already graded (same bytes, same PDF page) is not graded again. A page that fails is
    recorded with its reason and the file is kept in `files` so it can be retried.
    """
    from grader.batch import grade_pages, stored_pages

    digest = store.photo_hash(data)
    with db.read_session(engine) as session:
        stored = {s.source_page: s.id for s in stored_pages(session, context.key.id, digest)}
    outcomes = grade_pages(data, name, context.key, recognizer, context.roster,
                           skip=frozenset(stored), keep_page=True)
    return [_store_page(engine, files, context, data, digest, outcome, stored)
            for outcome in outcomes]


def _store_page(engine: Engine, files: FileStore, context: UploadContext, data: bytes,
                digest: str, outcome, stored: dict[int, int]) -> PageResult:
    from grader.orm import KeyVersion

    label, index = outcome.label, outcome.source_page
    if outcome.skipped:
        return PageResult(label, digest, index, stored[index], already_graded=True)
    if outcome.error is not None:
        return _record_failure(engine, files, context, data, digest, index, label, outcome.error)
    files.save_thumbnail(digest, index, outcome.graded.page_image)
    with db.write_session(engine) as session:
        version = session.get(KeyVersion, context.key_version_id)
        submission, _ = store.save_graded_page(session, outcome.graded, version, digest, index,
                                               label)
        return PageResult(label, digest, index, submission.id)


def _record_failure(engine: Engine, files: FileStore, context: UploadContext, data: bytes,
                    digest: str, index: int, label: str, error: str) -> PageResult:
    from grader.orm import KeyVersion

    files.save_photo(digest, data)
    with db.write_session(engine) as session:
        version = session.get(KeyVersion, context.key_version_id)
        store.record_failed_photo(session, context.key.id, digest, error, index, label, version)
    return PageResult(label, digest, index, error=error)


def retry_failed(engine: Engine, files: FileStore, assignment_id: str,
                 recognizer) -> list[PageResult]:
    """Grade every kept failed photo of the assignment again (e.g. after a key or model fix)."""
    with db.read_session(engine) as session:
        failed = [(s.photo_sha256, s.photo_name) for s in
                  store.failed_submissions(session, assignment_id)]
    context = prepare_upload(engine, assignment_id)
    results: list[PageResult] = []
    seen: set[str] = set()
    for digest, label in failed:
        if digest in seen:
            continue
        seen.add(digest)
        data = files.photo(digest)
        if data is None:
            results.append(PageResult(label, digest, 0, error="the photo was not kept; "
                                                              "upload it again"))
            continue
        results.extend(grade_upload(engine, files, context, data, label.split("#page=")[0],
                                    recognizer))
    return results


# --- answer keys from the app ------------------------------------------------------------------

QUESTION_COLUMNS = ("id", "label", "kind", "answers", "points", "prompt", "mode", "threshold",
                    "tolerance")
ROWS_PER_COLUMN, COLUMNS_PER_PAGE = 11, 2


def auto_box(index: int) -> tuple[int, list[float]]:
    """(page, box) for the index-th question of a form-made key: two columns of eleven boxes
    per page, spaced like the demo sheets so prompts fit to the left of each box."""
    per_page = ROWS_PER_COLUMN * COLUMNS_PER_PAGE
    page, slot = divmod(index, per_page)
    column, row = divmod(slot, ROWS_PER_COLUMN)
    x = (0.22, 0.70)[column]
    return page + 1, [x, round(0.1735 + 0.073 * row, 4), 0.24, 0.056]


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
        "kind": str(row.get("kind") or "text").strip(),
        "answers": split_answers(row.get("answers")),
        "points": row.get("points") if not _blank(row.get("points")) else 1,
    }
    if not _blank(row.get("prompt")):
        question["prompt"] = str(row["prompt"])
    match: dict[str, Any] = {"mode": str(row.get("mode") or "auto")}
    for name in ("threshold", "tolerance"):
        if not _blank(row.get(name)):
            match[name] = float(row[name])
    question["match"] = match
    return question


def key_yaml_from_form(key_id: str, title: str, paper: str, rows: Sequence[dict]) -> str:
    """Answer-key YAML from the app's form (boxes laid out automatically); validate it with
    parse_answer_key, which names any field that is wrong."""
    questions = [_question(row, i) for i, row in enumerate(rows)]
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
        box = [row.get(c) for c in ("x", "y", "w", "h")]
        box = [float(v) if not _blank(v) else 0.0 for v in box]
        page = int(row["page"]) if not _blank(row.get("page")) else 1
        questions.append(_question(row, i, page, box))
    data = {"id": key_id.strip(), "title": title.strip(), "paper": paper,
            "pages": len(template_paths), "questions": questions,
            "templates": [str(p) for p in template_paths]}
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def box_rows(boxes: Sequence[tuple[float, float, float, float]], page: int = 1) -> list[dict]:
    """Detected boxes as editable table rows (one question each, in reading order); the
    answers are "?" for the teacher to fill in, as in grader.template.draft_key."""
    return [{"id": f"q{i + 1}", "label": str(i + 1), "page": page, "x": b[0], "y": b[1],
             "w": b[2], "h": b[3], "kind": "text", "answers": "?", "points": 1}
            for i, b in enumerate(boxes)]


def check_key(yaml_text: str, source: str) -> AnswerKey:
    """parse_answer_key under the app's name for the draft (AnswerKeyInvalid names the field)."""
    return parse_answer_key(yaml_text, source=source)


def sample_crops(session, answer_ids: Sequence[int], limit: int = 3) -> list[bytes]:
    """Colour crops of the first few answers of a group, so the teacher sees what one click
    will grade."""
    from grader.orm import Answer

    crops = []
    for answer_id in answer_ids[:limit]:
        answer = session.get(Answer, answer_id)
        if answer is not None and answer.crop_png:
            crops.append(answer.crop_png)
    return crops


# --- statistics ---------------------------------------------------------------------------------

@dataclass
class WrongAnswer:
    question_id: str
    text: str
    count: int


def common_wrong_answers(groups: Sequence[store.AnswerGroup], limit: int = 3) -> list[WrongAnswer]:
    """Per question, the most frequent readings scored wrong (answer groups whose every answer
    is incorrect), at most `limit` each."""
    per_question: dict[str, Counter] = {}
    for group in groups:
        if group.verdicts and all(v == "incorrect" for v in group.verdicts):
            per_question.setdefault(group.question_id, Counter())[group.text] += group.count
    out = []
    for question_id, counter in per_question.items():
        out.extend(WrongAnswer(question_id, text, n) for text, n in counter.most_common(limit))
    return out
