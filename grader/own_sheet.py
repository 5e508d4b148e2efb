"""A teacher's own worksheet becomes a template: straighten a blank page, find its answer boxes,
draft a key, save it.

A blank photo, scan or PDF page is straightened onto the paper size (`page_from_image`),
`detect_answer_boxes` proposes the rectangular answer boxes in reading order, `draft_key` turns
them into an answer key draft for the teacher to complete and `save_template_key` writes the
finished key with its template pages. Authoring sits above registration (it reuses the page
outline finder), while `grader.template` sits below it: keeping the two apart is what keeps
registration -> template free of a circle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from grader import layout
from grader.answer_key import parse_answer_key
from grader.errors import AlignmentFailed, GraderError
from grader.layout import page_size_px
from grader.registration import find_page_outline

Box = tuple[float, float, float, float]


def page_from_image(image_bgr: np.ndarray, paper: str = "A4") -> np.ndarray:
    """A blank sheet (photo, scan or PDF page) straightened onto the paper's 200 dpi page size.

    A photo is cut out along the page outline; a scan that already is the page is resized.
    """
    width, height = page_size_px(paper)
    try:
        outline = find_page_outline(image_bgr)
    except AlignmentFailed:
        outline = None
    if outline is not None:
        area = cv2.contourArea(outline.corners.astype(np.float32))
        covers_all = area > 0.97 * image_bgr.shape[0] * image_bgr.shape[1]
        if not covers_all:
            target = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
            corners = outline.corners.astype(np.float32)
            # Portrait page: start at the corner that makes the top edge the shorter one.
            if np.linalg.norm(corners[1] - corners[0]) > np.linalg.norm(corners[3] - corners[0]):
                corners = np.roll(corners, -1, axis=0)
            matrix = cv2.getPerspectiveTransform(corners, target)
            return cv2.warpPerspective(image_bgr, matrix, (width, height), flags=cv2.INTER_LINEAR,
                                       borderValue=(255, 255, 255))
    h, w = image_bgr.shape[:2]
    if w > h:
        image_bgr = cv2.rotate(image_bgr, cv2.ROTATE_90_CLOCKWISE)
    return cv2.resize(image_bgr, (width, height), interpolation=cv2.INTER_AREA)


def _rectangles(binary: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Axis-aligned hollow rectangles (x, y, w, h) among the contours of a binary ink mask."""
    height, width = binary.shape
    page_area = width * height
    contours, _ = cv2.findContours(binary, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    found = []
    for contour in contours:
        x, y, w, h = cv2.boundingRect(contour)
        area = w * h
        if not 0.0015 * page_area <= area <= 0.3 * page_area or min(w, h) < 25:
            continue
        if cv2.contourArea(contour) < 0.85 * area:  # not a rectangle (a letter, a blob)
            continue
        approx = cv2.approxPolyDP(contour, 0.02 * cv2.arcLength(contour, True), True)
        if len(approx) != 4:
            continue
        inner = binary[y + h // 4 : y + 3 * h // 4, x + w // 4 : x + 3 * w // 4]
        if inner.size and inner.mean() > 0.5 * 255:  # filled square (a marker), not a box
            continue
        found.append((x, y, w, h))
    return found


def _dedupe(rects: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """The inner and outer contour of one drawn border are one box: keep the outer."""
    rects = sorted(rects, key=lambda r: r[2] * r[3], reverse=True)
    kept: list[tuple[int, int, int, int]] = []
    for r in rects:
        rx, ry, rw, rh = r
        duplicate = False
        for k in kept:
            kx, ky, kw, kh = k
            ix = max(0, min(rx + rw, kx + kw) - max(rx, kx))
            iy = max(0, min(ry + rh, ky + kh) - max(ry, ky))
            if ix * iy > 0.8 * rw * rh:
                duplicate = True
                break
        if not duplicate:
            kept.append(r)
    return kept


def _reading_order(rects: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """Top to bottom in rows (boxes whose centres are within half a box height), left to right."""
    rects = sorted(rects, key=lambda r: r[1] + r[3] / 2)
    rows: list[list[tuple[int, int, int, int]]] = []
    for r in rects:
        centre = r[1] + r[3] / 2
        last = rows[-1] if rows else []
        if last and abs(centre - np.mean([q[1] + q[3] / 2 for q in last])) < 0.5 * np.median([q[3] for q in last]):
            rows[-1].append(r)
        else:
            rows.append([r])
    return [r for row in rows for r in sorted(row, key=lambda q: q[0])]


def detect_answer_boxes(template_bgr: np.ndarray) -> list[Box]:
    """Rectangular answer boxes on a blank page as (x, y, w, h) page fractions, in reading order."""
    gray = cv2.cvtColor(template_bgr, cv2.COLOR_BGR2GRAY) if template_bgr.ndim == 3 else template_bgr
    height, width = gray.shape
    block = max(15, (min(width, height) // 40) | 1)
    binary = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block, 15)
    # Close small gaps in printed or photographed borders so each box is one contour.
    binary = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    furniture = _printed_furniture(gray)
    rects = _reading_order([r for r in _dedupe(_rectangles(binary))
                            if not any(_covered(r, f) for f in furniture)])
    return [(round(x / width, 4), round(y / height, 4), round(w / width, 4), round(h / height, 4))
            for x, y, w, h in rects]


def _printed_furniture(gray: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Rectangles (px) of what is printed for the grader, never answered in: ArUco markers and
    QR codes wherever they are, and, on a sheet laid out like ours (our markers or a QR found), the name
    box of that layout. A marker's or the name box's border would otherwise pass for a box."""
    height, width = gray.shape
    dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, layout.MARKER_DICT))
    corners, ids, _ = cv2.aruco.ArucoDetector(dictionary).detectMarkers(gray)
    rects = [cv2.boundingRect(c.reshape(-1, 2).astype(np.float32)) for c in corners]
    found, points = cv2.QRCodeDetector().detect(gray)
    if found and points is not None:
        rects.append(cv2.boundingRect(points.reshape(-1, 2).astype(np.float32)))
    ours = found or (ids is not None and bool(set(ids.ravel().tolist()) & set(layout.MARKER_IDS)))
    if ours:
        paper = min(("A4", "Letter"), key=lambda p: abs(_aspect(p) - height / width))
        scale = width / page_size_px(paper)[0]
        x, y, w, h = (round(v * scale) for v in layout.name_box_px(paper))
        rects.append((x, y, w, h))
    return [(int(x), int(y), int(w), int(h)) for x, y, w, h in rects]


def _aspect(paper: str) -> float:
    page_width, page_height = page_size_px(paper)
    return page_height / page_width


def _covered(box: tuple[int, int, int, int], other: tuple[int, int, int, int]) -> bool:
    """Whether a third or more of `box` lies on `other`."""
    x0, y0 = max(box[0], other[0]), max(box[1], other[1])
    x1 = min(box[0] + box[2], other[0] + other[2])
    y1 = min(box[1] + box[3], other[1] + other[3])
    return max(0, x1 - x0) * max(0, y1 - y0) * 3 >= box[2] * box[3]


def draft_key(pages: list[np.ndarray], key_id: str, title: str, paper: str = "A4",
              kind: str = "text") -> dict[str, Any]:
    """An answer key draft (a dict ready for YAML) with one question per detected box.

    `pages` are straightened template pages (see page_from_image). Answers are left as "?" for the
    teacher to fill in; `templates` must be set to the saved page images' file names.
    """
    questions: list[dict[str, Any]] = []
    for page_number, page in enumerate(pages, start=1):
        for box in detect_answer_boxes(page):
            n = len(questions) + 1
            questions.append({"id": f"q{n}", "label": str(n), "page": page_number, "box": list(box),
                              "kind": kind, "answers": ["?"], "points": 1})
    if not questions:
        raise GraderError("no rectangular answer boxes were found on the sheet; draw the boxes by hand in the app")
    return {"id": key_id, "title": title, "paper": paper, "pages": len(pages), "questions": questions,
            "templates": [f"{key_id}.page-{i}.png" for i in range(1, len(pages) + 1)]}


def save_template_key(folder: Path | str, draft: dict[str, Any], pages: list[np.ndarray]) -> Path:
    """Write a teacher's key (YAML) and its template pages (PNG, named as in draft["templates"])
    into `folder`; returns the YAML path. The key is validated first, so nothing half-valid is
    written (AnswerKeyInvalid says what to fix, e.g. answers still "?")."""
    folder = Path(folder)
    text = yaml.safe_dump(draft, allow_unicode=True, sort_keys=False)
    parse_answer_key(text, f"{draft.get('id', 'new key')}.yaml")
    if "?" in {a for q in draft.get("questions", []) for a in q.get("answers", [])}:
        raise GraderError("some questions still have the placeholder answer '?'; fill in the accepted answers first")
    folder.mkdir(parents=True, exist_ok=True)
    for name, page in zip(draft["templates"], pages):
        if not cv2.imwrite(str(folder / name), page):
            raise GraderError(f"could not write the template image {folder / name}")
    path = folder / f"{draft['id']}.yaml"
    path.write_text(text, encoding="utf-8")
    return path
