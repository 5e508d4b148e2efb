"""Handwriting recogniser runtime: crops -> readings through the ONNX CRNN in models/.

    rec = Recognizer.load()                      # int8, one thread
    rec.read([crop1, crop2], kind="number")      # -> [Reading(text, confidence, log_likelihood)]

Three stages, composed in `Recognizer` as doctr's recognition predictor composes its own:
crops -> lines (grader.stacked_fractions, grader.lines), lines -> logits (`OnnxCRNN`),
logits -> readings (grader.readings: decoding, word lists, calibrated confidence).
Everything the runtime needs (input geometry, files, charset, confidence calibration) comes
from models/model.json through grader.model_spec, never from constants repeated here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from grader import ctc, words
from grader.charset import load_charset
from grader.errors import ModelUnavailable
from grader.lines import (
    BUCKET,
    READ_MAX_WIDTH,
    VIEWS,
    cut_windows,
    join_windows,
    prepare_line,
    view_line,
    width_batches,
    window_starts,
)
from grader.model_spec import INPUT_NAME, PRECISIONS, ModelSpec
from grader.paths import MODELS_DIR
from grader.readings import Reading, ReadingDecoder
from grader.stacked_fractions import unstack_for_kind

# Only a crop whose reading in the first view has a confidence below its kind's threshold
# (views_below: VIEWS_BELOW_BY_KIND, else VIEWS_BELOW) is read in the other views (lines.VIEWS).
# Chosen on validation crops only by the rule "the fewest views at the careful accuracy or
# better". For crnn-4 (bench/recognizer.py's validation set and the "hard" one, validation
# sources drawn with Variation(hand_warp=1, pen_latin=0.5), seed 9101; 300 crops per kind each),
# exact matches of the 600 crops per kind (number / math / text / chinese):
#   one view                           580 / 568 / 551 / 570
#   all views below 0.99               586 / 572 / 562 / 570, 1.07 / 1.68 / 2.99 / 1.93 extra views a crop
#   all views below 0.95, no Chinese   586 / 572 / 562 / 570, 0.40 / 0.76 / 1.57 / 0 extra views a crop
#   below 0.90: 584 / 571 / 557; below 0.97: 586 / 572 / 560; Chinese at any threshold 570-571.
# Checked again for crnn-10 (bench/decoding.py --n 500, seeds 61, 71 and 41: the generated plain
# and hard sets and the packs' held-back writers, 2,500 crops per kind a seed), crops gained /
# lost against one view, summed over the sets of each seed:
#   Chinese, all views below 0.90: +32 / -21, +36 / -23, +30 / -21; below 0.95: the same net;
#   the line, squeezed and stretched only (VIEWS[:3]): below 0.9 +33 / -14, +29 / -12, +27 / -16,
#   below 0.8 +26 / -9, +26 / -8, +23 / -11 (+0.63 points), below 0.7 and 0.6 about +10 a seed.
#   Chinese stays in one view, for speed: VIEWS[:3] below 0.8 costs a held-out Chinese crop
#   1.2 ms (2.9 -> 4.1 ms), which puts the careful reading of the 400 held-out crops of
#   bench/recognizer.py --n 100 at about PP-OCRv6 tiny's time on them (per kind medians of six
#   runs: 4.53 ms a crop now, about 4.8 with the views; tiny 4.70), the time it must keep.
#   VIEWS_BY_KIND holds the views Chinese would take, for a faster network or decoding.
#   Text, math, numbers below 0.95 as before: one view loses on every seed but on the real
#   numbers, which repeat 15 writings (a decimal point that squeezed and slanted views drop).
VIEWS_BELOW = 0.95
VIEWS_BELOW_BY_KIND: dict[str | None, float] = {"chinese": 0.0}  # 0: never
VIEWS_BY_KIND: dict[str | None, tuple[tuple[float, float], ...]] = {"chinese": VIEWS[:3]}  # no slants

Kinds = str | None | Sequence[str | None]  # one kind for all crops, or one per crop


class OnnxCRNN:
    """The exported graph: prepared lines -> per line, the (T, C) logits of its frames."""

    def __init__(self, session: Any, spec: ModelSpec, path: Path):
        self.session, self.spec, self.path = session, spec, path
        # lines are padded to the runtime's width buckets, which must suit the model's width multiple
        self.bucket = math.lcm(BUCKET, spec.input.width_multiple)

    def __call__(self, lines: Sequence[np.ndarray], batch_size: int = 32) -> list[np.ndarray]:
        """Per line, float32 logits; the softmax is left to the decoder, which normalises over
        the question kind's alphabet only (readings.Alphabet). A line wider than the model was
        trained on (input.max_width) is read in overlapping windows of that width, all lines'
        windows batched together, and its frames joined from theirs (lines.join_windows)."""
        window, multiple = self.spec.input.max_width, self.spec.input.width_multiple
        starts = [window_starts(line.shape[1], window, multiple=multiple) for line in lines]
        pieces: list[np.ndarray] = []
        owner: list[int] = []
        for i, (line, at) in enumerate(zip(lines, starts)):
            cut = [line] if len(at) == 1 else cut_windows(line, at, window)
            pieces += cut
            owner += [i] * len(cut)
        out: list[np.ndarray] = [np.empty(0)] * len(pieces)
        for idx, x in width_batches(pieces, self.spec.input.height, batch_size, self.bucket):
            logits = self._logits(x)
            for j, i in enumerate(idx):
                out[i] = logits[j]
        if len(pieces) == len(lines):
            return out
        per_line: list[list[np.ndarray]] = [[] for _ in lines]
        for i, logits in zip(owner, out):
            per_line[i].append(logits)
        return [parts[0] if len(parts) == 1 else join_windows(parts, at, self.spec.input.frames_per_pixel)
                for parts, at in zip(per_line, starts)]

    def _logits(self, x: np.ndarray) -> np.ndarray:
        logits = self.session.run([self.spec.output.name], {INPUT_NAME: x})[0]
        frames = self.spec.input.frames(x.shape[3])
        if logits.shape[1] != frames:  # the decoder's alignment assumes the spec's frame rate
            raise ModelUnavailable(f"{self.path} gives {logits.shape[1]} frames for a {x.shape[3]} px line, "
                                   f"its model.json (input.frames_per_pixel) {frames}")
        return logits


class Recognizer:
    """Crops -> readings: line preparation, the ONNX CRNN and the CTC post-processor, loaded once."""

    def __init__(self, model: OnnxCRNN, decoder: ReadingDecoder, precision: str):
        self.model, self.decoder, self.precision = model, decoder, precision
        self.spec = model.spec
        self.chars, self.index = decoder.chars, decoder.index

    @classmethod
    def load(cls, models_dir: Path | str = MODELS_DIR, precision: str = "int8", threads: int = 1) -> Recognizer:
        if precision not in PRECISIONS:
            raise ValueError("precision must be 'int8' or 'fp32'")
        models_dir = Path(models_dir)
        spec = ModelSpec.load(models_dir)  # ModelSpecInvalid (a ModelUnavailable) names the field
        model_path = models_dir / spec.files.onnx(precision)
        try:
            chars = load_charset(models_dir / spec.charset)
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            session = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types for broken files
            raise ModelUnavailable(f"the handwriting model in {models_dir} cannot be loaded: {error}") from error
        # the word lists: the model's folder when it has them, else the committed ones
        has_words = any((models_dir / name).exists() for name in words.FILES.values())
        decoder = ReadingDecoder(chars, spec.confidence_weights, models_dir if has_words else MODELS_DIR)
        return cls(OnnxCRNN(session, spec, model_path), decoder, precision)

    @property
    def version(self) -> str:
        """The model's version as model.json names it (stored with every reading)."""
        return self.spec.version

    @property
    def words_dir(self) -> Path:
        return self.decoder.words_dir

    @words_dir.setter
    def words_dir(self, folder: Path) -> None:
        self.decoder.words_dir = folder

    # ------------------------------------------------------------- the three stages

    def lines(self, crops: Sequence[np.ndarray], kind: Kinds = None) -> list[np.ndarray]:
        """The crops as the model reads them: stacked fractions of number and math crops
        unstacked (other kinds are left alone: characters such as 元 have the same layout),
        then prepared at the model's input height, as wide as their aspect ratio asks up to
        `max_width`."""
        return [prepare_line(unstack_for_kind(c, k), self.spec.input.height, self.max_width)
                for c, k in zip(crops, _per_crop(kind, len(crops)))]

    @property
    def max_width(self) -> int:
        """The widest line read (lines.READ_MAX_WIDTH): wider than the model's trained width, since
        OnnxCRNN reads a wide line in windows; only a longer crop is squeezed."""
        return max(READ_MAX_WIDTH, self.spec.input.max_width)

    def log_probs_lines(self, lines: Sequence[np.ndarray], batch_size: int = 32) -> list[np.ndarray]:
        """Per line already through `lines`, the (T, C) log-probabilities of the model's frames."""
        return [ctc.log_softmax(logits.astype(np.float64)) for logits in self.model(lines, batch_size)]

    def log_probs(self, crops: Sequence[np.ndarray], kind: Kinds = None, batch_size: int = 32) -> list[np.ndarray]:
        """Per crop, the (T, C) log-probabilities of the model's output frames."""
        return self.log_probs_lines(self.lines(crops, kind), batch_size)

    def read(self, crops: Sequence[np.ndarray], kind: Kinds = None, beam_width: int = 0,
             use_words: bool = True, views: bool = False) -> list[Reading]:
        """Read each crop; `kind` (one for all, or one per crop) restricts the alphabet, and for
        `text` and `chinese` brings in the word list unless `use_words` is False; a crop without
        a kind is read as the kind the model's output says its script is (`guess_kind`). With `views`,
        a crop read with a confidence below its kind's `views_below` is read again in its kind's other
        views (`views_of`) and the reading most likely over all of them wins (ReadingDecoder.choose)."""
        kinds = _per_crop(kind, len(crops))
        lines = self.lines(crops, kinds)
        logits = self.model(lines)
        # a crop without a kind is read as the kind its script says (ReadingDecoder.guess_kind)
        kinds = [k if k is not None else self.decoder.guess_kind(lg) for k, lg in zip(kinds, logits)]
        first = [self.decoder.from_logits(lg, k) for lg, k in zip(logits, kinds)]
        found = [self.decoder.texts(lp, k, beam_width, use_words) for lp, k in zip(first, kinds)]
        readings = [self.decoder.reading(lp, f)[0] for lp, f in zip(first, found)]
        doubtful = [i for i, (r, k) in enumerate(zip(readings, kinds)) if views and needs_views(r, k)]
        if doubtful:
            # every other view of every doubtful crop in one pass of the model (fuller batches)
            jobs = [(i, v) for i in doubtful for v in views_of(kinds[i])[1:]]
            others = iter(self.model([view_line(lines[i], *v, self.max_width) for i, v in jobs]))
            for i in doubtful:
                lps = [first[i], *(self.decoder.from_logits(next(others), kinds[i])
                                   for _ in views_of(kinds[i])[1:])]
                # the first view was decoded above; only the others are decoded here
                texts = [found[i], *(self.decoder.texts(lp, kinds[i], beam_width, use_words, next_best=False)
                                     for lp in lps[1:])]
                readings[i] = self.decoder.choose(lps, texts, kinds[i], use_words)
        return readings

    def read_lexicon(self, crop: np.ndarray, lexicon: Sequence[str], kind: str | None = None) -> Reading:
        """Read a crop constrained to allowed strings (e.g. a class roster)."""
        [logits] = self.model(self.lines([crop], kind))
        return self.decoder.lexicon(self.decoder.from_logits(logits, kind), lexicon, kind)

    # ------------------------------------------------------------- the post-processor's answers

    def string_log_likelihoods(self, log_probs: np.ndarray, candidates: Sequence[str],
                               kind: str | None = None) -> list[float]:
        return self.decoder.string_log_likelihoods(log_probs, candidates, kind)

    def decode(self, log_probs: np.ndarray, kind: str | None = None, beam_width: int = 0,
               use_words: bool = True) -> Reading:
        return self.decoder.decode_with_features(log_probs, kind, beam_width, use_words)[0]

    def decode_with_features(self, log_probs: np.ndarray, kind: str | None = None, beam_width: int = 0,
                             use_words: bool = True) -> tuple[Reading, np.ndarray]:
        return self.decoder.decode_with_features(log_probs, kind, beam_width, use_words)

    def decode_views(self, log_probs: Sequence[np.ndarray], kind: str | None = None, beam_width: int = 0,
                     use_words: bool = True) -> Reading:
        return self.decoder.decode_views(log_probs, kind, beam_width, use_words)


def views_of(kind: str | None) -> tuple[tuple[float, float], ...]:
    """The views (width factor, shear) the careful reading scores a doubtful crop of `kind` in,
    the line as prepared first."""
    return VIEWS_BY_KIND.get(kind, VIEWS)


def views_below(kind: str | None) -> float:
    """The confidence under which the careful reading reads a crop of `kind` in the other views."""
    return VIEWS_BELOW_BY_KIND.get(kind, VIEWS_BELOW)


def needs_views(first: Reading, kind: str | None) -> bool:
    """Whether the careful reading reads a crop again in the other views, given its first reading."""
    return first.confidence < views_below(kind)


def _per_crop(kind: Kinds, n: int) -> list[str | None]:
    if kind is None or isinstance(kind, str):
        return [kind] * n
    kinds = list(kind)
    if len(kinds) != n:
        raise ValueError(f"{len(kinds)} kinds given for {n} crops")
    return kinds
