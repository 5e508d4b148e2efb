"""Synthetic test data: handwriting in the answer boxes, then a phone photo of the sheet.

Shared by the tests, the benches and the app's demo. Only non-reserved fonts are used: dkg
handwriting, Comic Neue and subsets of LXGW WenKai, which come with the project (grader.fonts);
the @fontsource fonts reserved for evaluation never appear here. Everything is deterministic given
the numpy Generator.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from grader import fonts
from grader.answer_key import AnswerKey

LATIN_HANDS = fonts.LATIN_HANDS
CJK_HANDS = fonts.CJK_HANDS
# Last resort for a character no hand has: print faces, so the look degrades, not the test run.
FALLBACK_FONTS = (fonts.DEJAVU_SANS, fonts.PRINT_CJK)
INKS_BGR = ((120, 40, 20), (40, 30, 25), (25, 25, 25), (150, 60, 30), (60, 50, 50))  # blue, black, grey pens


def _fonts_covering(text: str, candidates: tuple[str, ...]) -> list[str]:
    return [p for p in candidates if Path(p).is_file() and not fonts.missing_characters(text, p)]


def pick_font(text: str, rng: np.random.Generator) -> str:
    """A handwriting font with every glyph of `text` (CJK fonts for Chinese)."""
    is_cjk = any(ord(ch) >= 0x2E80 for ch in text)
    pools = (CJK_HANDS,) if is_cjk else (LATIN_HANDS, CJK_HANDS)
    for pool in pools + (FALLBACK_FONTS,):
        found = _fonts_covering(text, pool)
        if found:
            return found[int(rng.integers(len(found)))]
    missing = [p for p in pools[0] if not Path(p).is_file()]
    if missing:
        raise fonts.FontMissing(f"no handwriting font to write {text!r}: {missing[0]} is missing; "
                                f"{fonts.how_to_add(missing[0])}")
    raise fonts.FontMissing(f"no handwriting font has every character of {text!r}")


@lru_cache(maxsize=256)  # a WOFF2 font is decompressed on every opening
def _truetype(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def render_handwriting(text: str, height_px: int, rng: np.random.Generator, font_path: str | None = None) -> np.ndarray:
    """An ink-coverage mask (uint8, 255 = ink) of `text`, slanted and slightly rotated."""
    font_path = font_path or pick_font(text, rng)
    size = max(8, int(height_px))
    font = _truetype(font_path, size)
    stroke = int(rng.integers(0, 2)) if size > 30 else 0
    left, top, right, bottom = font.getbbox(text, stroke_width=stroke)
    pad = size // 2
    canvas = Image.new("L", (int(right - left) + 2 * pad, int(bottom - top) + 2 * pad), 0)
    ImageDraw.Draw(canvas).text((pad - left, pad - top), text, fill=255, font=font, stroke_width=stroke,
                                stroke_fill=255)
    mask = np.asarray(canvas)
    shear = float(rng.uniform(-0.25, 0.2))
    angle = float(rng.uniform(-4, 4))
    h, w = mask.shape
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    affine = rot @ np.array([[1, shear, -shear * h / 2], [0, 1, 0], [0, 0, 1]], np.float64)
    corners = np.array([[0, 0, 1], [w, 0, 1], [w, h, 1], [0, h, 1]], np.float64) @ affine.T
    shift = -corners.min(axis=0)
    affine[:, 2] += shift
    out_w, out_h = np.ceil(corners.max(axis=0) + shift).astype(int)
    mask = cv2.warpAffine(mask, affine, (int(out_w), int(out_h)), flags=cv2.INTER_LINEAR)
    ys, xs = np.nonzero(mask > 20)
    if len(xs) == 0:
        return mask[:1, :1] * 0
    return mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def render_stacked_fraction(text: str, height_px: int, rng: np.random.Generator) -> np.ndarray:
    """`a/b` written as a child writes it on paper: a over a bar over b, in one hand (ink
    coverage mask as `render_handwriting`); the whole fraction is about height_px high."""
    numerator, denominator = text.split("/", 1)
    font = pick_font(numerator + denominator, rng)
    part = max(8, int(height_px * 0.42))
    top = render_handwriting(numerator, part, rng, font)
    bottom = render_handwriting(denominator, part, rng, font)
    width = int(max(top.shape[1], bottom.shape[1]) * rng.uniform(1.3, 1.7)) + 4
    gap = max(2, int(part * rng.uniform(0.12, 0.25)))
    bar = max(2, int(part * rng.uniform(0.06, 0.1)))
    out = np.zeros((top.shape[0] + bottom.shape[0] + 2 * gap + bar, width), np.uint8)
    for block, y in ((top, 0), (bottom, top.shape[0] + 2 * gap + bar)):
        x = (width - block.shape[1]) // 2 + int(rng.integers(-2, 3))
        x = min(max(x, 0), width - block.shape[1])
        out[y:y + block.shape[0], x:x + block.shape[1]] = np.maximum(
            out[y:y + block.shape[0], x:x + block.shape[1]], block)
    y_bar = top.shape[0] + gap
    cv2.line(out, (0, y_bar + int(rng.integers(-1, 2))), (width - 1, y_bar + bar // 2), 255, bar)
    return out


def fill_answers(page_bgr: np.ndarray, key: AnswerKey, page: int, answers: dict[str, str],
                 rng: np.random.Generator, stacked: Collection[str] = ()) -> np.ndarray:
    """Write each answer (question id -> text) inside its box in a random hand, size and ink;
    the questions in `stacked` whose answer is a fraction `a/b` get it written stacked."""
    out = page_bgr.copy()
    height, width = out.shape[:2]
    for question in key.questions_on_page(page):
        text = answers.get(question.id, "")
        if not text.strip():
            continue
        if question.cells:
            _fill_comb(out, question.cells, text, _pen(rng), rng)
            continue
        bh = round(question.box[3] * height) - 16
        if question.id in stacked and text.count("/") == 1:
            mask = render_stacked_fraction(text, round(bh * rng.uniform(0.8, 0.95)), rng)
        else:
            mask = render_handwriting(text, round(bh * rng.uniform(0.55, 0.8)), rng)
        _paste(out, mask, question.box, None, rng)
    return out


def _pen(rng: np.random.Generator) -> np.ndarray:
    return np.array(INKS_BGR[int(rng.integers(len(INKS_BGR)))], np.float32)


def _paste(out: np.ndarray, mask: np.ndarray, box: tuple[float, float, float, float], ink: np.ndarray | None,
           rng: np.random.Generator, center: bool = False) -> None:
    """Ink a mask into a box (fractions of the page), shrunk to fit, 8 px clear of its border;
    at a random place, or centred; in this ink, or a pen drawn at random (after the place, so
    that a seed writes the same pages as before comb boxes)."""
    height, width = out.shape[:2]
    x, y, w, h = box
    bx0, by0 = round(x * width) + 8, round(y * height) + 8  # stay clear of the 3 px border
    bw, bh = round(w * width) - 16, round(h * height) - 16
    scale = min(1.0, bw / mask.shape[1], bh / mask.shape[0])
    if scale < 1.0:
        mask = cv2.resize(mask, (max(1, int(mask.shape[1] * scale)), max(1, int(mask.shape[0] * scale))),
                          interpolation=cv2.INTER_AREA)
    mh, mw = mask.shape
    if center:
        ox, oy = bx0 + (bw - mw) // 2, by0 + (bh - mh) // 2
    else:
        ox = bx0 + int(rng.integers(0, max(1, bw - mw + 1)))
        oy = by0 + int(rng.integers(0, max(1, bh - mh + 1)))
    if ink is None:
        ink = _pen(rng)
    alpha = (mask.astype(np.float32) / 255.0 * rng.uniform(0.85, 1.0))[:, :, None]
    region = out[oy : oy + mh, ox : ox + mw].astype(np.float32)
    out[oy : oy + mh, ox : ox + mw] = (region * (1 - alpha) + ink * alpha).astype(np.uint8)


def _fill_comb(out: np.ndarray, cells: list[tuple[float, float, float, float]], text: str, ink: np.ndarray,
               rng: np.random.Generator) -> None:
    """One character per cell from the first, in one hand; each glyph keeps its height on the
    line (a `.` sits low, a `-` in the middle), as a child writes them."""
    chars = "".join(text.split())
    font_path = pick_font(chars, rng)
    size = round(cells[0][3] * out.shape[0] * rng.uniform(0.45, 0.6))
    font = _truetype(font_path, size)
    _, top, _, bottom = (round(v) for v in font.getbbox("0Agy" + chars))  # every glyph on one baseline
    for ch, cell in zip(chars, cells):
        canvas = Image.new("L", (size * 2, bottom - top + 4), 0)
        ImageDraw.Draw(canvas).text((size // 2, 2 - top), ch, fill=255, font=font)
        mask = np.asarray(canvas)
        cols = np.flatnonzero(mask.max(axis=0) > 0)
        if cols.size:
            _paste(out, np.ascontiguousarray(mask[:, cols[0] : cols[-1] + 1]), cell, ink, rng, center=True)


# --- phone photos --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhotoParams:
    """How the simulated phone photo is taken. `fill` is the page's share of the frame's area."""

    frame: tuple[int, int] = (1600, 1200)  # width, height of the photo
    rotation_deg: float = 0.0  # in-plane rotation; 90/180/270 for sideways or upside-down photos
    tilt_deg: float = 0.0  # perspective: the angle between the page and the sensor plane
    tilt_axis_deg: float = 0.0  # direction of the tilt axis in the page plane
    fill: float = 0.6  # 0.3-1.0 of the frame area (capped so all four markers stay in view)
    center_jitter: float = 0.0  # fraction of the free space the page centre moves off-centre
    light_low: float = 1.0  # darkest corner of the lighting gradient (multiplier)
    shadow: float = 0.0  # 0 = no shadow, 0.5 = a shadow that halves the light
    blur_sigma: float = 0.0  # Gaussian blur in pixels of the frame
    noise_sigma: float = 0.0  # sensor noise, grey levels
    jpeg_quality: int = 90
    background: str = "wood"  # wood | cloth | plain

    @classmethod
    def random(cls, rng: np.random.Generator, severity: float = 1.0,
               frame: tuple[int, int] = (1600, 1200)) -> "PhotoParams":
        """Parameters drawn over the issue's range; severity 0..1 scales how hard they get."""
        s = float(np.clip(severity, 0, 1))
        return cls(
            frame=frame,
            rotation_deg=float(rng.choice([0, 90, 180, 270]) + rng.uniform(-12, 12) * s),
            tilt_deg=float(rng.uniform(0, 30 * s)),
            tilt_axis_deg=float(rng.uniform(0, 360)),
            fill=float(rng.uniform(1.0 - 0.7 * s, 1.0)),
            center_jitter=float(rng.uniform(0, 0.8 * s)),
            light_low=float(1.0 - rng.uniform(0, 0.5 * s)),
            shadow=float(rng.uniform(0, 0.55 * s)),
            blur_sigma=float(rng.uniform(0, 1.5 * s)) * max(frame) / 1600,
            noise_sigma=float(rng.uniform(0, 8 * s)),
            jpeg_quality=int(rng.integers(round(90 - 40 * s), 91)),
            background=str(rng.choice(["wood", "cloth", "plain"])),
        )


