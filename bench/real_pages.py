"""Worksheet pages written by real people the model never trained on, for bench/grading.py.

Each page is one writer's: a key of 10 questions of one kind is made from what that writer wrote
(grader/training/packs.py loads the packs in ../shared/handwriting and fixes which writers are
held back from training), the writer's own ink is written into the answer boxes of the printed
sheet, and the sheet is photographed (grader.simulate). Answers a class might write: 60 % right,
15 % a near miss (one character changed, or the writer's most similar other word), 10 % another
question's answer, 15 % blank.

The held-back writers are split once more, so that thresholds are chosen on some of them and
reported on the others (`side`):

- Chinese words and Chinese numerals: CASIA-HWDB1.1's 30 held-back writers, by position in
  writer order: even positions choose, odd positions report.
- English words: ImadocSen's held-back writer9 and writer22 choose, writer37 and writer45 report.
- Maths and numbers: CROHME's held-back expressions. The pack names a writer for very few of them
  (3 expressions each for the four named held-back writers), so this split is by expression
  text (crc32, even or odd), not by writer: the two sides may share writers.

Nothing of the packs is written to disk; the pages live in memory for one bench run.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator

import cv2
import numpy as np
from rapidfuzz.distance import Levenshtein

from grader.answer_key import AnswerKey
from grader.simulate import INKS_BGR, PhotoParams, simulate_photo
from grader.training import packs
from grader.training.labels import chinese_numeral
from grader.worksheet import render_page

SIDES = ("choose", "report")
IMADOCSEN_CHOOSE = frozenset({"writer9", "writer22"})
QUESTIONS_PER_PAGE = 10


@dataclass
class Written:
    """One answer written on a real page: the text and its ink (alpha, ink 1), or blank."""

    text: str
    alpha: np.ndarray | None


@dataclass
class RealPage:
    key: AnswerKey
    written: dict[str, str]  # question id -> text written ("" blank)
    image: np.ndarray  # the phone photo (BGR)
    group: str  # zh-words, zh-numerals, en-words, math


def _key(page_id: str, kind_of: list[str], answers: list[str], matches: list[dict]) -> AnswerKey:
    wide = any(k in ("text", "math", "number") for k in kind_of)
    questions = []
    for i, (kind, answer, match) in enumerate(zip(kind_of, answers, matches)):
        questions.append({"id": f"q{i + 1}", "label": str(i + 1), "page": 1, "kind": kind,
                          "box": [0.22, round(0.17 + i * 0.078, 4), 0.55 if wide else 0.32, 0.058],
                          "answers": [answer], "match": match, "prompt": ""})
    return AnswerKey.model_validate({"id": page_id, "title": f"Real writers: {page_id}",
                                     "pages": 1, "questions": questions})


def _paste(page: np.ndarray, box: tuple[float, ...], alpha: np.ndarray, rng: np.random.Generator) -> None:
    """Write an ink alpha into a box of the page, scaled to 45-75 % of the box height."""
    height, width = page.shape[:2]
    x, y, w, h = box
    bx0, by0 = round(x * width) + 8, round(y * height) + 8
    bw, bh = round(w * width) - 16, round(h * height) - 16
    target = bh * rng.uniform(0.45, 0.75)
    scale = min(target / alpha.shape[0], bw / alpha.shape[1])
    size = (max(1, int(alpha.shape[1] * scale)), max(1, int(alpha.shape[0] * scale)))
    a = cv2.resize(alpha.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    mh, mw = a.shape
    ox = bx0 + int(rng.integers(0, max(1, bw - mw + 1)))
    oy = by0 + int(rng.integers(0, max(1, bh - mh + 1)))
    ink = np.array(INKS_BGR[int(rng.integers(len(INKS_BGR)))], np.float32)
    a = np.clip(a, 0, 1)[:, :, None] * rng.uniform(0.85, 1.0)
    region = page[oy:oy + mh, ox:ox + mw].astype(np.float32)
    page[oy:oy + mh, ox:ox + mw] = (region * (1 - a) + ink * a).astype(np.uint8)


def _photo(key: AnswerKey, inks: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    page = render_page(key, 1)
    for q in key.questions:
        if q.id in inks:
            _paste(page, q.box, inks[q.id], rng)
    return simulate_photo(page, rng, PhotoParams.random(rng, severity=0.6, frame=(1600, 1200))).image


def _roles(n: int, rng: np.random.Generator) -> list[str]:
    rolls = rng.uniform(size=n)
    return ["blank" if r < 0.15 else "right" if r < 0.75 else "near" if r < 0.90 else "other" for r in rolls]


# --- Chinese: CASIA writers ---------------------------------------------------------------------

@lru_cache(maxsize=1)
def _casia_val() -> list[packs.Hand]:
    return packs.load_casia("val")


def _casia_hands(side: str) -> list[packs.Hand]:
    hands = _casia_val()
    return [h for i, h in enumerate(hands) if (i % 2 == 0) == (side == "choose")]


def _numerals_within(chars: frozenset[str], rng: np.random.Generator, count: int) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for _ in range(2000):
        n = int(rng.choice([rng.integers(1, 100), rng.integers(100, 10000)]))
        numeral = chinese_numeral(n)
        if set(numeral) <= chars and n not in [m for m, _ in out]:
            out.append((n, numeral))
            if len(out) == count:
                break
    return out


def _near_chinese(text: str, chars: frozenset[str], rng: np.random.Generator) -> str:
    pool = sorted(chars - set(text))
    i = int(rng.integers(len(text)))
    return text[:i] + pool[int(rng.integers(len(pool)))] + text[i + 1:]


def chinese_pages(side: str, count: int, numerals: bool, seed: int) -> Iterator[RealPage]:
    hands = _casia_hands(side)
    for p in range(count):
        rng = np.random.default_rng([seed, p, 11 if numerals else 12])
        hand = hands[int(rng.integers(len(hands)))]
        chars = hand.hanzi()
        if numerals:
            pairs = _numerals_within(chars, rng, QUESTIONS_PER_PAGE)
            answers, texts = [str(n) for n, _ in pairs], [s for _, s in pairs]
            match = {"chinese_numerals": True}
        else:
            words, probs = packs._words_within(chars)
            picks = rng.choice(len(words), size=QUESTIONS_PER_PAGE, replace=False, p=probs)
            answers = texts = [words[i] for i in picks]
            match = {"mode": "exact"}
        if len(texts) < 3:
            continue
        key = _key(f"real-{'zh-numerals' if numerals else 'zh-words'}-{side}-{p}", ["chinese"] * len(texts),
                   answers, [match] * len(texts))
        written, inks = {}, {}
        for q, text, role in zip(key.questions, texts, _roles(len(texts), rng)):
            if role == "blank":
                written[q.id] = ""
                continue
            if role == "near":
                if numerals:  # a neighbouring number the writer can write
                    near = [s for _, s in _numerals_within(chars, rng, 3) if s != text]
                    text = near[0] if near else _near_chinese(text, chars, rng)
                else:
                    text = _near_chinese(text, chars, rng)
            elif role == "other":
                text = texts[int(rng.integers(len(texts)))]
            written[q.id] = text
            inks[q.id] = packs.chinese_alpha(hand, text, rng)
        yield RealPage(key, written, _photo(key, inks, rng), "zh-numerals" if numerals else "zh-words")


# --- English: ImadocSen writers -----------------------------------------------------------------

def english_pages(side: str, count: int, seed: int) -> Iterator[RealPage]:
    by_writer: dict[str, dict[str, list]] = {}
    for sentence in packs.load_imadocsen("val"):
        if (sentence.writer in IMADOCSEN_CHOOSE) != (side == "choose"):
            continue
        words = by_writer.setdefault(sentence.writer, {})
        for text, strokes in sentence.words:
            if text.isalpha() and len(text) >= 3:
                words.setdefault(text.lower(), []).append(strokes)
    writers = sorted(by_writer)
    for p in range(count):
        rng = np.random.default_rng([seed, p, 13])
        words = by_writer[writers[p % len(writers)]]
        vocabulary = sorted(words)
        picks = [vocabulary[i] for i in rng.choice(len(vocabulary), size=QUESTIONS_PER_PAGE, replace=False)]
        key = _key(f"real-en-words-{side}-{p}", ["text"] * len(picks), picks, [{}] * len(picks))
        written, inks = {}, {}
        for q, text, role in zip(key.questions, picks, _roles(len(picks), rng)):
            if role == "blank":
                written[q.id] = ""
                continue
            if role == "near":  # the writer's most similar other word
                text = min((w for w in vocabulary if w != text), key=lambda w: Levenshtein.distance(w, text))
            elif role == "other":
                text = picks[int(rng.integers(len(picks)))]
            written[q.id] = text
            strokes = words[text][int(rng.integers(len(words[text])))]
            inks[q.id] = packs.english_alpha([strokes], rng)
        yield RealPage(key, written, _photo(key, inks, rng), "en-words")


# --- Maths and numbers: CROHME expressions -----------------------------------------------------

def _crohme_side(text: str) -> str:
    """By the expression's text, so that an expression is written on one side only."""
    return "choose" if zlib.crc32(text.encode()) % 2 == 0 else "report"


