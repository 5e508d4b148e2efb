"""Ink alpha lines (float32, ink 1, paper 0) of a label, before any photo degradation.

Glyphs come from real MNIST digits, pen-drawn symbols, handwriting fonts, Chinese characters drawn
from hanzi-writer stroke medians with per-stroke jitter and pressure, and (training only) Latin
letters written with a pen along single-line Hershey font strokes; `compose` sets them on a
baseline. The `render_*` functions (one per category, in RENDERERS) pick among these hands.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from grader import fonts
from grader.training.data import Sources
from grader.training.stroke_style import StrokeStyle, median_strokes, styled

PEN_SYMBOLS = set(".,-/+×÷=()<>:")
FALLBACK_FONT = fonts.DEJAVU_SANS  # numbers and maths: every symbol


@lru_cache(maxsize=4096)  # ~120 fonts x ~25 sizes
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


@lru_cache(maxsize=None)  # one entry per font in the sources (about 120); a bounded cache thrashed
def font_chars(path: str) -> frozenset[str]:
    """Characters a font has glyphs for (so missing glyphs are never rendered as boxes)."""
    from fontTools.ttLib import TTFont

    font = TTFont(path, fontNumber=0, lazy=True)
    return frozenset(chr(c) for c in font.getBestCmap())


@dataclass
class Glyph:
    alpha: np.ndarray  # float32 (h, w) in 0..1
    top: int  # y of the first row relative to the baseline (negative = above)


def font_glyph(text: str, path: str, size: int) -> Glyph:
    font = _font(path, size)
    # whole pixels: without a stroke width FreeType's box is integral (Pillow types it float)
    left, top, right, bottom = (int(v) for v in font.getbbox(text, anchor="ls"))
    w, h = max(1, right - left + 2), max(1, bottom - top + 2)
    img = Image.new("L", (w, h), 0)
    ImageDraw.Draw(img).text((1 - left, 1 - top), text, font=font, fill=255, anchor="ls")
    return Glyph(np.asarray(img, dtype=np.float32) / 255.0, top - 1)


def font_digit_images(font_paths: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Digits 0-9 of each font as MNIST-like images (28x28 uint8, white ink on black, the ink
    in a 20 px box at the centre) and their labels: stand-ins for MNIST where the training cache
    is absent (a school's machine, CI)."""
    images, labels = [], []
    for font in font_paths:
        for digit in range(10):
            alpha = font_glyph(str(digit), font, 40).alpha
            h, w = alpha.shape
            scale = 20 / max(h, w)
            small = cv2.resize(alpha, (max(1, round(w * scale)), max(1, round(h * scale))))
            image = np.zeros((28, 28), np.float32)
            y, x = (28 - small.shape[0]) // 2, (28 - small.shape[1]) // 2
            image[y:y + small.shape[0], x:x + small.shape[1]] = small
            images.append((image * 255).astype(np.uint8))
            labels.append(digit)
    return np.stack(images), np.asarray(labels, np.uint8)


def mnist_glyph(src: Sources, digit: int, cap: float, rng: np.random.Generator) -> Glyph:
    idx = src.digit_index[digit]
    return digit_glyph(src.digits[idx[int(rng.integers(len(idx)))]], cap, rng)


def digit_glyph(image: np.ndarray, cap: float, rng: np.random.Generator) -> Glyph:
    """A scanned digit (uint8, white ink on black, as MNIST and optdigits) cut to its ink and
    scaled to about the cap height."""
    img = image.astype(np.float32) / 255.0
    ys, xs = np.nonzero(img > 0.1)
    img = img[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    h = max(4, int(round(cap * rng.uniform(0.85, 1.1))))
    w = max(2, int(round(img.shape[1] * h / img.shape[0])))
    return Glyph(cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR), -h)