@dataclass
class SimulatedPhoto:
    image: np.ndarray  # decoded BGR photo, what a teacher would upload
    jpeg: bytes  # the same photo as JPEG bytes
    homography: np.ndarray  # 3x3: page pixel -> photo pixel (the ground truth)
    params: PhotoParams = field(default_factory=PhotoParams)

    def page_corners(self, page_shape: tuple[int, ...]) -> np.ndarray:
        h, w = page_shape[:2]
        pts = np.array([[[0, 0]], [[w, 0]], [[w, h]], [[0, h]]], np.float64)
        return cv2.perspectiveTransform(pts, self.homography).reshape(4, 2)


def _rotation(axis_deg: float, tilt_deg: float, roll_deg: float) -> np.ndarray:
    a, t, r = np.radians([axis_deg, tilt_deg, roll_deg])
    axis = np.array([np.cos(a), np.sin(a), 0.0])
    # Rodrigues: tilt the page about an in-plane axis, then roll it about the optical axis.
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    tilt = np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * k @ k
    roll = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return roll @ tilt


def _projection(page_shape: tuple[int, ...], p: PhotoParams, rng: np.random.Generator) -> np.ndarray:
    """The page -> photo homography of a pinhole camera looking at the tilted, rolled page."""
    h, w = page_shape[:2]
    fw, fh = p.frame
    focal = 1.0 * max(fw, fh)  # roughly a phone's 26 mm-equivalent lens
    rot = _rotation(p.tilt_axis_deg, p.tilt_deg, p.rotation_deg)
    distance = 3.0 * max(w, h)
    centred = np.array([[1, 0, -w / 2], [0, 1, -h / 2], [0, 0, 1]], np.float64)
    # Plane point (u, v) -> camera (R [u v 0]^T + [0 0 d]); projection K [r1 r2 t].
    extrinsic = np.column_stack([rot[:, 0], rot[:, 1], [0, 0, distance]])
    intrinsic = np.array([[focal, 0, 0], [0, focal, 0], [0, 0, 1]], np.float64)
    homography = intrinsic @ extrinsic @ centred
    page_corners = np.array([[[0, 0]], [[w, 0]], [[w, h]], [[0, h]]], np.float64)
    corners = cv2.perspectiveTransform(page_corners, homography).reshape(4, 2)
    area = cv2.contourArea(corners.astype(np.float32))
    scale = np.sqrt(p.fill * fw * fh / max(area, 1e-6))
    # Cap the scale so the markers (inset by 4 % of the page) stay inside the frame with a margin.
    inset = np.array([[0.04 * w, 0.04 * w], [0.96 * w, 0.04 * w], [0.96 * w, h - 0.04 * w], [0.04 * w, h - 0.04 * w]])
    marks = cv2.perspectiveTransform(inset.reshape(-1, 1, 2), homography).reshape(4, 2)
    span = marks.max(axis=0) - marks.min(axis=0)
    scale = min(scale, 0.97 * fw / span[0], 0.97 * fh / span[1])
    centre = (marks.max(axis=0) + marks.min(axis=0)) / 2 * scale
    free = np.array([fw, fh]) - span * scale
    offset = np.array([fw / 2, fh / 2]) - centre + rng.uniform(-0.5, 0.5, 2) * free * p.center_jitter
    placement = np.array([[scale, 0, offset[0]], [0, scale, offset[1]], [0, 0, 1]])
    return placement @ homography


