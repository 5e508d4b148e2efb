"""Scores: a reading of one answer crop, checked against the answer key.

Two kinds of evidence decide a verdict:

1. **The text.** The reading is normalised like the accepted answers (`grader.normalize`) and
   compared under the key's `match.mode`: `exact`, `fuzzy` (rapidfuzz ratio against a threshold),
   `numeric` (values, tolerance, equivalent forms), `choice` (a letter), or `auto`, which picks
   by the question's kind. Partial credit (`fuzzy_band`, `per_token`) comes from the text too.
2. **The model's own view of the key** (key-aware verification, docs/design.md section 6). The recogniser gives
   the CTC log-likelihood of any string (forced alignment). CTC likelihoods are probabilities
   over strings, so the key's likelihood is log of the summed probability of the accepted
   answers (and their variants), and its **margin** against the best free reading is

       delta = log sum_a exp(ll(a)) - ll(reading)        (nats; 0 when the reading is the key)

   An answer the model finds nearly as likely as its own reading (delta above -rescue_margin)
   is correct even when the greedy text is a stroke off (a missed decimal point, 4 read as 9);
   one it finds far less likely (delta below -reject_margin) is wrong, and a lenient fuzzy
   threshold does not rescue it (in `auto` mode a fuzzy-only match counts only when there are
   no likelihoods to ask). Between the two, the teacher decides. On generated validation sheets
   right answers misread by the model sit at delta -0.1 to -6 while wrong answers sit at -6 to
   -50, which is what makes the margin worth more than the text (bench/grading.py).

Verdicts:
- the reading is an accepted answer: `correct` if its calibrated confidence reaches
  `accept_confidence`, else `review`;
- otherwise: `correct` if delta >= -rescue_margin; `incorrect` (or partial credit) if
  delta <= -reject_margin and the reading's confidence reaches `reject_min_confidence` (a crop
  the model cannot read at all goes to review, not to zero), unless the reading is the key
  without its small marks (`175` for `1.75`: a missed decimal point); `review` otherwise. Without
  likelihoods a reading that is not accepted is `incorrect` from `text_only_reject_confidence`.

The `margin` of a result is how far past its deciding threshold it lies (>= 0), or, in review,
minus the distance to the nearer threshold (the most negative is the most doubtful); distances
of delta are in nats, of confidences in logits. Thresholds live in `ScoringConfig` and are chosen
on validation data by `bench/grading.py`. Pure functions, no I/O.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Mapping, Protocol, Sequence

from rapidfuzz import fuzz

from grader.answer_key import Match
from grader.normalize import (
    NormalizeOptions,
    normalize,
    numbers_equal,
    parse_choice,
    parse_number,
)
from grader.vocab import AUTO_MODE_BY_KIND, Kind, Mode, Status, Verdict

# A question's match rules with every default filled in: the answer key's own `Match`, whose
# defaults are the only ones (`Rules.of(question.match)` accepts a Match, a mapping or None).
Rules = Match


@dataclass(frozen=True)
class ScoringConfig:
    """Every threshold of the verdict in one place (chosen on validation data, see bench/grading.py).

    accept_confidence: an accepted reading at least this confident is `correct` without review.
    rescue_margin: a reading that is not accepted still scores `correct` when the accepted answers
        are at most this many nats less likely than it (delta >= -rescue_margin).
    reject_margin: `incorrect` when the accepted answers are at least this many nats less likely
        than the reading (delta <= -reject_margin) ...
    reject_min_confidence: ... and the reading is at least this confident.
    text_only_reject_confidence: without likelihoods, a reading that is not accepted is
        `incorrect` from this confidence on.
    partial_min_confidence: partial credit comes from the reading's text alone, so below this
        confidence it goes to review instead.
    fuzzy_band_width: for `partial_credit: fuzzy_band`, credit falls linearly from full at the
        threshold to none this many similarity points below it.
    credit_step: partial credit is rounded down to a multiple of this many points.
    """

    # Chosen by bench/grading.py on generated validation sheets (fewest reviews with < 1 % wrong
    # verdicts among auto-graded answers), recogniser crnn-2 (step 51907): 2.2 % review, 0.85 %
    # wrong on validation; 1.3 % and 0.68 % (8/1184) on the test seeds. (crnn-1 at step 11987
    # had 7.0 / 0.3 here: 4.4 % review, 0.96 % wrong on the test seeds.) With crnn-3 (step
    # 64000) the same values give 1.7 % review, 0.25 % wrong on validation and 1.2 %, 0.17 %
    # (2/1185) on test. The rule alone would now pick reject_margin 3.0 (validation 0.9 % /
    # 0.59 %, test 0.8 % / 0.50 %): under a point fewer reviews for about three times the wrong
    # verdicts, so these were kept. With crnn-4 (step 153036): 1.3 % review, 0.34 % (4/1184)
    # wrong on validation, 0.8 % and 0 % (0/1190) on test; the rule again picks reject_margin
    # 3.0 (validation 0.4 % / 0.59 %, test 0.2 % / 0.42 %), kept at 8.0 for the same reason.
    accept_confidence: float = 0.3
    rescue_margin: float = 2.0
    reject_margin: float = 8.0
    reject_min_confidence: float = 0.1
    text_only_reject_confidence: float = 0.8
    partial_min_confidence: float = 0.6
    fuzzy_band_width: float = 20.0
    credit_step: float = 0.5


DEFAULT_CONFIG = ScoringConfig()


class QuestionLike(Protocol):
    """What scoring needs of a question (grader.answer_key.Question satisfies it); read-only."""

    @property
    def id(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def answers(self) -> Sequence[str]: ...

    @property
    def points(self) -> float: ...

    @property
    def match(self) -> Any: ...


def resolve_mode(mode: str, kind: str) -> Mode:
    """The comparison actually used: `auto` becomes the kind's natural mode."""
    if mode != Mode.AUTO:
        return Mode(mode)
    return AUTO_MODE_BY_KIND.get(kind, Mode.EXACT)


