"""Adapt the recogniser to one gradebook's handwriting (issue 18), safely.

    python -m grader adapt [--db URL] [--minutes N] [--min-crops N] [--json] [--rollback]

The labelled crops (grader.teacher_labels: teacher-confirmed, typed, very sure automatic) of a
share of the students train a copy of the current model, each batch mixed with generated replay
crops (the training generator's, so the model keeps the charset the class never writes); the
other students are held back (writer-disjoint) and decide:

- the adapted model must read the held-back students' crops at least as well as the current one
  (per crop, both through ONNX Runtime int8 as grading reads; the paired sign test's p-value is
  reported), and
- lose at most `max_loss_points` of exact match on the shipped validation sets (the generated
  validation set and, where the cache has it, the held-back real writers' set).

Adopted: a new version (ONNX fp32, static int8, crnn.pt, charset, model.json naming its parent,
the counts it learned from and the figures) is written into the gradebook's data folder and
becomes current; otherwise the report says why and nothing changes. The files are written into a
temporary folder and renamed into place before the gradebook records them, so an adapt stopped
at any point (Ctrl-C, SIGKILL) leaves the current model and the gradebook as they were.

Held-out discipline: replay and validation crops come from the training generator's own sources
(the cache's rendered sets, or the fonts that ship with the project); never the MNIST test split
nor the reserved fonts.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import torch
from sqlalchemy.engine import Engine

from grader import db, fonts, model_versions
from grader.charset import load_charset, save_charset
from grader.errors import GraderError
from grader.lines import HEIGHT, WIDTH_MULTIPLE, prepare_line_u8
from grader.model_spec import ModelSpec
from grader.paths import cache_dir
from grader.recognizer import Recognizer
from grader.stacked_fractions import unstack_for_kind
from grader.teacher_labels import LabelledCrop, label_counts, labelled_crops, refresh_auto_labels
from grader.training.data import Sources
from grader.training.dataset import TRAINING, VALIDATION_SEED, RenderJob, _render_worker_init, render_chunk
from grader.training.export import FP32_NAME, INT8_NAME, export_onnx, quantize
from grader.training.glyphs import font_digit_images
from grader.training.labels import CATEGORIES
from grader.training.model import CRNN
from grader.training.train import LineDataset, ctc_loss, evaluate, load_model

Progress = Callable[[float, str], None]  # (fraction done 0..1, what is happening)
REPLAY_SEED = 18  # generated replay crops (not 2: that seed is the validation set's)


class NotEnoughLabels(GraderError):
    """Too few labelled crops (or students) to adapt and validate on."""


@dataclass(frozen=True)
class AdaptConfig:
    minutes: float = 5.0  # the whole adapt: training, validation and export
    min_crops: int = 50  # labelled crops needed
    held_back_share: float = 0.25  # of the students: validation, never trained on
    replay_share: float = 0.5  # of each batch: generated replay crops
    # The rate the shipped model's own training ended at (train.TrainConfig: max_lr x 0.02):
    # 3e-4 (7.5 times that) made every bench run worse, generated validation included.
    lr: float = 4e-5
    batch_size: int = 16
    max_steps: int = 1_000_000  # the time budget normally ends training first
    # Passes over the labelled crops at most (each batch holds batch_size x (1 - replay_share)
    # of them); 0: as many as the time budget allows. Three, from bench/adapt.py (seeds 18 and 19,
    # 330 labelled crops of 11 students): the adapted writers' next pages gained as much as with the
    # whole 5-minute budget (about 85 passes: +1.2 / +0.9 against +0.9 / +0.9 points), the other
    # writers lost less (+0.2 / -0.4 against -0.5 / -2.3), the held-back students fared better
    # (adopted once, against never) and training took 10 s instead of 267.
    max_passes: float = 3.0
    keep_rejected: bool = False  # keep a version not adopted as <data folder>/<version>.rejected (benches)
    replay_count: int = 1024
    shipped_val_count: int = 600  # per shipped validation set
    max_loss_points: float = 0.5  # exact-match points the shipped validation may lose
    seed: int = 0
    threads: int = 2


@dataclass
class Reading:
    """Exact matches of the held-back crops, per crop, of one model."""

    right: list[bool]

    @property
    def accuracy(self) -> float:
        return sum(self.right) / max(1, len(self.right))


@dataclass
class AdaptReport:
    adopted: bool
    reason: str
    parent: str
    version: str | None
    labels: dict[str, dict[str, int]]
    trained_crops: int
    trained_students: int
    held_back_crops: int
    held_back_students: int
    held_back_before: float
    held_back_after: float
    held_back_by_kind: dict[str, dict[str, float]] = field(default_factory=dict)
    paired: dict[str, float] = field(default_factory=dict)  # old-only right, new-only right, p
    shipped_before: dict[str, float] = field(default_factory=dict)
    shipped_after: dict[str, float] = field(default_factory=dict)
    steps: int = 0
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase (where time goes)

    def as_json(self) -> dict:
        return dict(self.__dict__)

    def summary(self) -> str:
        gain = 100 * (self.held_back_after - self.held_back_before)
        shipped = ", ".join(f"{k} {100 * self.shipped_before[k]:.1f} -> {100 * v:.1f} %"
                            for k, v in self.shipped_after.items())
        head = (f"adopted {self.version} (parent {self.parent})" if self.adopted
                else f"kept {self.parent}: {self.reason}")
        return (f"{head}\nheld-back students ({self.held_back_students}, {self.held_back_crops} "
                f"crops): {100 * self.held_back_before:.1f} -> {100 * self.held_back_after:.1f} % "
                f"read exactly ({gain:+.1f} points; sign test p = {self.paired.get('p', 1.0):.3g})"
                f"\nshipped validation: {shipped}\nlearned from {self.trained_crops} crops of "
                f"{self.trained_students} students in {self.steps} steps, {self.seconds:.0f} s")


# --- the labelled crops -------------------------------------------------------------------------

def decode_ink(png: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise GraderError("a stored ink crop cannot be decoded")
    return image


def split_students(crops: Sequence[LabelledCrop], share: float, seed: int
                   ) -> tuple[list[LabelledCrop], list[LabelledCrop]]:
    """(train, held back): whole students held back, about `share` of the students of each kind
    (a student counts under the kind most of their crops are), at least one where a kind has two
    or more students, so every kind the class writes much of is checked, not only the commonest."""
    by_writer: dict[str, Counter[str]] = defaultdict(Counter)
    for crop in crops:
        by_writer[crop.writer][crop.kind] += 1
    groups: dict[str, list[str]] = defaultdict(list)
    for writer in sorted(by_writer):
        groups[by_writer[writer].most_common(1)[0][0]].append(writer)
    rng = np.random.default_rng(seed)
    held: set[str] = set()
    for kind in sorted(groups):
        writers = groups[kind]
        if len(writers) >= 2:
            order = [writers[i] for i in rng.permutation(len(writers))]
            held.update(order[:max(1, round(share * len(writers)))])
    if not held:  # every kind has one student: hold back one student anyway
        writers = sorted(by_writer)
        held.add(writers[int(rng.integers(len(writers)))])
    return [c for c in crops if c.writer not in held], [c for c in crops if c.writer in held]


def check_enough(crops: Sequence[LabelledCrop], cfg: AdaptConfig) -> None:
    if not crops:
        raise NotEnoughLabels("the gradebook has no labelled crops yet: mark answers correct or "
                              "type what is written on the Review screen (or with "
                              "`python -m grader override`); nothing was changed")
    if len(crops) < cfg.min_crops:
        raise NotEnoughLabels(f"the gradebook has {len(crops)} labelled crops; adapt needs at "
                              f"least {cfg.min_crops} (--min-crops); nothing was changed")
    if len({c.writer for c in crops}) < 2:
        raise NotEnoughLabels("the labelled crops are all one student's; adapt needs at least "
                              "two students (some are held back to check the result); nothing "
                              "was changed")


def lines_dataset(lines: Sequence[np.ndarray], labels: Sequence[str], cats: Sequence[int],
                  index: dict[str, int], names: tuple[str, ...]) -> LineDataset:
    width = _padded(max(line.shape[1] for line in lines))
    images = np.zeros((len(lines), HEIGHT, width), np.uint8)
    for i, line in enumerate(lines):
        images[i, :, :line.shape[1]] = line
    return LineDataset(images, np.asarray([line.shape[1] for line in lines], np.int32),
                       np.asarray(cats, np.int8), list(labels), index, names)


def labelled_lines(crops: Sequence[LabelledCrop], max_width: int) -> list[np.ndarray]:
    """The crops as the model reads them (the runtime's Recognizer.lines, in uint8)."""
    return [prepare_line_u8(unstack_for_kind(decode_ink(c.ink_png), c.kind), HEIGHT, max_width)
            for c in crops]


# --- replay and the shipped validation sets ---------------------------------------------------

def bundled_sources() -> Sources:
    """Generator sources from the fonts that ship with the project alone (a school's machine
    has no training cache): digits drawn from those fonts stand in for MNIST images."""
    latin, cjk = list(fonts.LATIN_HANDS), list(fonts.CJK_HANDS)
    digits, digit_labels = font_digit_images(latin)
    return Sources(latin_fonts=latin, cjk_fonts=cjk, digits=digits,
                   digit_labels=digit_labels, medians={},
                   cn_words=["中国", "学生", "老师", "朋友", "我们"], cn_probs=np.full(5, 0.2),
                   en_words=["apple", "house", "water", "green", "tree"])


def _cached_subset(folder: Path, count: int, seed: int, index: dict[str, int]) -> LineDataset | None:
    """`count` random lines of a rendered set in the cache (memory-mapped), or None."""
    try:
        images = np.load(folder / "images.npy", mmap_mode="r")
        widths = np.load(folder / "widths.npy")
        cats = np.load(folder / "cats.npy")
        labels = json.loads((folder / "labels.json").read_text())
        names = tuple(json.loads((folder / "names.json").read_text()))
    except (OSError, ValueError):
        return None
    pick = np.sort(np.random.default_rng(seed).choice(len(labels), min(count, len(labels)), replace=False))
    return LineDataset(_columns(images[pick], int(widths[pick].max())), widths[pick], cats[pick],
                       [labels[i] for i in pick], index, names)


def _rendered(count: int, seed: int, split: str, sources: Sources, index: dict[str, int]) -> LineDataset:
    _render_worker_init(sources, split)  # render_chunk reads its sources from there
    _, images, widths, labels, cats = render_chunk(RenderJob(0, count, seed, split, TRAINING))
    return LineDataset(_columns(images, int(widths.max())), widths, np.asarray(cats, np.int8),
                       labels, index, CATEGORIES)


def replay_set(count: int, index: dict[str, int], sources: Sources | None) -> LineDataset:
    """Generated crops to mix into every batch: the cache's rendered training set where there is
    one (and no sources were given), else rendered now from `sources` or the bundled fonts."""
    if sources is None:
        cached = _cached_subset(cache_dir() / "dataset" / "train", count, REPLAY_SEED, index)
        if cached is not None:
            return cached
    return _rendered(count, REPLAY_SEED, "train", sources or bundled_sources(), index)


def shipped_validation(count: int, index: dict[str, int], sources: Sources | None) -> dict[str, LineDataset]:
    """The shipped validation sets: the cache's generated and real held-back sets where they
    exist, else generated validation crops (validation seed) from `sources` or the bundled fonts."""
    sets: dict[str, LineDataset] = {}
    if sources is None:
        for name, folder in (("generated", cache_dir() / "dataset" / "val"),
                             ("real writers", cache_dir() / "real" / "val")):
            found = _cached_subset(folder, count, 0, index)
            if found is not None:
                sets[name] = found
    if "generated" not in sets:
        sets["generated"] = _rendered(count, VALIDATION_SEED, "val", sources or bundled_sources(), index)
    return sets


def calibration_set(index: dict[str, int], shipped: dict[str, LineDataset]) -> LineDataset:
    """The lines the int8 model is calibrated on: those export.py calibrated the shipped model
    on (the cache's generated validation set) where the cache has them, so that a version
    differs from its parent by what it learned and not by another calibration (measured: an
    unchanged model recalibrated on the training mix read one held-back crop in 120 less);
    else the generated validation lines at hand."""
    try:
        return LineDataset.load(cache_dir() / "dataset" / "val", index)
    except (OSError, ValueError):
        return shipped["generated"]


# --- training -------------------------------------------------------------------------------

def _freeze_batch_norm(model: CRNN) -> None:
    """Small mixed batches would drag the running statistics; keep the parent's."""
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eval()


def fine_tune(model: CRNN, labelled: LineDataset, replay: LineDataset, cfg: AdaptConfig,
              deadline: float, progress: Progress, start: float) -> int:
    """AdamW steps on batches of labelled and replay crops until the deadline or max_steps;
    returns the steps taken."""
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-2)
    n_replay = max(1, round(cfg.batch_size * cfg.replay_share))
    n_label = max(1, cfg.batch_size - n_replay)
    combined = _concat(labelled, replay)
    max_steps = cfg.max_steps
    if cfg.max_passes > 0:
        max_steps = min(max_steps, max(1, math.ceil(cfg.max_passes * len(labelled) / n_label)))
    model.train()
    _freeze_batch_norm(model)
    steps = 0
    while steps < max_steps and time.time() < deadline:
        anchor = float(labelled.widths[rng.integers(len(labelled))])
        idx = np.concatenate([near_width(labelled.widths, anchor, n_label, rng),
                              len(labelled) + near_width(replay.widths, anchor, n_replay, rng)])
        for group in opt.param_groups:
            group["lr"] = lr_at(cfg, (time.time() - start) / max(1e-9, deadline - start),
                                steps / max(1, max_steps))
        x, flat, il, tl = combined.batch(idx)
        loss = ctc_loss(model(x), flat, il, tl)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        steps += 1
        if steps % 5 == 0:
            done = min(1.0, max((time.time() - start) / max(1e-9, deadline - start), steps / max_steps))
            progress(0.15 + 0.6 * done, f"step {steps}, loss {loss.item():.3f}")
    model.eval()
    return steps


