"""Train the CRNN with CTC on the pre-rendered dataset (grader.training.dataset.render_dataset).

    python -m grader.training.train [--steps N] [--minutes M] [--resume | --init CKPT] [--device D] [--bench SECONDS]
                                    [--online WORKERS]

On a machine with a CUDA GPU the same command trains there (--device auto, the default).
--online N renders the training samples on the fly in N worker processes instead of reading the
rendered set, so every step sees fresh samples; the validation set is still read from the cache.
The renderers, not a GPU, set the pace: 14 of them made about 2,650 crops/s on a 16-core H100
machine, where the GPU stayed under 20 % busy.

--init continues training from another run's weights (and optimiser state when the file has it,
e.g. models/crnn.pt has none) with a fresh learning-rate schedule over --minutes; the step count
and the minutes already trained carry on, so the checkpoint records the whole history.
Resumable: a checkpoint (model, optimiser, schedule, step, config, charset) is written to
cache_dir()/train/last.pt every few minutes and the best by validation CER to best.pt.
The log prints loss, samples/s and per-category validation CER / exact match.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from grader import ctc
from grader.charset import default_charset, load_charset
from grader.lines import FRAMES_PER_PIXEL, WIDTH_MULTIPLE, to_float
from grader.paths import cache_dir
from grader.training.data import Sources, require_sources_or_exit
from grader.training.dataset import TRAINING, RenderJob, check_training_seed, render_chunk, render_pool
from grader.training.labels import CATEGORIES
from grader.training.model import CRNN, ModelConfig


@dataclass
class TrainConfig:
    data_dir: str = str(cache_dir() / "dataset")
    out_dir: str = str(cache_dir() / "train")
    batch_size: int = 64
    max_lr: float = 2e-3
    weight_decay: float = 1e-2
    total_steps: int = 1_000_000  # upper bound; the time budget below normally ends the run
    warmup_fraction: float = 0.05
    max_minutes: float = 100.0  # the learning-rate schedule follows elapsed time, not steps
    checkpoint_minutes: float = 5.0
    eval_every: int = 500
    eval_samples: int = 1500
    threads: int = 2
    device: str = "auto"  # "auto": CUDA when torch sees a GPU, else the CPU
    bf16: bool = False  # forward pass under bfloat16 autocast (weights and the CTC loss stay fp32)
    seed: int = 0
    grad_clip: float = 5.0
    online_workers: int = 0  # > 0: render training samples on the fly in this many processes
    online_seed: int = 11  # sample seed of on-the-fly rendering (not 2: validation)
    online_chunk: int = 1024  # samples per render job
    real_dir: str = str(cache_dir() / "real")  # composed real writers' samples (grader.training.packs)
    real_share: float = 0.0  # share of training batches drawn from real_dir/train; 0: generated only
    extra_dir: str = ""  # another rendered set (e.g. packs strokes: cache_dir()/strokes/train)
    extra_share: float = 0.0  # share of training batches drawn from it
    distill_from: str = ""  # a teacher checkpoint: on generated batches, also match its per-frame output
    distill_weight: float = 1.0  # weight of that term (KL per frame) beside the CTC loss


class OnlineBatches:
    """An endless stream of training batches rendered on the fly by a pool of processes.

    Sample indices start at `start` (pass step * batch_size so that a resumed or continued run
    renders samples it has not seen) and are drawn with dataset.render_chunk's per-sample seeding,
    so the stream is reproducible. Each rendered chunk is cut into width-bucketed batches.
    """

    def __init__(self, index: dict[str, int], cfg: TrainConfig, start: int, sources: Sources | None = None):
        check_training_seed(cfg.online_seed)
        self.index, self.cfg, self.next_start = index, cfg, start
        self.pool = render_pool(cfg.online_workers, sources)  # without sources: the training cache
        self.pending: deque = deque()

    def _submit(self) -> None:
        while len(self.pending) < 2 * self.cfg.online_workers:
            job = RenderJob(self.next_start, self.cfg.online_chunk, self.cfg.online_seed, "train", TRAINING)
            self.pending.append(self.pool.apply_async(render_chunk, (job,)))
            self.next_start += self.cfg.online_chunk

    def batches(self, rng: np.random.Generator):
        """Endless (dataset, indices) pairs."""
        while True:
            self._submit()
            _, images, widths, labels, cats = self.pending.popleft().get()
            chunk = LineDataset(images, widths, np.asarray(cats, np.int8), labels, self.index)
            for idx in bucketed_batches(chunk.widths, self.cfg.batch_size, rng):
                yield chunk, idx

    def close(self) -> None:
        self.pool.terminate()


class LineDataset:
    """Memory-mapped pre-rendered lines: images (N, 32, W) uint8, widths, labels, categories
    (indices into `names`: labels.CATEGORIES for generated sets, packs.GROUPS for real ones)."""

    def __init__(self, images: np.ndarray, widths: np.ndarray, cats: np.ndarray, labels: list[str],
                 index: dict[str, int], names: tuple[str, ...] = CATEGORIES):
        self.images, self.widths, self.cats, self.labels, self.names = images, widths, cats, labels, names
        self.targets = [ctc.encode(s, index) for s in self.labels]
        bad = [s for s, t in zip(self.labels, self.targets) if t is None]
        if bad:
            raise ValueError(f"{len(bad)} labels hold characters outside the charset, e.g. {bad[:3]}")

    @classmethod
    def load(cls, folder: Path, index: dict[str, int]) -> "LineDataset":
        """A set as dataset.write_lines wrote it (the images memory-mapped)."""
        names = folder / "names.json"
        return cls(np.load(folder / "images.npy", mmap_mode="r"), np.load(folder / "widths.npy"),
                   np.load(folder / "cats.npy"), json.loads((folder / "labels.json").read_text()), index,
                   tuple(json.loads(names.read_text())) if names.exists() else CATEGORIES)

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        width = int(math.ceil(self.widths[idx].max() / WIDTH_MULTIPLE) * WIDTH_MULTIPLE)
        lines = to_float(np.ascontiguousarray(self.images[np.sort(idx), :, :width]))
        order = np.argsort(np.argsort(idx))  # undo the sort done for faster memmap reads
        x = torch.from_numpy(lines[order]).unsqueeze(1)
        targets = [self.targets[i] for i in idx]
        flat = torch.tensor([k for t in targets for k in t], dtype=torch.long)
        target_lengths = torch.tensor([len(t) for t in targets], dtype=torch.long)
        input_lengths = torch.full((len(idx),), round(width * FRAMES_PER_PIXEL), dtype=torch.long)
        return x, flat, input_lengths, target_lengths


def bucketed_batches(widths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Batches of similar width (little padding), in random order; noise varies the groups."""
    order = np.argsort(widths + rng.uniform(0, 24, len(widths)))
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def lr_at(cfg: TrainConfig, fraction: float) -> float:
    """Warm-up then cosine decay over the *time* budget: on a shared 2-core machine the step
    rate varies several-fold, so a step-based schedule would stop before it anneals."""
    f = min(max(fraction, 0.0), 1.0)
    if f < cfg.warmup_fraction:
        return cfg.max_lr * max(0.02, f / cfg.warmup_fraction)
    g = (f - cfg.warmup_fraction) / (1 - cfg.warmup_fraction)
    return cfg.max_lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * g)))