@dataclass(frozen=True)
class TextMatch:
    """How the reading's text compares with the accepted answers.

    accepted: the mode's rule passes for some accepted answer.
    exact: it passes without fuzzy leniency (equal after normalisation, numerically equal, same
        choice letter).
    similarity: best rapidfuzz ratio (0-100) between normalised reading and accepted answers.
    credit: fraction of the points the text alone earns (1 when accepted; partial credit rules
        otherwise).
    matched: the accepted answer that gave the best result.
    """

    accepted: bool
    exact: bool
    similarity: float
    credit: float
    matched: str | None


def _similarity(a: str, b: str) -> float:
    return float(fuzz.ratio(a, b))


def _tokens(text: str, kind: str, rules: Rules) -> list[str]:
    """Tokens for per-token credit: characters for Chinese, words otherwise."""
    spaced = normalize(text, kind, NormalizeOptions(rules.case_sensitive, False,
                                                     rules.normalize_width))
    if kind == Kind.CHINESE:
        return [ch for ch in spaced if ch.isalnum()]
    return [t for t in re.split(r"[\s,;]+", spaced) if t]


def _token_credit(reading: str, answer: str, kind: str, rules: Rules) -> float:
    want, got = Counter(_tokens(answer, kind, rules)), Counter(_tokens(reading, kind, rules))
    if not want:
        return 0.0
    # Divide by the longer list so that writing every word you can think of earns nothing extra.
    return sum((want & got).values()) / max(sum(want.values()), sum(got.values()))


def _passes(reading: str, answer: str, mode: str, kind: str, rules: Rules) -> tuple[bool, bool]:
    """(accepted, exact) for one accepted answer; both strings already normalised."""
    if mode == Mode.CHOICE:
        letter = parse_choice(reading)
        ok = letter is not None and letter == parse_choice(answer)
        return ok, ok
    if mode == Mode.NUMERIC or (mode == Mode.EXACT and kind == Kind.MATH):
        a, b = parse_number(reading), parse_number(answer)
        if a is not None and b is not None:
            ok = numbers_equal(a, b, tolerance=rules.tolerance,
                               equivalent_forms=rules.equivalent_forms)
            return ok, ok
        if mode == Mode.NUMERIC:
            return False, False
    if reading == answer:
        return True, True
    if mode == Mode.FUZZY:
        return _similarity(reading, answer) >= rules.threshold, False
    return False, False


def match_text(reading: str, question: QuestionLike,
               config: ScoringConfig = DEFAULT_CONFIG) -> TextMatch:
    """Compare a reading's text with the question's accepted answers under its match rules."""
    rules = Rules.of(question.match)
    mode = resolve_mode(rules.mode, question.kind)
    norm_reading = normalize(reading, question.kind, rules.options())
    best: TextMatch | None = None
    for answer in question.answers:
        norm_answer = normalize(str(answer), question.kind, rules.options())
        accepted, exact = _passes(norm_reading, norm_answer, mode, question.kind, rules)
        similarity = 100.0 if exact else _similarity(norm_reading, norm_answer)
        credit = 1.0 if accepted else _partial_credit(reading, str(answer), similarity, question,
                                                      rules, config)
        candidate = TextMatch(accepted, exact, similarity, credit, str(answer))
        if best is None or _rank(candidate) > _rank(best):
            best = candidate
    return best or TextMatch(False, False, 0.0, 0.0, None)


def _rank(match: TextMatch) -> tuple:
    return (match.exact, match.accepted, match.credit, match.similarity)