def math_pages(side: str, count: int, seed: int) -> Iterator[RealPage]:
    expressions = [e for e in packs.load_crohme("val")
                   if len(e.text) <= 24 and _crohme_side(e.text) == side]
    by_text: dict[str, list[np.ndarray]] = {}
    for e in expressions:
        by_text.setdefault(e.text, []).append(e.alpha)
    texts_all = sorted(by_text)
    for p in range(count):
        rng = np.random.default_rng([seed, p, 14])
        picks = [texts_all[i] for i in rng.choice(len(texts_all), size=QUESTIONS_PER_PAGE, replace=False)]
        kinds = ["number" if all(c.isdigit() or c in ".,-" for c in t) else "math" for t in picks]
        key = _key(f"real-math-{side}-{p}", kinds, picks, [{}] * len(picks))
        written, inks = {}, {}
        for q, text, role in zip(key.questions, picks, _roles(len(picks), rng)):
            if role == "blank":
                written[q.id] = ""
                continue
            if role in ("near", "other"):
                text = texts_all[int(rng.integers(len(texts_all)))]
            written[q.id] = text
            inks[q.id] = by_text[text][int(rng.integers(len(by_text[text])))]
        yield RealPage(key, written, _photo(key, inks, rng), "math")


def real_pages(side: str, per_group: int, seed: int) -> Iterator[RealPage]:
    """per_group pages of each group (zh-words, zh-numerals, en-words, math) for one side."""
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}")
    yield from chinese_pages(side, per_group, False, seed)
    yield from chinese_pages(side, per_group, True, seed)
    yield from english_pages(side, per_group, seed)
    yield from math_pages(side, per_group, seed)