class ThreadTuner:
    """Picks 1 or 2 intra-op threads by measured cost per sample column. When another process
    holds one core, two OpenMP threads wait on each other at every barrier and run up to ten
    times slower than one; when the machine is free, two are nearly twice as fast. Trials run
    every `period_s` seconds, and at once when steps suddenly slow down."""

    def __init__(self, max_threads: int, period_s: float = 60.0, trial: int = 4):
        self.options = sorted({1, max_threads})
        self.period_s, self.trial = period_s, trial
        self.current = max_threads
        self.plan: list[int] = []
        self.trial_costs: dict[int, list[float]] = {}
        self.recent: list[float] = []
        self.last_trial = time.time()

    def threads_for(self, now: float) -> int:
        if len(self.options) > 1 and not self.plan and not self.trial_costs and now - self.last_trial > self.period_s:
            self.plan = [k for k in self.options for _ in range(self.trial)]
        if self.plan:
            return self.plan[0]
        return self.current

    def record(self, threads: int, cost: float) -> None:
        if self.plan:
            self.plan.pop(0)
            self.trial_costs.setdefault(threads, []).append(cost)
            if not self.plan:
                self.current = min(self.trial_costs, key=lambda k: float(np.median(self.trial_costs[k])))
                self.trial_costs, self.recent, self.last_trial = {}, [], time.time()
            return
        self.recent = (self.recent + [cost])[-20:]
        if len(self.recent) >= 5 and cost > 2.5 * float(np.median(self.recent)):
            self.last_trial = 0.0  # sudden slowdown: someone took a core; re-measure now


