"""Handwriting recogniser runtime: crops -> readings through the ONNX CRNN in models/.

`prepare_line` is the one preprocessing shared by training (grader/training) and serving.
"""

from __future__ import annotations

import cv2
import numpy as np


def prepare_line_u8(gray: np.ndarray, height: int = 32, max_width: int = 320) -> np.ndarray:
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


def prepare_line(gray: np.ndarray, height: int = 32, max_width: int = 320) -> np.ndarray:
    """Grayscale (or BGR) crop -> float32 (height, width) model input, ink 1, paper 0."""
    return to_float(prepare_line_u8(gray, height, max_width))
