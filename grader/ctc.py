"""CTC decoding over one crop's log-probabilities (T, C), blank = index 0, char i = index i + 1.

Plain numpy, shared by training (validation CER) and serving. References: Graves et al. 2006,
"Connectionist Temporal Classification" (forward algorithm, best path); Hannun 2017,
"Sequence Modeling with CTC" (prefix beam search).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

BLANK = 0
NEG_INF = -math.inf
SEQUENCES_PER_PASS = 256  # sequence_log_likelihoods: strings scored together in one forward pass


def log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def apply_mask(log_probs: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Restrict outputs to an alphabet (blank always allowed) and renormalise per frame."""
    if mask is None:
        return log_probs
    mask = mask.copy()
    mask[BLANK] = True
    masked = np.where(mask[None, :], log_probs, -np.inf)
    m = masked.max(axis=1, keepdims=True)
    return masked - (m + np.log(np.exp(masked - m).sum(axis=1, keepdims=True)))


def encode(text: str, index: dict[str, int]) -> list[int] | None:
    """Text -> output indices (1-based), or None when a character is outside the charset."""
    out = []
    for ch in text:
        i = index.get(ch)
        if i is None:
            return None
        out.append(i + 1)
    return out


def greedy_path(log_probs: np.ndarray) -> list[int]:
    """Best path: argmax per frame, merge repeats, drop blanks."""
    best = log_probs.argmax(axis=1)
    out, prev = [], BLANK
    for k in best:
        if k != prev and k != BLANK:
            out.append(int(k))
        prev = k
    return out


def greedy_decode(log_probs: np.ndarray, chars: Sequence[str]) -> str:
    return "".join(chars[k - 1] for k in greedy_path(log_probs))


def _logsumexp(a: float, b: float) -> float:
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    m = max(a, b)
    return m + math.log(math.exp(a - m) + math.exp(b - m))


def _add(beams: dict[tuple[int, ...], list[float]], prefix: tuple[int, ...], pb: float, pnb: float) -> None:
    """Fold an extension's (blank-ending, character-ending) log-probabilities into beam `prefix`."""
    cur = beams.setdefault(prefix, [NEG_INF, NEG_INF])
    cur[0] = _logsumexp(cur[0], pb)
    cur[1] = _logsumexp(cur[1], pnb)


def beam_search(log_probs: np.ndarray, chars: Sequence[str], beam_width: int = 8,
                prune: float = -12.0) -> list[tuple[str, float]]:
    """CTC prefix beam search; returns (text, log-likelihood) best first.

    Each prefix keeps the probability of ending in blank (pb) and in its last character (pnb);
    the sum over both is the total probability of every alignment of that prefix.
    """
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, NEG_INF)}
    for t in range(log_probs.shape[0]):
        row = log_probs[t]
        candidates = np.flatnonzero(row > max(prune, row.max() + prune))
        nxt: dict[tuple[int, ...], list[float]] = {}
        for prefix, (pb, pnb) in beams.items():
            total = _logsumexp(pb, pnb)
            for k in candidates:
                p = float(row[k])
                if k == BLANK:
                    _add(nxt, prefix, total + p, NEG_INF)
                    continue
                last = prefix[-1] if prefix else None
                extended = prefix + (int(k),)
                if k == last:
                    _add(nxt, extended, NEG_INF, pb + p)  # repeat needs a blank in between
                    _add(nxt, prefix, NEG_INF, pnb + p)  # or it merges into the same character
                else:
                    _add(nxt, extended, NEG_INF, total + p)
        ranked = sorted(nxt.items(), key=lambda kv: _logsumexp(*kv[1]), reverse=True)
        beams = {k: (v[0], v[1]) for k, v in ranked[:beam_width]}
    best = sorted(beams.items(), key=lambda kv: _logsumexp(*kv[1]), reverse=True)
    return [("".join(chars[k - 1] for k in prefix), _logsumexp(*v)) for prefix, v in best]