def ctc_loss(logits: torch.Tensor, flat, input_lengths, target_lengths) -> torch.Tensor:
    log_probs = F.log_softmax(logits, dim=2).transpose(0, 1)  # (T, B, C)
    return F.ctc_loss(log_probs, flat.to(log_probs.device), input_lengths, target_lengths, blank=0,
                      reduction="mean", zero_infinity=True)


def frame_kl(logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """KL(teacher || student) per output frame, averaged over frames: keeping a teacher's readings
    of the generated hands while real writers' batches move the model (learning without
    forgetting; fine-tuning on real writers alone cost 4-5 points on the reserved fonts)."""
    student = F.log_softmax(logits, dim=2)
    teacher = F.log_softmax(teacher_logits, dim=2)
    kl = F.kl_div(student, teacher, log_target=True, reduction="none").sum(dim=2)
    return kl.mean()


@torch.no_grad()
def read_crops(model: CRNN, data: LineDataset, chars: list[str], limit: int,
               batch_size: int = 128) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy readings of the first `limit` samples, crop by crop: (read exactly, edit distance,
    label length), each in the set's order. Leaves the model in training mode, as it found it in
    the training loop."""
    model.eval()
    n = min(limit, len(data))
    order = np.argsort(data.widths[:n])  # the order evaluate always used: padding moves a few readings
    right, edits, lengths = np.zeros(n, bool), np.zeros(n, np.int64), np.zeros(n, np.int64)
    device = next(model.parameters()).device
    for i in range(0, n, batch_size):
        idx = order[i:i + batch_size]
        x, *_ = data.batch(idx)
        lp = F.log_softmax(model(x.to(device)), dim=2).float().cpu().numpy()
        for j, k in enumerate(idx):
            pred, truth = ctc.greedy_decode(lp[j], chars), data.labels[k]
            right[k] = pred == truth
            edits[k], lengths[k] = ctc.char_error_rate(pred, truth)
    model.train()
    return right, edits, lengths


def summarize(data: LineDataset, right: np.ndarray, edits: np.ndarray, lengths: np.ndarray) -> dict:
    """Exact match and CER per category of `data` (in data.names' order, those present) and "all",
    from read_crops' per-crop results of its first len(right) samples."""
    cats = np.asarray(data.cats[:len(right)])
    out = {}
    for c, name in enumerate(data.names):
        k = cats == c
        if k.any():
            out[name] = {"exact": float(right[k].mean()), "cer": float(edits[k].sum() / max(1, lengths[k].sum())),
                         "n": int(k.sum())}
    out["all"] = {"exact": float(right.mean()), "cer": float(edits.sum() / max(1, lengths.sum())), "n": len(right)}
    return out


def evaluate(model: CRNN, data: LineDataset, chars: list[str], limit: int, batch_size: int = 128) -> dict:
    """Greedy-decoded exact match and CER per category on the first `limit` samples."""
    return summarize(data, *read_crops(model, data, chars, limit, batch_size))


def save_checkpoint(path: Path, model, opt, step: int, cfg: TrainConfig, mcfg: ModelConfig,
                    chars: list[str], metrics: dict | None, elapsed: float, prior_s: float = 0.0) -> None:
    """elapsed: seconds into this run's schedule; prior_s: seconds trained by earlier runs."""
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                "step": step, "train_config": asdict(cfg), "model_config": mcfg.to_dict(),
                "charset": chars, "metrics": metrics, "elapsed_s": elapsed, "prior_s": prior_s}, tmp)
    tmp.replace(path)  # atomic: a kill mid-write never leaves a broken checkpoint


