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

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence

from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

from grader import algebra
from grader.answer_key import Match
from grader.normalize import (
    NormalizeOptions,
    chinese_numeral,
    normalize,
    numbers_equal,
    parse_choice,
    parse_number,
)
from grader.paths import MODELS_DIR
from grader.vocab import AUTO_MODE_BY_KIND, Kind, Mode, ReviewReason, Status, Verdict

# A question's match rules with every default filled in: the answer key's own `Match`, whose
# defaults are the only ones (`Rules.of(question.match)` accepts a Match, a mapping or None).
Rules = Match


# The thresholds a kind may set for itself (`ScoringConfig.kinds`): the two of an automatic
# "correct" and the three of an automatic "incorrect".
KIND_THRESHOLDS = ("accept_confidence", "rescue_margin", "reject_margin", "reject_min_confidence",
                   "one_off_to_review")


@dataclass(frozen=True)
class ScoringConfig:
    """Every threshold of the verdict in one place (chosen on validation data, see bench/grading.py).

    An automatic "correct" is decided by
    accept_confidence: an accepted reading at least this confident is `correct` without review;
    rescue_margin: a reading that is not accepted still scores `correct` when the accepted answers
        are at most this many nats less likely than it (delta >= -rescue_margin).
    An automatic "incorrect" (stronger evidence: it must not mark a right answer wrong) by
    reject_margin: the accepted answers are at least this many nats less likely than the reading
        (delta <= -reject_margin) ...
    reject_min_confidence: ... and the reading is at least this confident ...
    one_off_to_review: ... and, when true, the reading is not one character away from an accepted
        answer (a misread stroke looks exactly like that: 千 read as 十).
    Every one of these five may differ per question kind: `kinds` holds (kind, {name: value})
    pairs, and `for_kind(kind)` gives the config a question of that kind is scored with.
    text_only_reject_confidence: without likelihoods, a reading that is not accepted is
        `incorrect` from this confidence on.
    partial_min_confidence: partial credit comes from the reading's text alone, so below this
        confidence it goes to review instead.
    fuzzy_band_width: for `partial_credit: fuzzy_band`, credit falls linearly from full at the
        threshold to none this many similarity points below it.
    credit_step: partial credit is rounded down to a multiple of this many points.
    """

    # The built-in values, used where models/thresholds.json is missing or names no kind. They were
    # chosen by bench/grading.py on generated validation sheets in training fonts (fewest reviews
    # with < 1 % wrong verdicts among auto-graded answers) for crnn-2 and kept through crnn-4;
    # on real writers they trust the model's confidence too much (issue 19), which is why the
    # runtime reads the per-kind thresholds chosen on held-back writers (`load_scoring_config`).
    accept_confidence: float = 0.3
    rescue_margin: float = 2.0
    reject_margin: float = 8.0
    reject_min_confidence: float = 0.1
    one_off_to_review: bool = False
    text_only_reject_confidence: float = 0.8
    partial_min_confidence: float = 0.6
    fuzzy_band_width: float = 20.0
    credit_step: float = 0.5
    kinds: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()

    def for_kind(self, kind: str) -> "ScoringConfig":
        """The thresholds a question of `kind` is scored with (its own where `kinds` has them)."""
        for name, values in self.kinds:
            if name == kind:
                return replace(self, kinds=(), **dict(values))
        return self

    @classmethod
    def with_kinds(cls, base: "ScoringConfig", kinds: Mapping[str, Mapping[str, Any]]) -> "ScoringConfig":
        """base with per-kind thresholds (names from KIND_THRESHOLDS only)."""
        for kind, values in kinds.items():
            unknown = set(values) - set(KIND_THRESHOLDS)
            if unknown:
                raise ValueError(f"kind {kind!r}: unknown thresholds {sorted(unknown)}; "
                                 f"expected some of {list(KIND_THRESHOLDS)}")
        return replace(base, kinds=tuple((str(k), tuple(sorted(v.items()))) for k, v in kinds.items()))


THRESHOLDS_FILE = MODELS_DIR / "thresholds.json"


def load_scoring_config(path: Path = THRESHOLDS_FILE) -> ScoringConfig:
    """The thresholds the runtime scores with: the per-kind values that bench/grading.py
    --choose wrote for the shipped model (`{"model_version", "chosen_on", "kinds": {kind:
    {threshold: value}}}`), over the built-in ones; the built-in ones alone without the file."""
    if not path.is_file():
        return ScoringConfig()
    data = json.loads(path.read_text(encoding="utf-8"))
    return ScoringConfig.with_kinds(ScoringConfig(), data.get("kinds", {}))


