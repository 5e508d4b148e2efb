"""The recogniser's post-processor: a crop's CTC log-probabilities -> a Reading.

Decoding (grader.ctc, greedy or beam) under the question kind's alphabet, the word lists of
grader.words for English and Chinese (a prior that breaks near-ties towards listed words), the
choice among several views of one crop, and the calibrated confidence (grader.confidence).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grader import ctc, words
from grader.charset import HANZI, LETTERS, kind_mask
from grader.confidence import calibrated, reading_features

# (reading, its log-likelihood, the model's own reading, its log-likelihood) of one crop's
# restricted log-probabilities (Alphabet); the two differ where the word list replaced the model's reading.
Found = tuple[str, float, str, float]


@dataclass(frozen=True)
class Alphabet:
    """The model outputs a kind's reading may use: their columns in the model's output (the
    blank first) and the characters they stand for, so that decoding runs over a kind's own
    columns (22 for a number, 3,766 for Chinese) instead of the whole charset (3,832)."""

    columns: np.ndarray | None  # None: every output (no kind)
    chars: list[str]  # column j + 1 of a restricted array reads chars[j]
    index: dict[str, int]

    @classmethod
    def of(cls, kind: str | None, chars: list[str]) -> Alphabet:
        if not kind:
            return cls(None, chars, {c: i for i, c in enumerate(chars)})
        columns = np.flatnonzero(kind_mask(kind, chars) | (np.arange(len(chars) + 1) == ctc.BLANK))
        kept = [chars[k - 1] for k in columns[1:]]
        return cls(columns, kept, {c: i for i, c in enumerate(kept)})

    def restrict(self, log_probs: np.ndarray) -> np.ndarray:
        """(T, C) log-probabilities over the model's outputs -> (T, len(chars) + 1) over this
        alphabet, renormalised per frame: the same values as ctc.apply_mask with the kind's
        mask, without the columns it sets to -inf."""
        if self.columns is None:
            return log_probs
        return ctc.log_softmax(log_probs[:, self.columns])

    def from_logits(self, logits: np.ndarray) -> np.ndarray:
        """The model's (T, C) logits -> log-probabilities over this alphabet (float64). The
        softmax over the kind's columns alone is the full softmax renormalised over them."""
        kept = logits if self.columns is None else logits[:, self.columns]
        top = kept.max(axis=1, keepdims=True)
        # the normaliser in float32 (the exponentials of 3,766 Chinese columns are most of a
        # reading's decoding; float32 halves them), the result in float64: the same argmax per
        # frame, likelihoods within about 1e-6 nats a frame of the float64 softmax
        norm = np.log(np.exp(kept - top).sum(axis=1, keepdims=True, dtype=np.float32))
        out = kept.astype(np.float64)
        out -= top + norm.astype(np.float64)
        return out


# A crop read without a kind (POST /ocr, `recognize` without --kind) is read with the kind its
# script says: the share of the model's non-blank probability mass on Chinese characters, on
# Latin letters and on digits and symbols (space and the punctuation English uses count for
# none). Chosen on validation compositions of the packs' held-back writers (packs.held_back_items,
# seed 2, 60 crops per group, crnn-5): Chinese crops hold 0.25-1.0 of their mass on hanzi (the
# 10th percentile 0.88), all others at most 0.48; English words and lines at most 0.013 on
# digits and symbols, numbers at least 0.98. Letters-only maths (CROHME's `ab`, 10 % of its
# crops) reads as English: nothing on the crop says otherwise.
HANZI_SHARE = 0.5
SYMBOL_SHARE = 0.02


@dataclass(frozen=True)
class Reading:
    text: str
    confidence: float  # calibrated probability that `text` is exactly right
    log_likelihood: float  # CTC log P(text | crop) under the kind's alphabet
    # The model's own reading when the word list replaced it (grader.words), else None.
    model_text: str | None = None
    model_log_likelihood: float | None = None


def tidy_spaces(text: str) -> str:
    """A reading with single spaces between words and none at its ends. The model may emit a
    space twice in a wide gap between words (space, blank, space: two spaces to CTC), seen on
    lines read in windows; no answer is told apart by its number of spaces."""
    return re.sub(" {2,}", " ", text).strip(" ")