def load_model(path: Path) -> tuple[CRNN, dict]:
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    mc = dict(ckpt["model_config"])
    mc["channels"] = tuple(mc["channels"])
    model = CRNN(ModelConfig(**mc))
    model.load_state_dict(ckpt["model"])
    model.eval()
    if "charset" not in ckpt and "charset_file" in ckpt:  # an exported crnn.pt: the file beside it
        ckpt["charset"] = load_charset(Path(path).parent / ckpt["charset_file"])
    return model, ckpt


def _fmt(metrics: dict) -> str:
    return " ".join(f"{c}:cer={m['cer']:.3f},em={m['exact']:.3f}" for c, m in metrics.items())


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@dataclass
class DataSets:
    """What a run reads: the rendered training set (None: rendered on the fly), the composed real
    writers' training set (None without --real-share), and the validation sets by name."""
    train: LineDataset | None
    real_train: LineDataset | None
    val: dict[str, LineDataset]
    extra_train: LineDataset | None = None

    @classmethod
    def load(cls, cfg: TrainConfig, index: dict[str, int]) -> "DataSets":
        train_set = None if cfg.online_workers > 0 else LineDataset.load(Path(cfg.data_dir) / "train", index)
        val_sets = {"generated": LineDataset.load(Path(cfg.data_dir) / "val", index)}
        real_train = None
        if cfg.real_share > 0:
            real_train = LineDataset.load(Path(cfg.real_dir) / "train", index)
            val_sets["real"] = LineDataset.load(Path(cfg.real_dir) / "val", index)
        extra = LineDataset.load(Path(cfg.extra_dir), index) if cfg.extra_share > 0 else None
        return cls(train_set, real_train, val_sets, extra)


@dataclass
class Run:
    """The state a run carries from step to step and into its checkpoints."""
    model: CRNN
    opt: torch.optim.Optimizer
    mcfg: ModelConfig
    chars: list[str]
    out: Path
    step: int = 0
    elapsed_before: float = 0.0  # seconds of this schedule trained before this process (--resume)
    prior_s: float = 0.0  # seconds trained by earlier runs (--init), for the record
    best_cer: float = math.inf
    started: float = 0.0  # time.time() when this process's steps began
    teacher: CRNN | None = None  # --distill: the model whose readings of generated crops are kept
    not_distilled: tuple = ()  # the sets whose batches are not distilled (real writers, --extra-dir)

    @property
    def last(self) -> Path:
        return self.out / "last.pt"

    def elapsed(self, now: float) -> float:
        """Seconds into this run's schedule."""
        return self.elapsed_before + now - self.started

    def save(self, path: Path, cfg: TrainConfig, metrics: dict | None, elapsed: float) -> None:
        save_checkpoint(path, self.model, self.opt, self.step, cfg, self.mcfg, self.chars, metrics, elapsed,
                        self.prior_s)


def train(cfg: TrainConfig, resume: bool, bench_seconds: float = 0.0, init: Path | None = None,
          sources: Sources | None = None) -> None:
    """sources: what on-the-fly rendering draws from (default: the training cache)."""
    device = _set_up_torch(cfg)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    chars = default_charset()
    index = {c: i for i, c in enumerate(chars)}
    sets = DataSets.load(cfg, index)
    run = _start(cfg, device, chars, out, resume, init)
    if cfg.distill_from:
        run.teacher = load_model(Path(cfg.distill_from))[0].to(device)
        run.not_distilled = (sets.real_train, sets.extra_train)
    _print_start(run, cfg, device, sets)
    rng = np.random.default_rng([cfg.seed, run.step])
    # On the fly, sample indices go on from step x batch size: with the same batch size, samples
    # that the earlier steps of this run (or the run it continues) never drew.
    online = OnlineBatches(index, cfg, run.step * cfg.batch_size, sources) if sets.train is None else None
    try:
        _loop(run, cfg, device, _batches(cfg, sets, online, rng), sets.val, bench_seconds)
    finally:
        if online:
            online.close()