DEFAULT_CONFIG = load_scoring_config()


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
    numeric = mode == Mode.NUMERIC or (mode == Mode.EXACT and kind == Kind.MATH)
    if numeric or rules.chinese_numerals:
        a, b = parse_number(reading), parse_number(answer)
        if a is not None and b is not None and _numbers_allowed(a, b, rules, numeric):
            ok = numbers_equal(a, b, tolerance=rules.tolerance,
                               equivalent_forms=rules.numbers_by_value(kind))
            if ok and not rules.trailing_zeros and a.form in _PLAIN and b.form in _PLAIN:
                ok = reading.lstrip("+") == answer.lstrip("+")  # the key asks for 3, not 3.0
            if ok and reading.startswith("+") and not answer.startswith("+"):
                ok = rules.leading_plus  # normalised away unless the key refuses it
            return ok, ok
        if mode == Mode.NUMERIC and b is not None:
            return False, False  # the key's number, and the reading is no number
    if reading == answer:
        return True, True
    if rules.expressions_by_value(kind):
        same = algebra.canonical(reading)
        if same is not None and same == algebra.canonical(answer):
            return True, True
    if mode == Mode.FUZZY:
        return _similarity(reading, answer) >= rules.threshold, False
    return False, False


_PLAIN = frozenset({"integer", "decimal"})


def _numbers_allowed(reading, answer, rules: Rules, numeric: bool) -> bool:
    """Chinese numerals count as numbers only where the key allows them (`chinese_numerals`):
    a key's number then accepts its numerals (350: 三百五十, 三百五) and a key's numeral the
    other numerals of its value (三百五十: 三百五), but not digits: a key that gives the answer
    in characters asks for characters. Text questions compare numbers only that way."""
    if answer.form == "chinese":
        return rules.chinese_numerals and reading.form == "chinese"
    if reading.form == "chinese":
        return rules.chinese_numerals
    return numeric


def _without_unit(text: str, units: Sequence[str]) -> str:
    """The answer without one of the key's optional units at its end (`3cm` -> `3`)."""
    for unit in sorted(units, key=len, reverse=True):
        if unit and text.endswith(unit) and len(text) > len(unit):
            return text[: -len(unit)].rstrip()
    return text


def match_text(reading: str, question: QuestionLike,
               config: ScoringConfig = DEFAULT_CONFIG) -> TextMatch:
    """Compare a reading's text with the question's accepted answers under its match rules."""
    rules = Rules.of(question.match)
    mode = resolve_mode(rules.mode, question.kind)
    units = [normalize(u, question.kind, rules.options()) for u in rules.units]
    norm_reading = _without_unit(normalize(reading, question.kind, rules.options()), units)
    best: TextMatch | None = None
    for answer in question.answers:
        norm_answer = _without_unit(normalize(str(answer), question.kind, rules.options()), units)
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


def _written_forms(answer: str, kind: str, rules: Rules) -> list[str]:
    """Ways a child writes the same answer that the key's match options accept (Match's table):
    another times or divide sign, a leading plus, a trailing zero, an optional unit, the Chinese
    numeral of a number, and (math with equivalent forms) the expression multiplied out."""
    forms: list[str] = []
    arithmetic = kind in (Kind.MATH, Kind.NUMBER)
    parsed = parse_number(normalize(answer, kind, rules.options()))
    if arithmetic and rules.times_signs:
        forms.append(answer.replace("*", "×").replace("x", "×") if kind == Kind.NUMBER
                     else answer.replace("*", "×"))
        if kind == Kind.NUMBER:
            forms.append(answer.replace("×", "x"))
    if arithmetic:
        forms += [answer.replace("÷", "/"), answer.replace("/", "÷")]
    if arithmetic and parsed is not None:
        if rules.leading_plus and parsed.value > 0 and not answer.startswith("+"):
            forms.append("+" + answer)
        if rules.trailing_zeros and parsed.form == "integer":
            forms.append(answer + ".0")
    if rules.chinese_numerals and parsed is not None and parsed.value.denominator == 1:
        value = int(parsed.value)
        for colloquial in (False, True):
            numeral = chinese_numeral(value, colloquial=colloquial)
            if numeral:
                forms += [numeral, numeral.replace("二千", "两千").replace("二百", "两百")]
    if rules.expressions_by_value(kind):
        expanded = algebra.expanded_form(normalize(answer, kind, rules.options()))
        if expanded:
            forms.append(expanded)
    for unit in rules.units:
        forms += [answer + unit, f"{answer} {unit}"]
    return forms


