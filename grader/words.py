"""Word lists as a prior on free readings of English and Chinese answers.

The CRNN reads a word letter by letter, so a writer's unclear `l` can come out as `i` and
`fatherless` as `fatheriess`, a string no dictionary holds. When a reading holds such a word, its
neighbours in the word list (English: up to 2 edits away, a split into two listed words, or a
listed reading on the model's next-best paths; Chinese: one character swapped for one of the
model's runner-up characters at that place) are scored by the CTC log-likelihood on the same
crop, and the best one replaces the reading when the model finds it at most a few nats less
likely (`english_nats`, `CHINESE_NATS`). A reading made of listed words, in a case writers use,
is never changed, and a word the list lacks (a name, a rare word) stays as read unless a listed
word is nearly as likely: the prior breaks near-ties, it does not overrule clear writing. An
English word read in no case that writers use (`eScrows`, `CoMbs`: a capital drawn small or a
small letter drawn large) is put in the most likely one they do use (small, capital first, all
capitals, or as listed), whatever the nats.

Lists (built by `python -m grader.training words`, shipped in models/):
- `words-en.txt.gz`: Debian wamerican's words (letters and apostrophes, up to 14 letters),
  matched ignoring case; a replacement keeps the case the writer used (`Fatheriess` ->
  `Fatherless`), and a spelling the list holds (`Angelita`) is tried as listed too.
- `words-zh.txt.gz`: jieba's dictionary words of 2-4 characters within GB2312 level 1. Chinese
  numerals (十二, 三百五十) count as listed.
"""

from __future__ import annotations

import gzip
import math
import re
from collections.abc import Callable, Iterable, Sequence, Set
from functools import lru_cache
from pathlib import Path

import numpy as np

from grader import ctc
from grader.errors import ModelUnavailable
from grader.normalize import parse_number

# How many nats of CTC log-likelihood a listed word may give away against the model's own reading
# of an unlisted English word of n letters: ENGLISH_NATS[0] + ENGLISH_NATS[1] * n. A longer
# unlisted string is less likely to be a real word the list lacks, so the allowance grows with
# length. Chosen on validation crops only (non-reserved fonts; bench/recognizer.py's validation
# set, 600 crops, and 1,000 "hard" ones: validation sources drawn with Variation(hand_warp=1,
# pen_latin=0.5), seed 9101) by a rule fixed beforehand: the best expected exact match on the hard
# set if a fifth of the words written were unlisted, among settings that cost unlisted words at
# most 3 points on the plain set. Exact match, letters only -> with the list (every label word
# listed / every label word taken out of the list):
#   plain 90.7 -> 96.5 / 88.2 %, hard 66.2 -> 84.9 / 62.4 %  at (2.0, 0.5), the choice;
#   plain 94.8 / 89.8, hard 79.3 / 65.2 at a flat 3 nats; plain 96.7 / 85.8, hard 86.3 / 60.7 at (3.0, 0.5).
ENGLISH_NATS = (2.0, 0.5)
# Chinese, flat: validation 95.3 -> 96.7 % at 3 nats (listed labels 96.1 -> 98.2 %), unlisted
# labels unchanged up to 4 nats and 0.4 points worse at 6.
# Re-checked for crnn-10 with RUNNERS_UP (bench/decoding.py --n 500 --seed 61): 5 nats with 10
# runners-up reads 8 more real held-back words and 4 more hard ones, but costs words the list
# lacks 18 of 500 (real) and 5 (hard), real 1-3 character crops 5: (3.0, 5) stays.
CHINESE_NATS = 3.0
FILES = {"text": "words-en.txt.gz", "chinese": "words-zh.txt.gz"}

WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")
# The next-best English readings tried: the best BEAMS[1] of a beam search of width BEAMS[0].
# Validation, exact match with every label word listed / none listed: plain 96.5 -> 96.7 / 88.2 ->
# 88.2 %, hard 84.9 -> 87.0 / 62.4 -> 62.3 %; about 15 ms more per crop whose reading holds an
# unlisted word (Python beam search).
BEAMS = (8, 4)
# At most this many listed neighbours of one unlisted English word are scored (nearest first).
NEIGHBOURS = 30
# Per character of a Chinese reading, how many of the model's runner-up characters are tried.
RUNNERS_UP = 5

Scorer = Callable[[Sequence[str]], Sequence[float]]  # candidate texts -> CTC log-likelihoods on the crop


def read_list(path: Path) -> list[str]:
    return gzip.decompress(path.read_bytes()).decode("utf-8").split()  # one word per line, no spaces


