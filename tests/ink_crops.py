"""Fixed, deterministic handwriting-style crops for the recogniser tests.

Rendered with the handwriting fonts that come with the project (grader.fonts; also training
sources) through the training generator's own photo-crop degradation, so they need nothing from
the cache.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from grader import fonts
from grader.training.data import Sources
from grader.training.dataset import stacked_fraction_crop
from grader.training.degradation import photo_crop
from grader.training.glyphs import Glyph, compose, font_digit_images, font_glyph

LATIN_FONTS = (fonts.LATIN_HANDS[0], fonts.LATIN_HANDS[3], fonts.CJK_HANDS[0])  # dkg, Comic Neue, WenKai
CJK_FONT = fonts.CJK_HANDS[0]

CASES: tuple[tuple[str, str], ...] = (
    ("42", "number"), ("3.5", "number"), ("-7", "number"), ("3/4", "number"), ("25%", "number"),
    ("1024", "number"), ("0.75", "number"), ("12/5", "number"),
    ("3x+5=11", "math"), ("12÷4", "math"), ("2×7=14", "math"), ("x=4", "math"), ("y=2x+1", "math"),
    ("apple", "text"), ("Lisa", "text"), ("house", "text"), ("green tree", "text"), ("Tom", "text"),
    ("water", "text"),
    ("中国", "chinese"), ("学生", "chinese"), ("十二", "chinese"), ("三百五十", "chinese"),
    ("一千零八", "chinese"), ("老师", "chinese"), ("朋友", "chinese"),
    ("A", "choice"), ("C", "choice"),
)


def render(label: str, font: str, rng: np.random.Generator) -> np.ndarray:
    em = 44
    glyphs = [font_glyph(ch, font, em) if ch != " " else Glyph(np.zeros((2, 14), np.float32), -2) for ch in label]
    alpha = compose(glyphs, [em * 0.06] * len(glyphs), rng, jitter=0.5)
    return photo_crop(alpha, rng)


def make_crops(seed: int = 1234) -> list[tuple[np.ndarray, str, str]]:
    """(crop, label, kind) for every case, one font per case in rotation."""
    out = []
    for i, (label, kind) in enumerate(CASES):
        rng = np.random.default_rng([seed, i])
        font = CJK_FONT if kind == "chinese" else LATIN_FONTS[i % len(LATIN_FONTS)]
        out.append((render(label, font, rng), label, kind))
    return out


def fonts_available() -> bool:
    return all(Path(f).exists() for f in (*LATIN_FONTS, CJK_FONT))


def font_digit_sources() -> Sources:
    """Generator sources built from the project's fonts alone (no cache): 'MNIST-like' digit
    images rendered from the fonts, so number crops can be composed in CI."""
    digits, digit_labels = font_digit_images(LATIN_FONTS)
    return Sources(latin_fonts=list(LATIN_FONTS), cjk_fonts=[CJK_FONT], digits=digits,
                   digit_labels=digit_labels, medians={}, cn_words=["中国"],
                   cn_probs=np.ones(1), en_words=["apple"])


def stacked_fractions(seed: int = 77) -> list[tuple[np.ndarray, str]]:
    src = font_digit_sources()
    out = []
    for i, label in enumerate(("3/4", "1/2", "5/8", "12/25", "7/10", "2/3")):
        rng = np.random.default_rng([seed, i])
        out.append((stacked_fraction_crop(label, src, rng), label))
    return out


# Crops the model misreads (near misses, crowded letters) are not fixed here: they are found
# from the model's own readings at test time (tests/misreads.py), so a retrained model keeps them.
