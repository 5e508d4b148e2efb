"""The rule that decides whether a trained checkpoint may replace the shipped model
(grader/training/choose.py): lower selection CER, and no category worse by more than chance."""

from __future__ import annotations

import numpy as np
import pytest

from grader.training.choose import Readings, judge, worse_by_more_than_chance
from grader.training.labels import CATEGORIES
from grader.training.train import LineDataset


def _pair(n: int, only_base: int, only_cand: int, both: int) -> tuple[np.ndarray, np.ndarray]:
    base, cand = np.zeros(n, bool), np.zeros(n, bool)
    base[:both + only_base] = True
    cand[:both] = True
    cand[both + only_base:both + only_base + only_cand] = True
    return base, cand


@pytest.mark.parametrize("n, only_base, only_cand, worse, why", [
    (100, 0, 0, False, "the same readings"),
    (100, 5, 0, False, "5 crops of 100 lost: p = 1/32, chance can do that"),
    (100, 8, 0, True, "8 of 100 lost and none won: p = 1/256"),
    (2644, 36, 14, True, "run 19's generated Chinese against crnn-9: 0.8 points, p 0.0013"),
    (191, 4, 0, False, "run 18's multiple-choice letters against crnn-8: 2.1 points, p 0.06"),
    (741, 13, 5, False, "run 18's real Chinese words against crnn-8: 1.1 points, p 0.048"),
    (10000, 60, 20, False, "significant, but 0.4 points: under the floor"),
    (100, 0, 9, False, "the candidate reads more"),
    (200, 30, 30, False, "many changes, balanced"),
])
def test_a_category_is_worse_only_by_half_a_point_or_more_that_chance_does_not_explain(n, only_base, only_cand,
                                                                                         worse, why):
    base, cand = _pair(n, only_base, only_cand, both=n // 2)
    got, p, b, a = worse_by_more_than_chance(base, cand)
    assert (b, a) == (only_base, only_cand) and len(base) == n
    assert got is worse, (why, p)


def _readings(right_generated: np.ndarray, edits: int) -> Readings:
    """Generated validation lines, half numbers, half Chinese, with these per-crop results."""
    n = len(right_generated)
    cats = np.asarray([CATEGORIES.index("number")] * (n // 2) + [CATEGORIES.index("chinese")] * (n - n // 2), np.int8)
    lines = LineDataset(np.zeros((n, 32, 8), np.uint8), np.full(n, 8, np.int32), cats, [""] * n, {})
    return Readings({"generated": lines}, {"generated": right_generated},
                    {"generated": np.full(n, edits)}, {"generated": np.full(n, 10)})


def test_a_candidate_with_lower_cer_and_no_category_worse_qualifies():
    base = _readings(np.array([True] * 150 + [False] * 50), edits=2)
    cand = _readings(np.array([True] * 150 + [False] * 50), edits=1)
    assert judge(base, cand) == []


def test_lower_cer_does_not_excuse_a_category_that_fell():
    right = np.ones(200, bool)
    fell = right.copy()
    fell[100:115] = False  # 15 Chinese crops of 100 lost, none won
    reasons = judge(_readings(right, edits=2), _readings(fell, edits=1))
    assert len(reasons) == 1 and reasons[0].startswith("generated chinese: 100.0% -> 85.0%")


def test_a_candidate_without_lower_cer_is_refused_however_it_reads():
    right = np.ones(200, bool)
    reasons = judge(_readings(right, edits=1), _readings(right, edits=1))
    assert reasons == ["selection CER 0.1000 is not below 0.1000"]
