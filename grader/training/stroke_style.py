"""Real writers' variation for every Chinese character (issue 17, item 2).

The packs hold many real writers for only 100 characters; the other 3,655 are drawn from
hanzi-writer's stroke medians, a font's idea of each stroke. CASIA-OLHWDB's two online writers
wrote all 3,755 as pen strokes, in a running hand: on average 0.43 pen-down strokes per median
stroke. `fit` compares every such pen sample with the medians of its character and keeps what
it learns about how people write, not the characters themselves:

- the whole character's shape change: the linear part of the affine map that takes the medians
  onto the pen strokes (found by iterating nearest points, ICP), with its scale taken out;
- how far the pen wanders from the medians once that map is applied (mean distance to the
  nearest point, in character heights): bent, shortened and lengthened strokes;
- how often a writer joins one stroke to the next without lifting the pen, as a function of the
  gap between the end of one median stroke and the start of the next.

`styled` applies a sample of that to the medians of any character: one fitted writer-sample's
shape change, a smooth random displacement field as large as its residual, and joins drawn with
the fitted rates as thin connecting strokes. The fitted statistics live in the cache
(`python -m grader.training.packs strokes`), never in the repository: they are derived from the
CASIA pack (research use, see MODEL_CARD.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grader.paths import cache_dir

GAP_EDGES = np.array([0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.45, 0.7, 2.0])  # gap bins, character heights
STEP = 0.02  # resampling step of a stroke, character heights
ICP_ROUNDS = 6
PRIOR_PAIRS = 20


def style_path() -> Path:
    return cache_dir() / "stroke_style.json"


_FITTED: list[StrokeStyle] = []


def fitted_style() -> StrokeStyle:
    """The style `packs strokes` fitted on this machine (loaded once per process)."""
    if not _FITTED:
        style = StrokeStyle.load()
        if style is None:
            raise FileNotFoundError(f"{style_path()} is missing: fit the real writers' stroke style first "
                                    "(python -m grader.training.packs strokes)")
        _FITTED.append(style)
    return _FITTED[0]


@dataclass
class StrokeStyle:
    """What `fit` learned from real pen strokes."""

    shapes: np.ndarray  # (N, 2, 2) per pen sample: the medians->pen linear map, determinant 1
    residuals: np.ndarray  # (N,) mean nearest-point distance after the map, character heights
    join_rates: np.ndarray  # per GAP_EDGES bin: share of consecutive stroke pairs written joined
    pairs: np.ndarray  # per bin: how many pairs the rate was counted on
    samples: int
    writers: int

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({
            "shapes": self.shapes.round(4).tolist(), "residuals": self.residuals.round(4).tolist(),
            "join_rates": self.join_rates.round(4).tolist(), "pairs": self.pairs.tolist(),
            "gap_edges": GAP_EDGES.tolist(), "samples": self.samples, "writers": self.writers}))

    @classmethod
    def load(cls, path: Path | None = None) -> StrokeStyle | None:
        """The fitted style, or None where `fit` has not run on this machine."""
        path = path or style_path()
        if not path.exists():
            return None
        d = json.loads(path.read_text())
        return cls(np.asarray(d["shapes"], np.float64), np.asarray(d["residuals"], np.float64),
                   np.asarray(d["join_rates"], np.float64), np.asarray(d["pairs"], np.int64),
                   int(d["samples"]), int(d["writers"]))

    def join_rate(self, gap: float) -> float:
        b = int(np.clip(np.searchsorted(GAP_EDGES, gap, side="right") - 1, 0, len(self.join_rates) - 1))
        return float(self.join_rates[b])


# ---------------------------------------------------------------- geometry


def median_strokes(medians: list) -> list[np.ndarray]:
    """hanzi-writer medians (1024 box, y up, baseline 900) -> strokes in character heights, y down."""
    out = []
    for stroke in medians:
        p = np.asarray(stroke, np.float64)
        out.append(np.stack([p[:, 0] / 1024.0, (900.0 - p[:, 1]) / 1024.0], axis=1))
    return out


def resample(stroke: np.ndarray, step: float = STEP) -> np.ndarray:
    """Points every `step` along a polyline (its two ends kept)."""
    if len(stroke) < 2:
        return stroke.copy()
    seg = np.linalg.norm(np.diff(stroke, axis=0), axis=1)
    at = np.concatenate([[0.0], np.cumsum(seg)])
    if at[-1] <= step:
        return stroke[[0, -1]].copy()
    t = np.linspace(0.0, at[-1], int(np.ceil(at[-1] / step)) + 1)
    return np.stack([np.interp(t, at, stroke[:, 0]), np.interp(t, at, stroke[:, 1])], axis=1)


def _nearest(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each point of a: the index of its nearest point in b, and the distance."""
    d = ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2)
    i = d.argmin(axis=1)
    return i, np.sqrt(d[np.arange(len(a)), i])


