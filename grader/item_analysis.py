"""Class statistics a teacher reads after a test: the score distribution (histogram, mean,
median) and, per question, facility and discrimination (classical item analysis).

facility        mean points on the question / its maximum, over the students analysed (1.0:
                everyone full marks). For a right/wrong question, the share who got it right
                (the "p-value" of classical test theory; ZipGrade's "percent correct").
discrimination  upper-lower index: (mean points of the top group - mean of the bottom group) /
                maximum, the groups being the 27 % of students with the highest and the lowest
                totals (Kelley 1939, "The selection of upper and lower groups for the validation
                of test items"; ZipGrade's "discrimination factor"). From -1 to 1; below about 0.2
                the question does not separate strong from weak students.
item_rest       Pearson correlation of the question's points with the student's points on the
                other questions (the corrected item-total correlation, Zesje's "Rir"); None where
                either varies not at all, as a correlation is then undefined.

Who is analysed: students with every question scored (all pages handed in); a missing student
has no score to analyse, and one page of a two-page test would bias the totals. Pure functions
on the gradebook's rows; the store and the screens do the I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import mean, median
from typing import Sequence

from grader.store import Gradebook

GROUP_SHARE = 0.27  # Kelley's upper and lower groups
HISTOGRAM_BINS = 10  # 0-10 %, 10-20 %, ..., 90-100 % (100 % in the last bin)


@dataclass(frozen=True)
class ItemStats:
    question_id: str
    label: str
    max_points: float
    students: int  # analysed (every question scored)
    facility: float | None  # None: no student analysed
    discrimination: float | None  # None: fewer than 2 students
    item_rest: float | None  # None: fewer than 3 students, or no variation


@dataclass(frozen=True)
class ClassStats:
    students: int  # analysed
    mean_percent: float | None
    median_percent: float | None
    histogram: list[tuple[str, int]]  # (bin label, students), HISTOGRAM_BINS bins
    items: list[ItemStats]


def complete_scores(book: Gradebook) -> list[list[float]]:
    """Per analysed student, their points on each question in key order."""
    ids = [qid for qid, _, _ in book.questions]
    out = []
    for row in book.rows:
        scores = [row.scores.get(qid) for qid in ids]
        if not row.missing and scores and all(s is not None for s in scores):
            out.append([float(s) for s in scores if s is not None])
    return out


def histogram(percents: Sequence[float], bins: int = HISTOGRAM_BINS) -> list[tuple[str, int]]:
    """Counts per equal band of percent; 100 % goes into the top band."""
    width = 100.0 / bins
    counts = [0] * bins
    for value in percents:
        counts[min(bins - 1, max(0, int(value // width)))] += 1
    return [(f"{i * width:g}-{(i + 1) * width:g} %", n) for i, n in enumerate(counts)]


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """The correlation coefficient, or None when it is undefined (n < 3 kept out: two points
    always correlate perfectly, which says nothing about a question)."""
    if len(xs) < 3:
        return None
    mx, my = mean(xs), mean(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def group_size(students: int) -> int:
    """Students in each of the upper and lower groups: 27 % rounded, at least 1, and never so
    many that the groups overlap."""
    return min(students // 2, max(1, round(GROUP_SHARE * students)))


def item_stats(scores: Sequence[Sequence[float]], questions: Sequence[tuple[str, str, float]]) -> list[ItemStats]:
    """Facility, upper-lower discrimination and item-rest correlation of each question, from the
    analysed students' points (rows: students, columns: questions in key order). Students tied
    on the total at a group's edge keep their gradebook order (a stable sort)."""
    totals = [sum(row) for row in scores]
    order = sorted(range(len(scores)), key=lambda i: -totals[i])
    size = group_size(len(scores))
    upper, lower = order[:size], order[len(order) - size:]
    out = []
    for j, (qid, label, max_points) in enumerate(questions):
        column = [row[j] for row in scores]
        facility = mean(column) / max_points if column and max_points else None
        discrimination = None
        if size and max_points:
            discrimination = (mean(column[i] for i in upper) - mean(column[i] for i in lower)) / max_points
        rest = [t - c for t, c in zip(totals, column)]
        out.append(ItemStats(qid, label, max_points, len(column), _round(facility),
                             _round(discrimination), _round(pearson(column, rest))))
    return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def class_stats(book: Gradebook) -> ClassStats:
    """The distribution of the analysed students' percent and every question's item statistics."""
    scores = complete_scores(book)
    percents = [100.0 * sum(row) / book.max_points for row in scores] if book.max_points else []
    return ClassStats(
        len(scores),
        round(mean(percents), 1) if percents else None,
        round(median(percents), 1) if percents else None,
        histogram(percents),
        item_stats(scores, book.questions))