def _partial_credit(reading: str, answer: str, similarity: float, question: QuestionLike,
                    rules: Rules, config: ScoringConfig) -> float:
    if rules.partial_credit == "fuzzy_band":
        lower = rules.threshold - config.fuzzy_band_width
        return min(1.0, max(0.0, (similarity - lower) / (rules.threshold - lower)))
    if rules.partial_credit == "per_token":
        return _token_credit(reading, answer, question.kind, rules)
    return 0.0


def _round_points(points: float, credit: float, step: float) -> float:
    """Points for a credit fraction, rounded down to a multiple of `step` points (half points)."""
    if credit >= 1.0:
        return float(points)
    raw = float(points) * max(credit, 0.0)
    return math.floor(raw / step + 1e-9) * step if step > 0 else raw


# ---------------------------------------------------------------------------------------------
# Candidate strings for the recogniser's likelihoods


def _number_forms(value: Fraction) -> list[str]:
    """Other ways a child may write the same number: 3/4, 0.75, .75."""
    forms = []
    if value.denominator != 1:
        sign = "-" if value < 0 else ""
        forms.append(f"{sign}{abs(value.numerator)}/{value.denominator}")
    decimal = value.numerator / value.denominator
    text = f"{decimal:.6f}".rstrip("0").rstrip(".")
    if Fraction(text) == value:  # only terminating decimals
        forms.append(text)
        if text.startswith("0."):
            forms.append(text[1:])
        if text.startswith("-0."):
            forms.append("-" + text[2:])
    return forms


def candidate_strings(question: QuestionLike, limit: int = 12) -> list[str]:
    """The strings whose CTC likelihood the recogniser is asked for: the accepted answers as
    written, their case variants when case does not count, the times/divide signs a child may
    use instead, and (numeric questions with equivalent forms) the other forms of the value.
    """
    rules = Rules.of(question.match)
    mode = resolve_mode(rules.mode, question.kind)
    out: list[str] = []

    def add(text: str) -> None:
        if text and text not in out:
            out.append(text)

    for answer in map(str, question.answers):
        add(answer)
        if not rules.case_sensitive and any(ch.isalpha() for ch in answer):
            for variant in (answer.lower(), answer.upper(), answer[:1].upper() + answer[1:]):
                add(variant)
        if question.kind in (Kind.MATH, Kind.NUMBER):
            add(answer.replace("*", "×").replace("x", "×") if question.kind == Kind.NUMBER
                else answer.replace("*", "×"))
            add(answer.replace("÷", "/"))
            add(answer.replace("/", "÷"))
        if mode == Mode.NUMERIC and rules.equivalent_forms:
            parsed = parse_number(normalize(answer, question.kind, rules.options()))
            if parsed is not None:
                for form in _number_forms(parsed.value):
                    add(form)
    return out[:limit]


# ---------------------------------------------------------------------------------------------
# The verdict


@dataclass(frozen=True)
class ScoredAnswer:
    """One question's result: what was read, the verdict, the points, and how sure we are.

    verdict: correct | partial | incorrect | review | blank
    status: auto (decided without the teacher) | review (the teacher should look) | blank
    points: the score; for `review`, the provisional score from the reading.
    margin: logit distance past the deciding threshold (>= 0) for automatic verdicts, minus the
        distance to the nearer threshold inside review (most negative = most doubtful); None for
        blank answers.
    delta: log-likelihood of the accepted answers minus that of the reading (nats); None
        without likelihoods.
    """

    question_id: str
    text: str
    confidence: float
    verdict: Verdict
    status: Status
    points: float
    max_points: float
    margin: float | None
    delta: float | None = None
    matched: str | None = None
    similarity: float = 0.0


def blank_answer(question: QuestionLike) -> ScoredAnswer:
    """A blank answer: 0 points, status blank; it never reached the recogniser."""
    return ScoredAnswer(question.id, "", 0.0, Verdict.BLANK, Status.BLANK, 0.0,
                        float(question.points), None)