def near_width(widths: np.ndarray, anchor: float, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` lines about `anchor` pixels wide (jittered, so the picks vary): a batch's lines
    are padded to its widest and the CTC reads the padding too, so a batch mixing a two-character
    crop with a sentence would train the recurrent layers on long blank tails the model never
    meets when reading (grading batches lines by width). Training buckets by width likewise."""
    distance = np.abs(widths.astype(np.float32) - anchor) + rng.uniform(0, 24, len(widths))
    pool = np.argsort(distance)[:max(count, 2 * count)]
    return rng.choice(pool, count, replace=len(pool) < count)


def lr_at(cfg: AdaptConfig, time_done: float, steps_done: float) -> float:
    """Warm up over the first tenth of training (AdamW's first steps move every weight by about
    the learning rate, whatever its gradient), then a cosine down to a twentieth: the weights
    settle before export instead of being caught mid-step. Progress is whichever of time and
    steps is further along."""
    f = min(1.0, max(time_done, steps_done))
    if f < 0.1:
        return cfg.lr * max(0.05, f / 0.1)
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (f - 0.1) / 0.9)))


def _padded(width: int) -> int:
    """LineDataset.batch rounds a batch's width up to WIDTH_MULTIPLE and sets the CTC input
    lengths from it, so the images must have those columns (zeros) too."""
    return -(-width // WIDTH_MULTIPLE) * WIDTH_MULTIPLE


def _columns(images: np.ndarray, width: int) -> np.ndarray:
    """The images with exactly _padded(width) columns: cut, or widened with zeros."""
    width = _padded(width)
    out = np.zeros((images.shape[0], images.shape[1], width), np.uint8)
    keep = min(width, images.shape[2])
    out[:, :, :keep] = images[:, :, :keep]
    return out


def _concat(a: LineDataset, b: LineDataset) -> LineDataset:
    width = _padded(max(a.images.shape[2], b.images.shape[2]))
    images = np.zeros((len(a) + len(b), HEIGHT, width), np.uint8)
    images[:len(a), :, :a.images.shape[2]] = a.images
    images[len(a):, :, :b.images.shape[2]] = b.images
    out = LineDataset.__new__(LineDataset)
    out.images, out.widths = images, np.concatenate([a.widths, b.widths])
    out.cats = np.zeros(len(images), np.int8)
    out.labels, out.names = a.labels + b.labels, ("all",)
    out.targets = a.targets + b.targets
    return out


# --- validation -----------------------------------------------------------------------------

def read_held_back(models_dir: Path, crops: Sequence[np.ndarray], truths: Sequence[str],
                   kinds: Sequence[str]) -> Reading:
    """Exact readings as grading reads (ONNX Runtime int8, the question's kind, letter by letter)."""
    rec = Recognizer.load(models_dir, precision="int8", threads=1)
    right = []
    for truth, kind, lp in zip(truths, kinds, rec.log_probs(crops, list(kinds))):
        right.append(rec.decode(lp, kind, use_words=False).text == truth)
    return Reading(right)


def sign_test(old: Reading, new: Reading) -> dict[str, float]:
    """The crops only one model reads right, and the two-sided exact sign test on them."""
    old_only = sum(o and not n for o, n in zip(old.right, new.right))
    new_only = sum(n and not o for o, n in zip(old.right, new.right))
    k, n = min(old_only, new_only), old_only + new_only
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n if n else 1.0
    return {"old_only": old_only, "new_only": new_only, "p": min(1.0, 2 * tail)}


def shipped_figures(model: CRNN, sets: dict[str, LineDataset], chars: list[str]) -> dict[str, float]:
    return {name: evaluate(model, data, chars, len(data))["all"]["exact"] for name, data in sets.items()}


def by_kind(crops: Sequence[LabelledCrop], old: Reading, new: Reading) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for kind in sorted({c.kind for c in crops}):
        mask = [c.kind == kind for c in crops]
        n = sum(mask)
        out[kind] = {"n": n,
                     "before": sum(r for r, m in zip(old.right, mask) if m) / n,
                     "after": sum(r for r, m in zip(new.right, mask) if m) / n}
    return out


def decide(report: AdaptReport, cfg: AdaptConfig) -> tuple[bool, str]:
    if report.held_back_after < report.held_back_before:
        return False, (f"it reads the held-back students worse ({100 * report.held_back_before:.1f} "
                       f"-> {100 * report.held_back_after:.1f} %)")
    for name, before in report.shipped_before.items():
        loss = 100 * (before - report.shipped_after[name])
        if loss > cfg.max_loss_points:
            return False, (f"it loses {loss:.1f} points on the shipped {name} validation set "
                           f"(at most {cfg.max_loss_points:g} allowed)")
    return True, "it reads the held-back students at least as well and keeps the shipped figures"


# --- writing a version ----------------------------------------------------------------------

def write_version(out: Path, model: CRNN, ckpt: dict, chars: list[str], parent_spec: ModelSpec,
                  version: str, calibration: LineDataset, training: dict) -> ModelSpec:
    """ONNX fp32 and static int8 (calibrated on `calibration`), crnn.pt, charset and
    model.json into `out`, which must not exist yet."""
    out.mkdir(parents=True)
    export_onnx(model, out / FP32_NAME, parent_spec.input, parent_spec.output)
    quantize(out / FP32_NAME, out / INT8_NAME, calibration, count=min(320, len(calibration)))
    save_charset(chars, out / "charset.txt")
    torch.save({"model": model.state_dict(), "model_config": ckpt["model_config"],
                "train_config": ckpt.get("train_config"), "step": ckpt.get("step", 0),
                "charset_file": "charset.txt"}, out / "crnn.pt")
    spec = replace(parent_spec, version=version, charset="charset.txt",
                   files=replace(parent_spec.files, fp32=FP32_NAME, int8=INT8_NAME, checkpoint="crnn.pt"),
                   exported=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                   int8={"static_qdq_kept": True, "calibration_crops": min(320, len(calibration))},
                   training=training, metrics={})
    spec.save(out)
    return spec


# --- the whole adapt ------------------------------------------------------------------------

def adapt(engine: Engine, cfg: AdaptConfig = AdaptConfig(), progress: Progress | None = None,
          sources: Sources | None = None) -> AdaptReport:
    """Fine-tune the gradebook's current model on its labelled crops; adopt the result only when
    the held-back students and the shipped validation sets say so. Raises NotEnoughLabels
    (nothing changed) or model_versions.AdaptBusy (another adapt is running)."""
    say = progress or (lambda fraction, message: None)
    start = time.time()
    torch.set_num_threads(cfg.threads)
    with model_versions.adapt_lock(engine) as folder:
        _remove_unfinished(folder)
        with db.write_session(engine) as session:
            refresh_auto_labels(session)
            crops = labelled_crops(session)
            check_enough(crops, cfg)  # raising rolls the new auto labels back: nothing changes
            counts = label_counts(session)
            parent = model_versions.current_version(session)
            parent_dir = model_versions.folder_of(engine, parent, session)
            version = model_versions.next_version_name(session)
        say(0.02, f"{len(crops)} labelled crops; preparing")
        report, staged = _run(cfg, crops, counts, parent, parent_dir, version, folder, start, say, sources)
        try:
            if report.adopted:
                final = folder / version
                staged.rename(final)
                with db.write_session(engine) as session:
                    model_versions.adopt(session, version, parent, final.name, report.as_json())
        finally:
            if staged.exists() and cfg.keep_rejected and not report.adopted:
                rejected = folder / f"{version}.rejected"
                if rejected.exists():
                    shutil.rmtree(rejected)
                staged.rename(rejected)
            if staged.exists():
                shutil.rmtree(staged)
    report.seconds = time.time() - start
    say(1.0, "done")
    return report


def _remove_unfinished(folder: Path) -> None:
    """Folders a killed adapt left behind (never recorded in the gradebook)."""
    for stale in folder.glob("*.partial"):
        shutil.rmtree(stale, ignore_errors=True)


def _run(cfg: AdaptConfig, crops: list[LabelledCrop], counts: dict, parent: str, parent_dir: Path,
         version: str, folder: Path, start: float, say: Progress, sources: Sources | None
         ) -> tuple[AdaptReport, Path]:
    parent_spec = ModelSpec.load(parent_dir)
    chars = load_charset(parent_dir / parent_spec.charset)
    index = {c: i for i, c in enumerate(chars)}
    model, ckpt = load_model(parent_dir / (parent_spec.files.checkpoint or "crnn.pt"))
    train, held = split_students(crops, cfg.held_back_share, cfg.seed)
    if not train:
        raise NotEnoughLabels("every labelled student would be held back; label more students")
    width = parent_spec.input.max_width
    kinds = sorted({c.kind for c in crops})
    labelled = lines_dataset(labelled_lines(train, width), [c.text for c in train],
                             [kinds.index(c.kind) for c in train], index, tuple(kinds))
    replay = replay_set(cfg.replay_count, index, sources)
    shipped = shipped_validation(cfg.shipped_val_count, index, sources)
    held_inks = [decode_ink(c.ink_png) for c in held]
    phases = {"data": time.time() - start}
    say(0.08, "reading the held-back students with the current model")
    old = read_held_back(parent_dir, held_inks, [c.text for c in held], [c.kind for c in held])
    phases["held_back_before"] = time.time() - start - sum(phases.values())
    shipped_before = shipped_figures(model, shipped, chars)
    phases["shipped_before"] = time.time() - start - sum(phases.values())
    spent = time.time() - start
    # after training come the same checks again and the export (together about as long as the
    # checks so far); training gets the rest of the budget, and at least a fifth of it
    left = cfg.minutes * 60 - spent - (spent + 20)
    deadline = time.time() + max(left, 0.2 * cfg.minutes * 60)
    say(0.15, f"training on {len(train)} crops of {len({c.writer for c in train})} students")
    steps = fine_tune(model, labelled, replay, cfg, deadline, say, time.time())
    phases["train"] = time.time() - start - sum(phases.values())
    say(0.8, "checking the adapted model")
    shipped_after = shipped_figures(model, shipped, chars)
    phases["shipped_after"] = time.time() - start - sum(phases.values())
    staged = folder / f"{version}.partial"
    report = AdaptReport(False, "", parent, None, counts, len(train), len({c.writer for c in train}),
                         len(held), len({c.writer for c in held}), old.accuracy, old.accuracy,
                         shipped_before=shipped_before, shipped_after=shipped_after, steps=steps,
                         phases=phases)
    training = {"parent": parent, "learned_from": {"crops": len(train), "students": report.trained_students,
                                                   "labels": counts, "replay_crops": len(replay)},
                "steps": steps, "lr": cfg.lr}
    model.eval()
    write_version(staged, model, ckpt, chars, parent_spec, version,
                  calibration_set(index, shipped), training)
    phases["export"] = time.time() - start - sum(phases.values())
    new = read_held_back(staged, held_inks, [c.text for c in held], [c.kind for c in held])
    phases["held_back_after"] = time.time() - start - sum(phases.values())
    report.held_back_after = new.accuracy
    report.paired = sign_test(old, new)
    report.held_back_by_kind = by_kind(held, old, new)
    report.adopted, report.reason = decide(report, cfg)
    report.seconds = time.time() - start
    if report.adopted:
        report.version = version
        spec = ModelSpec.load(staged)
        spec = replace(spec, training={**spec.training, "validation": {
            "held_back": {"crops": len(held), "students": report.held_back_students,
                          "before": old.accuracy, "after": new.accuracy, **report.paired},
            "shipped_before": shipped_before, "shipped_after": shipped_after}})
        spec.save(staged)
    return report, staged