def candidate_strings(question: QuestionLike, limit: int = 24) -> list[str]:
    """The strings whose CTC likelihood the recogniser is asked for: the accepted answers as
    written, their case variants when case does not count, the forms the key's match options
    accept (`_written_forms`), and (numeric questions with equivalent forms) the other forms of
    the value (3/4, 0.75, .75).
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
        for form in _written_forms(answer, question.kind, rules):
            add(form)
        if mode == Mode.NUMERIC and rules.numbers_by_value(question.kind):
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
    reason: for `review`, why (grader.vocab.ReviewReason; shown to the teacher).
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
    reason: ReviewReason | None = None  # why it is in review (None when decided)


def blank_answer(question: QuestionLike) -> ScoredAnswer:
    """A blank answer: 0 points, status blank; it never reached the recogniser."""
    return ScoredAnswer(question.id, "", 0.0, Verdict.BLANK, Status.BLANK, 0.0,
                        float(question.points), None)


@dataclass(frozen=True)
class Evidence:
    """What the verdict is decided from, computed once per reading (the thresholds of
    `ScoringConfig` are applied by `verdict_of`, so a bench can try many of them cheaply).

    own: the reading is an accepted answer (exactly, or by the key's explicit fuzzy rule).
    delta: key_margin; None without likelihoods.
    marks_only: the reading is an accepted answer without its small marks (`175` for `1.75`).
    one_off: the reading is one character away from an accepted answer (normalised).
    stacked_refused: the answer was written as a stacked fraction and the key does not accept one.
    incomplete: a number or math reading that is not a whole expression (`z=x-/0`, `1-`, `(2`).
    fraction_part: a number or math reading that is an accepted answer with one side of a
        fraction left out (`3` for `1/3`, `x=1` for `x=1/3`).
    """

    text: str
    confidence: float
    text_match: TextMatch
    own: bool
    delta: float | None
    marks_only: bool
    one_off: bool
    stacked_refused: bool = False
    incomplete: bool = False
    fraction_part: bool = False


def answer_evidence(question: QuestionLike, text: str, confidence: float,
                    reading_ll: float | None = None,
                    answer_lls: Mapping[str, float] | None = None,
                    written_stacked: bool = False) -> Evidence:
    """The evidence about one non-blank answer (see `score_answer`)."""
    rules = Rules.of(question.match)
    text_match = match_text(text, question)
    delta = key_margin(reading_ll, answer_lls)
    # In `auto` mode fuzzy matching only absorbs recogniser noise: with likelihoods to ask, a
    # fuzzy-only match must be confirmed by them (an unlikely answer is not rescued). A key that
    # asks for `fuzzy` explicitly accepts misspellings, so its fuzzy match counts as is.
    own = text_match.accepted and (text_match.exact or rules.mode == Mode.FUZZY or delta is None)
    confidence = min(max(float(confidence), 0.0), 1.0)
    stacked_refused = written_stacked and not rules.stacked_fractions and question.kind in (Kind.NUMBER, Kind.MATH)
    return Evidence(text, confidence, text_match, own, delta,
                    not own and only_marks_differ(text, question),
                    not own and one_character_off(text, question), stacked_refused,
                    not own and question.kind in (Kind.NUMBER, Kind.MATH) and incomplete_expression(text),
                    not own and fraction_part(text, question))


def score_answer(question: QuestionLike, text: str, confidence: float,
                 reading_ll: float | None = None,
                 answer_lls: Mapping[str, float] | None = None,
                 config: ScoringConfig = DEFAULT_CONFIG,
                 written_stacked: bool = False) -> ScoredAnswer:
    """Verdict, points and margin for one non-blank answer.

    text, confidence: the recogniser's reading and its calibrated confidence.
    reading_ll: CTC log-likelihood of `text`, under the same alphabet mask as `answer_lls`.
    answer_lls: candidate string -> CTC log-likelihood (see `candidate_strings`); strings the
        charset cannot write have -inf and add nothing. None or empty (or no reading_ll): judge
        by the text and the confidence alone.
    config: the thresholds; the question's kind picks its own (`ScoringConfig.for_kind`).
    written_stacked: the crop held a stacked fraction (read as a/b).
    """
    evidence = answer_evidence(question, text, confidence, reading_ll, answer_lls, written_stacked)
    return verdict_of(question, evidence, config)


def verdict_of(question: QuestionLike, evidence: Evidence, config: ScoringConfig = DEFAULT_CONFIG) -> ScoredAnswer:
    """The verdict the thresholds of the question's kind give this evidence."""
    config = config.for_kind(question.kind)
    decision, margin, reason = _decide(evidence.own, evidence.confidence, evidence.delta, config)
    if decision == Verdict.INCORRECT and evidence.marks_only:
        # A decimal point, slash or minus is a few pixels: the model misses them confidently.
        # The reading is the key without its small marks, so the teacher decides.
        decision, margin, reason = Verdict.REVIEW, -1e-6, ReviewReason.SMALL_MARK
    elif decision == Verdict.INCORRECT and evidence.incomplete:
        # The reader lost part of the writing (a stacked fraction's top, a bracket): the reading
        # is no evidence that the child's answer is wrong.
        decision, margin, reason = Verdict.REVIEW, -1e-6, ReviewReason.INCOMPLETE
    elif decision == Verdict.INCORRECT and evidence.fraction_part:
        # A stacked fraction read as one of its halves: the bar, or the number over or under
        # it, was lost (the reader's, not the child's, most likely).
        decision, margin, reason = Verdict.REVIEW, -1e-6, ReviewReason.FRACTION_PART
    elif decision == Verdict.INCORRECT and evidence.one_off and config.one_off_to_review:
        decision, margin, reason = Verdict.REVIEW, -1e-6, ReviewReason.ONE_CHARACTER
    elif decision == Verdict.CORRECT and evidence.stacked_refused:
        decision, margin, reason = Verdict.REVIEW, -1e-6, ReviewReason.STACKED_FRACTION
    elif decision == Verdict.REVIEW and evidence.one_off:
        reason = ReviewReason.ONE_CHARACTER
    return _scored(question, evidence.text, evidence.confidence, evidence.text_match, decision,
                   margin, evidence.delta, config, reason)


def one_character_off(text: str, question: QuestionLike) -> bool:
    """Whether the normalised reading is one edit (a character changed, added or dropped) from
    a normalised accepted answer: what a misread stroke looks like, and a slip too."""
    options = Rules.of(question.match).options()
    reading = normalize(text, question.kind, options)
    return bool(reading) and any(
        Levenshtein.distance(reading, normalize(str(a), question.kind, options)) == 1
        for a in question.answers)


# Marks small enough for the recogniser to miss with confidence (tiny decimal points are among
# its classic confusions; docs/design.md section 6, `175` for `1.75`); a number written without
# one is another number, so such readings go to review rather than to zero. A leading zero
# before the point goes with it: `0.8` misread as `8` (the point missed, the `0` taken for the
# page) was the one wrong automatic verdict on the bench's generated number validation pages.
_SMALL_MARKS = str.maketrans("", "", "./,-")
_LEADING_ZERO = re.compile(r"(?<![0-9])0(?=[.,][0-9])")


def _without_marks(text: str) -> set[str]:
    """The text without its small marks, with and without a zero before a decimal point."""
    return {text.translate(_SMALL_MARKS), _LEADING_ZERO.sub("", text).translate(_SMALL_MARKS)}


def only_marks_differ(text: str, question: QuestionLike) -> bool:
    """Whether the reading equals an accepted answer once the small marks (. / , -) and a zero
    before a decimal point are removed from both (`175` for `1.75`, `14` for `1/4`, `8` for
    `0.8`); number and math questions only."""
    if question.kind not in (Kind.NUMBER, Kind.MATH):
        return False
    options = Rules.of(question.match).options()
    reading = _without_marks(normalize(text, question.kind, options)) - {""}
    return bool(reading) and any(
        _without_marks(normalize(str(a), question.kind, options)) & reading
        for a in question.answers)


# A fraction's two sides: a bracketed group, or a run of digits, letters and decimal marks.
_FRACTION = re.compile(r"(\([^()]*\)|[0-9A-Za-z.,]+)/(\([^()]*\)|[0-9A-Za-z.,]+)")


def _fraction_halves(answer: str) -> set[str]:
    """The answer with each of its fractions replaced by its top or by its bottom alone."""
    return {answer[:m.start()] + side + answer[m.end():]
            for m in _FRACTION.finditer(answer) for side in m.groups()}


def fraction_part(text: str, question: QuestionLike) -> bool:
    """Whether the reading is an accepted answer with one side of a fraction left out (`3` for
    `1/3`, `x=1` for `x=1/3`); number and math questions only. A stacked fraction whose bar or
    other half the reader missed reads exactly so, and a child seldom writes it."""
    if question.kind not in (Kind.NUMBER, Kind.MATH):
        return False
    options = Rules.of(question.match).options()
    reading = normalize(text, question.kind, options)
    return bool(reading) and any(reading in _fraction_halves(normalize(str(a), question.kind, options))
                                 for a in question.answers)


# Signs that need something on both sides; `-` (and `+` after `=`, `<`, `>` or `(`) may also
# stand before a number alone.
_BINARY_SIGNS = frozenset("+×÷/*=<>:")
_SIGNS = _BINARY_SIGNS | {"-"}


def incomplete_expression(text: str) -> bool:
    """Whether a number or math reading is not a whole expression: it starts with a sign that
    needs something before it, ends with a sign, has a sign where a number should follow another
    sign or an opening bracket, empty or unbalanced brackets. Children seldom write such a thing;
    the reader produces it when it loses a stroke (`z=x-b/3a` with `b` over `3a` read `z=x-/0`),
    so it is never evidence enough for an automatic "incorrect"."""
    s = "".join(text.split())
    if not s:
        return False
    if (s[0] in _BINARY_SIGNS and s[0] != "+") or s[-1] in _SIGNS:
        return True
    depth = 0
    for prev, ch in zip(" " + s, s):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0 or prev in _SIGNS or prev == "(":
                return True
        elif ch in _BINARY_SIGNS and (prev in _SIGNS or prev == "("):
            if not (ch == "+" and prev in "=<>("):
                return True
    return depth != 0


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
            config: ScoringConfig) -> tuple[Verdict, float, ReviewReason | None]:
    """(correct | incorrect | review, margin, why in review)."""
    if own:  # the reading is an accepted answer: how sure is the model of its reading?
        distance = _logit(confidence) - _logit(config.accept_confidence)
        return ((Verdict.CORRECT, distance, None) if distance >= 0
                else (Verdict.REVIEW, min(distance, -1e-6), ReviewReason.LOW_CONFIDENCE))
    if delta is None:  # text only
        distance = _logit(confidence) - _logit(config.text_only_reject_confidence)
        return ((Verdict.INCORRECT, distance, None) if distance >= 0
                else (Verdict.REVIEW, min(distance, -1e-6), ReviewReason.LOW_CONFIDENCE))
    to_rescue = delta + config.rescue_margin  # >= 0: the key is about as likely as the reading
    to_reject = -config.reject_margin - delta  # >= 0: the key is far less likely
    sure = _logit(confidence) - _logit(config.reject_min_confidence)
    if to_rescue >= 0:
        return Verdict.CORRECT, to_rescue, None
    if to_reject >= 0 and sure >= 0:
        return Verdict.INCORRECT, min(to_reject, sure), None
    # Not far enough from the key: the key is nearly as likely as the reading; far enough, but
    # the reading itself is unsure.
    reason = ReviewReason.CLOSE_CALL if to_reject < 0 else ReviewReason.LOW_CONFIDENCE
    return Verdict.REVIEW, min(-min(-to_rescue, max(-to_reject, -sure)), -1e-6), reason


def _scored(question: QuestionLike, text: str, confidence: float, text_match: TextMatch,
            decision: Verdict, margin: float, delta: float | None,
            config: ScoringConfig, reason: ReviewReason | None = None) -> ScoredAnswer:
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
            reason = ReviewReason.LOW_CONFIDENCE
    else:
        verdict, status = Verdict.REVIEW, Status.REVIEW
        score = points if text_match.accepted else partial_points
    return ScoredAnswer(question.id, text, confidence, verdict, status, score, points,
                        float(margin), delta, text_match.matched, text_match.similarity,
                        reason if status == Status.REVIEW else None)
