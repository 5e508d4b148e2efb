"""Crops the recogniser misreads, found at test time from the model's own readings.

Tests of what the grader does with a misreading (the word list puts a near miss right, the
views read crowded letters, grading keeps the model's own reading) need crops the model gets
wrong. A fixed list of such crops holds only for the model it was picked for: a retrained model
reads them right and the tests lose their subject. So each word here is degraded along a ladder,
mildest first, and the first crop the model misreads in the way a test needs is kept; a better
model only moves the pick to a harsher rung. The tests then assert what the grader does relative
to that reading, and require enough picks that a broken behaviour cannot pass by finding none.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from rapidfuzz.distance import Levenshtein

from grader import words
from grader.recognizer import Recognizer
from tests.ink_crops import LATIN_FONTS, render

# Listed English words (grader.words' list) of five letters or more, so a misread letter leaves
# a word the list can still recognise.
WORDS = ("homework", "elephant", "fatherless", "pencil", "kitchen", "window", "garden", "number",
         "minimum", "several", "hundred", "picture", "morning", "brother", "teacher", "children")
# Letter height (px) a word is shrunk to before it is enlarged again: detail lost, size kept.
SHRINK_LADDER = (16.0, 14.0, 12.5, 11.0, 10.0, 9.0, 8.0, 7.0)
# Width a word is squeezed to (fraction of its own), so its letters crowd.
SQUEEZE_LADDER = (0.8, 0.7, 0.62, 0.55, 0.5, 0.45, 0.4, 0.35, 0.3)


@dataclass(frozen=True)
class Misread:
    crop: np.ndarray
    word: str  # what was written
    own: str  # what the model reads letter by letter in the line as prepared (one view)
    rung: float  # the ladder step that made the model misread it


def shrunk(word: str, seed: int, height: float) -> np.ndarray:
    """A training-font word shrunk to `height` px and enlarged again, as blurred as a small
    word in a phone photo."""
    crop = render(word, LATIN_FONTS[seed % 2], np.random.default_rng([seed, len(word)]))
    h, w = crop.shape
    s = height / h
    small = cv2.resize(crop, (max(1, int(w * s)), max(1, int(h * s))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def squeezed(word: str, seed: int, squeeze: float) -> np.ndarray:
    """A training-font word squeezed to `squeeze` of its width."""
    crop = render(word, LATIN_FONTS[seed % 3], np.random.default_rng([seed, 99]))
    h, w = crop.shape
    return cv2.resize(crop, (max(8, int(w * squeeze)), h), interpolation=cv2.INTER_AREA)


def _letters(recognizer: Recognizer, crops: list[np.ndarray]) -> list[str]:
    """Each crop read alone, letter by letter, as the tests read the picks. (The first int8 file
    of crnn-9 read a crop on the edge between two readings, `rlephant` / `Blephant`, one way beside
    the other rungs of its ladder and the other way alone; since the pinned ranges of
    grader/training/fixed_range.py a batch reads each crop as alone, tests/test_fixed_range.py.)"""
    return [recognizer.read([crop], kind="text", use_words=False)[0].text for crop in crops]


def nearly_read(recognizer: Recognizer, crop: np.ndarray, word: str, own: str) -> bool:
    """Whether the model's reading `own` is a near miss of `word` in grader.words' sense: not
    listed, within its edit distance, and `word` is the most likely of the listed neighbours and
    at most the allowance of nats less likely than `own`."""
    listed = words.load("text", recognizer.words_dir)
    assert isinstance(listed, words.EnglishWords), "the English word list is missing from models/"
    if own in listed or own.casefold() == word or Levenshtein.distance(own.casefold(), word) > 2:
        return False
    neighbours = sorted(listed.replacements(own))
    if word not in neighbours:
        return False
    lp = recognizer.log_probs([crop], kind="text")[0]
    own_ll, *lls = recognizer.string_log_likelihoods(lp, [own, *neighbours], "text")
    best = neighbours[int(np.argmax(lls))]
    return best == word and max(lls) + words.english_nats(own) >= own_ll


def near_misses(recognizer: Recognizer, count: int = 6) -> list[Misread]:
    """Up to `count` words, each at the mildest shrink the model misreads as a near miss that
    the word list should put right."""
    out: list[Misread] = []
    for seed, word in enumerate(WORDS):
        crops = [shrunk(word, seed, height) for height in SHRINK_LADDER]
        for crop, own, height in zip(crops, _letters(recognizer, crops), SHRINK_LADDER):
            if own != word and nearly_read(recognizer, crop, word, own):
                out.append(Misread(crop, word, own, height))
                break
        if len(out) == count:
            break
    return out


def crowded(recognizer: Recognizer, count: int = 6) -> list[Misread]:
    """Up to `count` words, each at the mildest squeeze the model misreads letter by letter in
    the line as prepared (one view)."""
    out: list[Misread] = []
    for seed, word in enumerate(WORDS):
        crops = [squeezed(word, seed, s) for s in SQUEEZE_LADDER]
        for crop, own, squeeze in zip(crops, _letters(recognizer, crops), SQUEEZE_LADDER):
            if own != word:
                out.append(Misread(crop, word, own, squeeze))
                break
        if len(out) == count:
            break
    return out