class ReadingDecoder:
    """Log-probabilities -> Readings for one charset, calibration and folder of word lists."""

    def __init__(self, chars: list[str], calibration: Sequence[float], words_dir: Path):
        self.chars = chars
        self.index = {c: i for i, c in enumerate(chars)}
        self.calibration = calibration
        self.words_dir = words_dir  # the word lists (grader.words.FILES)
        # kind -> its Alphabet; built once per kind, not per crop (it walks the whole charset)
        self._alphabets: dict[str | None, Alphabet] = {}
        self._script: np.ndarray | None = None  # per output: 0 hanzi, 1 letter, 2 digit or symbol, 3 neither

    def alphabet(self, kind: str | None) -> Alphabet:
        if kind not in self._alphabets:
            self._alphabets[kind] = Alphabet.of(kind, self.chars)
        return self._alphabets[kind]

    def restricted(self, log_probs: np.ndarray, kind: str | None) -> np.ndarray:
        """The model's log-probabilities over the kind's alphabet (Alphabet.restrict); every
        method below that takes `lp` takes such an array and decodes with the kind's Alphabet."""
        return self.alphabet(kind).restrict(log_probs)

    def from_logits(self, logits: np.ndarray, kind: str | None) -> np.ndarray:
        """The model's logits of one line as `restricted` log-probabilities."""
        return self.alphabet(kind).from_logits(logits)

    def guess_kind(self, logits: np.ndarray) -> str:
        """The kind a crop read without one is decoded as, from where the model's non-blank
        probability mass lies (HANZI_SHARE, SYMBOL_SHARE): `chinese` (which allows digits),
        `text` (letters only: the English alphabet and word list), `math` (digits and symbols,
        with or without letters: every Latin answer but a word). Blank crops never come here in
        grading (grader.crops finds them before reading)."""
        if self._script is None:
            groups = np.full(len(self.chars) + 1, 3)  # 3: the blank, space, English punctuation
            hanzi, letters = set(HANZI), set(LETTERS)
            for i, c in enumerate(self.chars, start=1):
                groups[i] = 0 if c in hanzi else 1 if c in letters else 3 if c in " '-.,?!" else 2
            self._script = groups
        x = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(x, dtype=np.float64)
        p /= p.sum(axis=1, keepdims=True)
        mass = np.bincount(self._script, weights=p.sum(axis=0), minlength=4)[:3]
        hanzi_share, _, symbol_share = mass / max(mass.sum(), 1e-12)
        if hanzi_share >= HANZI_SHARE:
            return "chinese"
        return "text" if symbol_share < SYMBOL_SHARE else "math"

    def string_log_likelihoods(self, log_probs: np.ndarray, candidates: Sequence[str],
                               kind: str | None = None) -> list[float]:
        """CTC log P(candidate | crop) by forced alignment under the kind's alphabet; -inf for a
        candidate with a character outside it."""
        return ctc.string_log_likelihoods(self.restricted(log_probs, kind), candidates, self.alphabet(kind).index)

    def decode_with_features(self, log_probs: np.ndarray, kind: str | None = None, beam_width: int = 0,
                             use_words: bool = True) -> tuple[Reading, np.ndarray]:
        """The reading and the features its confidence comes from (grader.confidence)."""
        lp = self.restricted(log_probs, kind)
        return self.reading(lp, self.texts(lp, kind, beam_width, use_words))

    def decode_views(self, log_probs: Sequence[np.ndarray], kind: str | None = None, beam_width: int = 0,
                     use_words: bool = True) -> Reading:
        """One crop's reading from the model's outputs on several views of it (grader.lines.VIEWS,
        in order); see `choose`."""
        lps = [self.restricted(lp, kind) for lp in log_probs]
        found = [self.texts(lp, kind, beam_width, use_words, next_best=i == 0) for i, lp in enumerate(lps)]
        return self.choose(lps, found, kind, use_words)

    def choose(self, views: Sequence[np.ndarray], found: Sequence[Found], kind: str | None,
               use_words: bool) -> Reading:
        """The reading of a crop from its views' restricted log-probabilities and their `texts`.

        Candidates are each view's reading, with and (where a word list applies) without the
        list. Each is scored by its mean CTC log-likelihood over the views, less the allowance
        the word list gives its unlisted words (what `improve` lets a listed word give away), so
        a listed word wins on the same terms as in one view. The winner is returned as read in
        the first view that gave it, with that view's confidence.
        """
        word_list = self._word_list(kind, use_words)
        first_view: dict[str, int] = {}
        for i, (text, _, _, _) in enumerate(found):
            first_view.setdefault(text, i)
        for i, (_, _, own_text, _) in enumerate(found):
            first_view.setdefault(own_text, i)
        texts = list(first_view)
        index = self.alphabet(kind).index
        lls = np.mean([ctc.string_log_likelihoods(lp, texts, index) for lp in views], axis=0)
        scores = {text: float(ll) - (word_list.allowance(text) if word_list is not None else 0.0)
                  for text, ll in zip(texts, lls)}
        best = max(scores, key=lambda text: scores[text])  # ties: the earliest candidate
        i = first_view[best]
        text, ll, own_text, own_ll = found[i]
        if best != text:  # the view's own reading, which its word list had replaced
            text, ll = own_text, own_ll
        return self.reading(views[i], (text, ll, own_text, own_ll))[0]

    def texts(self, lp: np.ndarray, kind: str | None, beam_width: int, use_words: bool,
              next_best: bool = True) -> Found:
        """The reading of restricted log-probabilities, and the model's own where a word list
        replaced it. Without `next_best` the English list does not try the model's next-best
        readings (words.EnglishWords.improve): the other views of a crop (`choose`) are
        alternatives enough, and the beam search behind them cost most of their decoding."""
        alphabet = self.alphabet(kind)
        if beam_width > 1:
            own_text, own_ll = ctc.beam_search(lp, alphabet.chars, beam_width)[0]
        else:
            own_text = ctc.greedy_decode(lp, alphabet.chars)
            own_ll = ctc.string_log_likelihood(lp, own_text, alphabet.index)
        if (tidy := tidy_spaces(own_text)) != own_text:
            own_text, own_ll = tidy, ctc.string_log_likelihood(lp, tidy, alphabet.index)
        text, ll = own_text, float(own_ll)
        word_list = self._word_list(kind, use_words)
        if word_list is not None:
            def score(candidates: Sequence[str]) -> list[float]:
                return ctc.string_log_likelihoods(lp, candidates, alphabet.index)

            if isinstance(word_list, words.EnglishWords) and not next_best:
                text, ll = word_list.improve(own_text, float(own_ll), score)
            else:
                text, ll = word_list.improve(own_text, float(own_ll), score, lp, alphabet.chars)
        return text, float(ll), own_text, float(own_ll)

    def reading(self, lp: np.ndarray, found: Found) -> tuple[Reading, np.ndarray]:
        """`found` as a Reading with its calibrated confidence, and the confidence's features."""
        text, ll, own_text, own_ll = found
        changed = text != own_text
        features = reading_features(lp, ll, own_ll, changed)
        return Reading(text=text, confidence=calibrated(features, self.calibration), log_likelihood=ll,
                       model_text=own_text if changed else None,
                       model_log_likelihood=own_ll if changed else None), features

    def lexicon(self, lp: np.ndarray, lexicon: Sequence[str], kind: str | None = None) -> Reading:
        """The reading of restricted log-probabilities constrained to allowed strings (e.g. a roster)."""
        alphabet = self.alphabet(kind)
        text, ll = ctc.lexicon_decode(lp, lexicon, alphabet.index)
        free = ctc.string_log_likelihood(lp, ctc.greedy_decode(lp, alphabet.chars), alphabet.index)
        # how close the constrained answer is to the model's own best reading
        confidence = math.exp(min(0.0, ll - free)) if math.isfinite(ll) else 0.0
        return Reading(text=text, confidence=confidence, log_likelihood=ll)

    def _word_list(self, kind: str | None, use_words: bool) -> words.EnglishWords | words.ChineseWords | None:
        return words.load(kind, self.words_dir) if use_words and kind else None