def score_answer(question: QuestionLike, text: str, confidence: float,
                 reading_ll: float | None = None,
                 answer_lls: Mapping[str, float] | None = None,
                 config: ScoringConfig = DEFAULT_CONFIG) -> ScoredAnswer:
    """Verdict, points and margin for one non-blank answer.

    text, confidence: the recogniser's reading and its calibrated confidence.
    reading_ll: CTC log-likelihood of `text`, under the same alphabet mask as `answer_lls`.
    answer_lls: candidate string -> CTC log-likelihood (see `candidate_strings`); strings the
        charset cannot write have -inf and add nothing. None or empty (or no reading_ll): judge
        by the text and the confidence alone.
    """
    rules = Rules.of(question.match)
    text_match = match_text(text, question, config)
    delta = key_margin(reading_ll, answer_lls)
    # In `auto` mode fuzzy matching only absorbs recogniser noise: with likelihoods to ask, a
    # fuzzy-only match must be confirmed by them (an unlikely answer is not rescued). A key that
    # asks for `fuzzy` explicitly accepts misspellings, so its fuzzy match counts as is.
    own = text_match.accepted and (text_match.exact or rules.mode == Mode.FUZZY or delta is None)
    confidence = min(max(float(confidence), 0.0), 1.0)
    decision, margin = _decide(own, confidence, delta, config)
    if decision == Verdict.INCORRECT and not own and only_marks_differ(text, question):
        # A decimal point, slash or minus is a few pixels: the model misses them confidently.
        # The reading is the key without its small marks, so the teacher decides.
        decision, margin = Verdict.REVIEW, -1e-6
    return _scored(question, text, confidence, text_match, decision, margin, delta, config)


# Marks small enough for the recogniser to miss with confidence (tiny decimal points are among
# its classic confusions; docs/design.md section 6, `175` for `1.75`); a number written without
# one is another number, so such readings go to review rather than to zero.
_SMALL_MARKS = str.maketrans("", "", "./,-")


def only_marks_differ(text: str, question: QuestionLike) -> bool:
    """Whether the reading equals an accepted answer once the small marks (. / , -) are removed
    from both (`175` for `1.75`, `14` for `1/4`); number and math questions only."""
    if question.kind not in (Kind.NUMBER, Kind.MATH):
        return False
    options = Rules.of(question.match).options()
    reading = normalize(text, question.kind, options).translate(_SMALL_MARKS)
    return bool(reading) and any(
        normalize(str(a), question.kind, options).translate(_SMALL_MARKS) == reading
        for a in question.answers)


def key_margin(reading_ll: float | None, answer_lls: Mapping[str, float] | None) -> float | None:
    """log(sum of the accepted answers' probabilities) - log P(reading), in nats; None when
    there is nothing to compare (no likelihoods, or none the charset can write)."""
    if reading_ll is None or not math.isfinite(reading_ll) or not answer_lls:
        return None
    usable = [ll for ll in answer_lls.values() if ll is not None and math.isfinite(ll)]
    if not usable:
        return None
    top = max(usable)
    return top + math.log(sum(math.exp(ll - top) for ll in usable)) - reading_ll


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


def _decide(own: bool, confidence: float, delta: float | None,
            config: ScoringConfig) -> tuple[Verdict, float]:
    """(correct | incorrect | review, margin)."""
    if own:  # the reading is an accepted answer: how sure is the model of its reading?
        distance = _logit(confidence) - _logit(config.accept_confidence)
        return ((Verdict.CORRECT, distance) if distance >= 0
                else (Verdict.REVIEW, min(distance, -1e-6)))
    if delta is None:  # text only
        distance = _logit(confidence) - _logit(config.text_only_reject_confidence)
        return ((Verdict.INCORRECT, distance) if distance >= 0
                else (Verdict.REVIEW, min(distance, -1e-6)))
    to_rescue = delta + config.rescue_margin  # >= 0: the key is about as likely as the reading
    to_reject = -config.reject_margin - delta  # >= 0: the key is far less likely
    sure = _logit(confidence) - _logit(config.reject_min_confidence)
    if to_rescue >= 0:
        return Verdict.CORRECT, to_rescue
    if to_reject >= 0 and sure >= 0:
        return Verdict.INCORRECT, min(to_reject, sure)
    return Verdict.REVIEW, min(-min(-to_rescue, max(-to_reject, -sure)), -1e-6)


def _scored(question: QuestionLike, text: str, confidence: float, text_match: TextMatch,
            decision: Verdict, margin: float, delta: float | None,
            config: ScoringConfig) -> ScoredAnswer:
    points = float(question.points)
    partial_points = _round_points(points, text_match.credit, config.credit_step)
    if decision == Verdict.CORRECT:
        verdict, status, score = Verdict.CORRECT, Status.AUTO, points
    elif decision == Verdict.INCORRECT:
        score = 0.0 if text_match.accepted else partial_points
        verdict = Verdict.PARTIAL if score > 0 else Verdict.INCORRECT
        status = Status.AUTO
        if score > 0 and confidence < config.partial_min_confidence:
            verdict, status = Verdict.REVIEW, Status.REVIEW
            margin = min(confidence - config.partial_min_confidence, -1e-6)
    else:
        verdict, status = Verdict.REVIEW, Status.REVIEW
        score = points if text_match.accepted else partial_points
    return ScoredAnswer(question.id, text, confidence, verdict, status, score, points,
                        float(margin), delta, text_match.matched, text_match.similarity)
