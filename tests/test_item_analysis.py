"""Class statistics (grader.item_analysis) on a table worked out by hand, and their CSV."""

from __future__ import annotations

import csv
import io
import math

import pytest

from grader import export
from grader.item_analysis import class_stats, group_size, histogram, pearson
from grader.store import INCOMPLETE, MISSING, Gradebook, GradebookRow

QUESTIONS = [("q1", "1", 1.0), ("q2", "2", 1.0), ("q3", "3", 2.0)]
# Eight students who handed everything in (totals 4 3 3 2 2 1 1 0 of 4), then one missing and one
# with a page not handed in: those two are left out of every statistic.
TABLE = {
    "S1": (1, 1, 2), "S2": (1, 1, 1), "S3": (1, 0, 2), "S4": (1, 1, 0),
    "S5": (0, 1, 1), "S6": (1, 0, 0), "S7": (0, 1, 0), "S8": (0, 0, 0),
}


def book() -> Gradebook:
    rows = [GradebookRow(sid, sid, "5A", dict(zip(("q1", "q2", "q3"), map(float, scores))),
                         float(sum(scores)), 4.0, 0, [i]) for i, (sid, scores) in enumerate(TABLE.items())]
    rows.append(GradebookRow("S9", "S9", "5A", {"q1": None, "q2": None, "q3": None}, 0.0, 4.0, 0, [],
                             MISSING))
    rows.append(GradebookRow("S10", "S10", "5A", {"q1": 1.0, "q2": 1.0, "q3": None}, 2.0, 4.0, 0, [9],
                             INCOMPLETE))
    return Gradebook("quiz", "Quiz", 1, QUESTIONS, rows)


def test_item_statistics_match_the_hand_computed_table():
    stats = class_stats(book())
    assert stats.students == 8  # S9 (missing) and S10 (a page short) are not analysed
    items = {i.question_id: i for i in stats.items}
    # facility: mean points / maximum
    assert items["q1"].facility == 0.625  # 5 of 8 right
    assert items["q2"].facility == 0.625
    assert items["q3"].facility == 0.375  # 6 points of 16
    # upper and lower groups: 27 % of 8 = 2 students; by total (stable on ties) upper = S1, S2,
    # lower = S7, S8. q1: (1 - 0) / 1; q2: (1 - 0.5) / 1; q3: ((2 + 1) / 2 - 0) / 2.
    assert (items["q1"].discrimination, items["q2"].discrimination, items["q3"].discrimination) \
        == (1.0, 0.5, 0.75)
    # item-rest for q1: item 1 1 1 1 0 1 0 0 (mean 5/8), rest 3 2 2 1 2 0 1 0 (mean 11/8):
    # Sxy = 5/8 * 3/8 ... worked out: Sxy = 1.125, Sxx = 1.875, Syy = 23 - 8 * (11/8)^2 = 7.875
    assert items["q1"].item_rest == round(1.125 / math.sqrt(1.875 * 7.875), 3) == 0.293
    assert all(i.students == 8 for i in stats.items)


def test_distribution_mean_median_and_histogram():
    stats = class_stats(book())
    # percents 100 75 75 50 50 25 25 0
    assert (stats.mean_percent, stats.median_percent) == (50.0, 50.0)
    counts = dict(stats.histogram)
    assert len(stats.histogram) == 10 and sum(counts.values()) == 8
    assert (counts["0-10 %"], counts["20-30 %"], counts["50-60 %"], counts["70-80 %"],
            counts["90-100 %"]) == (1, 2, 2, 2, 1)


@pytest.mark.parametrize("values, expected", [
    ([100.0], {"90-100 %": 1}), ([0.0, 9.99], {"0-10 %": 2}), ([10.0], {"10-20 %": 1}),
])
def test_histogram_band_edges(values, expected):
    counts = {label: n for label, n in histogram(values) if n}
    assert counts == expected


@pytest.mark.parametrize("students, size", [(0, 0), (1, 0), (2, 1), (4, 1), (8, 2), (10, 3), (30, 8)])
def test_group_size_is_27_percent_without_overlap(students, size):
    assert group_size(students) == size


def test_undefined_statistics_are_none_not_zero():
    assert pearson([1, 1, 1], [0, 1, 2]) is None  # the question does not vary
    assert pearson([0, 1], [0, 1]) is None  # two students say nothing
    one = Gradebook("quiz", "Quiz", 1, QUESTIONS,
                    [GradebookRow("S1", "S1", "5A", {"q1": 1.0, "q2": 0.0, "q3": 2.0}, 3.0, 4.0, 0, [1])])
    [first, *_] = class_stats(one).items
    assert first.facility == 1.0 and first.discrimination is None and first.item_rest is None
    empty = class_stats(Gradebook("quiz", "Quiz", 1, QUESTIONS, []))
    assert empty.students == 0 and empty.mean_percent is None
    assert all(i.facility is None for i in empty.items)


def test_statistics_csv_has_a_row_per_question_with_wrong_answers():
    text = export.statistics_csv(class_stats(book()), {"q2": [("-7", 3), ("12", 1)]})
    assert text.startswith(export.BOM)
    rows = list(csv.DictReader(io.StringIO(text.removeprefix(export.BOM))))
    assert list(rows[0]) == list(export.STATISTICS_COLUMNS)
    by_id = {r["question"]: r for r in rows}
    assert by_id["q2"]["facility"] == "0.625" and by_id["q2"]["discrimination"] == "0.5"
    assert by_id["q2"]["common_wrong_answers"] == "'-7 (3); 12 (1)"  # formula-safe
    assert by_id["q1"]["item_rest"] == "0.293" and by_id["q1"]["mean_percent"] == "50"