def write_list(words: Iterable[str], path: Path) -> int:
    unique = sorted(set(words))
    # no name, mtime 0: the same words give the same bytes, so git sees no change on a rebuild
    with open(path, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as f:
        f.write(("\n".join(unique) + "\n").encode("utf-8"))
    return len(unique)


def english_nats(word: str) -> float:
    """The nats a listed word may give away against an unlisted `word` as read."""
    return ENGLISH_NATS[0] + ENGLISH_NATS[1] * len(word)


def _signature(word: str) -> int:
    """64 bits of a word's letter counts: bit k for `a` + k present, bit 32 + k for it present twice
    or more (other characters share bit 31 and 63). One edit changes at most two counts by one,
    and each such change flips at most one bit, so words within e edits differ in at most 2e bits."""
    bits = 0
    for ch in set(word):
        k = ord(ch) - 97 if "a" <= ch <= "z" else 31
        bits |= 1 << k
        if word.count(ch) > 1:
            bits |= 1 << (32 + k)
    return bits


def _cased_like(word: str, written: str) -> str:
    """`word` in the case pattern of what was read: all capitals, a capital first, or as is."""
    if len(written) > 1 and written.isupper():
        return word.upper()
    if written[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


class EnglishWords:
    def __init__(self, words: Iterable[str]):
        self.spellings: dict[str, list[str]] = {}  # casefolded -> the list's spellings
        for w in words:
            self.spellings.setdefault(w.casefold(), []).append(w)
        # the casefolded words ordered by length (then by their place in the list), and where
        # each length starts: a neighbour within e edits differs in length by at most e, so only
        # one slice of lengths is searched, in one vectorised call
        keyed = sorted(enumerate(self.spellings), key=lambda item: (len(item[1]), item[0]))
        self.keys = [key for _, key in keyed]
        self.places = np.array([place for place, _ in keyed], dtype=np.int64)
        lengths = np.array([len(key) for key in self.keys], dtype=np.int64)
        self.starts = np.searchsorted(lengths, np.arange(int(lengths.max(initial=0)) + 2))
        self.signatures = np.array([_signature(key) for key in self.keys], dtype=np.uint64)
        # the same unlisted word comes back in every view of a crop (lines.VIEWS) and across
        # a class's answers: its neighbours are looked up once
        self.replacements = lru_cache(maxsize=4096)(self._replacements)

    def __contains__(self, word: str) -> bool:
        return word.casefold() in self.spellings

    def _replacements(self, written: str) -> frozenset[str]:
        """Listed words near one unlisted word as read, in its case and as listed, and the
        splits of it into two listed words (a space the writer left too narrow)."""
        from rapidfuzz import distance, process

        folded = written.casefold()
        edits = 1 if len(written) <= 4 else 2
        top = len(self.starts) - 1
        lo, hi = (int(self.starts[min(max(n, 0), top)]) for n in (len(folded) - edits, len(folded) + edits + 1))
        # only words whose letter signature is within 2 bits per edit can be that near (_signature):
        # about 1 % of the slice, so the edit distance is computed for a few hundred words, not 40,000
        flips = np.bitwise_count(self.signatures[lo:hi] ^ np.uint64(_signature(folded)))
        near = lo + np.flatnonzero(flips <= 2 * edits)
        found = process.cdist([folded], [self.keys[i] for i in near], scorer=distance.Levenshtein.distance,
                              score_cutoff=edits, dtype=np.int32, workers=1)[0] if len(near) else np.empty(0, int)
        hit = np.flatnonzero(found <= edits)
        out: set[str] = set()
        nearest = near[hit[np.lexsort((self.places[near[hit]], found[hit]))]]  # nearest, then in list order
        for i in nearest[:NEIGHBOURS]:
            for spelling in self.spellings[self.keys[i]]:
                out.update((_cased_like(spelling, written), spelling))
        for k in range(1, len(written)):
            if folded[:k] in self.spellings and folded[k:] in self.spellings:
                out.add(written[:k] + " " + written[k:])
        return frozenset(out)

    def unlisted(self, text: str) -> list[str]:
        return [m.group(0) for m in WORD.finditer(text) if m.group(0) not in self]

    def allowance(self, text: str) -> float:
        """The nats a listed reading may give away against `text`: those of its unlisted words,
        and without limit where a word is in no case a writer uses (`eScrows`)."""
        if not all(map(self.well_cased, WORD.findall(text))):
            return math.inf
        return sum(map(english_nats, self.unlisted(text)))

    def well_cased(self, word: str) -> bool:
        """All small, all capitals, a capital first, or a spelling the list holds (`DiCaprio`)."""
        return (word.islower() or word.isupper() or (word[:1].isupper() and word[1:].islower())
                or word in self.spellings.get(word.casefold(), ()))

    def casings(self, word: str) -> set[str]:
        """The ways `word` may be written: small, capital first, capitals, and as listed."""
        return {word.lower(), word[:1].upper() + word[1:].lower(), word.upper(),
                *self.spellings.get(word.casefold(), ())}

    def _recase(self, text: str, ll: float, score: Scorer) -> tuple[str, float]:
        """Each word read in no case a writer uses (`CoMbs`, a capital made small or a small
        letter made large) in the most likely case that is used, whatever the nats."""
        return self._replace_words(text, ll, score, lambda w: set() if self.well_cased(w) else self.casings(w),
                                   lambda w: math.inf)

    def improve(self, text: str, ll: float, score: Scorer, log_probs: np.ndarray | None = None,
                chars: Sequence[str] = ()) -> tuple[str, float]:
        """The reading with its words in a case writers use (_recase) and its unlisted words
        replaced where the prior allows.

        With the model's output (log_probs over chars), its next-best readings (the best
        BEAMS[1] of a beam search) are tried too when the reading holds an unlisted word. Each is
        improved the same way, and the most likely one that ends up all listed wins if it is
        within the allowance of the reading's unlisted words: a listed word more than two edits
        from the best path is often on the second or third.
        """
        text, ll = self._recase(text, ll, score)
        if not self.unlisted(text):
            return text, ll
        improved = self._improve_words(text, ll, score)
        if log_probs is None:
            return improved
        pick = improved if not self.unlisted(improved[0]) else None
        width, best = BEAMS
        others = [other for other, _ in ctc.beam_search(log_probs, chars, width)[:best]]
        for other, other_ll in zip(others, score(others)):
            candidate = self._improve_words(*self._recase(other, other_ll, score), score)
            if not self.unlisted(candidate[0]) and (pick is None or candidate[1] > pick[1]):
                pick = candidate
        if pick is not None and pick[1] + self.allowance(text) >= ll:
            return pick
        return improved

    def _improve_words(self, text: str, ll: float, score: Scorer) -> tuple[str, float]:
        """Each unlisted word replaced by its best listed neighbour where the prior allows."""
        return self._replace_words(text, ll, score, lambda w: set() if w in self else self.replacements(w),
                                   english_nats)

    @staticmethod
    def _replace_words(text: str, ll: float, score: Scorer, options: Callable[[str], Set[str]],
                       allowance: Callable[[str], float]) -> tuple[str, float]:
        """Each word of `text` that has options replaced by the most likely of them, when that is
        at most allowance(word) nats less likely than the text so far (right to left, so the
        places of the words still to check do not move)."""
        for match in reversed(list(WORD.finditer(text))):
            word = match.group(0)
            choices = options(word)
            if not choices:
                continue
            head, tail = text[:match.start()], text[match.end():]
            best = _best((head + c + tail for c in sorted(choices)), score)
            if best is not None and best[1] + allowance(word) >= ll:
                text, ll = best
        return text, ll


class ChineseWords:
    def __init__(self, words: Iterable[str]):
        self.words = set(words)

    def __contains__(self, text: str) -> bool:
        if text in self.words:
            return True
        parsed = parse_number(text)
        return parsed is not None and parsed.form == "chinese"

    def allowance(self, text: str) -> float:
        """The nats a listed reading may give away against `text` (improve's rule)."""
        return CHINESE_NATS if 2 <= len(text) <= 4 and text not in self else 0.0

    def improve(self, text: str, ll: float, score: Scorer, log_probs: np.ndarray,
                chars: Sequence[str]) -> tuple[str, float]:
        """An unlisted reading of 2-4 characters with one character swapped for one of the
        model's runner-ups at that character's peak frame, where that makes a listed word."""
        if not self.allowance(text):
            return text, ll
        peaks = _character_peaks(log_probs)
        if len(peaks) != len(text):
            return text, ll  # not a plain greedy path (beam search): leave it
        candidates = []
        for i, t in enumerate(peaks):
            row = log_probs[t]
            top = np.argpartition(row, -(RUNNERS_UP + 1))[-(RUNNERS_UP + 1):]  # not a sort of 3,766 columns
            for k in top[np.argsort(row[top])[::-1]]:
                if k == 0 or chars[k - 1] == text[i]:
                    continue
                swapped = text[:i] + chars[k - 1] + text[i + 1:]
                if swapped in self:
                    candidates.append(swapped)
        best = _best(candidates, score)
        if best is not None and best[1] + self.allowance(text) >= ll:
            return best
        return text, ll


def _best(candidates: Iterable[str], score: Scorer) -> tuple[str, float] | None:
    texts = list(candidates)
    scored = [(c, ll) for c, ll in zip(texts, score(texts) if texts else ()) if math.isfinite(ll)]
    return max(scored, key=lambda s: s[1]) if scored else None


def _character_peaks(log_probs: np.ndarray) -> list[int]:
    """Per character of the greedy path, the frame where its class is most probable."""
    best = log_probs.argmax(axis=1)
    peaks: list[int] = []
    prev = 0
    for t, k in enumerate(best):
        if k != 0 and k != prev:
            peaks.append(t)
        elif k != 0 and log_probs[t, k] > log_probs[peaks[-1], k]:
            peaks[-1] = t
        prev = k
    return peaks


@lru_cache(maxsize=4)
def load(kind: str, folder: Path) -> EnglishWords | ChineseWords | None:
    """The kind's word list from `folder`; None when the kind has none or the file is absent."""
    name = FILES.get(kind)
    if name is None or not (folder / name).exists():
        return None
    try:
        words = read_list(folder / name)
    except (OSError, EOFError, UnicodeDecodeError) as error:  # gzip raises BadGzipFile (OSError), EOFError
        raise ModelUnavailable(f"the word list {folder / name} cannot be read ({error}); rebuild it with "
                               "`python -m grader.training words` or remove it to read letters only") from error
    return EnglishWords(words) if kind == "text" else ChineseWords(words)
