"""Clean one answer crop for the recogniser: flatten the light, find the ink, drop box borders
and ruled lines, decide blank or not, trim to the ink.

All functions take and return arrays; `clean_answer` composes them. The output `ink` is the
flattened grayscale (dark ink on white), neither binarised nor resized: the recogniser's
`prepare_line(gray, height)` does the resize to the model's input height, so training and
serving share that step.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class PreprocessConfig:
    background_kernel: int = 25  # closing removes strokes thinner than this (px at 200 dpi)
    # Hysteresis below the paper's level, in grey levels or multiples of the crop's noise:
    # a stroke must reach `strong` somewhere; pixels down to `weak` join it.
    strong_contrast: float = 45.0
    strong_sigmas: float = 8.0
    weak_contrast: float = 25.0
    weak_sigmas: float = 4.0
    # A straight run this long (a fraction of the crop's width / height) is a printed line. The
    # vertical one is close to the box height, so a tall, straight "1" is never taken for a line.
    h_line_fraction: float = 0.45
    v_line_fraction: float = 0.7
    border_inset_px: int = 9  # ink must reach this far inside the box to belong to the answer
    min_component_px: int = 6  # smaller specks are noise
    min_ink_px: int = 60  # fewer ink pixels in the box's core: blank
    core_inset_px: int = 8  # the core lies this much further inside than border_inset_px
    min_ink_extent_px: int = 14  # an answer spans at least this many pixels one way or the other
    trim_margin_px: int = 6


DEFAULT_PREPROCESS = PreprocessConfig()


@dataclass
class CleanedAnswer:
    ink: np.ndarray  # uint8 grayscale, dark ink on white, trimmed to the ink plus a margin
    mask: np.ndarray  # bool, the ink pixels of `ink`
    blank: bool
    ink_box: tuple[int, int, int, int] | None  # (x, y, w, h) of the ink in the input crop
    ink_pixels: int


def flatten_illumination(gray: np.ndarray, kernel: int = 25) -> np.ndarray:
    """Divide by the paper's brightness, estimated by a grey closing (which removes the ink and
    keeps shadow edges sharp) on a quarter-size copy: the light varies slowly, so this is
    16x cheaper at no loss."""
    small = cv2.resize(gray, (max(1, gray.shape[1] // 4), max(1, gray.shape[0] // 4)), interpolation=cv2.INTER_AREA)
    k = max(3, kernel // 4) | 1
    background = cv2.morphologyEx(small, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    background = cv2.resize(background, (gray.shape[1], gray.shape[0]), interpolation=cv2.INTER_LINEAR)
    return cv2.divide(gray, np.maximum(background, 1), scale=255)


def remove_lines(mask: np.ndarray, config: PreprocessConfig = DEFAULT_PREPROCESS) -> np.ndarray:
    """Remove long straight horizontal and vertical runs (box borders, ruled lines)."""
    height, width = mask.shape
    binary = mask.astype(np.uint8) * 255
    h_len = max(15, int(width * config.h_line_fraction))
    v_len = max(15, int(height * config.v_line_fraction))
    horizontal = cv2.morphologyEx(binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (h_len, 1)))
    vertical = cv2.morphologyEx(binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, v_len)))
    lines = cv2.dilate(cv2.bitwise_or(horizontal, vertical), np.ones((3, 3), np.uint8))
    return mask & (lines == 0)


def _line_tolerant(mask: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """remove_lines on a slightly thickened mask: a blurred, noisy border breaks into dashes
    that a one-pixel-high run would miss."""
    thick = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    lines = thick & ~remove_lines(thick, config)
    return mask & ~lines


def _union(stats: np.ndarray) -> tuple[int, int, int, int]:
    left, top = stats[:, 0].min(), stats[:, 1].min()
    right, bottom = (stats[:, 0] + stats[:, 2]).max(), (stats[:, 1] + stats[:, 3]).max()
    return int(left), int(top), int(right - left), int(bottom - top)


def _paper_level(flat: np.ndarray, inner: tuple[int, int, int, int]) -> tuple[float, float]:
    """The paper's grey level inside the box and its noise (median, MAD scaled to a sigma)."""
    x0, y0, x1, y1 = inner
    sample = flat[y0:y1:2, x0:x1:2]
    if sample.size == 0:
        sample = flat
    paper = float(np.median(sample))
    noise = 1.4826 * float(np.median(np.abs(sample.astype(np.float32) - paper)))
    return paper, noise


