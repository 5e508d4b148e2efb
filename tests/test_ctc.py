"""CTC decoding and scoring (grader/ctc.py) and the charset, checked against torch and brute force."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from grader import ctc
from grader.charset import HANZI, default_charset, kind_alphabet, kind_mask, load_charset, save_charset


def _random_log_probs(T: int, C: int, seed: int, sharp: float = 2.0) -> np.ndarray:
    return ctc.log_softmax(np.random.default_rng(seed).normal(size=(T, C)) * sharp)


def _torch_ll(lp: np.ndarray, labels: list[int]) -> float:
    loss = F.ctc_loss(torch.tensor(lp).unsqueeze(1), torch.tensor([labels], dtype=torch.long),
                      torch.tensor([lp.shape[0]]), torch.tensor([len(labels)]), blank=0, reduction="sum")
    return -float(loss)


@pytest.mark.parametrize("T,C,labels,seed", [
    (10, 5, [1, 2, 3], 0),
    (10, 5, [1, 1, 2], 1),  # a repeat needs a blank between the two 1s
    (20, 8, [3, 3, 7, 7, 2], 2),
    (6, 4, [1, 1, 1], 3),
    (4, 4, [2], 4),
    (12, 30, [5, 9, 5, 9], 5),
])
def test_string_score_matches_torch_ctc_loss(T, C, labels, seed):
    lp = _random_log_probs(T, C, seed)
    assert ctc.sequence_log_likelihood(lp, labels) == pytest.approx(_torch_ll(lp, labels), abs=1e-6)


def test_several_sequences_in_one_pass_score_as_each_alone():
    # different lengths (the shorter are padded to the longest), an empty one, repeats, and one
    # too long for the frames; each against torch, the empty one against all-blank frames
    lp = _random_log_probs(12, 30, 6)
    seqs = [[5, 9, 5, 9], [], [3], [3, 3, 3, 3, 3, 3, 3], [7, 7, 2, 2, 1], [4, 1, 29, 8, 8, 2]]
    batched = ctc.sequence_log_likelihoods(lp, seqs)
    assert batched[1] == pytest.approx(float(lp[:, 0].sum()), abs=1e-9)
    assert batched[3] == -math.inf  # seven 3s need 13 frames
    for labels, score in zip(seqs, batched):
        if labels and labels != seqs[3]:
            assert score == pytest.approx(_torch_ll(lp, labels), abs=1e-6)
    index = {c: i for i, c in enumerate("abcdefghijklmnopqrstuvwxyz")}
    assert ctc.string_log_likelihoods(lp, ["ab", "a€", "", "b"], index) == [
        ctc.string_log_likelihood(lp, "ab", index), -math.inf, batched[1], ctc.string_log_likelihood(lp, "b", index)]
    assert ctc.sequence_log_likelihoods(lp, []) == []


@pytest.mark.parametrize("sharp", [2.0, 12.0])
def test_many_sequences_score_in_rescaled_probabilities_as_in_log_space(sharp):
    """From LINEAR_FROM strings on, the pass runs in rescaled probabilities (ctc._forward_scaled);
    it gives what the log-space pass gives for each string alone, -inf where it cannot align."""
    lp = _random_log_probs(40, 30, 8, sharp)
    rng = np.random.default_rng(8)
    seqs = [[], [3] * 30, [5, 5, 5]] + [list(rng.integers(1, 30, int(rng.integers(1, 15)))) for _ in range(40)]
    assert len(seqs) >= ctc.LINEAR_FROM
    together = ctc.sequence_log_likelihoods(lp, seqs)
    alone = [ctc.sequence_log_likelihood(lp, labels) for labels in seqs]
    assert together[1] == alone[1] == -math.inf  # thirty 3s need 59 frames
    assert together == pytest.approx(alone, abs=1e-9)
    assert together[5] == pytest.approx(_torch_ll(lp, seqs[5]), abs=1e-6)


def test_a_long_list_of_sequences_is_scored_in_bounded_passes(monkeypatch):
    lp = _random_log_probs(12, 30, 7)
    seqs = [[5, 9, 5, 9], [], [3], [7, 7, 2, 2, 1], [4, 1, 29, 8, 8, 2]]
    whole = ctc.sequence_log_likelihoods(lp, seqs)
    monkeypatch.setattr(ctc, "SEQUENCES_PER_PASS", 2)
    assert ctc.sequence_log_likelihoods(lp, seqs) == pytest.approx(whole, abs=1e-12)


def test_impossible_alignment_scores_minus_inf():
    lp = _random_log_probs(3, 5, 0)
    assert ctc.sequence_log_likelihood(lp, [1, 1, 2]) == -math.inf  # needs 4 frames
    assert ctc.string_log_likelihood(lp, "z", {"a": 0}) == -math.inf  # not in the charset


def _brute_force(lp: np.ndarray) -> dict[tuple[int, ...], float]:
    """Probability of every collapsed string, summed over all T^C paths."""
    totals: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(lp.shape[1]), repeat=lp.shape[0]):
        collapsed, prev = [], 0
        for k in path:
            if k != prev and k != 0:
                collapsed.append(k)
            prev = k
        p = math.exp(sum(lp[t, k] for t, k in enumerate(path)))
        totals[tuple(collapsed)] = totals.get(tuple(collapsed), 0.0) + p
    return totals


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_search_finds_the_most_probable_string_and_its_probability(seed):
    lp = _random_log_probs(6, 4, seed, sharp=1.5)
    totals = _brute_force(lp)
    best, p_best = max(totals.items(), key=lambda kv: kv[1])
    text, score = ctc.beam_search(lp, ["a", "b", "c"], beam_width=2000, prune=-1e9)[0]
    assert text == "".join("abc"[k - 1] for k in best)
    assert score == pytest.approx(math.log(p_best), abs=1e-9)
    # the forward algorithm gives the same total for that string
    assert ctc.sequence_log_likelihood(lp, list(best)) == pytest.approx(math.log(p_best), abs=1e-9)


@pytest.mark.parametrize("path,expected", [
    ([0, 1, 1, 0, 2], "ab"),
    ([1, 0, 1], "aa"),
    ([1, 1, 1], "a"),
    ([0, 0, 0], ""),
    ([3, 2, 2, 0, 2, 1], "cbba"),
])
def test_greedy_collapses_repeats_and_drops_blanks(path, expected):
    lp = np.full((len(path), 4), -10.0)
    lp[np.arange(len(path)), path] = 0.0
    assert ctc.greedy_decode(lp, ["a", "b", "c"]) == expected


def test_mask_restricts_and_renormalises():
    lp = _random_log_probs(5, 6, 0)
    mask = np.array([False, True, False, True, False, False])  # blank is kept even when off
    masked = ctc.apply_mask(lp, mask)
    assert np.all(np.isneginf(masked[:, [2, 4, 5]]))
    np.testing.assert_allclose(np.exp(masked).sum(axis=1), 1.0, atol=1e-9)
    assert set(ctc.greedy_decode(masked, list("abcde"))) <= {"a", "c"}


def test_lexicon_decode_picks_the_likeliest_allowed_string():
    index = {"a": 0, "b": 1, "c": 2}
    lp = np.log(np.full((6, 4), 0.01))
    for t, k in enumerate([1, 0, 2, 0, 2, 0]):  # reads "abb"
        lp[t, k] = math.log(0.97)
    text, ll = ctc.lexicon_decode(lp, ["cab", "abb", "ab", "zz"], index)
    assert text == "abb"
    assert ll == pytest.approx(ctc.string_log_likelihood(lp, "abb", index))


@pytest.mark.parametrize("pred,truth,dist", [("abc", "abc", 0), ("abd", "abc", 1), ("", "ab", 2), ("3/4", "3/14", 1)])
def test_edit_distance(pred, truth, dist):
    assert ctc.char_error_rate(pred, truth) == (dist, len(truth))


def test_charset_holds_gb2312_level1_and_round_trips(tmp_path):
    assert len(HANZI) == 3755 and HANZI[0] == "啊" and HANZI[-1] == "座"
    chars = default_charset()
    assert len(chars) == len(set(chars)) == 10 + 52 + 1 + 17 + 3755
    save_charset(chars, tmp_path / "charset.txt")
    assert load_charset(tmp_path / "charset.txt") == chars  # the space survives the file


def test_kind_masks():
    chars = default_charset()
    number = kind_mask("number", chars)
    assert number[0]  # blank
    allowed = {c for c, ok in zip(chars, number[1:]) if ok}
    assert allowed == set("0123456789.,-/% ")
    assert set("x=÷") <= set(kind_alphabet("math"))
    assert kind_mask(None, chars).all()
    with pytest.raises(ValueError, match="unknown question kind"):
        kind_mask("essay", chars)