def _set_up_torch(cfg: TrainConfig) -> torch.device:
    device = pick_device(cfg.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True  # batch widths come in multiples of WIDTH_MULTIPLE: few shapes
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    return device


def _start(cfg: TrainConfig, device: torch.device, chars: list[str], out: Path, resume: bool,
           init: Path | None) -> Run:
    """A new model and optimiser, from --init's weights or resumed from last.pt when asked."""
    mcfg = ModelConfig(num_classes=len(chars) + 1)
    model = CRNN(mcfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.max_lr, weight_decay=cfg.weight_decay)
    run = Run(model, opt, mcfg, chars, out)
    if init is not None:
        if resume:
            raise ValueError("--init starts a new schedule; --resume continues one: pick one")
        _init_from(run, init)
    if resume and run.last.exists():
        _resume(run)
    return run


def _init_from(run: Run, init: Path) -> None:
    """Another run's weights (and optimiser state when the file has it), step count and time
    trained, under a new schedule: this folder's checkpoints belong to the old one."""
    ckpt = torch.load(init, map_location="cpu", weights_only=False)
    run.model.load_state_dict(ckpt["model"])
    if ckpt.get("optimizer"):
        run.opt.load_state_dict(ckpt["optimizer"])
    run.step = int(ckpt.get("step", 0))
    run.prior_s = float(ckpt.get("prior_s", 0.0)) + float(ckpt.get("elapsed_s", 0.0))
    for stale in (run.last, run.out / "best.pt"):  # they belong to the earlier run's schedule
        stale.unlink(missing_ok=True)
    print(f"initialised from {init} at step {run.step} ({run.prior_s / 60:.0f} min trained before)", flush=True)


def _resume(run: Run) -> None:
    """Go on from last.pt on its own schedule; best.pt's figure stays the one to beat."""
    ckpt = torch.load(run.last, map_location="cpu", weights_only=False)
    run.model.load_state_dict(ckpt["model"])
    run.opt.load_state_dict(ckpt["optimizer"])
    run.step, run.elapsed_before = ckpt["step"], ckpt.get("elapsed_s", 0.0)
    run.prior_s = float(ckpt.get("prior_s", 0.0))
    best = run.out / "best.pt"
    if best.exists():
        run.best_cer = selection_cer(torch.load(best, map_location="cpu", weights_only=False)["metrics"])
    print(f"resumed at step {run.step}", flush=True)


def _print_start(run: Run, cfg: TrainConfig, device: torch.device, sets: DataSets) -> None:
    n_params = sum(p.numel() for p in run.model.parameters())
    train_size = len(sets.train) if sets.train is not None else f"on the fly from sample {run.step * cfg.batch_size}"
    real_size = ""
    if sets.real_train is not None:
        real_size = f", real {len(sets.real_train)} ({cfg.real_share:.0%} of batches)"
    if sets.extra_train is not None:
        real_size += f", {cfg.extra_dir} {len(sets.extra_train)} ({cfg.extra_share:.0%} of batches)"
    print(f"device {device}, params {n_params / 1e6:.2f} M, train {train_size}{real_size}, "
          f"val {', '.join(f'{k} {len(v)}' for k, v in sets.val.items())}, config {asdict(cfg)}", flush=True)


Batches = Iterator[tuple[LineDataset, np.ndarray]]


def _batches(cfg: TrainConfig, sets: DataSets, online: OnlineBatches | None, rng: np.random.Generator) -> Batches:
    """The endless stream of (dataset, indices) batches: the rendered set's epochs or the
    on-the-fly renders, mixed with the real writers' set when the run has one."""
    if online is not None:
        stream = online.batches(rng)
    elif sets.train is not None:
        stream = _epochs(sets.train, cfg, rng)
    else:
        raise ValueError("no training set: render one or train on the fly (--online)")
    if sets.extra_train is not None:  # its share of all batches, the real set's taken out
        stream = _mixed(stream, _epochs(sets.extra_train, cfg, rng), cfg.extra_share / (1 - cfg.real_share), rng)
    if sets.real_train is not None:
        stream = _mixed(stream, _epochs(sets.real_train, cfg, rng), cfg.real_share, rng)
    return stream


@dataclass
class _Progress:
    """Loss and samples since the last log line (printed every two minutes)."""
    t_log: float
    seen: int = 0
    seen_at_log: int = 0
    loss_sum: float = 0.0
    loss_n: int = 0

    def add(self, samples: int, loss: float) -> None:
        self.seen += samples
        self.loss_sum += loss
        self.loss_n += 1

    def log(self, run: Run, lr: float, threads: int, now: float) -> None:
        if now - self.t_log < 120:
            return
        rate = (self.seen - self.seen_at_log) / (now - self.t_log)
        print(f"step {run.step} loss {self.loss_sum / self.loss_n:.3f} lr {lr:.2e} threads {threads} "
              f"{rate:.0f} samples/s elapsed {run.elapsed(now) / 60:.1f} min", flush=True)
        self.t_log, self.loss_sum, self.loss_n, self.seen_at_log = now, 0.0, 0, self.seen


def _loop(run: Run, cfg: TrainConfig, device: torch.device, stream: Batches, val_sets: dict[str, LineDataset],
          bench_seconds: float) -> None:
    """Steps until the step or time budget ends the run (or --bench's seconds): the learning rate
    follows the time trained, validation every eval_every steps, last.pt every few minutes."""
    run.started = time.time()
    t_ckpt = run.started
    progress = _Progress(run.started)
    tuner = ThreadTuner(cfg.threads)
    run.model.train()
    for data, idx in stream:
        threads = tuner.threads_for(time.time()) if device.type == "cpu" else cfg.threads
        torch.set_num_threads(threads)
        t_step = time.time()
        lr = lr_at(cfg, run.elapsed(t_step) / 60 / cfg.max_minutes)
        loss, width = _step(run, cfg, device, data, idx, lr)
        # per sample-column: batches differ in width several-fold
        tuner.record(threads, (time.time() - t_step) / (len(idx) * width))
        run.step += 1
        progress.add(len(idx), float(loss.detach()))
        now = time.time()
        if bench_seconds and now - run.started >= bench_seconds:
            print(f"bench: {progress.seen / (now - run.started):.1f} samples/s over {now - run.started:.0f} s "
                  f"({run.step} steps)", flush=True)
            return
        progress.log(run, lr, tuner.current, now)
        done = run.step >= cfg.total_steps or run.elapsed(now) / 60 >= cfg.max_minutes
        metrics = None  # a validation of these very weights, for last.pt (export reads it)
        if run.step % cfg.eval_every == 0 or done:
            metrics = _validate(run, cfg, val_sets, run.elapsed(now))
        if now - t_ckpt >= cfg.checkpoint_minutes * 60 or done:
            run.save(run.last, cfg, metrics, run.elapsed(time.time()))
            t_ckpt = now
        if done:
            print(f"finished at step {run.step}", flush=True)
            return


def _step(run: Run, cfg: TrainConfig, device: torch.device, data: LineDataset, idx: np.ndarray,
          lr: float) -> tuple[torch.Tensor, int]:
    """One optimisation step at learning rate lr; the loss and the batch's width in pixels."""
    for group in run.opt.param_groups:
        group["lr"] = lr
    x, flat, il, tl = data.batch(idx)
    x = x.to(device, non_blocking=True)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
        logits = run.model(x)
    loss = ctc_loss(logits.float(), flat, il, tl)
    if run.teacher is not None and not any(data is other for other in run.not_distilled):
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
            target = run.teacher(x)
        loss = loss + cfg.distill_weight * frame_kl(logits.float(), target.float())
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(run.model.parameters(), cfg.grad_clip)
    run.opt.step()
    return loss, x.shape[-1]


def _validate(run: Run, cfg: TrainConfig, val_sets: dict[str, LineDataset], elapsed: float) -> dict:
    """Validation figures printed and returned; best.pt written when they beat the best so far."""
    print(f"eval step {run.step}:", flush=True)
    metrics = evaluate_sets(run.model, val_sets, run.chars, cfg.eval_samples)
    if selection_cer(metrics) < run.best_cer:
        run.best_cer = selection_cer(metrics)
        run.save(run.out / "best.pt", cfg, metrics, elapsed)
    return metrics


def _epochs(train_set: LineDataset, cfg: TrainConfig, rng: np.random.Generator):
    while True:
        for idx in bucketed_batches(train_set.widths, cfg.batch_size, rng):
            yield train_set, idx


def _mixed(generated, real, real_share: float, rng: np.random.Generator):
    """Batches from two endless streams, each batch from the real one with probability
    real_share: replaying the generated charset keeps the classes the packs lack (a run on one
    pack alone lifted its own writers and wrecked everything else, issue 17)."""
    while True:
        yield next(real) if rng.random() < real_share else next(generated)


def evaluate_sets(model: CRNN, sets: dict[str, LineDataset], chars: list[str], limit: int) -> dict:
    """evaluate() on every set, printed, in set_metrics' layout."""
    per_set = {}
    for name, data in sets.items():
        per_set[name] = evaluate(model, data, chars, limit)
        print(f"  eval {name}: {_fmt(per_set[name])}", flush=True)
    return set_metrics(per_set)


def set_metrics(per_set: dict[str, dict]) -> dict:
    """The generated validation set's figures at the top level (as before real writers came),
    each other set's (the held-back real writers) under its own key: what selection_cer reads."""
    metrics: dict = {}
    for name, m in per_set.items():
        if name == "generated":
            metrics.update(m)
        else:
            metrics[name] = m
    return metrics


def selection_cer(metrics: dict) -> float:
    """What picks best.pt: the CER over generated validation, averaged with the held-back real
    writers' when the run has them (real handwriting counts as much as the whole charset)."""
    cers = [metrics["all"]["cer"]] + [m["all"]["cer"] for k, m in metrics.items() if k == "real"]
    return float(np.mean(cers))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.training.train")
    parser.add_argument("--steps", type=int, default=TrainConfig.total_steps)
    parser.add_argument("--minutes", type=float, default=TrainConfig.max_minutes)
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    parser.add_argument("--lr", type=float, default=TrainConfig.max_lr)
    parser.add_argument("--threads", type=int, default=TrainConfig.threads)
    parser.add_argument("--device", default=TrainConfig.device, help="auto (CUDA if present), cpu, cuda")
    parser.add_argument("--bf16", action="store_true",
                        help="bfloat16 autocast: about twice as fast on CPUs with AVX512-BF16, and on GPUs")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--init", type=Path, help="start from this checkpoint's weights, new schedule")
    parser.add_argument("--bench", type=float, default=0.0, help="measure samples/s for this many seconds")
    parser.add_argument("--online", type=int, default=0, metavar="WORKERS",
                        help="render training samples on the fly in this many processes")
    parser.add_argument("--eval-every", type=int, default=TrainConfig.eval_every, help="steps between validations")
    parser.add_argument("--checkpoint-minutes", type=float, default=TrainConfig.checkpoint_minutes)
    parser.add_argument("--real-share", type=float, default=TrainConfig.real_share,
                        help="share of batches from the composed real writers' set (packs render)")
    parser.add_argument("--real-dir", default=TrainConfig.real_dir)
    parser.add_argument("--extra-dir", default=TrainConfig.extra_dir,
                        help="another rendered set to mix in, e.g. ~/.cache/grader/strokes/train (packs strokes)")
    parser.add_argument("--extra-share", type=float, default=TrainConfig.extra_share,
                        help="share of batches from --extra-dir")
    parser.add_argument("--distill", default=TrainConfig.distill_from, metavar="CHECKPOINT",
                        help="on generated batches also match this model's per-frame output (KL), "
                             "so that real writers' batches do not make the model forget the generated hands")
    parser.add_argument("--distill-weight", type=float, default=TrainConfig.distill_weight)
    args = parser.parse_args(argv)
    if args.online > 0:
        require_sources_or_exit(parser)
    if args.extra_share > 0 and (not args.extra_dir or args.real_share + args.extra_share >= 1):
        parser.error("--extra-share needs --extra-dir, and with --real-share must leave generated batches")
    cfg = TrainConfig(total_steps=args.steps, max_minutes=args.minutes, batch_size=args.batch_size,
                      max_lr=args.lr, threads=args.threads, device=args.device, bf16=args.bf16,
                      online_workers=args.online, eval_every=args.eval_every,
                      checkpoint_minutes=args.checkpoint_minutes, real_share=args.real_share,
                      real_dir=args.real_dir, extra_dir=args.extra_dir, extra_share=args.extra_share,
                      distill_from=args.distill, distill_weight=args.distill_weight)
    train(cfg, resume=args.resume, bench_seconds=args.bench, init=args.init)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
