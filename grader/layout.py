"""Geometry every printed sheet shares: paper sizes at 200 dpi, the four ArUco markers, the QR.

The worksheet renderer draws from these numbers and the registration maps photos back onto
them, so they live in one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

import numpy as np

DPI = 200
PAPER_MM: dict[str, tuple[float, float]] = {"A4": (210.0, 297.0), "Letter": (215.9, 279.4)}

MARKER_DICT = "DICT_4X4_50"
MARKER_IDS = (0, 1, 2, 3)  # top-left, top-right, bottom-right, bottom-left
MARKER_PX = 108  # 6 modules of 18 px: 13.7 mm at 200 dpi
MARKER_MARGIN_PX = 64  # 8 mm from the paper edge, inside any printer's unprintable border
QR_PX = 280  # QR code side including its quiet zone: big enough for a 2-megapixel photo
QR_GAP_PX = 24  # between the QR and the top-right marker
HEADER_BOTTOM_PX = 330  # title, name box and QR live above this line


def page_size_px(paper: str) -> tuple[int, int]:
    """(width, height) of the page in pixels at DPI."""
    width_mm, height_mm = PAPER_MM[paper]
    return round(width_mm / 25.4 * DPI), round(height_mm / 25.4 * DPI)


def marker_origins_px(paper: str) -> dict[int, tuple[int, int]]:
    """Top-left pixel of each marker (its black border included) on the template page."""
    width, height = page_size_px(paper)
    far_x = width - MARKER_MARGIN_PX - MARKER_PX
    far_y = height - MARKER_MARGIN_PX - MARKER_PX
    return {0: (MARKER_MARGIN_PX, MARKER_MARGIN_PX), 1: (far_x, MARKER_MARGIN_PX),
            2: (far_x, far_y), 3: (MARKER_MARGIN_PX, far_y)}


def marker_corners_px(paper: str) -> dict[int, np.ndarray]:
    """The four corners of each marker in ArUco order (TL, TR, BR, BL), float32 (4, 2)."""
    corners = {}
    for marker_id, (x, y) in marker_origins_px(paper).items():
        s = MARKER_PX
        corners[marker_id] = np.array([[x, y], [x + s, y], [x + s, y + s], [x, y + s]], np.float32)
    return corners


def qr_rect_px(paper: str) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the QR code on the template page: left of the top-right marker."""
    width, _ = page_size_px(paper)
    x = width - MARKER_MARGIN_PX - MARKER_PX - QR_GAP_PX - QR_PX
    return x, MARKER_MARGIN_PX - 20, QR_PX, QR_PX


def name_box_px(paper: str) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the name box's border on the template page, right of the top-left
    marker and left of the QR code; the printed "Name" label sits in its top-left corner."""
    left = MARKER_MARGIN_PX + MARKER_PX + 36
    top, bottom = MARKER_MARGIN_PX + 104, MARKER_MARGIN_PX + 190
    right = qr_rect_px(paper)[0] - 30
    return left, top, right - left, bottom - top


# --- QR payload ---------------------------------------------------------------------------------

QR_PREFIX = "grader:v1"
_SAFE = " -_.@"


@dataclass(frozen=True)
class QrInfo:
    assignment: str
    page: int
    student: str | None = None


def qr_payload(assignment: str, page: int, student: str | None = None) -> str:
    """`grader:v1;a=<assignment>;p=<page>[;s=<student>]`; values are percent-escaped."""
    text = f"{QR_PREFIX};a={quote(assignment, safe=_SAFE)};p={page}"
    if student:
        text += f";s={quote(student, safe=_SAFE)}"
    return text


_PAYLOAD = re.compile(r"^grader:v1;a=([^;]+);p=(\d+)(?:;s=([^;]*))?$")


def parse_qr_payload(text: str) -> QrInfo | None:
    """The QrInfo of one of our codes, or None for any other QR content."""
    match = _PAYLOAD.match(text.strip())
    if not match:
        return None
    student = unquote(match.group(3)) if match.group(3) else None
    return QrInfo(unquote(match.group(1)), int(match.group(2)), student)