def pen_symbol(ch: str, cap: float, thick: float, rng: np.random.Generator) -> Glyph:
    """Draw a symbol as a child would with a pen: a few jittered strokes, no font."""
    s = cap
    j = lambda: rng.normal(0, 0.04 * s)  # noqa: E731 - tiny hand tremor per point
    strokes: list[list[tuple[float, float]]]  # y measured down from the cap line
    if ch == ".":
        r = max(1.0, thick * rng.uniform(0.6, 1.2))
        strokes = [[(0.15 * s, s - r), (0.15 * s + r * 0.6, s - r * 0.6)]]
    elif ch == ",":
        strokes = [[(0.2 * s, 0.85 * s), (0.15 * s, 1.15 * s)]]
    elif ch == "-":
        w = s * rng.uniform(0.35, 0.6)
        y = s * rng.uniform(0.45, 0.6)
        strokes = [[(0, y), (w, y + j())]]
    elif ch == "/":
        w = s * rng.uniform(0.25, 0.5)
        strokes = [[(w, 0), (0, s)]]
    elif ch == "+":
        w = s * rng.uniform(0.45, 0.65)
        strokes = [[(0, 0.55 * s), (w, 0.55 * s)], [(w / 2, 0.55 * s - w / 2), (w / 2, 0.55 * s + w / 2)]]
    elif ch == "×":
        w = s * rng.uniform(0.35, 0.55)
        y0 = 0.55 * s - w / 2
        strokes = [[(0, y0), (w, y0 + w)], [(w, y0), (0, y0 + w)]]
    elif ch == "÷":
        w = s * rng.uniform(0.45, 0.65)
        d = max(1.0, thick * 0.6)
        strokes = [[(0, 0.55 * s), (w, 0.55 * s)], [(w / 2, 0.3 * s), (w / 2 + d, 0.3 * s)],
                   [(w / 2, 0.8 * s), (w / 2 + d, 0.8 * s)]]
    elif ch == "=":
        w = s * rng.uniform(0.45, 0.65)
        g = s * rng.uniform(0.14, 0.22)
        strokes = [[(0, 0.55 * s - g), (w, 0.55 * s - g)], [(0, 0.55 * s + g), (w, 0.55 * s + g)]]
    elif ch in "()":
        w = s * 0.25
        pts = [(w * (1 - math.sin(t)) if ch == "(" else w * math.sin(t), -0.1 * s + 1.2 * s * t / math.pi)
               for t in np.linspace(0, math.pi, 8)]
        strokes = [pts]
    elif ch in "<>":
        w = s * 0.45
        a, b = (w, 0) if ch == "<" else (0, w)
        strokes = [[(a, 0.2 * s), (b, 0.55 * s), (a, 0.9 * s)]]
    elif ch == ":":
        d = max(1.0, thick * 0.6)
        strokes = [[(0, 0.35 * s), (d, 0.35 * s)], [(0, 0.85 * s), (d, 0.85 * s)]]
    else:
        raise ValueError(ch)
    return draw_strokes([[(x + j(), y + j()) for x, y in st] for st in strokes], thick, -int(s))


PEN_PRESSURE = (1.0, 1.3)  # pen width at a stroke's start, relative to thick; it fades by 0.4


