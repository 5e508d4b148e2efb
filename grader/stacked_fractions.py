"""Stacked fractions -> inline `a/b`: a numerator over a bar over a denominator is rewritten as
the one-line fraction the model was trained to read (number and math crops only: characters
such as 元 have the same two-storey layout).

(Named for what it rewrites; `grader/fractions.py` would shadow the standard library's
`fractions` for any script run from inside grader/.)
"""

from __future__ import annotations

import cv2
import numpy as np

# Kinds whose crops may hold a stacked fraction; in others a bar between two blocks of ink is
# more likely part of a character.
STACKABLE_KINDS = ("number", "math")
# A bar spans FULL_BAR of the ink's width, or SHORT_BAR when the parts above and below are apart.
FULL_BAR = 0.7
SHORT_BAR = 0.5


def _longest_runs(mask: np.ndarray) -> np.ndarray:
    """Per row, the longest run of consecutive ink pixels (no Python loop over rows: at each
    pixel, the run so far is its column less the column of the row's last gap before it)."""
    if mask.shape[1] == 0:
        return np.zeros(mask.shape[0], dtype=int)
    columns = np.arange(1, mask.shape[1] + 1)
    last_gap = np.maximum.accumulate(np.where(mask, 0, columns), axis=1)
    return (columns - last_gap).max(axis=1).astype(int)


def find_fraction_bar(gray: np.ndarray) -> tuple[int, int] | None:
    """Rows (top, bottom) of the bar of a stacked fraction (numerator over denominator), or None.

    A bar is the row band with the longest horizontal ink run, spanning >= 70 % of the ink
    width, thin, with a block of ink above and below (each >= 25 % of the ink height and
    >= 8 % of its width), and not crossed by a single stroke on both sides, which is how
    characters such as 干 or 士 differ from a fraction. A slanted hand shifts the numerator
    and the denominator apart, so a bar may span only half the ink width when the numerator
    and the denominator are separate pieces of ink (in a 5 or a crossed 7 one stroke joins the
    parts above and below the bar).
    """
    if gray.ndim == 3:
        gray = cv2.cvtColor(gray, cv2.COLOR_BGR2GRAY)
    _, otsu = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    if float(np.percentile(gray, 90)) - float(gray.min()) < 40:
        return None
    mask = _drop_border_fragments(cv2.morphologyEx(otsu, cv2.MORPH_CLOSE, np.ones((1, 3), np.uint8))) > 0
    ys, xs = np.nonzero(mask)
    if len(ys) < 30:
        return None
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    h, w = y1 - y0, x1 - x0
    if h < 0.5 * w or h < 20:
        return None
    m = mask[y0:y1, x0:x1]
    runs = _longest_runs(m)
    rows = np.flatnonzero(runs >= SHORT_BAR * w)
    if len(rows) == 0:
        return None
    # contiguous bands of long rows, longest run first (a stray border piece may be longer)
    bands = np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1)
    for band in sorted(bands, key=lambda b: -int(runs[b].max())):
        top, bottom = int(band[0]), int(band[-1])
        while top > 0 and runs[top - 1] >= 0.25 * w:  # the bar's tilted or ragged edges
            top -= 1
        while bottom < h - 1 and runs[bottom + 1] >= 0.25 * w:
            bottom += 1
        if bottom - top + 1 > 0.2 * h or not _is_fraction_split(m, top, bottom, h, w):
            continue
        if runs[top:bottom + 1].max() >= FULL_BAR * w or _parts_apart(m, top, bottom):
            return int(y0 + top), int(y0 + bottom)
    return None


def _drop_border_fragments(mask: np.ndarray, edge: int = 3) -> np.ndarray:
    """Remove pieces of the answer box's border left at the crop's edges: long straight runs
    within `edge` pixels of the left/right edge (vertical) or the top/bottom edge (horizontal).
    Left in, a vertical piece widens the ink box and, where the bar touches it, looks like a
    stroke crossing the bar, which is how characters such as 干 are told from fractions. The
    runs must span a quarter of the crop; digits rarely come within `edge` pixels of it."""
    H, W = mask.shape
    vertical = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((max(8, H // 4), 1), np.uint8))
    vertical[:, edge:W - edge] = 0
    horizontal = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((1, max(8, W // 4)), np.uint8))
    horizontal[edge:H - edge, :] = 0
    return cv2.bitwise_and(mask, cv2.bitwise_not(cv2.bitwise_or(vertical, horizontal)))


def _is_fraction_split(m: np.ndarray, top: int, bottom: int, h: int, w: int) -> bool:
    above, below = m[:top], m[bottom + 1:]
    for part in (above, below):
        rows_with_ink = np.flatnonzero(part.any(axis=1))
        cols_with_ink = np.flatnonzero(part.any(axis=0))
        if len(rows_with_ink) == 0 or np.ptp(rows_with_ink) + 1 < 0.25 * h:
            return False
        if np.ptp(cols_with_ink) + 1 < 0.08 * w:
            return False
    # one stroke crossing the bar (ink right above and right below at the same x): a character
    edge_above = cv2.dilate(above[-1:].astype(np.uint8), np.ones((1, 3), np.uint8))[0] > 0
    return not bool((edge_above & below[0]).any())


def _parts_apart(m: np.ndarray, top: int, bottom: int) -> bool:
    """Whether no piece of ink (8-connected, the bar included) reaches both above and below
    the band: a numerator and a denominator apart, not one character's strokes."""
    _, labels = cv2.connectedComponents(m.astype(np.uint8), connectivity=8)
    return not (set(np.unique(labels[:top])) & set(np.unique(labels[bottom + 1:]))) - {0}


def _trim_to_ink(gray: np.ndarray, margin: int = 3) -> np.ndarray:
    _, mask = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return gray
    return gray[max(0, ys.min() - margin):ys.max() + 1 + margin, max(0, xs.min() - margin):xs.max() + 1 + margin]


def unstack_fraction(gray: np.ndarray) -> np.ndarray:
    """A stacked fraction becomes the inline `a/b` the model reads; other crops pass unchanged."""
    if gray.ndim == 3:
        gray = cv2.cvtColor(gray, cv2.COLOR_BGR2GRAY)
    bar = find_fraction_bar(gray)
    if bar is None:
        return gray
    top, bottom = _trim_to_ink(gray[:bar[0]]), _trim_to_ink(gray[bar[1] + 1:])
    h = max(top.shape[0], bottom.shape[0])
    parts = [cv2.resize(p, (max(1, round(p.shape[1] * h / p.shape[0])), h)) for p in (top, bottom)]
    paper = int(np.percentile(gray, 90))
    ink = int(gray.min())
    slash_w = max(8, h // 2)  # clearly slanted: a steep slash reads as 1
    thick = max(1, min(bar[1] - bar[0] + 1, h // 10))  # the band includes the ragged edges
    slash = np.full((h, slash_w), paper, np.uint8)
    cv2.line(slash, (slash_w - 2, 1), (1, h - 2), ink, thick, cv2.LINE_AA)
    gap = np.full((h, max(2, h // 10)), paper, np.uint8)
    return np.hstack([parts[0], gap, slash, gap, parts[1]])


def unstack_for_kind(gray: np.ndarray, kind: str | None) -> np.ndarray:
    """The crop as the model should read it for a question of `kind`."""
    return unstack_fraction(gray) if kind in STACKABLE_KINDS else gray