def _background(frame: tuple[int, int], kind: str, rng: np.random.Generator) -> np.ndarray:
    fw, fh = frame
    small = (max(8, fw // 8), max(8, fh // 8))
    tex: np.ndarray  # float32 texture, (h, w, 3) or (h, w, 1)
    if kind == "wood":
        base = np.array(rng.uniform([40, 70, 110], [90, 130, 190]), np.float32)  # browns in BGR
        y = np.linspace(0, 1, small[1])[:, None]
        rings = rng.uniform(15, 40)  # drawn before the wander, so the random stream is unchanged
        wander = rng.normal(0, 0.6, (small[1], small[0])).cumsum(axis=1) * 0.02
        grain = np.sin(2 * np.pi * (y * rings + wander))
        tex = (grain[:, :, None] * 18 + base).astype(np.float32)
    elif kind == "cloth":
        base = np.array(rng.uniform(30, 200, 3), np.float32)
        tex = base + rng.normal(0, 12, (small[1], small[0], 1)).astype(np.float32)
    else:
        tex = np.full((small[1], small[0], 3), rng.uniform(60, 200), np.float32)
    tex = cv2.resize(tex, (fw, fh), interpolation=cv2.INTER_LINEAR)
    if tex.ndim == 2:
        tex = tex[:, :, None]
    return np.clip(tex + rng.normal(0, 4, (fh, fw, 1)), 0, 255).astype(np.uint8)


def _lighting(frame: tuple[int, int], p: PhotoParams, rng: np.random.Generator) -> np.ndarray:
    """A multiplicative light field: a linear gradient plus one soft-edged shadow."""
    fw, fh = frame
    sw, sh = max(8, fw // 8), max(8, fh // 8)
    gx, gy = np.meshgrid(np.linspace(0, 1, sw), np.linspace(0, 1, sh))
    a = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(a) * gx + np.sin(a) * gy)
    ramp = (ramp - ramp.min()) / max(1e-6, np.ptp(ramp))
    light: np.ndarray = p.light_low + (1.0 - p.light_low) * ramp
    if p.shadow > 0:
        outline = np.zeros((sh, sw), np.float32)
        c = rng.uniform([0, 0], [sw, sh])
        pts = (c + rng.normal(0, 0.35, (6, 2)) * [sw, sh]).astype(np.int32)
        cv2.fillPoly(outline, [cv2.convexHull(pts)], 1.0)
        shadow = cv2.GaussianBlur(outline, (0, 0), max(1.0, sw / 60))
        light = light * (1 - p.shadow * shadow)
    light = cv2.resize(light.astype(np.float32), (fw, fh), interpolation=cv2.INTER_LINEAR)
    tint = rng.uniform(0.9, 1.05, 3).astype(np.float32)  # warm or cool light
    return light[:, :, None] * tint


def simulate_photo(page_bgr: np.ndarray, rng: np.random.Generator, params: PhotoParams | None = None) -> SimulatedPhoto:
    """Photograph a page: perspective, rotation, background, light, shadow, blur, noise, JPEG."""
    p = params or PhotoParams.random(rng)
    fw, fh = p.frame
    homography = _projection(page_bgr.shape, p, rng)
    frame = _background(p.frame, p.background, rng)
    page_mask = np.full(page_bgr.shape[:2], 255, np.uint8)
    # A camera integrates over each pixel: pre-blur the page when it shrinks, against aliasing.
    ph, pw = page_bgr.shape[:2]
    corners = cv2.perspectiveTransform(np.array([[[0, 0]], [[pw, 0]], [[pw, ph]], [[0, ph]]], np.float64), homography)
    shrink = np.sqrt(cv2.contourArea(corners.astype(np.float32)) / (page_bgr.shape[0] * page_bgr.shape[1]))
    source = cv2.GaussianBlur(page_bgr, (0, 0), 0.5 * (1 / shrink - 1)) if shrink < 0.8 else page_bgr
    warped = cv2.warpPerspective(source, homography, (fw, fh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    cover = cv2.warpPerspective(page_mask, homography, (fw, fh), flags=cv2.INTER_LINEAR)
    alpha = (cover.astype(np.float32) / 255.0)[:, :, None]
    image = frame.astype(np.float32) * (1 - alpha) + warped.astype(np.float32) * alpha
    image *= _lighting(p.frame, p, rng)
    if p.blur_sigma > 0.05:
        image = cv2.GaussianBlur(image, (0, 0), p.blur_sigma)
    if p.noise_sigma > 0:
        image += rng.normal(0, p.noise_sigma, image.shape[:2])[:, :, None].astype(np.float32)
    image = np.clip(image, 0, 255).astype(np.uint8)
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(p.jpeg_quality)])
    jpeg = buffer.tobytes()
    decoded = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    if not ok or decoded is None:  # OpenCV without its JPEG codec: no photo to hand out
        raise RuntimeError("OpenCV could not encode and decode the simulated photo as JPEG")
    return SimulatedPhoto(decoded, jpeg, homography, p)


def photograph(page_bgr: np.ndarray, rng: np.random.Generator, params: PhotoParams | None = None) -> np.ndarray:
    """A simulated phone photo of `page_bgr` (BGR). See simulate_photo for the ground truth."""
    return simulate_photo(page_bgr, rng, params).image


def with_params(params: PhotoParams, **changes) -> PhotoParams:
    return replace(params, **changes)


def sample_answers(key: AnswerKey, page: int, rng: np.random.Generator, blank_fraction: float = 0.15,
                   wrong_fraction: float = 0.2) -> dict[str, str]:
    """Answers a class might write: mostly accepted ones, some wrong (another question's), some blank."""
    questions = key.questions_on_page(page)
    pool = [a for q in key.questions for a in q.answers]
    answers: dict[str, str] = {}
    for q in questions:
        roll = rng.uniform()
        if roll < blank_fraction:
            continue
        if roll < blank_fraction + wrong_fraction:
            answers[q.id] = str(rng.choice(pool))
        else:
            answers[q.id] = str(rng.choice(q.answers))
    return answers
