"""Real handwriting packs (`../shared/handwriting/`, see its README): loaders, fixed writer splits,
and the composition of real writers' samples into answer crops for training and validation.

Each pack is read where it lies (never copied into the repository). Every loader takes a split,
'train' or 'val', and the split is by writer and fixed here, so no writer is ever on both sides:

- CASIA-HWDB1.1 (100 classes, 240 writers): writers 0, 8, 16, ... 232 (30) are validation.
- ImadocSen-OnDB (27 writer folders): writer9, writer22, writer37 and writer45 are validation
  (none of them has a second folder such as writer3/writer3b).
- CROHME 2014: the named writers Nina, edwin, leo and rosario are validation; the pack names no
  writer for 8,215 of its rows, so those are split by a hash of the file name (one in ten to
  validation). That part of the split is by expression, not by writer: the held-back writers we
  measure math on are the named four.
- CASIA-OLHWDB (2 writers), HIT-OR3C (1 writer) and UCI optdigits (30 writers, no writer ids):
  training only. Digits are validated on MNIST's validation split (the generated sets) and on
  the named CROHME writers' numbers. optdigits digits become number answers with pen symbols.

A composed sample is an ink alpha line (float32, ink 1, paper 0) in one writer's hand; it then
goes through the same phone-photo degradation as generated crops (degradation.photo_crop) and the
runtime's own line preparation.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import multiprocessing as mp
import os
import tarfile
import zlib
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from grader.charset import HANZI
from grader.lines import HEIGHT, prepare_line_u8
from grader.paths import REPO_ROOT, cache_dir
from grader.stacked_fractions import unstack_fraction
from grader.training.data import load_hanzi_medians, load_jieba_words
from grader.training.dataset import TRAINING, VALIDATION_SEED, check_training_seed, render_dataset, write_lines
from grader.training.degradation import photo_crop
from grader.training.glyphs import PEN_SYMBOLS, Glyph, compose, digit_glyph, draw_strokes, pen_symbol
from grader.training.labels import chinese_numeral, number_label
from grader.training.stroke_style import StrokeStyle, fit, style_path

PACKS_ENV = "GRADER_HANDWRITING_DIR"
SPLITS = ("train", "val")
CASIA_VAL_WRITERS = frozenset(range(0, 240, 8))
IMADOCSEN_VAL_WRITERS = frozenset({"writer9", "writer22", "writer37", "writer45"})
CROHME_VAL_WRITERS = frozenset({"Nina", "edwin", "leo", "rosario"})
CROHME_UNNAMED_VAL_MOD = 10  # crc32(file) % 10 == 0: validation
REAL_MAX_WIDTH = 1024  # px: composed lines (ImadocSen sentences) up to this width are stored whole


class PackMissing(FileNotFoundError):
    """A handwriting pack is not where the training option points."""


def packs_dir() -> Path:
    """GRADER_HANDWRITING_DIR, else the checkout's sibling `shared/handwriting`."""
    return Path(os.environ.get(PACKS_ENV) or REPO_ROOT.parent / "shared" / "handwriting")


def _pack(name: str, folder: Path | None) -> Path:
    path = (folder or packs_dir()) / name
    if not path.exists():
        raise PackMissing(f"handwriting pack {path} not found (set {PACKS_ENV} or --packs to its folder)")
    return path


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")


def _tsv_rows(tar: tarfile.TarFile) -> list[dict[str, str]]:
    lines = tar.extractfile("labels.tsv").read().decode("utf-8").splitlines()  # type: ignore[union-attr]
    head = lines[0].split("\t")
    return [dict(zip(head, line.split("\t"))) for line in lines[1:]]


def _gray(tar: tarfile.TarFile, member: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(tar.extractfile(member).read())).convert("L"))  # type: ignore[union-attr]


