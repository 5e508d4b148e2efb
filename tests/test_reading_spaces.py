"""A reading holds single spaces between words and none at its ends, whatever path the model's
frames take through a wide gap (space, blank, space is two spaces to CTC)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from grader import ctc
from grader.charset import load_charset
from grader.model_spec import ModelSpec
from grader.paths import MODELS_DIR
from grader.readings import ReadingDecoder, tidy_spaces


def _frames(path: str, chars: list[str]) -> np.ndarray:
    """Logits whose best path is `path` ('_' a blank, output 0; chars[i] is output i + 1)."""
    index = {c: i + 1 for i, c in enumerate(chars)}
    logits = np.full((len(path), len(chars) + 1), -6.0, np.float32)
    for t, c in enumerate(path):
        logits[t, 0 if c == "_" else index[c]] = 6.0
    return logits


@pytest.fixture(scope="module")
def decoder() -> ReadingDecoder:
    chars = load_charset(MODELS_DIR / "charset.txt")
    return ReadingDecoder(chars, ModelSpec.load(MODELS_DIR).confidence_weights, MODELS_DIR)


@pytest.mark.parametrize("path, greedy, text", [
    ("c_a_t_ _ _d_o_g", "cat  dog", "cat dog"),  # a space emitted twice in one gap
    ("_ _c_a_t_ _ _ _", " cat   ", "cat"),       # spaces at the ends
    ("c_a_t_ _d_o_g", "cat dog", "cat dog"),     # one space: unchanged
])
def test_a_wide_gap_reads_as_one_space(decoder, path, greedy, text):
    lp = decoder.from_logits(_frames(path, decoder.chars), "text")
    assert ctc.greedy_decode(lp, decoder.alphabet("text").chars) == greedy  # the path as CTC reads it
    reading, _ = decoder.reading(lp, decoder.texts(lp, "text", 0, use_words=False))
    assert reading.text == text
    # the likelihood is the tidy text's own, not the doubled path's
    assert reading.log_likelihood == pytest.approx(
        ctc.string_log_likelihood(lp, text, decoder.alphabet("text").index), abs=1e-4)


@given(st.text(alphabet="ab ", max_size=20))
def test_tidy_spaces_is_the_words_joined_by_single_spaces(text):
    assert tidy_spaces(text) == " ".join(text.split())
