"""The grader's vocabulary, defined once: question kinds, match modes, verdicts and statuses.

Each is a `StrEnum` whose values are the strings the answer key files, the gradebook rows and
the JSON output have always used, so a member compares equal to its string (`Kind.NUMBER ==
"number"`), is stored as that string and prints as it. Code that decides compares with the
members; data read back from the database or a YAML file may hold the plain strings.
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    """What a question's answer is written in; it picks the recogniser's alphabet and what the
    `auto` match mode means."""

    NUMBER = "number"
    MATH = "math"
    TEXT = "text"
    CHINESE = "chinese"
    CHOICE = "choice"


class Mode(StrEnum):
    """How a reading is compared with the accepted answers (the key's `match.mode`)."""

    AUTO = "auto"
    EXACT = "exact"
    FUZZY = "fuzzy"
    NUMERIC = "numeric"
    CHOICE = "choice"


# What `auto` means for each kind of question.
AUTO_MODE_BY_KIND: dict[str, Mode] = {  # keyed by Kind (a str)
    Kind.NUMBER: Mode.NUMERIC, Kind.MATH: Mode.EXACT, Kind.TEXT: Mode.FUZZY,
    Kind.CHINESE: Mode.FUZZY, Kind.CHOICE: Mode.CHOICE,
}


class Verdict(StrEnum):
    """What an answer earned. `review` is the grader's provisional verdict while the teacher has
    not looked; a teacher's override sets one of the first three."""

    CORRECT = "correct"
    PARTIAL = "partial"
    INCORRECT = "incorrect"
    REVIEW = "review"
    BLANK = "blank"


# The verdicts a teacher can set.
TEACHER_VERDICTS: tuple[Verdict, ...] = (Verdict.CORRECT, Verdict.PARTIAL, Verdict.INCORRECT)


class Status(StrEnum):
    """Who decided an answer: the grader on its own (`auto`), nobody yet (`review`), nothing to
    decide (`blank`), or the teacher (`teacher`, which a regrade never changes)."""

    AUTO = "auto"
    REVIEW = "review"
    BLANK = "blank"
    TEACHER = "teacher"


class ReviewReason(StrEnum):
    """Why an answer waits for the teacher (stored with the answer; `explain` is what the review
    screen shows)."""

    LOW_CONFIDENCE = "low_confidence"
    CLOSE_CALL = "close_call"
    ONE_CHARACTER = "one_character"
    SMALL_MARK = "small_mark"
    STACKED_FRACTION = "stacked_fraction"
    INCOMPLETE = "incomplete"
    FRACTION_PART = "fraction_part"

    def explain(self) -> str:
        return _REVIEW_REASON_TEXT[self]


_REVIEW_REASON_TEXT = {
    ReviewReason.LOW_CONFIDENCE: "low confidence: the handwriting is hard to read",
    ReviewReason.CLOSE_CALL: "two answers nearly as likely: the key and what was read",
    ReviewReason.ONE_CHARACTER: "what was read differs from the key by one character",
    ReviewReason.SMALL_MARK: "what was read is the key without a small mark (. / , -)",
    ReviewReason.STACKED_FRACTION: "written as a stacked fraction, which the key does not accept",
    ReviewReason.INCOMPLETE: "what was read is not a whole expression (a sign with nothing beside it, "
                             "or a bracket left open): part of the writing was missed",
    ReviewReason.FRACTION_PART: "what was read is the key with one side of a fraction left out (3 for 1/3): "
                                "the fraction bar or the number over or under it was missed",
}


def verdict_for_points(points: float, max_points: float) -> Verdict:
    """The verdict that points out of max_points mean: all, none, or some."""
    if points >= max_points:
        return Verdict.CORRECT
    return Verdict.INCORRECT if points <= 0 else Verdict.PARTIAL
