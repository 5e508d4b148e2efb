"""The longest horizontal ink run per row (grader.stacked_fractions._longest_runs), against a
plain scan of each row, with Hypothesis: the bar finder's speed-up must not change its answer."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from grader.stacked_fractions import _longest_runs


def scan(row: np.ndarray) -> int:
    best = run = 0
    for ink in row:
        run = run + 1 if ink else 0
        best = max(best, run)
    return best


@settings(max_examples=300, deadline=None)
@given(arrays(np.bool_, st.tuples(st.integers(1, 12), st.integers(0, 40))))
def test_longest_run_per_row_matches_a_scan(mask):
    assert _longest_runs(mask).tolist() == [scan(row) for row in mask]


def test_known_rows():
    mask = np.array([[0, 1, 1, 0, 1, 1, 1, 0],
                     [0, 0, 0, 0, 0, 0, 0, 0],
                     [1, 1, 1, 1, 1, 1, 1, 1]], dtype=bool)
    assert _longest_runs(mask).tolist() == [3, 0, 8]
