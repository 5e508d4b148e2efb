"""Fit the reading confidence: P(reading exactly right | features) by logistic regression
(Platt 1999) on held-out generated validation lines, written into models/model.json.

    python -m grader.training.calibrate [--models models/]

Fitted on validation samples the training loop never evaluates (indices from 2000 on), each
decoded under its category's alphabet as the grader does (English and Chinese both with and
without the word list of grader.words). Also records a reliability table
(mean confidence vs accuracy per bin) so the model card can show the calibration.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from grader import words
from grader.confidence import FEATURES, calibrated
from grader.lines import to_float
from grader.model_spec import Calibration
from grader.paths import MODELS_DIR, cache_dir
from grader.recognizer import Recognizer
from grader.training.labels import CATEGORIES
from grader.training.train import LineDataset

FIT_START = 2000  # the training loop's periodic evaluation uses the first 1500 validation lines


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3, iters: int = 50) -> np.ndarray:
    """Newton's method on the L2-regularised log-loss; returns weights with the bias last."""
    X = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(X.shape[1])
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(X @ w, -30, 30)))
        grad = X.T @ (p - y) + l2 * w
        hess = (X * (p * (1 - p))[:, None]).T @ X + l2 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def reliability(conf: np.ndarray, right: np.ndarray, bins: int = 5) -> list[dict]:
    edges = np.linspace(0, 1, bins + 1)
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (conf >= lo) & (conf < hi if hi < 1 else conf <= hi)
        if sel.any():
            rows.append({"bin": f"{lo:.1f}-{hi:.1f}", "n": int(sel.sum()),
                         "mean_confidence": round(float(conf[sel].mean()), 3),
                         "accuracy": round(float(right[sel].mean()), 3)})
    return rows


def collect(rec: Recognizer, data: LineDataset, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lines = [to_float(data.images[i, :, :data.widths[i]]) for i in idx]
    feats, right = [], []
    for i, lp in zip(idx, rec.log_probs_lines(lines)):
        kind = CATEGORIES[data.cats[i]]
        # English and Chinese are read both ways: with the word list (recognize, /ocr) and
        # letter by letter (grading); one calibration serves both.
        for use_words in ((True, False) if kind in words.FILES else (True,)):
            reading, features = rec.decode_with_features(lp, kind, use_words=use_words)
            feats.append(features)
            right.append(reading.text == data.labels[i])
    return np.asarray(feats), np.asarray(right, dtype=float)


def calibrate(models_dir: Path, count: int = 3000) -> Calibration:
    rec = Recognizer.load(models_dir, precision="int8", threads=2)
    data = LineDataset.load(cache_dir() / "dataset" / "val", rec.index)
    idx = np.arange(FIT_START, min(len(data), FIT_START + count))
    x, y = collect(rec, data, idx)
    half = len(idx) // 2  # fit on one half, report reliability on the other
    w = fit_logistic(x[:half], y[:half])
    conf = np.array([calibrated(features, w) for features in x[half:]])  # as the runtime maps them
    w = fit_logistic(x, y)  # the shipped weights use all of it
    result = Calibration(
        weights=tuple(round(float(v), 6) for v in w), features=FEATURES[:x.shape[1]],
        report={"fitted_on": f"{len(idx)} generated validation lines (val split, indices {FIT_START}+); "
                             "English and Chinese read with and without the word list",
                "reliability_holdout": reliability(conf, y[half:]),
                "holdout_accuracy": round(float(y[half:].mean()), 4)})
    dataclasses.replace(rec.spec, confidence=result).save(models_dir)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.training.calibrate")
    parser.add_argument("--models", type=Path, default=MODELS_DIR)
    parser.add_argument("--count", type=int, default=3000)
    args = parser.parse_args(argv)
    print(json.dumps(calibrate(args.models, args.count).to_dict(), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