def draw_strokes(strokes: list, thick: float, top: int,
                  pressure: np.random.Generator | None = None) -> Glyph:
    """Strokes (pixels, y down; `top`: where their y = 0 lies relative to the baseline) drawn with
    a round pen of width thick.
    pressure: heavier at the start of each stroke, lighter toward its end, segment by segment."""
    pts = np.concatenate([np.asarray(st, dtype=np.float32) for st in strokes])
    pad = thick * (PEN_PRESSURE[1] if pressure is not None else 1.0) + 2  # room for the heaviest pen
    x0, y0 = pts.min(0) - pad
    x1, y1 = pts.max(0) + pad
    scale = 4  # draw 4x larger then shrink: smooth antialiased strokes at sub-pixel widths
    img = np.zeros((int((y1 - y0) * scale) + 1, int((x1 - x0) * scale) + 1), np.uint8)
    for st in strokes:
        p = ((np.asarray(st, np.float32) - [x0, y0]) * scale).round().astype(np.int32)
        if pressure is None:
            cv2.polylines(img, [p], False, 255, max(1, int(round(thick * scale))), cv2.LINE_AA)
            continue
        n = len(p) - 1
        start = pressure.uniform(*PEN_PRESSURE)
        for i in range(n):
            w = thick * scale * (start - 0.4 * i / max(1, n))
            cv2.line(img, tuple(map(int, p[i])), tuple(map(int, p[i + 1])), 255, max(1, int(round(w))), cv2.LINE_AA)
    small = cv2.resize(img, (max(1, img.shape[1] // scale), max(1, img.shape[0] // scale)),
                       interpolation=cv2.INTER_AREA)
    return Glyph(small.astype(np.float32) / 255.0, top + int(round(y0)))


def hanzi_glyph(medians: list, em: float, thick: float, rng: np.random.Generator,
                style: StrokeStyle | None = None) -> Glyph:
    """A character drawn from its stroke medians (1024-unit box, y up, baseline 900 below top).
    With a `style` (grader.training.stroke_style, fitted on real pen strokes), the medians first
    take a real writer's shape change, wander and joins; the per-stroke jitter stays, smaller."""
    scale = 3
    size = int(em * scale)
    margin = int(0.15 * size)  # strokes pushed outside the unit box by the jitter stay whole
    img = np.zeros((size + 2 * margin + 1, size + 2 * margin + 1), np.uint8)
    if style is None:
        strokes, joins, jitter = median_strokes(medians), [], 1.0
    else:
        strokes, joins, jitter = *styled(medians, style, rng), 0.5
    # Whole-character shape change (a child's character is not the font's square).
    sx, sy = rng.uniform(0.85, 1.1), rng.uniform(0.85, 1.1)
    shear = rng.normal(0, 0.06 * jitter)
    lines = [(stroke, 1.0) for stroke in strokes] + [(join, rng.uniform(0.35, 0.7)) for join in joins]
    for p, weight in lines:
        p = np.asarray(p, np.float32)
        if weight == 1.0:  # per-stroke jitter: offset and slight rotation around the stroke centre
            c = p.mean(0)
            ang = rng.normal(0, 0.06 * jitter)
            rot = np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]], np.float32)
            p = (p - c) @ rot.T * rng.uniform(1 - 0.1 * jitter, 1 + 0.1 * jitter) + c + rng.normal(0, 0.018 * jitter, 2)
            p = p + rng.normal(0, 0.006 * jitter, p.shape)
        p[:, 0] = (p[:, 0] - 0.5) * sx + 0.5 + shear * (p[:, 1] - 0.5)
        p[:, 1] = (p[:, 1] - 0.5) * sy + 0.5
        q = (p * size + margin).round().astype(np.int32)
        n = len(q) - 1
        for i in range(n):
            # pressure: heavier at the start, lighter toward the end of a stroke; joins are light
            w = thick * scale * weight * (1.15 - 0.45 * i / max(1, n)) * rng.uniform(0.9, 1.1)
            cv2.line(img, tuple(q[i]), tuple(q[i + 1]), 255, max(1, int(round(w))), cv2.LINE_AA)
    out = int(round(img.shape[0] / scale))
    small = cv2.resize(img, (out, out), interpolation=cv2.INTER_AREA)
    return Glyph(small.astype(np.float32) / 255.0, -int(em * 0.88) - margin // scale)


# Single-line (Hershey) fonts drawn as pen strokes: two joined-up school scripts, two print hands.
# A font file is one fixed hand; stroke centre lines let every crop be written with its own pen
# width, pressure, letter shapes, sizes and spacing, as hanzi_glyph does for Chinese.
# cursive and rowmans repeat most letters of scripts and futural; their few own letters stay in.
PEN_HANDS = ("scripts", "cursive", "futural", "rowmans")
JOINED_PEN_HANDS = ("scripts", "cursive")


@lru_cache(maxsize=None)
def pen_hand(name: str) -> dict[str, tuple[list[np.ndarray], float]]:
    """Character -> (strokes, advance) of a Hershey font, in font units: x from the glyph's left
    side, y down, baseline at 9, cap line at -12 (the Hershey-Fonts package's built-in fonts)."""
    from HersheyFonts import HersheyFonts

    font = HersheyFonts()
    font.load_default_font(name)
    return {ch: ([np.asarray(st, np.float32) - [g.left_offset, 0] for st in g.strokes if len(st) > 1],
                 float(g.char_width))
            for ch, g in font.all_glyphs.items()}


PEN_BASELINE, PEN_CAP = 9.0, 21.0  # font units: the baseline's y, and the cap height


def pen_text(text: str, hand: str, cap: float, thick: float, rng: np.random.Generator) -> Glyph:
    """text written with a pen in a single-line hand, cap height `cap` px. Each letter gets its own
    width, height, slant and baseline; the word a slant, a width and a slow wobble of its strokes;
    each point a tremor; each stroke pressure that fades toward its end. Joined-up hands keep
    their joins (letters barely move apart); print hands are spaced at random."""
    glyphs = pen_hand(hand)
    joined = hand in JOINED_PEN_HANDS
    wide, slant = rng.uniform(0.8, 1.2), rng.normal(0, 0.15)
    # a slow wobble over the word: loops grow and shrink, strokes bow (font units)
    waves = [(rng.uniform(0.5, 1.6), rng.uniform(0.3, 0.9), rng.uniform(0, 2 * math.pi)) for _ in range(2)]
    strokes, x = [], 0.0
    for ch in text:
        parts, advance = glyphs[ch]
        sx = wide * rng.uniform(0.88, 1.12)
        sy = rng.uniform(0.85, 1.15)
        lean = rng.normal(0, 0.06)
        dy = rng.normal(0, 0.6)
        for st in parts:
            p = st + rng.normal(0, 0.35, 2)  # each stroke a little off where the font puts it
            p[:, 1] = PEN_BASELINE + (p[:, 1] - PEN_BASELINE) * sy + dy
            p[:, 0] = x + p[:, 0] * sx - (slant + lean) * (p[:, 1] - PEN_BASELINE)
            strokes.append(p)
        x += advance * sx + (rng.normal(0, 0.3) if joined else rng.uniform(-1.0, 2.5))
    s = cap / PEN_CAP
    out = []
    for p in strokes:
        for freq, amp, phase in waves:
            p = p + amp * np.stack([np.sin(p[:, 1] * freq / 3 + phase), np.sin(p[:, 0] * freq / 5 + phase)], 1)
        p = p + rng.normal(0, 0.25, p.shape)  # tremor
        out.append(p * s)
    return draw_strokes(out, thick, -int(round(PEN_BASELINE * s)), pressure=rng)


def compose(glyphs: list[Glyph], gaps: list[float], rng: np.random.Generator, jitter: float) -> np.ndarray:
    """Place glyphs left to right on a shared baseline with spacing and baseline wobble."""
    tops = [g.top + int(round(rng.normal(0, jitter))) for g in glyphs]
    above = max(-t for t in tops)
    below = max(t + g.alpha.shape[0] for t, g in zip(tops, glyphs))
    height = above + max(below, 0) + 2
    xs, x = [], 0.0
    for g, gap in zip(glyphs, gaps):
        xs.append(int(round(x)))
        x += g.alpha.shape[1] + gap
    width = max(xs[i] + glyphs[i].alpha.shape[1] for i in range(len(glyphs))) + 2
    xs = [v - min(0, min(xs)) for v in xs]
    width += max(0, -min(xs))
    line = np.zeros((height, width + 2), np.float32)
    for g, t, x0 in zip(glyphs, tops, xs):
        y0 = above + t
        h, w = g.alpha.shape
        y0 = max(0, y0)
        region = line[y0:y0 + h, x0:x0 + w]
        np.maximum(region, g.alpha[:region.shape[0], :region.shape[1]], out=region)
    return line


# ---------------------------------------------------------------- rendering by category


def _latin_font(src: Sources, rng: np.random.Generator, needed: str) -> str | None:
    for _ in range(6):
        path = src.latin_fonts[int(rng.integers(len(src.latin_fonts)))]
        if set(needed) <= font_chars(path):
            return path
    return None


def _cjk_font(src: Sources, rng: np.random.Generator, label: str) -> str:
    """A random one of the Chinese fonts that have every character of label (the Japanese
    handwriting fonts lack many simplified characters); the first font if none has them all."""
    needed = set(label)
    covering = [f for f in src.cjk_fonts if needed <= font_chars(f)]
    return covering[int(rng.integers(len(covering)))] if covering else src.cjk_fonts[0]


def _side_margins(alpha: np.ndarray) -> tuple[int, int]:
    """Empty columns left and right of a glyph's ink."""
    cols = np.nonzero(alpha.max(0) > 0.2)[0]
    return (int(cols[0]), int(alpha.shape[1] - 1 - cols[-1])) if len(cols) else (0, 0)


def render_digits_symbols(label: str, src: Sources, rng: np.random.Generator,
                          crowded: bool = False, pen_letters: bool = False) -> np.ndarray:
    """Numbers and math: MNIST digits with pen symbols (letters from a font), or one font.
    crowded: written tight, as in a small box or a hurried hand: neighbours' ink 0.07 em apart
    to just touching (a `1` leaning on the `/` of `1/3`), or, in a font, the whole label as the
    font sets it, kerning and all.
    pen_letters: the letters (x, a, b, ...) written with a pen in a single-line hand (pen_text)."""
    em = int(rng.integers(36, 56))
    cap = em * 0.7
    thick = em * rng.uniform(0.05, 0.1)
    use_mnist = rng.random() < 0.7
    font = _latin_font(src, rng, label.replace("×", "").replace("÷", "")) or FALLBACK_FONT
    if crowded and not use_mnist and set(label) <= font_chars(font) and rng.random() < 0.4:
        return font_glyph(label, font, em).alpha
    hand = PEN_HANDS[int(rng.integers(len(PEN_HANDS)))] if pen_letters else ""
    glyphs, gaps = [], []
    for ch in label:
        if ch.isdigit() and use_mnist:
            g = mnist_glyph(src, int(ch), cap, rng)
        elif hand and ch.isascii() and ch.isalpha():
            g = pen_text(ch, hand, cap * rng.uniform(0.9, 1.1), thick, rng)
        elif ch in PEN_SYMBOLS and (use_mnist or ch not in font_chars(font) or rng.random() < 0.3):
            g = pen_symbol(ch, cap, thick, rng)
        elif ch in font_chars(font):
            g = font_glyph(ch, font, em)
        else:
            g = font_glyph(ch, FALLBACK_FONT, int(em * 0.9))
        glyphs.append(g)
        gaps.append(em * rng.uniform(-0.02, 0.18) if ch != " " else em * 0.4)
    if crowded:  # gaps measured ink to ink, not box to box (a pen symbol's box has a margin)
        for i in range(len(glyphs) - 1):
            if not set(label[i:i + 2]) & set(" .,:-÷"):  # a point or a minus must stay apart
                gaps[i] = (em * rng.uniform(-0.07, 0.01) - _side_margins(glyphs[i].alpha)[1]
                           - _side_margins(glyphs[i + 1].alpha)[0])
    return compose(glyphs, gaps, rng, jitter=em * 0.03)


# Capitals that many writers write as the small letter made larger (their C is a
# big c): the model must tell them apart by size alone. Small letters with an ascender or a
# descender (k, p, y) are left out: made larger they would not sit like the capital.
LOOKALIKE_CAPITALS = "COSUVWXZ"


def _big_small_letter(ch: str, font: str, em: int, rng: np.random.Generator) -> Glyph:
    """Capital `ch` written as its small letter scaled to the capital's height."""
    cap = font_glyph(ch, font, em).alpha.shape[0]
    small = font_glyph(ch.lower(), font, em).alpha.shape[0]
    return font_glyph(ch.lower(), font, max(8, int(round(em * cap / max(1, small) * rng.uniform(0.95, 1.08)))))


def render_text(label: str, src: Sources, rng: np.random.Generator, big_capitals: bool = False) -> np.ndarray:
    """English in a handwriting font, as a whole string or letter by letter; with big_capitals,
    letter by letter with the LOOKALIKE_CAPITALS of the label written as large small letters."""
    em = int(rng.integers(34, 54))
    font = _latin_font(src, rng, label) or fonts.LATIN_HANDS[0]
    if not big_capitals and rng.random() < 0.6:
        return font_glyph(label, font, em).alpha  # whole string: keeps cursive joins and kerning

    def glyph(ch: str) -> Glyph:
        if ch == " ":
            return Glyph(np.zeros((2, int(em * 0.3)), np.float32), -2)
        if big_capitals and ch in LOOKALIKE_CAPITALS:
            return _big_small_letter(ch, font, em, rng)
        return font_glyph(ch, font, em)

    glyphs = [glyph(ch) for ch in label]
    gaps = [em * rng.uniform(-0.03, 0.08) for _ in label]
    return compose(glyphs, gaps, rng, jitter=em * 0.025)


def render_pen_text(label: str, rng: np.random.Generator) -> np.ndarray:
    """English written with a pen in a single-line hand, joined-up or print (pen_text)."""
    cap = float(rng.integers(24, 38))
    hand = PEN_HANDS[int(rng.integers(len(PEN_HANDS)))]
    return pen_text(label, hand, cap, cap * rng.uniform(0.05, 0.11), rng).alpha


def render_chinese(label: str, src: Sources, rng: np.random.Generator,
                   style: StrokeStyle | None = None) -> np.ndarray:
    """Half the crops from the stroke medians, half from a font; with a `style`, every crop whose
    characters all have medians is drawn from them in that style (hanzi_glyph)."""
    em = int(rng.integers(36, 56))
    has_medians = all(c in src.medians for c in label)
    if (style is not None and has_medians) or (style is None and rng.random() < 0.5 and has_medians):
        thick = em * rng.uniform(0.03, 0.065)
        glyphs = [hanzi_glyph(src.medians[c], em * rng.uniform(0.9, 1.05), thick, rng, style) for c in label]
        gaps = [em * rng.uniform(-0.35, -0.1) for _ in label]  # glyph boxes carry a 0.15 em margin
        return compose(glyphs, gaps, rng, jitter=em * 0.03)
    font = _cjk_font(src, rng, label)
    glyphs = [font_glyph(c, font, em) for c in label]
    gaps = [em * rng.uniform(-0.02, 0.2) for _ in label]
    return compose(glyphs, gaps, rng, jitter=em * 0.03)


def render_choice(label: str, src: Sources, rng: np.random.Generator) -> np.ndarray:
    return render_text(label, src, rng)


def _ink_trim(alpha: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(alpha > 0.2)
    return alpha[ys.min():ys.max() + 1, xs.min():xs.max() + 1] if len(ys) else alpha


def render_stacked_fraction(label: str, src: Sources, rng: np.random.Generator) -> np.ndarray:
    """`a/b` written as children do: numerator over a pen-drawn bar over the denominator."""
    num, den = label.split("/")
    a = _ink_trim(render_digits_symbols(num, src, rng))
    b = _ink_trim(render_digits_symbols(den, src, rng))
    h = max(a.shape[0], b.shape[0])
    bar_w = int(max(a.shape[1], b.shape[1]) * rng.uniform(1.1, 1.5)) + 4
    thick = max(2.0, h * rng.uniform(0.06, 0.1))
    gaps = [int(h * rng.uniform(0.1, 0.35)) for _ in range(2)]
    pad = int(thick) + 4
    height = a.shape[0] + gaps[0] + b.shape[0] + gaps[1] + 2 * pad
    canvas = np.zeros((height, bar_w + 2 * pad), np.float32)
    bar_y = pad + a.shape[0] + gaps[0]

    def place(part: np.ndarray, y: int) -> None:
        x = pad + max(0, (bar_w - part.shape[1]) // 2 + int(rng.integers(-2, 3)))
        region = canvas[y:y + part.shape[0], x:x + part.shape[1]]
        np.maximum(region, part[:region.shape[0], :region.shape[1]], out=region)

    place(a, pad)
    tilt = rng.normal(0, 0.02 * bar_w)
    bar = draw_strokes([[(0, 0), (bar_w * 0.5, rng.normal(0, 1)), (bar_w, tilt)]], thick, 0)
    place(bar.alpha, bar_y - bar.alpha.shape[0] // 2)
    place(b, bar_y + int(thick) + gaps[1])
    return canvas



Renderer = Callable[[str, Sources, np.random.Generator], np.ndarray]
RENDERERS: dict[str, Renderer] = {
    "number": render_digits_symbols, "math": render_digits_symbols, "text": render_text,
    "chinese": render_chinese, "choice": render_choice,
}