def ink_alpha(gray: np.ndarray) -> np.ndarray:
    """Dark ink on light paper (uint8) -> float32 alpha (ink 1, paper 0), trimmed to the ink.
    Paper is the 90th percentile, ink the darkest pixel, so gray-level scans and binary renders
    alike give a full-range alpha."""
    g = gray.astype(np.float32)
    lo, hi = float(g.min()), float(np.percentile(g, 90))
    alpha = np.clip((hi - g) / max(16.0, hi - lo), 0, 1)
    ys, xs = np.nonzero(alpha > 0.2)
    return alpha[ys.min():ys.max() + 1, xs.min():xs.max() + 1] if len(ys) else alpha


# ---------------------------------------------------------------- characters


Strokes = list[list[list[float]]]


@dataclass
class Hand:
    """One writer's characters: offline images (alpha) and/or pen strokes, by character."""

    writer: str
    images: dict[str, list[np.ndarray]] = field(default_factory=dict)
    strokes: dict[str, list[Strokes]] = field(default_factory=dict)
    _hanzi: frozenset[str] | None = field(default=None, repr=False)

    def hanzi(self) -> frozenset[str]:
        """The Chinese characters this hand wrote (computed once: labels are drawn per sample)."""
        if self._hanzi is None:
            self._hanzi = frozenset(c for c in set(self.images) | set(self.strokes) if not c.isascii())
        return self._hanzi


def casia_split(writer: int) -> str:
    return "val" if writer in CASIA_VAL_WRITERS else "train"


def load_casia(split: str, folder: Path | None = None) -> list[Hand]:
    """CASIA-HWDB1.1's 100 classes, one Hand per writer of the split."""
    _check_split(split)
    hands: dict[int, Hand] = {}
    with tarfile.open(_pack("casia_hwdb11_train100.tar", folder)) as tar:
        for row in _tsv_rows(tar):
            w = int(row["writer"])
            if casia_split(w) != split:
                continue
            hand = hands.setdefault(w, Hand(f"casia-{w}"))
            hand.images.setdefault(row["char"], []).append(ink_alpha(_gray(tar, row["file"])))
    return [hands[w] for w in sorted(hands)]


def load_hit(split: str, folder: Path | None = None) -> list[Hand]:
    """HIT-OR3C's one writer (training only): Chinese characters, digits and capitals."""
    _check_split(split)
    if split == "val":
        return []
    hand = Hand("hit-or3c")
    with tarfile.open(_pack("hit_or3c_sample.tar", folder)) as tar:
        for row in _tsv_rows(tar):
            hand.images.setdefault(row["char"], []).append(ink_alpha(_gray(tar, row["file"])))
    return [hand]


def load_olhwdb(split: str, folder: Path | None = None) -> list[Hand]:
    """CASIA-OLHWDB's two online writers (training only), pen strokes of all 3,755 level-1
    characters and ASCII."""
    _check_split(split)
    if split == "val":
        return []
    hands: dict[str, Hand] = {}
    with gzip.open(_pack("casia_olhwdb_pot2.jsonl.gz", folder), "rt", encoding="utf-8") as f:
        for line in f:
            s = json.loads(line)
            hand = hands.setdefault(s["writer"], Hand(f"olhwdb-{s['writer']}"))
            hand.strokes.setdefault(s["char"], []).append(s["strokes"])
    return [hands[w] for w in sorted(hands)]


