"""Photo-crop degradation: an ink alpha line -> a grayscale crop as the paper side's cleaner
(`grader.preprocess`, `grader.crops`) hands it to the recogniser.

Geometry first: slant, rotation, slight perspective, (training) a bent hand, stroke width; then
paper: ink tone (black, blue, pencil) on tinted paper with uneven light and shadow, leftover
fragments of box borders / ruled lines / grid at the margins, blur, noise, JPEG artefacts, trimmed
to the ink plus a small margin.
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def _warp(alpha: np.ndarray, rng: np.random.Generator, strong_slant: float) -> np.ndarray:
    h, w = alpha.shape
    pad = int(0.35 * h + 0.06 * w) + 4  # room for shear, rotation and scale about the centre
    a = cv2.copyMakeBorder(alpha, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    H, W = a.shape
    # Most writers slant a little; some a lot (a right-hander's fast hand, a left-hander's
    # back-slant). Strong slant makes '/' look like '1', so the model must see it.
    # strong_slant is the share of such crops; at 0 no random number is drawn, so the crops are
    # those of the generator before strong slant (the bench's sets stay the same).
    strong = strong_slant > 0 and rng.random() < strong_slant
    shear = rng.uniform(-0.6, 0.6) if strong else rng.normal(0, 0.15)
    ang = math.radians(rng.normal(0, 1.5))
    cx, cy = W / 2, H / 2
    m = np.array([[1, -shear, shear * cy], [0, 1, 0], [0, 0, 1]], np.float64)
    r = cv2.getRotationMatrix2D((cx, cy), math.degrees(ang), rng.uniform(0.95, 1.05))
    m = np.vstack([r, [0, 0, 1]]) @ m
    if rng.random() < 0.3:  # slight perspective: the phone was not parallel to the page
        d = 0.03 * min(H, W)
        src_pts = np.array([[0, 0], [W, 0], [W, H], [0, H]], np.float32)
        dst_pts = src_pts + rng.uniform(-d, d, (4, 2)).astype(np.float32)
        m = cv2.getPerspectiveTransform(src_pts, dst_pts) @ m
    return cv2.warpPerspective(a, m, (W, H), flags=cv2.INTER_LINEAR, borderValue=0)


def _hand_warp(alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The same letters as another writer would make them: bent by a smooth random displacement
    field (elastic distortion, as Simard, Steinkraus and Platt used on MNIST in 2003), written
    wider or narrower, with a heavier or lighter pen. A font is one hand; this makes each crop
    drawn in it a slightly different one."""
    h, w = alpha.shape
    amp = h * rng.uniform(0.015, 0.045)  # largest shift of a stroke, in pixels
    pad = int(math.ceil(3 * amp)) + 2
    a = cv2.copyMakeBorder(alpha, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    H, W = a.shape
    # Random shifts on a coarse grid, smoothly interpolated: a bend spans a fraction of the line
    # height, so a loop grows or shrinks and a stroke curves, but letters keep their identity.
    cell = max(6.0, h * rng.uniform(0.3, 0.6))
    gh, gw = int(H / cell) + 2, int(W / cell) + 2
    dx = cv2.resize(rng.normal(0, 1, (gh, gw)).astype(np.float32), (W, H), interpolation=cv2.INTER_CUBIC)
    dy = cv2.resize(rng.normal(0, 1, (gh, gw)).astype(np.float32), (W, H), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    a = cv2.remap(a, xx + dx * amp, yy + dy * amp, cv2.INTER_LINEAR, borderValue=0)
    a = cv2.resize(a, (max(1, int(round(W * rng.uniform(0.78, 1.25)))), H), interpolation=cv2.INTER_LINEAR)
    pen = rng.random()
    if pen < 0.2:  # a heavier pen: grow strokes by 1-2.5 % of the line height on each side
        r = max(1, int(round(h * rng.uniform(0.01, 0.025))))
        a = cv2.dilate(a, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    elif pen < 0.35:  # a finer one: thin, but never erase, a stroke
        a = np.minimum(a, cv2.erode(a, np.ones((3, 3), np.uint8)) * 0.6 + a * 0.4)
    return a


def _stroke_width(alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    r = rng.random()
    if r < 0.2:
        return cv2.dilate(alpha, np.ones((2, 2), np.uint8))
    if r < 0.3:
        return cv2.erode(alpha, np.ones((2, 2), np.uint8)) * 0.5 + alpha * 0.5
    return alpha


def _trim(alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    ys, xs = np.nonzero(alpha > 0.2)
    if len(ys) == 0:
        return alpha
    m = [int(rng.integers(1, 8)) for _ in range(4)]
    y0, y1 = max(0, ys.min() - m[0]), ys.max() + 1 + m[1]
    x0, x1 = max(0, xs.min() - m[2]), xs.max() + 1 + m[3]
    a = alpha[y0:y1, x0:x1]
    return cv2.copyMakeBorder(a, max(0, m[0] - ys.min()), max(0, y1 - alpha.shape[0]),
                              max(0, m[2] - xs.min()), max(0, x1 - alpha.shape[1]),
                              cv2.BORDER_CONSTANT, value=0)


def _fragments(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Leftovers the paper side's line removal may miss: box edges, ruled lines, grid dots."""
    frag = np.zeros((h, w), np.float32)
    r = rng.random()
    t = int(rng.integers(1, 3))
    val = float(rng.uniform(0.25, 0.8))
    if r < 0.12:  # a piece of the box border along one edge
        side = int(rng.integers(4))
        off = int(rng.integers(0, 3))
        if side == 0:
            cv2.line(frag, (int(rng.integers(0, w // 2)), off), (int(rng.integers(w // 2, w)), off), val, t)
        elif side == 1:
            y = h - 1 - off
            cv2.line(frag, (int(rng.integers(0, w // 2)), y), (int(rng.integers(w // 2, w)), y), val, t)
        elif side == 2:
            cv2.line(frag, (off, int(rng.integers(0, h // 2))), (off, int(rng.integers(h // 2, h))), val, t)
        else:
            x = w - 1 - off
            cv2.line(frag, (x, int(rng.integers(0, h // 2))), (x, int(rng.integers(h // 2, h))), val, t)
    elif r < 0.2:  # faint ruled line under the writing
        y = int(h * rng.uniform(0.75, 0.98))
        cv2.line(frag, (0, y), (w, y + int(rng.integers(-1, 2))), val * 0.5, 1)
    elif r < 0.25:  # grid dots
        step = int(rng.integers(8, 16))
        frag[::step, ::2] = val * 0.3
    elif r < 0.3:  # speck of dirt / eraser residue
        for _ in range(int(rng.integers(1, 4))):
            cv2.circle(frag, (int(rng.integers(w)), int(rng.integers(h))), int(rng.integers(1, 2)), val * 0.6, -1)
    return frag


def photo_crop(alpha: np.ndarray, rng: np.random.Generator, strong_slant: float = 0.25,
               hand_warp: float = 0.0) -> np.ndarray:
    """Ink alpha line -> grayscale crop as the paper side's cleaner would hand it over.
    strong_slant: share of crops sheared by up to +-0.6 instead of the usual sd 0.15.
    hand_warp: share of crops whose letters are bent into another hand (_hand_warp); at 0 no
    random number is drawn for it, so the bench's sets stay those of earlier runs."""
    bent = hand_warp > 0 and rng.random() < hand_warp
    if bent:
        alpha = _hand_warp(alpha, rng)
    alpha = _warp(alpha, rng, strong_slant)
    if not bent:  # a bent hand has its pen weight already: one pen-weight step, not two
        alpha = _stroke_width(alpha, rng)
    alpha = _trim(alpha, rng)
    h, w = alpha.shape
    # Final crop resolution: the pen line is 24-70 px high in a 200 dpi registered page.
    target_h = int(rng.integers(22, 72))
    scale = target_h / max(1, h)
    nw, nh = max(4, int(round(w * scale))), max(4, int(round(h * scale)))
    alpha = cv2.resize(alpha, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    alpha = np.maximum(alpha, _fragments(nh, nw, rng))
    ink = rng.choice([rng.uniform(0.75, 0.97), rng.uniform(0.45, 0.75), rng.uniform(0.3, 0.55)],
                     p=[0.6, 0.25, 0.15])  # black pen, blue pen in gray, pencil
    paper = rng.uniform(185, 250)
    yy, xx = np.mgrid[0:nh, 0:nw].astype(np.float32)
    light = 1 + rng.uniform(-0.12, 0.12) * (xx / nw - 0.5) + rng.uniform(-0.12, 0.12) * (yy / nh - 0.5)
    if rng.random() < 0.15:  # a soft shadow across part of the crop
        edge = rng.uniform(0.2, 0.8) * nw
        light *= 1 - rng.uniform(0.1, 0.3) / (1 + np.exp(-(xx - edge) / max(2.0, nw * 0.05)))
    if rng.random() < 0.5:
        alpha = alpha * (1 - rng.uniform(0, 0.25) * rng.random(alpha.shape).astype(np.float32))
    img = paper * light * (1 - ink * np.clip(alpha, 0, 1))
    if rng.random() < 0.5:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.0))
    img = img + rng.normal(0, rng.uniform(0, 6), img.shape)
    img = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.4:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 90))])
        img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    return img
