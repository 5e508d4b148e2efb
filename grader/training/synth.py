"""Synthetic answer crops: label strings rendered to look like `crop_answers(...).ink`.

A crop is built in three steps:
1. glyphs -> an ink alpha line: real MNIST digits, pen-drawn symbols, handwriting fonts,
   Chinese characters drawn from hanzi-writer stroke medians with per-stroke jitter and pressure,
   and (training only) Latin letters written with a pen along single-line Hershey font strokes;
2. geometry: slant, rotation, slight perspective, stroke width;
3. paper: ink tone (black, blue, pencil) on tinted paper with uneven light and shadow, leftover
   fragments of box borders / ruled lines / grid at the margins, blur, noise, JPEG artefacts,
   then trimmed to the ink plus a small margin (what the paper side's cleaner produces).

`render_dataset` renders a fixed set once into memory-mapped uint8 arrays (already passed
through `prepare_line_u8`, height 32) so training does not spend its two cores on rendering.
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from grader.charset import HANZI
from grader.lines import HEIGHT, MAX_WIDTH, prepare_line_u8

CATEGORIES = ("number", "math", "text", "chinese", "choice")
PEN_SYMBOLS = set(".,-/+×÷=()<>:")
CN_DIGITS = "零一二三四五六七八九"


# ---------------------------------------------------------------- sources


@dataclass
class Sources:
    latin_fonts: list[str]
    cjk_fonts: list[str]
    digits: np.ndarray  # (N, 28, 28) uint8 MNIST images
    digit_labels: np.ndarray
    medians: dict[str, list]
    cn_words: list[str]
    cn_probs: np.ndarray
    en_words: list[str]
    digit_index: list[np.ndarray] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.digit_index = [np.flatnonzero(self.digit_labels == d) for d in range(10)]


def load_sources(split: str = "train") -> Sources:
    """Training ('train') or validation ('val') sources; fonts are shared, MNIST splits differ."""
    from grader.training import data

    mnist = data.load_mnist(split)
    allowed = set(HANZI)
    words, freqs = data.load_jieba_words(allowed)
    probs = np.sqrt(freqs)  # flatten the Zipf curve so rare characters still appear
    return Sources(
        latin_fonts=data.latin_fonts(), cjk_fonts=data.cjk_fonts(),
        digits=mnist.images, digit_labels=mnist.labels,
        medians={k: v for k, v in data.load_hanzi_medians().items() if k in allowed},
        cn_words=words, cn_probs=probs / probs.sum(), en_words=data.load_english_words(),
    )


@lru_cache(maxsize=4096)  # ~120 fonts x ~25 sizes
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


@lru_cache(maxsize=None)  # one entry per font in the sources (about 120); a bounded cache thrashed
def font_chars(path: str) -> frozenset[str]:
    """Characters a font has glyphs for (so missing glyphs are never rendered as boxes)."""
    from fontTools.ttLib import TTFont

    font = TTFont(path, fontNumber=0, lazy=True)
    return frozenset(chr(c) for c in font.getBestCmap())


# ---------------------------------------------------------------- labels


def _int_str(rng: np.random.Generator, max_digits: int = 4) -> str:
    n = int(rng.choice([1, 2, 3, 4, 5][:max_digits], p=_norm([3, 4, 3, 2, 1][:max_digits])))
    first = str(rng.integers(1, 10))
    return first + "".join(str(d) for d in rng.integers(0, 10, n - 1))


def _norm(weights: list[float]) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return w / w.sum()


def number_label(rng: np.random.Generator) -> str:
    form = rng.choice(["int", "dec", "neg", "frac", "pct", "zero", "thousands", "negdec"],
                      p=_norm([30, 22, 10, 16, 10, 4, 3, 5]))
    if form == "int":
        return _int_str(rng, 5)
    if form == "dec":
        whole = "0" if rng.random() < 0.3 else _int_str(rng, 3)
        return whole + "." + "".join(str(d) for d in rng.integers(0, 10, rng.integers(1, 4)))
    if form == "neg":
        return "-" + _int_str(rng, 3)
    if form == "negdec":
        return "-" + _int_str(rng, 2) + "." + str(rng.integers(0, 10))
    if form == "frac":
        return _int_str(rng, 2) + "/" + _int_str(rng, 2)
    if form == "pct":
        s = _int_str(rng, 3)
        if rng.random() < 0.25:
            s += "." + str(rng.integers(0, 10))
        return s + "%"
    if form == "zero":
        return "0"
    return _int_str(rng, 1) + "," + "".join(str(d) for d in rng.integers(0, 10, 3))


def math_label(rng: np.random.Generator) -> str:
    a, b, c = (_int_str(rng, 2) for _ in range(3))
    v = str(rng.choice(list("xyzabn"), p=_norm([8, 3, 1, 2, 2, 2])))
    op = str(rng.choice(list("+-×÷")))
    forms = [
        f"{a}{v}{op}{b}={c}", f"{a}{op}{b}", f"{a}{op}{b}={c}", f"{v}={a}", f"{v}=-{a}",
        f"{a}{v}={b}", f"{v}{op}{a}={b}", f"({a}{op}{b}){op}{c}", f"{a}<{b}", f"{a}>{b}",
        f"{a}:{b}", f"{v}/{a}={b}", f"{a}{v}", f"{v}={a}/{b}", f"{a}.{b}{op}{c}",
        f"y={a}x{op}{b}", f"{a}{op}{b}{op}{c}",
    ]
    return forms[int(rng.integers(len(forms)))]


def text_label(rng: np.random.Generator, words: list[str]) -> str:
    def word() -> str:
        w = words[int(rng.integers(len(words)))]
        r = rng.random()
        if r < 0.08:
            return w.upper() if len(w) <= 6 else w
        if r < 0.3:
            return w[:1].upper() + w[1:]
        return w
    n = int(rng.choice([1, 2, 3], p=[0.72, 0.2, 0.08]))
    s = word()
    for _ in range(n - 1):
        w = word()
        if len(s) + 1 + len(w) <= 22:
            s += " " + w
    if rng.random() < 0.08:
        s += str(rng.choice(list(".?!,")))
    return s


def chinese_numeral(n: int) -> str:
    """Standard reading of 1..99999 (十二, 三百五十, 一千零八); 10-19 drop the leading 一."""
    units = ["", "十", "百", "千", "万"]
    digits = [int(d) for d in str(n)][::-1]
    out, zero = [], False
    for i in range(len(digits) - 1, -1, -1):
        d = digits[i]
        if d == 0:
            zero = True
            continue
        if zero and out:
            out.append("零")
        zero = False
        out.append(CN_DIGITS[d] + units[i])
    s = "".join(out) or "零"
    return s[1:] if s.startswith("一十") else s


def chinese_label(rng: np.random.Generator, src: Sources) -> str:
    r = rng.random()
    if r < 0.55:
        return src.cn_words[int(rng.choice(len(src.cn_words), p=src.cn_probs))]
    if r < 0.9:  # uniform characters: every level-1 hanzi appears many times
        return "".join(HANZI[i] for i in rng.integers(0, len(HANZI), rng.integers(1, 5)))
    return chinese_numeral(int(rng.choice([rng.integers(1, 100), rng.integers(100, 10000)])))


def choice_label(rng: np.random.Generator) -> str:
    return str(rng.choice(list("ABCDABCDabcd")))


# ---------------------------------------------------------------- glyphs


@dataclass
class Glyph:
    alpha: np.ndarray  # float32 (h, w) in 0..1
    top: int  # y of the first row relative to the baseline (negative = above)


def font_glyph(text: str, path: str, size: int) -> Glyph:
    font = _font(path, size)
    left, top, right, bottom = font.getbbox(text, anchor="ls")
    w, h = max(1, right - left + 2), max(1, bottom - top + 2)
    img = Image.new("L", (w, h), 0)
    ImageDraw.Draw(img).text((1 - left, 1 - top), text, font=font, fill=255, anchor="ls")
    return Glyph(np.asarray(img, dtype=np.float32) / 255.0, top - 1)


def mnist_glyph(src: Sources, digit: int, cap: float, rng: np.random.Generator) -> Glyph:
    idx = src.digit_index[digit]
    img = src.digits[idx[int(rng.integers(len(idx)))]].astype(np.float32) / 255.0
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


def hanzi_glyph(medians: list, em: float, thick: float, rng: np.random.Generator) -> Glyph:
    """A character drawn from its stroke medians (1024-unit box, y up, baseline 900 below top)."""
    scale = 3
    size = int(em * scale)
    margin = int(0.15 * size)  # strokes pushed outside the unit box by the jitter stay whole
    img = np.zeros((size + 2 * margin + 1, size + 2 * margin + 1), np.uint8)
    # Whole-character shape change (a child's character is not the font's square).
    sx, sy = rng.uniform(0.85, 1.1), rng.uniform(0.85, 1.1)
    shear = rng.normal(0, 0.06)
    for stroke in medians:
        p = np.asarray(stroke, np.float32)
        p[:, 1] = 900 - p[:, 1]
        p = p / 1024.0
        # per-stroke jitter: offset and slight rotation around the stroke centre
        c = p.mean(0)
        ang = rng.normal(0, 0.06)
        rot = np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]], np.float32)
        p = (p - c) @ rot.T * rng.uniform(0.9, 1.1) + c + rng.normal(0, 0.018, 2)
        p = p + rng.normal(0, 0.006, p.shape)
        p[:, 0] = (p[:, 0] - 0.5) * sx + 0.5 + shear * (p[:, 1] - 0.5)
        p[:, 1] = (p[:, 1] - 0.5) * sy + 0.5
        q = (p * size + margin).round().astype(np.int32)
        n = len(q) - 1
        for i in range(n):
            # pressure: heavier at the start, lighter toward the end of a stroke
            w = thick * scale * (1.15 - 0.45 * i / max(1, n)) * rng.uniform(0.9, 1.1)
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
    return {ch: ([np.asarray(st, np.float32) - [g.left_offset, 0] for st in g.strokes if len(st) > 1], float(g.char_width))
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
    font = _latin_font(src, rng, label.replace("×", "").replace("÷", "")) or "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
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
            g = font_glyph(ch, "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", int(em * 0.9))
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
    font = _latin_font(src, rng, label) or "/usr/share/fonts/truetype/fifthhorseman/dkg.ttf"
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


def render_chinese(label: str, src: Sources, rng: np.random.Generator) -> np.ndarray:
    em = int(rng.integers(36, 56))
    if rng.random() < 0.5 and all(c in src.medians for c in label):  # else a font
        thick = em * rng.uniform(0.03, 0.065)
        glyphs = [hanzi_glyph(src.medians[c], em * rng.uniform(0.9, 1.05), thick, rng) for c in label]
        gaps = [em * rng.uniform(-0.35, -0.1) for _ in label]  # glyph boxes carry a 0.15 em margin
        return compose(glyphs, gaps, rng, jitter=em * 0.03)
    font = _cjk_font(src, rng, label)
    glyphs = [font_glyph(c, font, em) for c in label]
    gaps = [em * rng.uniform(-0.02, 0.2) for _ in label]
    return compose(glyphs, gaps, rng, jitter=em * 0.03)


def render_choice(label: str, src: Sources, rng: np.random.Generator) -> np.ndarray:
    return render_text(label, src, rng)


# ---------------------------------------------------------------- photo-crop degradation


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
        src_pts = np.float32([[0, 0], [W, 0], [W, H], [0, H]])
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
            cv2.line(frag, (int(rng.integers(0, w // 2)), h - 1 - off), (int(rng.integers(w // 2, w)), h - 1 - off), val, t)
        elif side == 2:
            cv2.line(frag, (off, int(rng.integers(0, h // 2))), (off, int(rng.integers(h // 2, h))), val, t)
        else:
            cv2.line(frag, (w - 1 - off, int(rng.integers(0, h // 2))), (w - 1 - off, int(rng.integers(h // 2, h))), val, t)
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


def stacked_fraction_crop(label: str, src: Sources, rng: np.random.Generator) -> np.ndarray:
    """A stacked fraction photo crop. A slanted hand leans each digit, but the numerator stays
    over the denominator, so the whole stack gets only the usual mild shear."""
    return photo_crop(render_stacked_fraction(label, src, rng), rng, strong_slant=0.0)


RENDERERS = {
    "number": render_digits_symbols, "math": render_digits_symbols, "text": render_text,
    "chinese": render_chinese, "choice": render_choice,
}


def make_label(category: str, src: Sources, rng: np.random.Generator) -> str:
    if category == "number":
        return number_label(rng)
    if category == "math":
        return math_label(rng)
    if category == "text":
        return text_label(rng, src.en_words)
    if category == "chinese":
        return chinese_label(rng, src)
    return choice_label(rng)


@dataclass(frozen=True)
class Variation:
    """Ways of writing that only training crops get. Validation and bench crops keep NO_VARIATION:
    a share at 0 draws no random number, so their crops, and the figures measured on them, stay
    those of earlier runs.
    hand_warp: share of crops whose letters are bent into another hand (_hand_warp);
    crowded: share of number and math crops written tight (render_digits_symbols);
    pen_latin: share of English crops written with a pen in a single-line hand
    (render_pen_text), and of math crops whose letters are (render_digits_symbols);
    big_capitals: share of the other English crops holding a LOOKALIKE_CAPITALS letter whose
    capitals are written as large small letters (render_text)."""
    hand_warp: float = 0.0
    crowded: float = 0.0
    pen_latin: float = 0.0
    big_capitals: float = 0.0


NO_VARIATION = Variation()


def _drawn(share: float, rng: np.random.Generator) -> bool:
    return share > 0 and rng.random() < share


def make_sample(category: str, src: Sources, rng: np.random.Generator, label: str | None = None,
                strong_slant: float = 0.25, variation: Variation = NO_VARIATION) -> tuple[np.ndarray, str]:
    """One (crop, label) pair of a category; the crop is a grayscale uint8 image."""
    label = label or make_label(category, src, rng)
    if category in ("number", "math"):
        crowded = _drawn(variation.crowded, rng)
        pen = category == "math" and any(c.isalpha() for c in label) and _drawn(variation.pen_latin, rng)
        if crowded or pen:
            alpha = render_digits_symbols(label, src, rng, crowded=crowded, pen_letters=pen)
        else:
            alpha = RENDERERS[category](label, src, rng)
    elif category == "text" and _drawn(variation.pen_latin, rng):
        alpha = render_pen_text(label, rng)
    elif (category == "text" and any(c in LOOKALIKE_CAPITALS for c in label)
          and _drawn(variation.big_capitals, rng)):
        alpha = render_text(label, src, rng, big_capitals=True)
    else:
        alpha = RENDERERS[category](label, src, rng)
    return photo_crop(alpha, rng, strong_slant, variation.hand_warp), label


# ---------------------------------------------------------------- dataset on disk

MIX = {"number": 0.2, "math": 0.13, "text": 0.2, "chinese": 0.44, "choice": 0.03}
# What training crops get (Variation). hand_warp: bent hands, from run 5. crowded: from run 6 (a
# thick `1` and `/` fused into a V read as 4 before run 6 saw such crops). pen_latin: from run 7
# (fonts are a fixed hand each); run 7 was not shipped: held-out English rose 2 points and
# Chinese fell 1.3, neither outside chance (MODEL_CARD), so the share is kept, unproven.
# big_capitals: from run 8 (held-out English lost about 7 points to case alone, most in hands
# whose capitals are small letters written larger); run 8 was not shipped: its case errors did
# not move (MODEL_CARD), so the share is kept, unproven.
TRAINING = Variation(hand_warp=0.5, crowded=0.3, pen_latin=0.3, big_capitals=0.5)


@dataclass
class RenderJob:
    start: int
    count: int
    seed: int
    split: str
    variation: Variation = NO_VARIATION


_WORKER_SOURCES: dict[str, Sources] = {}


def _category_for(index: int, seed: int) -> str:
    rng = np.random.default_rng([seed, index, 7])
    return str(rng.choice(list(MIX), p=list(MIX.values())))


VALIDATION_SEED = 2


def check_training_seed(seed: int) -> None:
    if seed == VALIDATION_SEED:
        raise ValueError(f"seed {VALIDATION_SEED} is the validation set's")


def _render_worker_init(sources: Sources | None, split: str) -> None:
    cv2.setNumThreads(1)
    if sources is not None:
        _WORKER_SOURCES[split] = sources


def render_pool(workers: int, sources: Sources | None = None, split: str = "train"):
    """A process pool for render_chunk jobs. The processes are spawned, not forked: a fork of a
    process whose OpenCV or OpenMP thread pools have run can deadlock in the child. Each works
    single-threaded: OpenCV otherwise starts a thread per core in every process (14 processes on
    16 cores ran at a load average of 218; single-threaded, 12, at the same ~2,650 samples/s).
    `sources`, when given, are used for `split` instead of loading the training cache."""
    return mp.get_context("spawn").Pool(workers, initializer=_render_worker_init,
                                        initargs=(sources, split))


def render_chunk(job: RenderJob) -> tuple[int, np.ndarray, np.ndarray, list[str], list[int]]:
    if job.split not in _WORKER_SOURCES:
        _WORKER_SOURCES[job.split] = load_sources(job.split)
    src = _WORKER_SOURCES[job.split]
    images = np.full((job.count, HEIGHT, MAX_WIDTH), 0, np.uint8)
    widths, labels, cats = np.zeros(job.count, np.int32), [], []
    for k in range(job.count):
        i = job.start + k
        rng = np.random.default_rng([job.seed, i])
        cat = _category_for(i, job.seed)
        crop, label = make_sample(cat, src, rng, variation=job.variation)
        line = prepare_line_u8(crop, HEIGHT, MAX_WIDTH)
        images[k, :, :line.shape[1]] = line
        widths[k] = line.shape[1]
        labels.append(label)
        cats.append(CATEGORIES.index(cat))
    return job.start, images, widths, labels, cats


def write_lines(out: Path, count: int, max_width: int, chunks, names: tuple[str, ...] = CATEGORIES) -> None:
    """Write (start, images, widths, labels, cats) chunks, as render_chunk returns them, into
    out/{images.npy (memory-mapped), widths.npy, cats.npy, labels.json, names.json}; cats index
    `names`."""
    out.mkdir(parents=True, exist_ok=True)
    images = np.lib.format.open_memmap(out / "images.npy", mode="w+", dtype=np.uint8,
                                       shape=(count, HEIGHT, max_width))
    widths = np.zeros(count, np.int32)
    labels: list[str] = [""] * count
    cats = np.zeros(count, np.int8)
    t0, done = time.time(), 0
    for start, imgs, w, lab, cat in chunks:
        n = len(lab)
        images[start:start + n] = imgs
        widths[start:start + n] = w
        labels[start:start + n] = lab
        cats[start:start + n] = cat
        done += n
        print(f"{out.name}: {done}/{count} rendered, {done / (time.time() - t0):.0f}/s", flush=True)
    images.flush()
    np.save(out / "widths.npy", widths)
    np.save(out / "cats.npy", cats)
    (out / "labels.json").write_text(json.dumps(labels, ensure_ascii=False))
    (out / "names.json").write_text(json.dumps(list(names)))


def render_dataset(out: Path, count: int, seed: int, split: str, workers: int = 2, chunk: int = 500,
                   variation: Variation = NO_VARIATION) -> None:
    """Render `count` samples into `out` (write_lines); images hold prepare_line_u8 output."""
    jobs = [RenderJob(s, min(chunk, count - s), seed, split, variation) for s in range(0, count, chunk)]
    with render_pool(workers, split=split) as pool:
        write_lines(out, count, MAX_WIDTH, pool.imap_unordered(render_chunk, jobs))


def render_dataset_cli(scale: float = 1.0, workers: int = 2, seed: int = 1, train_only: bool = False) -> None:
    """seed picks the training samples (a later run renders fresh ones with a new seed); the
    validation set always uses seed 2 and MNIST's validation split. train_only keeps the
    validation set already on disk (it does not change between runs)."""
    from grader.paths import cache_dir

    check_training_seed(seed)
    root = cache_dir() / "dataset"
    if not (train_only and (root / "val" / "labels.json").exists()):
        render_dataset(root / "val", int(6000 * scale), seed=VALIDATION_SEED, split="val", workers=workers)
    render_dataset(root / "train", int(400_000 * scale), seed=seed, split="train", workers=workers,
                   variation=TRAINING)
