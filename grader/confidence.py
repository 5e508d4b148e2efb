"""Reading confidence: features of a CTC reading and their calibrated map to P(reading exactly
right), shared by the runtime (grader.recognizer) and the fit (grader/training/calibrate.py).

The weights live in models/model.json (`confidence`), fitted by logistic regression (Platt 1999)
on held-out generated validation lines.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from grader import ctc

# The features in the order the weights use them (the bias comes last in the weights).
FEATURES = ("weakest_char_logp", "best_missed_char_logp", "weakest_char_margin", "word_list_nats")
# Until a calibration is fitted: the weakest character's peak log-probability, as a logit.
UNCALIBRATED = (1.0, 0.0, 0.0, 0.0)


def confidence_features(log_probs: np.ndarray) -> np.ndarray:
    """Features of a greedy reading that predict whether it is right.

    [weakest character's peak log-prob, strongest missed character's log-prob in a blank frame,
    log-margin between the best and second-best class at the weakest character's peak].
    """
    best = log_probs.argmax(axis=1)
    char_frames = np.flatnonzero(best != ctc.BLANK)
    weakest, weakest_margin = 0.0, 10.0
    if len(char_frames):
        # the margin only of the character frames: partitioning every frame of a full-charset
        # array cost 19 ms a crop (numpy's introselect is slow on the rows' many -inf of a mask)
        rows = log_probs[char_frames]
        top2 = np.partition(rows, -2, axis=1)[:, -2:]
        weakest = float(rows[np.arange(len(rows)), best[char_frames]].min())
        weakest_margin = float((top2[:, 1] - top2[:, 0]).min())
    blank_frames = np.flatnonzero(best == ctc.BLANK)
    if len(blank_frames):
        missed = float(log_probs[blank_frames, 1:].max())
    else:
        missed = -20.0
    return np.array([weakest, max(missed, -20.0), min(weakest_margin, 10.0)], dtype=np.float64)


def reading_features(log_probs: np.ndarray, ll: float, own_ll: float, replaced: bool) -> np.ndarray:
    """All FEATURES of a reading: those of the model's own reading (confidence_features) and the
    nats the word list gave away when it `replaced` the model's reading (0 or less)."""
    return np.append(confidence_features(log_probs), min(0.0, ll - own_ll) if replaced else 0.0)


def calibrated(features: np.ndarray, weights: Sequence[float] | np.ndarray) -> float:
    """Platt-style logistic map of the features to P(reading exactly right). Weights fitted on
    fewer features (an older model.json) use the leading ones."""
    z = float(np.dot(features[:len(weights) - 1], weights[:-1]) + weights[-1])
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