def sequence_log_likelihood(log_probs: np.ndarray, labels: Sequence[int]) -> float:
    """log P(labels | x) summed over all CTC alignments (forward algorithm in log space).

    Equals -torch.nn.functional.ctc_loss(..., reduction='sum') for the same inputs; -inf when
    the string cannot be aligned in T frames (too long, or repeats need blanks between them).
    """
    return sequence_log_likelihoods(log_probs, [labels])[0]


def sequence_log_likelihoods(log_probs: np.ndarray, label_seqs: Sequence[Sequence[int]]) -> list[float]:
    """sequence_log_likelihood of several label sequences on the same frames, in one pass.

    The sequences' extended forms (blank, l1, blank, l2, ..., blank) are padded with blanks to
    the longest; probability only flows to later states, so the padding never reaches the states
    each sequence ends in.
    """
    n = len(label_seqs)
    if n > SEQUENCES_PER_PASS:  # bounds the (T, n, S) arrays for a long lexicon
        return [ll for k in range(0, n, SEQUENCES_PER_PASS)
                for ll in sequence_log_likelihoods(log_probs, label_seqs[k:k + SEQUENCES_PER_PASS])]
    if n == 0:
        return []
    T = log_probs.shape[0]
    if T == 0:
        return [0.0 if not labels else NEG_INF for labels in label_seqs]
    lengths = np.array([2 * len(labels) + 1 for labels in label_seqs])
    ext = np.full((n, int(lengths.max())), BLANK, dtype=np.int64)
    for i, labels in enumerate(label_seqs):
        ext[i, 1:lengths[i]:2] = labels
    lp = log_probs[:, ext]  # (T, n, S)
    alpha = np.full(ext.shape, -np.inf)
    alpha[:, :2] = lp[0, :, :2]
    # skip transition s-2 -> s allowed into a non-blank that differs from the one two back
    can_skip = np.zeros(ext.shape, dtype=bool)
    can_skip[:, 2:] = (ext[:, 2:] != BLANK) & (ext[:, 2:] != ext[:, :-2])
    one, two = np.full((n, 1), -np.inf), np.full((n, 2), -np.inf)
    for t in range(1, T):
        prev1 = np.concatenate((one, alpha[:, :-1]), axis=1)
        prev2 = np.where(can_skip, np.concatenate((two, alpha[:, :-2]), axis=1), -np.inf)
        alpha = np.logaddexp(np.logaddexp(alpha, prev1), prev2) + lp[t]
    rows = np.arange(n)
    last = alpha[rows, lengths - 1]
    before = np.where(lengths > 1, alpha[rows, np.maximum(lengths - 2, 0)], -np.inf)
    return [float(r) if np.isfinite(r) else NEG_INF for r in np.logaddexp(last, before)]


def string_log_likelihood(log_probs: np.ndarray, text: str, index: dict[str, int]) -> float:
    return string_log_likelihoods(log_probs, [text], index)[0]


def string_log_likelihoods(log_probs: np.ndarray, texts: Sequence[str], index: dict[str, int]) -> list[float]:
    """CTC log P(text | x) of each text; -inf for a text with a character outside the charset."""
    encoded = [encode(text, index) for text in texts]
    known = [labels for labels in encoded if labels is not None]
    scores = iter(sequence_log_likelihoods(log_probs, known))
    return [NEG_INF if labels is None else next(scores) for labels in encoded]


def lexicon_decode(log_probs: np.ndarray, lexicon: Sequence[str], index: dict[str, int]) -> tuple[str, float]:
    """The allowed string the model finds most likely, with its log-likelihood."""
    if not lexicon:
        raise ValueError("lexicon_decode needs at least one allowed string")
    return max(zip(lexicon, string_log_likelihoods(log_probs, lexicon, index)), key=lambda x: x[1])


def char_error_rate(pred: str, truth: str) -> tuple[int, int]:
    """(edit distance, len(truth)) so a corpus CER is sum(dist) / sum(len)."""
    prev = list(range(len(truth) + 1))
    for i, a in enumerate(pred, 1):
        cur = [i] + [0] * len(truth)
        for j, b in enumerate(truth, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a != b))
        prev = cur
    return prev[-1], len(truth)
