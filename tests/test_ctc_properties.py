"""Property tests of the CTC string scores (grader/ctc.py), with Hypothesis.

A score is a log-probability, so it is never above 0; distinct strings are disjoint events, so
their probabilities add up to at most 1; and scoring many strings in one batched pass gives each
the score it gets alone. Strings with a character outside the charset score -inf.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from grader import ctc

ALPHABET = "ab1/"  # four characters: outputs 1-4, blank 0
INDEX = {ch: i for i, ch in enumerate(ALPHABET)}
TOLERANCE = 1e-9  # float rounding in the forward pass's log-sum-exp


@st.composite
def frames(draw: st.DrawFn) -> np.ndarray:
    """Log-probabilities (T, 5) from arbitrary logits: flat, peaked or in between."""
    steps = draw(st.integers(min_value=1, max_value=12))
    logits = draw(arrays(np.float64, (steps, len(ALPHABET) + 1),
                         elements=st.floats(min_value=-20, max_value=20, allow_nan=False)))
    return ctc.log_softmax(logits)


# Mostly charset strings; "x" is outside it. Repeats ("aa") need a blank between them.
texts = st.text(alphabet=ALPHABET + "x", max_size=8)


@settings(max_examples=60, deadline=None)
@given(frames(), st.lists(texts, min_size=1, max_size=8))
def test_batched_scores_equal_single_scores_and_are_log_probabilities(log_probs, strings):
    batched = ctc.string_log_likelihoods(log_probs, strings, INDEX)
    assert len(batched) == len(strings)
    for text, score in zip(strings, batched):
        single = ctc.string_log_likelihood(log_probs, text, INDEX)
        assert score <= TOLERANCE, (text, score)
        if math.isinf(single):
            assert score == single == -math.inf
        else:
            assert math.isclose(score, single, rel_tol=0, abs_tol=TOLERANCE), (text, score, single)
        if "x" in text:
            assert score == -math.inf


@settings(max_examples=60, deadline=None)
@given(frames(), st.lists(texts, min_size=1, max_size=12, unique=True))
def test_distinct_strings_share_at_most_all_the_probability(log_probs, strings):
    scores = [s for s in ctc.string_log_likelihoods(log_probs, strings, INDEX) if s != -math.inf]
    total = float(np.logaddexp.reduce(scores)) if scores else -math.inf
    assert total <= TOLERANCE


@settings(max_examples=30, deadline=None)
@given(frames())
def test_the_greedy_reading_is_a_possible_string(log_probs):
    # The best path's collapsed string has at least the best path's probability (> 0).
    reading = ctc.greedy_decode(log_probs, ALPHABET)
    best_path = float(log_probs.max(axis=1).sum())
    score = ctc.string_log_likelihood(log_probs, reading, INDEX)
    assert best_path - TOLERANCE <= score <= TOLERANCE
