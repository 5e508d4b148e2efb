"""The recogniser's post-processor: a crop's CTC log-probabilities -> a Reading.

Decoding (grader.ctc, greedy or beam) under the question kind's alphabet, the word lists of
grader.words for English and Chinese (a prior that breaks near-ties towards listed words), the
choice among several views of one crop, and the calibrated confidence (grader.confidence).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grader import ctc, words
from grader.charset import kind_mask
from grader.confidence import calibrated, reading_features

# (reading, its log-likelihood, the model's own reading, its log-likelihood) of one crop's
# masked log-probabilities; the two differ where the word list replaced the model's reading.
Found = tuple[str, float, str, float]


@dataclass(frozen=True)
class Reading:
    text: str
    confidence: float  # calibrated probability that `text` is exactly right
    log_likelihood: float  # CTC log P(text | crop) under the kind's alphabet
    # The model's own reading when the word list replaced it (grader.words), else None.
    model_text: str | None = None
    model_log_likelihood: float | None = None


class ReadingDecoder:
    """Log-probabilities -> Readings for one charset, calibration and folder of word lists."""

    def __init__(self, chars: list[str], calibration: Sequence[float], words_dir: Path):
        self.chars = chars
        self.index = {c: i for i, c in enumerate(chars)}
        self.calibration = calibration
        self.words_dir = words_dir  # the word lists (grader.words.FILES)
        # kind -> output mask; built once per kind, not per crop (it walks the whole charset)
        self._masks: dict[str, np.ndarray] = {}

    def masked(self, log_probs: np.ndarray, kind: str | None) -> np.ndarray:
        """`log_probs` restricted to the kind's alphabet (unchanged when kind is None)."""
        if not kind:
            return log_probs
        if kind not in self._masks:
            self._masks[kind] = kind_mask(kind, self.chars)
        return ctc.apply_mask(log_probs, self._masks[kind])

    def string_log_likelihoods(self, log_probs: np.ndarray, candidates: Sequence[str],
                               kind: str | None = None) -> list[float]:
        """CTC log P(candidate | crop) by forced alignment; -inf for characters outside the charset."""
        return ctc.string_log_likelihoods(self.masked(log_probs, kind), candidates, self.index)

    def decode_with_features(self, log_probs: np.ndarray, kind: str | None = None, beam_width: int = 0,
                             use_words: bool = True) -> tuple[Reading, np.ndarray]:
        """The reading and the features its confidence comes from (grader.confidence)."""
        lp = self.masked(log_probs, kind)
        return self.reading(lp, self.texts(lp, kind, beam_width, use_words))

    def decode_views(self, log_probs: Sequence[np.ndarray], kind: str | None = None, beam_width: int = 0,
                     use_words: bool = True) -> Reading:
        """One crop's reading from the model's outputs on several views of it (grader.lines.VIEWS,
        in order); see `choose`."""
        masked = [self.masked(lp, kind) for lp in log_probs]
        return self.choose(masked, [self.texts(lp, kind, beam_width, use_words) for lp in masked], kind, use_words)

    def choose(self, masked: Sequence[np.ndarray], found: Sequence[Found], kind: str | None,
               use_words: bool) -> Reading:
        """The reading of a crop from its views' masked log-probabilities and their `texts`.

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
        lls = np.mean([ctc.string_log_likelihoods(lp, texts, self.index) for lp in masked], axis=0)
        scores = {text: float(ll) - (word_list.allowance(text) if word_list is not None else 0.0)
                  for text, ll in zip(texts, lls)}
        best = max(scores, key=lambda text: scores[text])  # ties: the earliest candidate
        i = first_view[best]
        text, ll, own_text, own_ll = found[i]
        if best != text:  # the view's own reading, which its word list had replaced
            text, ll = own_text, own_ll
        return self.reading(masked[i], (text, ll, own_text, own_ll))[0]

    def texts(self, lp: np.ndarray, kind: str | None, beam_width: int, use_words: bool) -> Found:
        """The reading of masked log-probabilities, and the model's own where a word list replaced it."""
        if beam_width > 1:
            own_text, own_ll = ctc.beam_search(lp, self.chars, beam_width)[0]
        else:
            own_text = ctc.greedy_decode(lp, self.chars)
            own_ll = ctc.string_log_likelihood(lp, own_text, self.index)
        text, ll = own_text, float(own_ll)
        word_list = self._word_list(kind, use_words)
        if word_list is not None:
            def score(candidates: Sequence[str]) -> list[float]:
                return ctc.string_log_likelihoods(lp, candidates, self.index)

            text, ll = word_list.improve(own_text, float(own_ll), score, lp, self.chars)
        return text, float(ll), own_text, float(own_ll)

    def reading(self, lp: np.ndarray, found: Found) -> tuple[Reading, np.ndarray]:
        """`found` as a Reading with its calibrated confidence, and the confidence's features."""
        text, ll, own_text, own_ll = found
        changed = text != own_text
        features = reading_features(lp, ll, own_ll, changed)
        return Reading(text=text, confidence=calibrated(features, self.calibration), log_likelihood=ll,
                       model_text=own_text if changed else None,
                       model_log_likelihood=own_ll if changed else None), features

    def lexicon(self, lp: np.ndarray, lexicon: Sequence[str]) -> Reading:
        """The reading of masked log-probabilities constrained to allowed strings (e.g. a roster)."""
        text, ll = ctc.lexicon_decode(lp, lexicon, self.index)
        free = ctc.string_log_likelihood(lp, ctc.greedy_decode(lp, self.chars), self.index)
        # how close the constrained answer is to the model's own best reading
        confidence = math.exp(min(0.0, ll - free)) if math.isfinite(ll) else 0.0
        return Reading(text=text, confidence=confidence, log_likelihood=ll)

    def _word_list(self, kind: str | None, use_words: bool) -> words.EnglishWords | words.ChineseWords | None:
        return words.load(kind, self.words_dir) if use_words and kind else None