def _box_align(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The scale and shift that put src's ink box on dst's (the same scale on both axes)."""
    s0, s1 = src.min(0), src.max(0)
    d0, d1 = dst.min(0), dst.max(0)
    scale = max(d1 - d0) / max(max(s1 - s0), 1e-9)
    return np.eye(2) * scale, (d0 + d1) / 2 - (s0 + s1) / 2 * scale


def fit_affine(median: np.ndarray, pen: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The affine map x -> A x + t taking the median points onto the pen points (ICP, both ways
    of nearest points), and the mean nearest-point distance left after it."""
    a, t = _box_align(median, pen)
    for _ in range(ICP_ROUNDS):
        moved = median @ a.T + t
        i, _ = _nearest(moved, pen)
        j, _ = _nearest(pen, moved)
        src = np.concatenate([median, median[j]])
        dst = np.concatenate([pen[i], pen])
        x = np.hstack([src, np.ones((len(src), 1))])
        sol, *_ = np.linalg.lstsq(x, dst, rcond=None)
        a, t = sol[:2].T, sol[2]
    moved = median @ a.T + t
    residual = (_nearest(moved, pen)[1].mean() + _nearest(pen, moved)[1].mean()) / 2
    return a, t, float(residual)


def _joined_pairs(medians: list[np.ndarray], pens: list[np.ndarray], a: np.ndarray,
                  t: np.ndarray) -> list[bool] | None:
    """Per consecutive median stroke pair, whether one pen stroke drew both: each pen stroke
    covers the medians from the one whose start is nearest its start to the one whose end is
    nearest its end. None where the cover is not a clean partition in writing order (strokes
    written in another order, or missed): such samples say nothing about joins."""
    starts = np.array([m[0] for m in medians]) @ a.T + t
    ends = np.array([m[-1] for m in medians]) @ a.T + t
    covers = []
    for pen in pens:
        i = int(np.argmin(np.linalg.norm(starts - pen[0], axis=1)))
        j = int(np.argmin(np.linalg.norm(ends - pen[-1], axis=1)))
        if j < i:
            return None
        covers.append((i, j))
    covers.sort()
    expect = 0
    for i, j in covers:
        if i != expect:
            return None
        expect = j + 1
    if expect != len(medians):
        return None
    joined = [False] * (len(medians) - 1)
    for i, j in covers:
        for k in range(i, j):
            joined[k] = True
    return joined


def fit(pen_samples: list[tuple[str, list]], medians: dict[str, list], writers: int) -> StrokeStyle:
    """Fit the style on (character, pen strokes) samples of characters that have medians."""
    shapes, residuals = [], []
    joined_n = np.zeros(len(GAP_EDGES) - 1)
    pairs_n = np.zeros(len(GAP_EDGES) - 1, np.int64)
    pairs_all = joins_all = 0
    for char, strokes in pen_samples:
        if char not in medians or not strokes:
            continue
        med = median_strokes(medians[char])
        med_pts = np.concatenate([resample(m) for m in med])
        raw = [np.asarray(s, np.float64).reshape(-1, 2) for s in strokes]
        pts = np.concatenate(raw)
        height = max(float(np.ptp(pts[:, 1])), float(np.ptp(pts[:, 0])), 1e-9)
        pens = [(p - pts.min(0)) / height for p in raw]  # character heights, y down
        pen_pts = np.concatenate([resample(p) for p in pens])
        if len(pen_pts) < 4 or len(med_pts) < 4:
            continue
        a, t, residual = fit_affine(med_pts, pen_pts)
        det = float(np.linalg.det(a))
        if det <= 0:  # a mirror image: the fit failed
            continue
        scale = np.sqrt(det)
        shapes.append(a / scale)
        residuals.append(residual / scale)  # in the medians' character heights
        pairs_all += len(med) - 1
        joins_all += max(0, len(med) - len(pens))
        joined = _joined_pairs(med, pens, a, t)
        if joined is None:
            continue
        for k, j in enumerate(joined):
            gap = float(np.linalg.norm(med[k + 1][0] - med[k][-1]))
            b = int(np.clip(np.searchsorted(GAP_EDGES, gap, side="right") - 1, 0, len(pairs_n) - 1))
            pairs_n[b] += 1
            joined_n[b] += j
    # Few samples split cleanly into covers (strokes in another order than the medians', or
    # missed); their rate per gap is pulled towards the rate every sample gives by its stroke
    # counts alone, (median strokes - pen strokes) / (median strokes - 1), with the weight of
    # PRIOR_PAIRS pairs.
    overall = joins_all / max(pairs_all, 1)
    rates = (joined_n + PRIOR_PAIRS * overall) / (pairs_n + PRIOR_PAIRS)
    return StrokeStyle(np.asarray(shapes), np.asarray(residuals), rates, pairs_n, len(shapes), writers)


# ---------------------------------------------------------------- drawing


def _smooth_field(rng: np.random.Generator, amplitude: float):
    """A random smooth displacement (x, y) -> (dx, dy) of about `amplitude` RMS: a few waves of
    one to two periods per character."""
    waves = []
    for _ in range(3):
        k = rng.uniform(0.6, 2.2) * 2 * np.pi
        theta = rng.uniform(0, 2 * np.pi)
        waves.append((k * np.cos(theta), k * np.sin(theta), rng.uniform(0, 2 * np.pi), rng.normal(0, 1, 2)))

    def field(p: np.ndarray) -> np.ndarray:
        out = np.zeros_like(p)
        for kx, ky, phase, direction in waves:
            out += np.sin(p[:, :1] * kx + p[:, 1:] * ky + phase) * direction
        return out * amplitude * np.sqrt(2.0 / 3.0) / np.sqrt(2.0)

    return field


def styled(medians: list, style: StrokeStyle, rng: np.random.Generator) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """One real-looking rendition of a character's medians, in character heights (y down, the
    medians' box): its strokes, and the thin connecting strokes of the joins the writer made."""
    med = [resample(m, STEP / 2) for m in median_strokes(medians)]
    s = int(rng.integers(len(style.shapes)))
    shape, residual = style.shapes[s], style.residuals[s]
    centre = np.array([0.5, 0.5])
    field = _smooth_field(rng, residual * rng.uniform(0.5, 1.0))
    strokes = [(m - centre) @ shape.T + centre + field(m) for m in med]
    joins = []
    # a writer joins more or less than the two fitted ones (adults in a running hand; children
    # mostly lift the pen): a tendency per rendition scales the fitted rates
    tendency = rng.uniform(0.0, 1.0)
    for k in range(len(strokes) - 1):
        gap = float(np.linalg.norm(med[k + 1][0] - med[k][-1]))
        if rng.random() < tendency * style.join_rate(gap):
            a, b = strokes[k][-1], strokes[k + 1][0]
            mid = (a + b) / 2 + rng.normal(0, 0.25, 2) * np.linalg.norm(b - a)
            u = np.linspace(0, 1, 8)[:, None]
            joins.append((1 - u) ** 2 * a + 2 * u * (1 - u) * mid + u ** 2 * b)  # a quadratic curve
    return strokes, joins
