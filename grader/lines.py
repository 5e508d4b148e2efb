"""Crops -> lines: the one input preparation shared by training (grader/training) and serving.

A line is what the CRNN reads: `height` rows, ink bright on black paper, width following the
crop's aspect ratio up to `max_width`. The geometry below is the training default; a trained
model records the geometry it was trained with in models/model.json (grader.model_spec), and
the runtime prepares lines from there, as wide as READ_MAX_WIDTH: a line wider than the model
was trained on is read in overlapping windows (window_starts, cut_windows, join_windows).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import cv2
import numpy as np

# Line geometry of training; an exported model carries its own in model.json's `input`.
HEIGHT = 32  # px, the CRNN's input height
MAX_WIDTH = 320  # px; longer crops are squeezed, not cut
# The CRNN's two 2x2 poolings give one output frame per 4 px of width; training pads a batch's
# width to a multiple of 8 (grader/training/train.py).
FRAMES_PER_PIXEL = 0.25
WIDTH_MULTIPLE = 8
NORMALISATION = ("prepare_line: ink 1.0, paper 0.0; contrast stretched between the darkest"
                 " pixel and the 90th percentile (paper); width follows the aspect ratio")

# Serving (grader.recognizer) reads lines of any width up to READ_MAX_WIDTH px (about 120 Latin
# or 60 Chinese characters at 32 px; a longer crop is squeezed to it, which bounds the memory of
# one line). A line no wider than the model's trained width (model.json input.max_width, MAX_WIDTH
# for crnn-4) is read whole; a wider one in windows of that width overlapping by WINDOW_OVERLAP px,
# whose frames are joined where both windows see a gap between characters (join_windows). Training
# keeps MAX_WIDTH: the generated sets are rendered at it (grader/training).
READ_MAX_WIDTH = 2048
WINDOW_OVERLAP = 96  # px; 24 frames, about two characters of context on each side of a join
WINDOW_EDGE = 16  # px at each window edge never used: the model sees only part of a character there

# The runtime pads each line to a multiple of BUCKET px and batches only lines of the same
# padded width (training padded by up to ~24 px); a multiple of WIDTH_MULTIPLE.
BUCKET = 16
# Views of a line that a careful reading scores: (width factor, shear). The line as prepared
# (first), squeezed and stretched in width, and slanted both ways: each view's reading is a
# candidate, and the one the model finds most likely on average over all views wins. Chosen on
# validation crops only (bench/recognizer.py's validation sources; "hard" ones drawn with
# Variation(hand_warp=1)): English exact match with the word list, one view -> these views,
# plain 96.7 -> 97.3 %, hard 87.0 -> 89.8 %; width alone (1, 0.8, 1.25) 97.3 / 88.8 %, five
# widths (0.7-1.4) 97.3 / 89.0 %. Chinese hard 93.0 -> 94.3 %, numbers plain 96.7 -> 98.0 %.
VIEWS = ((1.0, 0.0), (0.8, 0.0), (1.25, 0.0), (1.0, 0.2), (1.0, -0.2))


def prepare_line_u8(gray: np.ndarray, height: int = HEIGHT, max_width: int = MAX_WIDTH) -> np.ndarray:
    """Grayscale crop -> uint8 line of `height` rows, ink bright (255) on black paper (0).

    Contrast is stretched between the darkest ink and the paper level (90th percentile), so
    pencil on grey paper and black pen on white reach the model alike. Width follows the aspect
    ratio, clamped to [height // 2, max_width] (very long crops are squeezed, not cut).
    """
    if gray.ndim == 3:
        gray = cv2.cvtColor(gray, cv2.COLOR_BGR2GRAY)
    g = gray.astype(np.float32)
    lo, hi = float(g.min()), float(np.percentile(g, 90))
    if hi - lo < 16:  # nearly uniform crop: keep its absolute level instead of amplifying noise
        lo, hi = 0.0, 255.0
    ink = np.clip((hi - g) / (hi - lo), 0, 1)
    h, w = ink.shape
    new_w = int(np.clip(round(w * height / max(1, h)), height // 2, max_width))
    interp = cv2.INTER_AREA if h > height else cv2.INTER_LINEAR
    line = cv2.resize(ink, (new_w, height), interpolation=interp)
    return np.clip(line * 255 + 0.5, 0, 255).astype(np.uint8)


def to_float(line_u8: np.ndarray) -> np.ndarray:
    """uint8 line -> float32 model input in 0..1 (the normalisation recorded in model.json)."""
    return line_u8.astype(np.float32) / 255.0


def prepare_line(gray: np.ndarray, height: int = HEIGHT, max_width: int = MAX_WIDTH) -> np.ndarray:
    """Grayscale (or BGR) crop -> float32 (height, width) model input, ink 1, paper 0."""
    return to_float(prepare_line_u8(gray, height, max_width))


def view_line(line: np.ndarray, width: float, shear: float, max_width: int = MAX_WIDTH) -> np.ndarray:
    """A prepared line (ink bright on black) scaled in width by `width` and slanted by `shear`
    (x moves by shear * (y - centre)); the height stays."""
    h, w = line.shape
    if width != 1.0:
        new_w = int(np.clip(round(w * width), h // 2, max_width))
        line = cv2.resize(line, (new_w, h), interpolation=cv2.INTER_AREA if width < 1 else cv2.INTER_LINEAR)
    if shear:
        pad = int(abs(shear) * h) + 1
        padded = cv2.copyMakeBorder(line, 0, 0, pad, pad, cv2.BORDER_CONSTANT, value=0)
        m = np.array([[1, shear, -shear * h / 2], [0, 1, 0]], dtype=np.float32)
        line = cv2.warpAffine(padded, m, (padded.shape[1], h))[:, :max_width]
    return line


def bucket_width(width: int, bucket: int = BUCKET) -> int:
    """The padded width a line of `width` px is batched at."""
    return int(math.ceil(width / bucket) * bucket)


def width_batches(lines: Sequence[np.ndarray], height: int, batch_size: int,
                  bucket: int = BUCKET) -> Iterator[tuple[list[int], np.ndarray]]:
    """(indices, (n, 1, height, padded width) float32 batch) over `lines`, narrowest first.

    A line is batched only with lines of its own padded width: the backward LSTM reads the
    padding too, so a reading must not depend on which other crops happen to share its batch.
    The int8 model's BiLSTM quantises its inputs with ranges pinned at export
    (grader/training/fixed_range.py), so its reading of a crop does not depend on the batch
    either (before the pins, 8 of 656 real held-back crops read differently alone, crnn-9).
    """
    buckets: dict[int, list[int]] = {}
    for i, line in enumerate(lines):
        buckets.setdefault(bucket_width(line.shape[1], bucket), []).append(i)
    for width, members in sorted(buckets.items()):
        for start in range(0, len(members), batch_size):
            idx = members[start:start + batch_size]
            x = np.zeros((len(idx), 1, height, width), np.float32)
            for j, i in enumerate(idx):
                x[j, 0, :, :lines[i].shape[1]] = lines[i]
            yield idx, x


def window_starts(width: int, window: int, overlap: int = WINDOW_OVERLAP, multiple: int = WIDTH_MULTIPLE) -> list[int]:
    """Left edges (px, multiples of `multiple`) of the windows that cover a line `width` px wide:
    one window when the line fits, else windows `window` px wide overlapping by at least
    `overlap` px, the last one flush with the line's end (padded to `multiple`)."""
    padded = int(math.ceil(width / multiple) * multiple)
    if padded <= window:
        return [0]
    stride = max(multiple, (window - overlap) // multiple * multiple)
    starts = list(range(0, padded - window, stride))
    return starts + [padded - window]


def cut_windows(line: np.ndarray, starts: Sequence[int], window: int) -> list[np.ndarray]:
    """The windows of `line` at `starts` (window_starts), each `window` px wide (zero-padded)."""
    h, w = line.shape
    padded = np.zeros((h, max(w, starts[-1] + window)), line.dtype)
    padded[:, :w] = line
    return [padded[:, x:x + window] for x in starts]


def join_windows(logits: Sequence[np.ndarray], starts: Sequence[int], frames_per_pixel: float,
                 edge: int = WINDOW_EDGE, blank: int = 0) -> np.ndarray:
    """One line's frames from its windows' (T, C) logits: each window contributes its frames up to
    the join with the next one. The join is the frame of the overlap, `edge` px away from both
    windows' edges, where the two windows together find a gap between characters most likely (the
    sum of their blank log-probabilities; the CTC alignment puts no character there), nearest the
    middle of the overlap on a tie, so no character is read twice or cut in half."""
    frames = [round(x * frames_per_pixel) for x in starts]
    margin = int(round(edge * frames_per_pixel))
    pieces, begin = [], 0  # begin: first frame of the current window still to take (window's own frame index)
    for i in range(len(logits) - 1):
        left, right = logits[i], logits[i + 1]
        offset = frames[i + 1] - frames[i]  # frame f of the left window is frame f - offset of the right one
        lo, hi = max(offset + margin, begin + 1), len(left) - margin  # candidate joins, left window's frames
        if hi <= lo:  # windows overlapping too little for a choice: join at the end of the left window
            lo, hi = len(left), len(left) + 1
        span = np.arange(lo, hi)
        gap = _blank_log_prob(left, span, blank) + _blank_log_prob(right, span - offset, blank)
        middle = (offset + len(left)) / 2
        cut = int(span[np.lexsort((np.abs(span - middle), -gap))[0]])
        pieces.append(left[begin:min(cut, len(left))])
        begin = cut - offset
    pieces.append(logits[-1][begin:])
    return np.concatenate(pieces, axis=0)


def _blank_log_prob(logits: np.ndarray, frames: np.ndarray, blank: int) -> np.ndarray:
    rows = logits[np.minimum(frames, len(logits) - 1)].astype(np.float64)
    top = rows.max(axis=1)
    return rows[:, blank] - top - np.log(np.exp(rows - top[:, None]).sum(axis=1))
