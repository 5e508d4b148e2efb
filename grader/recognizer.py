"""Handwriting recogniser runtime: crops -> readings through the ONNX CRNN in models/.

    rec = Recognizer.load()                      # int8, one thread
    rec.read([crop1, crop2], kind="number")      # -> [Reading(text, confidence, log_likelihood)]

English (`text`) and Chinese readings go through the word lists of grader.words (a prior that
breaks near-ties towards listed words); `use_words=False` reads letters only (names, grading).

`prepare_line` is the one preprocessing shared by training (grader/training) and serving.
Everything the runtime needs (input height, normalisation, charset, confidence calibration)
comes from models/model.json, never from constants repeated here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from grader import ctc, words
from grader.charset import kind_mask, load_charset
from grader.errors import ModelUnavailable
from grader.paths import MODELS_DIR


def prepare_line_u8(gray: np.ndarray, height: int = 32, max_width: int = 320) -> np.ndarray:
    """Grayscale crop -> uint8 line of `height` rows, ink bright (255) on black paper (0).

    Contrast is stretched between the darkest ink and the paper level (90th percentile), so
    pencil on grey paper and black pen on white reach the model alike. Width follows the aspect
    ratio, clamped to [height // 2, max_width] (very long crops are squeezed, not cut).
    """
    if gray.ndim == 3:
        gray = cv2.cvtColor(gray, cv2.COLOR_BGR2GRAY)
    g = gray.astype(np.float32)
    lo, hi = float(g.min()), float(np.percentile(g, 90))
    if hi - lo < 16:  # nearly uniform crop: keep its absolute level instead of amplifying noise
        lo, hi = 0.0, 255.0
    ink = np.clip((hi - g) / (hi - lo), 0, 1)
    h, w = ink.shape
    new_w = int(np.clip(round(w * height / max(1, h)), height // 2, max_width))
    interp = cv2.INTER_AREA if h > height else cv2.INTER_LINEAR
    line = cv2.resize(ink, (new_w, height), interpolation=interp)
    return np.clip(line * 255 + 0.5, 0, 255).astype(np.uint8)


def to_float(line_u8: np.ndarray) -> np.ndarray:
    """uint8 line -> float32 model input in 0..1 (the normalisation recorded in model.json)."""
    return line_u8.astype(np.float32) / 255.0


def prepare_line(gray: np.ndarray, height: int = 32, max_width: int = 320) -> np.ndarray:
    """Grayscale (or BGR) crop -> float32 (height, width) model input, ink 1, paper 0."""
    return to_float(prepare_line_u8(gray, height, max_width))


def _longest_runs(mask: np.ndarray) -> np.ndarray:
    """Per row, the longest run of consecutive ink pixels."""
    padded = np.pad(mask.astype(np.int8), ((0, 0), (1, 1)))
    diff = np.diff(padded, axis=1)
    runs = np.zeros(mask.shape[0], dtype=int)
    for y in range(mask.shape[0]):
        starts, ends = np.flatnonzero(diff[y] == 1), np.flatnonzero(diff[y] == -1)
        if len(starts):
            runs[y] = int((ends - starts).max())
    return runs


def find_fraction_bar(gray: np.ndarray) -> tuple[int, int] | None:
    """Rows (top, bottom) of the bar of a stacked fraction (numerator over denominator), or None.

    A bar is the row band with the longest horizontal ink run, spanning >= 70 % of the ink
    width, thin, with a block of ink above and below (each >= 25 % of the ink height and
    >= 8 % of its width), and not crossed by a single stroke on both sides, which is how
    characters such as 干 or 士 differ from a fraction.
    """
    if gray.ndim == 3:
        gray = cv2.cvtColor(gray, cv2.COLOR_BGR2GRAY)
    thr, mask = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    if float(np.percentile(gray, 90)) - float(gray.min()) < 40:
        return None
    mask = _drop_border_fragments(cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((1, 3), np.uint8))) > 0
    ys, xs = np.nonzero(mask)
    if len(ys) < 30:
        return None
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    h, w = y1 - y0, x1 - x0
    if h < 0.5 * w or h < 20:
        return None
    m = mask[y0:y1, x0:x1]
    runs = _longest_runs(m)
    rows = np.flatnonzero(runs >= 0.7 * w)
    if len(rows) == 0:
        return None
    # contiguous bands of long rows, longest run first (a stray border piece may be longer)
    bands = np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1)
    for band in sorted(bands, key=lambda b: -int(runs[b].max())):
        top, bottom = int(band[0]), int(band[-1])
        while top > 0 and runs[top - 1] >= 0.25 * w:  # the bar's tilted or ragged edges
            top -= 1
        while bottom < h - 1 and runs[bottom + 1] >= 0.25 * w:
            bottom += 1
        if bottom - top + 1 <= 0.2 * h and _is_fraction_split(m, top, bottom, h, w):
            return int(y0 + top), int(y0 + bottom)
    return None


def _drop_border_fragments(mask: np.ndarray, edge: int = 3) -> np.ndarray:
    """Remove pieces of the answer box's border left at the crop's edges: long straight runs
    within `edge` pixels of the left/right edge (vertical) or the top/bottom edge (horizontal).
    Left in, a vertical piece widens the ink box and, where the bar touches it, looks like a
    stroke crossing the bar, which is how characters such as 干 are told from fractions. The
    runs must span a quarter of the crop; digits rarely come within `edge` pixels of it."""
    H, W = mask.shape
    vertical = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((max(8, H // 4), 1), np.uint8))
    vertical[:, edge:W - edge] = 0
    horizontal = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((1, max(8, W // 4)), np.uint8))
    horizontal[edge:H - edge, :] = 0
    return cv2.bitwise_and(mask, cv2.bitwise_not(cv2.bitwise_or(vertical, horizontal)))


def _is_fraction_split(m: np.ndarray, top: int, bottom: int, h: int, w: int) -> bool:
    above, below = m[:top], m[bottom + 1:]
    for part in (above, below):
        rows_with_ink = np.flatnonzero(part.any(axis=1))
        cols_with_ink = np.flatnonzero(part.any(axis=0))
        if len(rows_with_ink) == 0 or np.ptp(rows_with_ink) + 1 < 0.25 * h:
            return False
        if np.ptp(cols_with_ink) + 1 < 0.08 * w:
            return False
    # one stroke crossing the bar (ink right above and right below at the same x): a character
    edge_above = cv2.dilate(above[-1:].astype(np.uint8), np.ones((1, 3), np.uint8))[0] > 0
    return not bool((edge_above & below[0]).any())


def _trim_to_ink(gray: np.ndarray, margin: int = 3) -> np.ndarray:
    _, mask = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return gray
    return gray[max(0, ys.min() - margin):ys.max() + 1 + margin, max(0, xs.min() - margin):xs.max() + 1 + margin]


def unstack_fraction(gray: np.ndarray) -> np.ndarray:
    """A stacked fraction becomes the inline `a/b` the model reads; other crops pass unchanged."""
    if gray.ndim == 3:
        gray = cv2.cvtColor(gray, cv2.COLOR_BGR2GRAY)
    bar = find_fraction_bar(gray)
    if bar is None:
        return gray
    top, bottom = _trim_to_ink(gray[:bar[0]]), _trim_to_ink(gray[bar[1] + 1:])
    h = max(top.shape[0], bottom.shape[0])
    parts = [cv2.resize(p, (max(1, round(p.shape[1] * h / p.shape[0])), h)) for p in (top, bottom)]
    paper = int(np.percentile(gray, 90))
    ink = int(gray.min())
    slash_w = max(8, h // 2)  # clearly slanted: a steep slash reads as 1
    thick = max(1, min(bar[1] - bar[0] + 1, h // 10))  # the band includes the ragged edges
    slash = np.full((h, slash_w), paper, np.uint8)
    cv2.line(slash, (slash_w - 2, 1), (1, h - 2), ink, thick, cv2.LINE_AA)
    gap = np.full((h, max(2, h // 10)), paper, np.uint8)
    return np.hstack([parts[0], gap, slash, gap, parts[1]])


STACKABLE_KINDS = ("number", "math")
# Views of a line that a careful reading (read(..., views=True)) scores: (width factor, shear).
# The line as prepared (first), squeezed and stretched in width, and slanted both ways: each
# view's reading is a candidate, and the one the model finds most likely on average over all
# views wins. Chosen on validation crops only (bench/recognizer.py's validation sources; "hard"
# ones drawn with Variation(hand_warp=1)): English exact match with the word list, one view ->
# these views, plain 96.7 -> 97.3 %, hard 87.0 -> 89.8 %; width alone (1, 0.8, 1.25) 97.3 / 88.8
# %, five widths (0.7-1.4) 97.3 / 89.0 %. Chinese hard 93.0 -> 94.3 %, numbers plain 96.7 -> 98.0 %.
VIEWS = ((1.0, 0.0), (0.8, 0.0), (1.25, 0.0), (1.0, 0.2), (1.0, -0.2))
# Only a crop whose reading in the first view has a confidence below this is read in the others:
# the lowest threshold that kept every validation set (English plain, hard, capitals drawn as
# large small letters; Chinese, numbers, math plain and hard) as accurate as reading all crops in
# all views. It sends 72-80 % of validation English crops, 42-56 % of Chinese, 24-48 % of numbers
# and math to the other views (0.98 lost 0.2-0.3 points on two sets).
VIEWS_BELOW = 0.99
BUCKET = 16  # px; lines are padded to a multiple of this (training padded by up to ~24 px)


@dataclass(frozen=True)
class Reading:
    text: str
    confidence: float  # calibrated probability that `text` is exactly right
    log_likelihood: float  # CTC log P(text | crop) under the kind's alphabet
    # The model's own reading when the word list replaced it (grader.words), else None.
    model_text: str | None = None
    model_log_likelihood: float | None = None


def view_line(line: np.ndarray, width: float, shear: float, max_width: int = 320) -> np.ndarray:
    """A prepared line (ink bright on black) scaled in width by `width` and slanted by `shear`
    (x moves by shear * (y - centre)); the height stays."""
    h, w = line.shape
    if width != 1.0:
        new_w = int(np.clip(round(w * width), h // 2, max_width))
        line = cv2.resize(line, (new_w, h), interpolation=cv2.INTER_AREA if width < 1 else cv2.INTER_LINEAR)
    if shear:
        pad = int(abs(shear) * h) + 1
        padded = cv2.copyMakeBorder(line, 0, 0, pad, pad, cv2.BORDER_CONSTANT, value=0)
        m = np.float32([[1, shear, -shear * h / 2], [0, 1, 0]])
        line = cv2.warpAffine(padded, m, (padded.shape[1], h))[:, :max_width]
    return line


def confidence_features(log_probs: np.ndarray) -> np.ndarray:
    """Features of a greedy reading that predict whether it is right.

    [weakest character's peak log-prob, strongest missed character's log-prob in a blank frame,
    log-margin between the best and second-best class at the weakest character's peak].
    """
    best = log_probs.argmax(axis=1)
    top2 = np.partition(log_probs, -2, axis=1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]
    char_frames = np.flatnonzero(best != ctc.BLANK)
    weakest = float(log_probs[char_frames, best[char_frames]].min()) if len(char_frames) else 0.0
    weakest_margin = float(margin[char_frames].min()) if len(char_frames) else 10.0
    blank_frames = np.flatnonzero(best == ctc.BLANK)
    if len(blank_frames):
        missed = float(log_probs[blank_frames, 1:].max())
    else:
        missed = -20.0
    return np.array([weakest, max(missed, -20.0), min(weakest_margin, 10.0)], dtype=np.float64)


def calibrated(features: np.ndarray, weights: Sequence[float]) -> float:
    """Platt-style logistic map of the features to P(reading exactly right). Weights fitted on
    fewer features (an older model.json) use the leading ones."""
    z = float(np.dot(features[:len(weights) - 1], weights[:-1]) + weights[-1])
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


class Recognizer:
    """The ONNX CRNN with its charset and metadata, loaded once and reused."""

    def __init__(self, session, meta: dict, chars: list[str], precision: str):
        self.session = session
        self.meta = meta
        self.chars = chars
        self.index = {c: i for i, c in enumerate(chars)}
        # kind -> output mask; built once per kind, not per crop (it walks the whole charset)
        self._masks: dict[str, np.ndarray] = {}
        self.precision = precision
        self.height = int(meta["input"]["height"])
        self.max_width = int(meta["input"]["max_width"])
        # Fallback until calibration is fitted: the weakest character's peak probability.
        self.calibration = meta.get("confidence", {}).get("weights", [1.0, 0.0, 0.0, 0.0])
        self.words_dir = MODELS_DIR  # the word lists: the model's folder when it has them

    @classmethod
    def load(cls, models_dir: Path | str = MODELS_DIR, precision: str = "int8", threads: int = 1) -> "Recognizer":
        models_dir = Path(models_dir)
        if precision not in ("int8", "fp32"):
            raise ValueError("precision must be 'int8' or 'fp32'")
        try:
            meta = json.loads((models_dir / "model.json").read_text())
            chars = load_charset(models_dir / meta["charset"])
            model_path = models_dir / meta["files"][precision]
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            session = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
        except (OSError, KeyError, ValueError) as error:
            raise ModelUnavailable(f"the handwriting model in {models_dir} cannot be loaded: {error}") from error
        except Exception as error:  # onnxruntime raises its own exception types for broken files
            raise ModelUnavailable(f"the handwriting model in {models_dir} cannot be loaded: {error}") from error
        rec = cls(session, meta, chars, precision)
        if any((models_dir / name).exists() for name in words.FILES.values()):
            rec.words_dir = models_dir
        return rec

    # ------------------------------------------------------------- model outputs

    def log_probs(self, crops: Sequence[np.ndarray], kind: str | None | Sequence[str | None] = None,
                  batch_size: int = 32) -> list[np.ndarray]:
        """Per crop, the (T, C) log-probabilities of the model's output frames.

        For number and math crops a stacked fraction (numerator over a bar over denominator)
        is first rewritten inline as `a/b`; other kinds are left alone because characters such
        as 元 have the same layout.
        """
        return self.log_probs_lines(self.lines(crops, kind), batch_size)

    def lines(self, crops: Sequence[np.ndarray], kind: str | None | Sequence[str | None] = None) -> list[np.ndarray]:
        """The crops through prepare_line (stacked fractions of number and math crops unstacked)."""
        kinds = _per_crop(kind, len(crops))
        return [prepare_line(unstack_fraction(c) if k in STACKABLE_KINDS else c, self.height, self.max_width)
                for c, k in zip(crops, kinds)]

    def log_probs_lines(self, lines: Sequence[np.ndarray], batch_size: int = 32) -> list[np.ndarray]:
        """Like log_probs, for lines already through prepare_line.

        Each line is padded to the next multiple of BUCKET px and batched only with lines of the
        same padded width: the backward LSTM reads the padding too, so a reading must not depend
        on which other crops happen to share its batch.
        """
        out: list[np.ndarray | None] = [None] * len(lines)
        buckets: dict[int, list[int]] = {}
        for i, line in enumerate(lines):
            buckets.setdefault(int(math.ceil(line.shape[1] / BUCKET) * BUCKET), []).append(i)
        for width, members in sorted(buckets.items()):
            for start in range(0, len(members), batch_size):
                idx = members[start:start + batch_size]
                x = np.zeros((len(idx), 1, self.height, width), np.float32)
                for j, i in enumerate(idx):
                    x[j, 0, :, :lines[i].shape[1]] = lines[i]
                logits = self.session.run(None, {"image": x})[0]
                lp = ctc.log_softmax(logits.astype(np.float64))
                for j, i in enumerate(idx):
                    out[i] = lp[j]
        return out  # type: ignore[return-value]

    def string_log_likelihoods(self, log_probs: np.ndarray, candidates: Sequence[str],
                               kind: str | None = None) -> list[float]:
        """CTC log P(candidate | crop) by forced alignment; -inf for characters outside the charset."""
        lp = self._masked(log_probs, kind)
        return ctc.string_log_likelihoods(lp, candidates, self.index)

    def _masked(self, log_probs: np.ndarray, kind: str | None) -> np.ndarray:
        """`log_probs` restricted to the kind's alphabet (unchanged when kind is None)."""
        if not kind:
            return log_probs
        if kind not in self._masks:
            self._masks[kind] = kind_mask(kind, self.chars)
        return ctc.apply_mask(log_probs, self._masks[kind])

    # ------------------------------------------------------------- readings

    def read(self, crops: Sequence[np.ndarray], kind: str | None | Sequence[str | None] = None,
             beam_width: int = 0, use_words: bool = True, views: bool = False) -> list[Reading]:
        """Read each crop; `kind` (one for all, or one per crop) restricts the alphabet, and for
        `text` and `chinese` brings in the word list unless `use_words` is False. With `views`,
        a crop read with a confidence below VIEWS_BELOW is read again in the other VIEWS and the
        reading most likely over all of them wins (decode_views)."""
        kinds = _per_crop(kind, len(crops))
        lines = self.lines(crops, kinds)
        first = [self._masked(lp, k) for lp, k in zip(self.log_probs_lines(lines), kinds)]
        found = [self._texts(lp, k, beam_width, use_words) for lp, k in zip(first, kinds)]
        readings = [self._reading(lp, *texts)[0] for lp, texts in zip(first, found)]
        doubtful = [i for i, r in enumerate(readings) if views and r.confidence < VIEWS_BELOW]
        if doubtful:
            others = [self.log_probs_lines([view_line(lines[i], *v, self.max_width) for i in doubtful])
                      for v in VIEWS[1:]]
            for j, i in enumerate(doubtful):
                masked = [first[i], *(self._masked(lps[j], kinds[i]) for lps in others)]
                # the first view was decoded above; only the others are decoded here
                texts = [found[i], *(self._texts(lp, kinds[i], beam_width, use_words) for lp in masked[1:])]
                readings[i] = self._choose(masked, texts, kinds[i], use_words)
        return readings

    def decode(self, log_probs: np.ndarray, kind: str | None = None, beam_width: int = 0,
               use_words: bool = True) -> Reading:
        return self.decode_with_features(log_probs, kind, beam_width, use_words)[0]

    def decode_with_features(self, log_probs: np.ndarray, kind: str | None = None, beam_width: int = 0,
                             use_words: bool = True) -> tuple[Reading, np.ndarray]:
        """The reading and the features its confidence comes from: those of the model's own
        reading (confidence_features) and the nats the word list gave away (0 or less)."""
        lp = self._masked(log_probs, kind)
        return self._reading(lp, *self._texts(lp, kind, beam_width, use_words))

    def decode_views(self, log_probs: Sequence[np.ndarray], kind: str | None = None, beam_width: int = 0,
                     use_words: bool = True) -> Reading:
        """One crop's reading from the model's outputs on several views of it (VIEWS, in order).

        Candidates are each view's reading, with and (where a word list applies) without the
        list. Each is scored by its mean CTC log-likelihood over the views, less the allowance
        the word list gives its unlisted words (what `improve` lets a listed word give away), so
        a listed word wins on the same terms as in one view. The winner is returned as read in
        the first view that gave it, with that view's confidence.
        """
        masked = [self._masked(lp, kind) for lp in log_probs]
        return self._choose(masked, [self._texts(lp, kind, beam_width, use_words) for lp in masked], kind, use_words)

    def _choose(self, masked: Sequence[np.ndarray], found: Sequence[tuple[str, float, str, float]],
                kind: str | None, use_words: bool) -> Reading:
        """decode_views' choice among the views' readings (`found`: _texts of each view)."""
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
        return self._reading(masked[i], text, ll, own_text, own_ll)[0]

    def _word_list(self, kind: str | None, use_words: bool) -> words.EnglishWords | words.ChineseWords | None:
        return words.load(kind, self.words_dir) if use_words and kind else None

    def _texts(self, lp: np.ndarray, kind: str | None, beam_width: int,
               use_words: bool) -> tuple[str, float, str, float]:
        """(reading, its log-likelihood, the model's own reading, its log-likelihood) of masked
        log-probabilities; the two differ where the word list replaced the model's reading."""
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

    def _reading(self, lp: np.ndarray, text: str, ll: float, own_text: str,
                 own_ll: float) -> tuple[Reading, np.ndarray]:
        changed = text != own_text
        features = np.append(confidence_features(lp), min(0.0, ll - own_ll) if changed else 0.0)
        confidence = calibrated(features, self.calibration)
        return Reading(text=text, confidence=confidence, log_likelihood=ll,
                       model_text=own_text if changed else None,
                       model_log_likelihood=own_ll if changed else None), features

    def read_lexicon(self, crop: np.ndarray, lexicon: Sequence[str], kind: str | None = None) -> Reading:
        """Read a crop constrained to allowed strings (e.g. a class roster)."""
        lp = self._masked(self.log_probs([crop], kind)[0], kind)
        text, ll = ctc.lexicon_decode(lp, lexicon, self.index)
        free = ctc.string_log_likelihood(lp, ctc.greedy_decode(lp, self.chars), self.index)
        # how close the constrained answer is to the model's own best reading
        confidence = math.exp(min(0.0, ll - free)) if math.isfinite(ll) else 0.0
        return Reading(text=text, confidence=confidence, log_likelihood=ll)


def _per_crop(kind, n: int) -> list[str | None]:
    if kind is None or isinstance(kind, str):
        return [kind] * n
    kinds = list(kind)
    if len(kinds) != n:
        raise ValueError(f"{len(kinds)} kinds given for {n} crops")
    return kinds