def load_optdigits(folder: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """UCI optdigits (training only): (N, 28, 28) uint8 digits, white ink on black as MNIST,
    and their labels."""
    d = np.load(_pack("optdigits_train.npz", folder))
    images = np.stack([cv2.resize(im.astype(np.float32), (28, 28), interpolation=cv2.INTER_AREA)
                       for im in d["images"]])
    return (np.clip(images * 255, 0, 255)).astype(np.uint8), d["labels"].astype(np.uint8)


@dataclass
class DigitBank:
    """Scanned digits of one pack and, per digit, the indices of its images."""

    images: np.ndarray
    index: list[np.ndarray]

    @classmethod
    def optdigits(cls, folder: Path | None = None) -> "DigitBank":
        images, labels = load_optdigits(folder)
        return cls(images, [np.flatnonzero(labels == d) for d in range(10)])


NUMBER_PEN = frozenset("0123456789") | frozenset(PEN_SYMBOLS)


def number_from_digits(bank: DigitBank, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """(ink alpha, label) of a number answer (labels.number_label, those a pen writes without a
    font: no %) written with the bank's real digits and pen-drawn `. , - /`. optdigits names no
    writers, so one number's digits may come from several of its 30 writers."""
    label = number_label(rng)
    while not set(label) <= NUMBER_PEN:
        label = number_label(rng)
    em = int(rng.integers(36, 56))
    cap, thick = em * 0.7, em * rng.uniform(0.05, 0.1)
    glyphs, gaps = [], []
    for ch in label:
        if ch.isdigit():
            idx = bank.index[int(ch)]
            glyphs.append(digit_glyph(bank.images[idx[int(rng.integers(len(idx)))]], cap, rng))
        else:
            glyphs.append(pen_symbol(ch, cap, thick, rng))
        gaps.append(em * rng.uniform(-0.02, 0.18))
    return compose(glyphs, gaps, rng, jitter=em * 0.03), label


# ---------------------------------------------------------------- English lines and math


@dataclass
class Sentence:
    """An ImadocSen sentence as its words, each with the pen strokes of its own ink (the words
    share the sentence's coordinates, so consecutive words make a real line)."""

    writer: str
    words: list[tuple[str, Strokes]]


def imadocsen_split(writer: str) -> str:
    return "val" if writer in IMADOCSEN_VAL_WRITERS else "train"


def load_imadocsen(split: str, folder: Path | None = None) -> list[Sentence]:
    _check_split(split)
    sentences: dict[str, Sentence] = {}
    with gzip.open(_pack("imadocsen_train.jsonl.gz", folder), "rt", encoding="utf-8") as f:
        for line in f:
            s = json.loads(line)
            if s["level"] != "word" or imadocsen_split(s["writer"]) != split:
                continue
            key = s["id"].rsplit("/", 1)[0]
            sentences.setdefault(key, Sentence(s["writer"], [])).words.append((s["text"], s["strokes"]))
    return list(sentences.values())


@dataclass
class Expression:
    alpha: np.ndarray
    text: str
    stacked: bool
    writer: str


def crohme_split(file: str, writer: str) -> str:
    if writer:
        return "val" if writer in CROHME_VAL_WRITERS else "train"
    return "val" if zlib.crc32(file.encode()) % CROHME_UNNAMED_VAL_MOD == 0 else "train"


def load_crohme(split: str, folder: Path | None = None, named_only: bool = False) -> list[Expression]:
    """CROHME expressions that have a plain-text label in our charset. named_only: only the rows
    whose writer is named (the writer-disjoint part of the validation split)."""
    _check_split(split)
    out = []
    with tarfile.open(_pack("crohme2014_train.tar", folder)) as tar:
        for row in _tsv_rows(tar):
            if not row["text"] or crohme_split(row["file"], row["writer"]) != split:
                continue
            if named_only and not row["writer"]:
                continue
            out.append(Expression(ink_alpha(_gray(tar, row["file"])), row["text"], row["stacked"] == "1",
                                  row["writer"]))
    return out


# ---------------------------------------------------------------- composition


def _scaled(alpha: np.ndarray, size: float) -> np.ndarray:
    """alpha scaled so that its larger side is `size` (a flat 一 stays flat)."""
    h, w = alpha.shape
    s = size / max(1, h, w)
    dsize = (max(2, int(round(w * s))), max(2, int(round(h * s))))
    return cv2.resize(alpha, dsize, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)


def strokes_alpha(strokes: Strokes, size: float, thick: float, rng: np.random.Generator,
                  unit: float | None = None) -> np.ndarray:
    """Pen strokes (y down) drawn with a pressure-varying pen so that `unit` source units
    (default: the strokes' larger extent) become `size` pixels."""
    pts = np.concatenate([np.asarray(s, np.float32) for s in strokes])
    lo = pts.min(0)
    span = unit or max(1.0, float((pts.max(0) - lo).max()))
    s = size / span
    scaled = [((np.asarray(st, np.float32) - lo) * s).tolist() for st in strokes]
    return draw_strokes(scaled, thick, 0, pressure=rng).alpha


def char_alpha(hand: Hand, ch: str, em: float, rng: np.random.Generator) -> np.ndarray:
    """One of `hand`'s drawings of ch, about em pixels high."""
    images, strokes = hand.images.get(ch, []), hand.strokes.get(ch, [])
    k = int(rng.integers(len(images) + len(strokes)))
    if k < len(images):
        return _scaled(images[k], em)
    return strokes_alpha(strokes[k - len(images)], em, em * rng.uniform(0.02, 0.05), rng)


def chinese_alpha(hand: Hand, label: str, rng: np.random.Generator) -> np.ndarray:
    """label written by hand: each character scaled to one size with the writer's wobble,
    placed on a shared line with gaps as in a box on a worksheet."""
    em = float(rng.integers(36, 56))
    glyphs = []
    for ch in label:
        a = char_alpha(hand, ch, em * rng.uniform(0.85, 1.05), rng)
        glyphs.append(Glyph(a, -a.shape[0] + int(round(em * 0.1))))
    gaps = [em * rng.uniform(0.02, 0.3) for _ in label]
    return compose(glyphs, gaps, rng, jitter=em * 0.04)


def english_alpha(words: list[Strokes], rng: np.random.Generator) -> np.ndarray:
    """Consecutive words of one writer's sentence, drawn together from their pen strokes (the
    writer's own spacing, slant and joins), at a random size and pen width."""
    strokes = [st for w in words for st in w]
    word_units = 800.0  # a lowercase word of 3+ letters is ~800 units high (pack README)
    word_px = float(rng.uniform(22, 40))
    return strokes_alpha(strokes, word_px, word_px * rng.uniform(0.035, 0.08), rng, unit=word_units)


def _left(strokes: Strokes) -> float:
    return min(p[0] for st in strokes for p in st)


def word_spans(sentence: Sentence, rng: np.random.Generator, max_chars: int) -> tuple[str, list[Strokes]]:
    """A single word (half the time) or a run of consecutive words of at most max_chars on one
    written line (a sentence that wrapped starts its next line left of the word before)."""
    words = sentence.words
    i = int(rng.integers(len(words)))
    if rng.random() < 0.5:
        return words[i][0], [words[i][1]]
    j = i + 1
    while (j < len(words) and len(" ".join(t for t, _ in words[i:j + 1])) <= max_chars
           and _left(words[j][1]) > _left(words[j - 1][1])):
        j += 1
    j = int(rng.integers(i + 1, j + 1))
    return " ".join(t for t, _ in words[i:j]), [s for _, s in words[i:j]]


@lru_cache(maxsize=1)
def _jieba_words() -> tuple[list[str], np.ndarray]:
    return load_jieba_words(set(HANZI))


_WORDS_WITHIN: dict[frozenset[str], tuple[list[str], np.ndarray]] = {}


def _words_within(chars: frozenset[str]) -> tuple[list[str], np.ndarray]:
    """jieba's words written only with chars, and how often to draw each (Zipf flattened by a
    square root, so rare words still come up); cached per character set (one per writer)."""
    if chars not in _WORDS_WITHIN:
        words, freqs = _jieba_words()
        keep = [i for i, w in enumerate(words) if set(w) <= chars]
        p = np.sqrt(freqs[keep])
        _WORDS_WITHIN[chars] = ([words[i] for i in keep], p / p.sum() if len(p) else p)
    return _WORDS_WITHIN[chars]


def chinese_label(hand: Hand, rng: np.random.Generator) -> tuple[str, str]:
    """(label, what): a jieba word ('zh-words'), a Chinese numeral ('zh-numerals') or 1-3
    random characters ('zh-chars'), all within what hand wrote."""
    chars = hand.hanzi()
    r = rng.random()
    if r < 0.45:
        words, p = _words_within(chars)
        if words:
            return words[int(rng.choice(len(words), p=p))], "zh-words"
    elif r < 0.65:
        for _ in range(20):
            n = int(rng.choice([rng.integers(1, 100), rng.integers(100, 10000), rng.integers(1, 10) * 10000]))
            label = chinese_numeral(n)
            if set(label) <= chars:
                return label, "zh-numerals"
    pool = sorted(chars)
    return "".join(pool[int(rng.integers(len(pool)))] for _ in range(int(rng.integers(1, 4)))), "zh-chars"


# ---------------------------------------------------------------- samples


# What a real sample is, for the per-group figures of validation. Training only needs the kind.
GROUPS = ("zh-chars", "zh-words", "zh-numerals", "en-words", "en-lines", "math", "number")
KIND_OF = {"zh-chars": "chinese", "zh-words": "chinese", "zh-numerals": "chinese", "en-words": "text",
           "en-lines": "text", "math": "math", "number": "number"}
# Shares of the packs in composed samples (training); validation draws only from the packs that
# hold back writers. English lines of several words are a set of their own (wider crops).
TRAIN_MIX = {"casia": 0.29, "olhwdb": 0.21, "hit": 0.08, "imadocsen": 0.25, "crohme": 0.13, "optdigits": 0.04}
VAL_MIX = {"casia": 0.55, "imadocsen": 0.3, "crohme": 0.15}


@dataclass
class RealSources:
    """Everything a split's composed samples draw from."""

    hands: dict[str, list[Hand]]  # by pack: casia, olhwdb, hit
    sentences: list[Sentence]
    expressions: list[Expression]
    digits: DigitBank | None = None  # optdigits: training only

    @classmethod
    def load(cls, split: str, folder: Path | None = None) -> "RealSources":
        return cls({"casia": load_casia(split, folder), "olhwdb": load_olhwdb(split, folder),
                    "hit": load_hit(split, folder)},
                   load_imadocsen(split, folder), load_crohme(split, folder),
                   DigitBank.optdigits(folder) if split == "train" else None)


def real_sample(pack: str, src: RealSources, rng: np.random.Generator, max_chars: int = 60,
                hand_warp: float = 0.0) -> tuple[np.ndarray, str, str]:
    """(uint8 grayscale crop, label, group) of one composed sample from `pack`, through the
    phone-photo degradation; stacked fractions are already unstacked, as the runtime does."""
    if pack == "imadocsen":
        label, words = word_spans(src.sentences[int(rng.integers(len(src.sentences)))], rng, max_chars)
        alpha, group = english_alpha(words, rng), "en-lines" if " " in label else "en-words"
    elif pack == "optdigits":
        if src.digits is None:
            raise ValueError("optdigits has no held-back writers: it composes training samples only")
        alpha, label = number_from_digits(src.digits, rng)
        group = "number"
    elif pack == "crohme":
        e = src.expressions[int(rng.integers(len(src.expressions)))]
        crop = photo_crop(e.alpha, rng, strong_slant=0.0, hand_warp=hand_warp)
        group = "number" if all(c.isdigit() or c in ".,-" for c in e.text) else "math"
        return (unstack_fraction(crop) if e.stacked else crop), e.text, group
    else:
        hands = src.hands[pack]
        hand = hands[int(rng.integers(len(hands)))]
        label, group = chinese_label(hand, rng)
        alpha = chinese_alpha(hand, label, rng)
    return photo_crop(alpha, rng, hand_warp=hand_warp), label, group


@dataclass
class RealJob:
    start: int
    count: int
    seed: int
    split: str
    max_width: int
    folder: str | None = None
    mix: tuple[tuple[str, float], ...] = ()  # the training packs' shares; empty: TRAIN_MIX


_SOURCES: dict[str, RealSources] = {}


def _pack_for(index: int, seed: int, mix: dict[str, float]) -> str:
    rng = np.random.default_rng([seed, index, 7])
    return str(rng.choice(list(mix), p=np.asarray(list(mix.values())) / sum(mix.values())))


def render_real_chunk(job: RealJob) -> tuple[int, np.ndarray, np.ndarray, list[str], list[int]]:
    """Lines (prepare_line_u8, height HEIGHT, up to max_width) of samples start .. start + count."""
    if job.split not in _SOURCES:
        _SOURCES[job.split] = RealSources.load(job.split, Path(job.folder) if job.folder else None)
    src = _SOURCES[job.split]
    train = job.split == "train"
    images = np.zeros((job.count, HEIGHT, job.max_width), np.uint8)
    widths, labels, groups = np.zeros(job.count, np.int32), [], []
    for k in range(job.count):
        i = job.start + k
        rng = np.random.default_rng([job.seed, i])
        pack = _pack_for(i, job.seed, (dict(job.mix) or TRAIN_MIX) if train else VAL_MIX)
        crop, label, group = real_sample(pack, src, rng, hand_warp=0.2 if train else 0.0)
        line = prepare_line_u8(crop, HEIGHT, job.max_width)
        images[k, :, :line.shape[1]] = line
        widths[k] = line.shape[1]
        labels.append(label)
        groups.append(GROUPS.index(group))
    return job.start, images, widths, labels, groups


def render_real_dataset(out: Path, count: int, seed: int, split: str, max_width: int = REAL_MAX_WIDTH,
                        workers: int = 2, chunk: int = 500, folder: Path | None = None,
                        mix: dict[str, float] | None = None) -> None:
    """Render `count` composed real samples of a split into `out` (dataset.write_lines); wide
    enough by default for a 60-character English line at the model's height. `mix`: the
    training packs' shares (default TRAIN_MIX); validation always draws VAL_MIX."""
    jobs = [RealJob(s, min(chunk, count - s), seed, split, max_width, str(folder) if folder else None,
                    tuple((mix or {}).items()))
            for s in range(0, count, chunk)]
    with mp.get_context("spawn").Pool(workers, initializer=cv2.setNumThreads, initargs=(1,)) as pool:
        write_lines(out, count, max_width, pool.imap_unordered(render_real_chunk, jobs), names=GROUPS)


def held_back_items(per_group: int, seed: int, folder: Path | None = None,
                    max_tries: int = 40) -> dict[str, list[tuple[np.ndarray, str]]]:
    """Up to per_group (crop, label) pairs per group, composed from the held-back writers only
    (the bench's real sets). Groups the validation packs rarely give (plain numbers of CROHME)
    stop after per_group * max_tries draws with what they have."""
    src = RealSources.load("val", folder)
    out: dict[str, list[tuple[np.ndarray, str]]] = {g: [] for g in GROUPS}
    for i in range(per_group * max_tries):
        if all(len(v) >= per_group for v in out.values()):
            break
        rng = np.random.default_rng([seed, i])
        crop, label, group = real_sample(_pack_for(i, seed, VAL_MIX), src, rng)
        if len(out[group]) < per_group:
            out[group].append((crop, label))
    return out


def fit_and_render_strokes(count: int, seed: int, workers: int, folder: Path | None, refit: bool) -> int:
    """Fit stroke_style on the training writers' pen strokes (OLHWDB: both writers train), save
    it in the cache, and render `count` Chinese crops drawn from the medians in that style. A fit
    already in the cache is kept unless `refit` (the fit takes minutes; rendering can be rerun)."""
    style = None if refit else StrokeStyle.load(style_path())
    if style is None:
        medians = load_hanzi_medians()
        hands = load_olhwdb("train", folder)
        samples = [(c, s) for h in hands for c, lst in h.strokes.items() for s in lst if c in medians]
        style = fit(samples, medians, len(hands))
        style.save(style_path())
    print(f"{style_path()}: {style.samples} pen samples of {style.writers} writers; residual median "
          f"{np.median(style.residuals):.3f} character heights; join rate per gap bin "
          f"{np.round(style.join_rates, 2).tolist()} (clean covers per bin {style.pairs.tolist()})", flush=True)
    if count:
        render_dataset(cache_dir() / "strokes" / "train", count, seed, "train", workers=workers,
                       variation=replace(TRAINING, real_strokes=1.0), category="chinese")
    return 0


def parse_mix(text: str) -> dict[str, float]:
    """`imadocsen=0.35,crohme=0.18`: those packs' shares of the training samples, the other
    packs' as in TRAIN_MIX; the shares are then scaled to sum to 1."""
    mix = dict(TRAIN_MIX)
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep or name.strip() not in TRAIN_MIX:
            raise ValueError(f"--mix: {part!r} is not PACK=SHARE with PACK one of {', '.join(TRAIN_MIX)}")
        try:
            share = float(value)
        except ValueError:
            raise ValueError(f"--mix: the share in {part!r} is not a number") from None
        if not 0 <= share <= 1:
            raise ValueError(f"--mix: the share in {part!r} is not between 0 and 1")
        mix[name.strip()] = share
    total = sum(mix.values())
    if total <= 0:
        raise ValueError("--mix: every pack's share is 0")
    return {name: share / total for name, share in mix.items()}


def main(argv: list[str] | None = None) -> int:
    """python -m grader.training.packs render [--count N] [--val N] [--seed S] [--workers W] [--packs DIR]
    [--mix PACK=SHARE,...]"""
    parser = argparse.ArgumentParser(prog="python -m grader.training.packs")
    sub = parser.add_subparsers(dest="cmd", required=True)
    render = sub.add_parser("render", help="compose real samples into cache_dir()/real/{train,val}")
    render.add_argument("--count", type=int, default=120_000, help="training samples")
    render.add_argument("--val", type=int, default=3000, help="validation samples (held-back writers)")
    render.add_argument("--seed", type=int, default=1, help="training-sample seed (validation: always 2)")
    render.add_argument("--workers", type=int, default=2)
    render.add_argument("--packs", type=Path, default=None, help=f"the packs' folder (default {packs_dir()})")
    render.add_argument("--mix", default="", metavar="PACK=SHARE,...",
                        help="training packs' shares that differ from TRAIN_MIX (e.g. imadocsen=0.35)")
    strokes = sub.add_parser("strokes", help="fit the real writers' stroke style (stroke_style) on OLHWDB "
                                             "and render Chinese crops in it into cache_dir()/strokes/train")
    strokes.add_argument("--count", type=int, default=60_000, help="Chinese crops to render (0: fit only)")
    strokes.add_argument("--seed", type=int, default=23, help="sample seed (not 2: validation)")
    strokes.add_argument("--workers", type=int, default=2)
    strokes.add_argument("--packs", type=Path, default=None, help=f"the packs' folder (default {packs_dir()})")
    strokes.add_argument("--refit", action="store_true", help="fit again though a fit is in the cache")
    args = parser.parse_args(argv)
    check_training_seed(args.seed)
    try:
        mix = parse_mix(args.mix) if args.cmd == "render" else None
    except ValueError as error:
        parser.error(str(error))
    if args.cmd == "strokes":
        return fit_and_render_strokes(args.count, args.seed, args.workers, args.packs, args.refit)
    root = cache_dir() / "real"
    if args.val:
        render_real_dataset(root / "val", args.val, VALIDATION_SEED, "val", workers=args.workers, folder=args.packs)
    render_real_dataset(root / "train", args.count, args.seed, "train", workers=args.workers, folder=args.packs,
                        mix=mix)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