def answer_mask(flat: np.ndarray, inner: tuple[int, int, int, int],
                config: PreprocessConfig = DEFAULT_PREPROCESS) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
    """The answer's ink pixels and their bounding box (x, y, w, h).

    Pixels clearly darker than the paper (flat is locally normalised and the levels follow the
    crop's own noise, so this is an adaptive threshold), minus long straight lines, grouped into
    components. A component is ink of the answer when it has a pixel darker than the strong
    level (hysteresis against noise and soft shadows), reaches inside the box (x0, y0, x1, y1)
    (writing that spills over the border is kept; the neighbours' text and border fragments are
    not) and is not a speck.
    """
    paper, noise = _paper_level(flat, inner)
    strong_level = paper - max(config.strong_contrast, config.strong_sigmas * noise)
    weak_level = paper - max(config.weak_contrast, config.weak_sigmas * noise)
    weak = _line_tolerant(flat < weak_level, config)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(weak.astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros(flat.shape, bool), None
    strong = np.zeros(count, bool)
    strong[labels[flat < strong_level]] = True
    x0, y0, x1, y1 = inner
    inside = np.zeros(count, bool)
    inside[labels[y0:y1, x0:x1].ravel()] = True
    big_enough = stats[:, cv2.CC_STAT_AREA] >= config.min_component_px
    keep = strong & inside & big_enough
    keep[0] = False
    if not keep.any():
        return np.zeros(flat.shape, bool), None
    # Next to the writing: faint dots and accents (the i's dot, a light decimal point) inside
    # the box, and the piece of a stroke beyond the border that removing the border cut off.
    x, y, w, h = _union(stats[keep])
    pad_x, pad_y = max(16, h), max(6, h // 3)
    near = ((stats[:, 0] >= x - pad_x) & (stats[:, 1] >= y - pad_y)
            & (stats[:, 0] + stats[:, 2] <= x + w + pad_x) & (stats[:, 1] + stats[:, 3] <= y + h + pad_y))
    keep |= near & big_enough & (inside | strong)
    keep[0] = False
    kept = stats[keep]
    left, top = kept[:, 0].min(), kept[:, 1].min()
    right = (kept[:, 0] + kept[:, 2]).max()
    bottom = (kept[:, 1] + kept[:, 3]).max()
    return keep[labels], (int(left), int(top), int(right - left), int(bottom - top))


def is_blank(ink_pixels: int, box: tuple[int, int, int, int] | None,
             config: PreprocessConfig = DEFAULT_PREPROCESS) -> bool:
    """Too little ink, or ink in too small a spot, to be an answer (a dot, a speck of dirt)."""
    if box is None:
        return True
    _, _, w, h = box
    return ink_pixels < config.min_ink_px or max(w, h) < config.min_ink_extent_px


def _stretch(flat: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Ink pixels stretched so the darkest stroke is near black; everything else white."""
    out = np.full(flat.shape, 255, np.uint8)
    soft = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)  # keep anti-aliased edges
    values = flat[mask]
    dark = float(np.percentile(values, 5)) if values.size else 0.0
    scale = 255.0 / max(255.0 - dark, 1.0)
    out[soft] = np.clip((flat[soft].astype(np.float32) - dark) * scale, 0, 255).astype(np.uint8)
    return out


def clean_answer(gray: np.ndarray, inner: tuple[int, int, int, int],
                 config: PreprocessConfig = DEFAULT_PREPROCESS) -> CleanedAnswer:
    """The whole cleaning of one crop. `inner` is the box interior (x0, y0, x1, y1) in the crop."""
    flat = flatten_illumination(gray, config.background_kernel)
    mask, box = answer_mask(flat, inner, config)
    ink_pixels = int(np.count_nonzero(mask))
    # Count only the core: what is left of a border after line removal hugs the edges.
    x0, y0, x1, y1 = inner
    c = config.core_inset_px
    core_pixels = int(np.count_nonzero(mask[y0 + c : y1 - c, x0 + c : x1 - c]))
    blank = is_blank(core_pixels, box, config)
    if blank or box is None:
        x0, y0, x1, y1 = inner
        empty = np.full((max(1, y1 - y0), max(1, x1 - x0)), 255, np.uint8)
        return CleanedAnswer(empty, np.zeros(empty.shape, bool), True, box, ink_pixels)
    x, y, w, h = box
    m = config.trim_margin_px
    ys = slice(max(0, y - m), min(gray.shape[0], y + h + m))
    xs = slice(max(0, x - m), min(gray.shape[1], x + w + m))
    ink = _stretch(flat[ys, xs], mask[ys, xs])
    return CleanedAnswer(ink, mask[ys, xs], False, box, ink_pixels)
