"""Text normalisation before an answer is compared with the key.

Children, phones and recognisers write the same answer in many ways: full-width digits from a
Chinese input method, a unicode minus, `×` or `x` or `*` for times, `，` for `,`. Both the
reading and every accepted answer go through the same `normalize` so that only the differences
the key cares about remain. Pure functions, no I/O.

Also here: `parse_number`, which turns a normalised numeric answer (integer, decimal, fraction,
percentage, negative, Chinese numeral) into an exact `fractions.Fraction`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from fractions import Fraction

from grader.vocab import Kind

# Characters that mean "minus" in handwriting, fonts and input methods.
_MINUS_SIGNS = "\u2212\u2012\u2013\u2014\u2010\u2011\ufe63\uff0d\u02d7"
# Chinese (and typographic) punctuation -> the ASCII sign a key would use. NFKC already maps the
# full-width forms (，：；？！（）); these are the ones it leaves alone.
_PUNCTUATION = {
    "\u3002": ".",  # 。
    "\u3001": ",",  # 、
    "\u201c": '"',  # “
    "\u201d": '"',  # ”
    "\u2018": "'",  # ‘
    "\u2019": "'",  # ’
    "\u300a": "<",  # 《
    "\u300b": ">",  # 》
    "\u2044": "/",  # fraction slash (NFKC of ½ gives 1⁄2)
    "\u2215": "/",  # division slash
    "\u00b7": "\u00d7",  # middle dot used as times -> ×, only applied where times is allowed
}
_TIMES = "\u00d7"  # ×
_DIVIDE = "\u00f7"  # ÷
# Kinds whose answers are words: punctuation at either end is dropped.
_WORD_KINDS = frozenset({Kind.TEXT, Kind.CHINESE})
_EDGE_PUNCTUATION = ".,;:!?"
# Kinds where `x` / `X` between digits means times (a number answer has no variables).
_X_IS_TIMES_KINDS = frozenset({Kind.NUMBER})
# Kinds where `*`, `·` and `×` all mean times and `÷` and `/` both mean divide.
_ARITHMETIC_KINDS = frozenset({Kind.NUMBER, Kind.MATH})


@dataclass(frozen=True)
class NormalizeOptions:
    """How much of the surface form to ignore; mirrors the answer key's `match` fields."""

    case_sensitive: bool = False
    ignore_spaces: bool = True
    normalize_width: bool = True
    times_signs: bool = True  # number and math: `*`, `·` (and `x` between digits in a number) are `×`
    leading_plus: bool = True  # number and math: `+5` is `5`


def _map_signs(text: str, kind: str | None, times_signs: bool = True) -> str:
    for sign in _MINUS_SIGNS:
        text = text.replace(sign, "-")
    for sign, ascii_sign in _PUNCTUATION.items():
        if sign == "\u00b7" and (kind not in _ARITHMETIC_KINDS or not times_signs):
            continue
        text = text.replace(sign, ascii_sign)
    if kind in _ARITHMETIC_KINDS:
        text = text.replace(_DIVIDE, "/")
        if times_signs:
            text = text.replace("*", _TIMES)
    if kind in _X_IS_TIMES_KINDS and times_signs:
        # Only between digits: "2x7" is a product, a lone "x" stays what it is.
        text = re.sub(r"(?<=\d)\s*[xX]\s*(?=\d)", _TIMES, text)
    return text


def _normalize_once(text: str, kind: str | None, options: NormalizeOptions) -> str:
    if options.normalize_width:
        text = unicodedata.normalize("NFKC", text)
    text = _map_signs(text, kind, options.times_signs)
    if not options.case_sensitive:
        text = text.casefold()
    if kind in _WORD_KINDS:
        # A full stop or comma at the end of a dictated word is not part of the answer.
        text = text.strip(_EDGE_PUNCTUATION + " ")
    if options.ignore_spaces:
        text = "".join(text.split())
    else:
        text = " ".join(text.split())
    if options.leading_plus and kind in _ARITHMETIC_KINDS and text.startswith("+"):
        # A plus in front of a positive answer says nothing a teacher marks (`+5` is `5`).
        text = text.lstrip("+ ")
    return text


def normalize(text: str, kind: str | None = None, options: NormalizeOptions | None = None) -> str:
    """Canonical form of `text` for comparison under the given kind (a `Kind`, or its string as
    read from a key file or the gradebook) and options.

    Idempotent: normalize(normalize(t)) == normalize(t). NFKC and case folding can each undo the
    other's fixed point for a few exotic characters (e.g. casefold("ẞ") -> "ss"), so the steps
    are repeated until nothing changes (twice in practice).
    """
    options = options or NormalizeOptions()
    for _ in range(4):
        result = _normalize_once(text, kind, options)
        if result == text:
            break
        text = result
    return text


# ---------------------------------------------------------------------------------------------
# Numbers

_INTEGER = r"\d+"
_DECIMAL = r"(?:\d+\.\d*|\.\d+)"
_NUMBER_RE = re.compile(
    rf"^(?P<sign>[-+]?)(?:(?P<num>{_INTEGER})/(?P<den>{_INTEGER})"
    rf"|(?P<value>{_DECIMAL}|{_INTEGER})(?P<percent>%?))$"
)
_THOUSANDS_RE = re.compile(r"^[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
              "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_BIG_UNITS = {"万": 10_000, "亿": 100_000_000}
_CN_ABBREVIATED = {"百": 10, "千": 100, "万": 1000}  # the unit a bare last digit after these stands for


@dataclass(frozen=True)
class ParsedNumber:
    """A numeric answer: its exact value and the form it was written in."""

    value: Fraction
    form: str  # "integer" | "decimal" | "fraction" | "percent" | "chinese"
    numerator: int | None = None  # as written, for fractions (2/4 is not 1/2 in form)
    denominator: int | None = None


def _parse_chinese_numeral(text: str) -> int | None:
    """十二 -> 12, 三百五十 -> 350, 一千零八 -> 1008, 两万 -> 20000; None if not a numeral."""
    if not text or any(ch not in _CN_DIGITS and ch not in _CN_UNITS and ch not in _CN_BIG_UNITS
                       for ch in text):
        return None
    total, section, digit = 0, 0, None
    for ch in text:
        if ch in _CN_DIGITS:
            if digit is not None and _CN_DIGITS[ch] != 0:
                return None  # two digits in a row ("十二三") is not a numeral
            digit = _CN_DIGITS[ch] if _CN_DIGITS[ch] != 0 else None
        elif ch in _CN_UNITS:
            # A bare 十 at the start means 10 ("十二" = 12).
            section += (1 if digit is None else digit) * _CN_UNITS[ch]
            digit = None
        else:
            total += (section + (digit or 0)) * _CN_BIG_UNITS[ch]
            section, digit = 0, None
    if digit is not None and len(text) >= 2 and text[-2] in _CN_ABBREVIATED:
        # As people say it: a last digit straight after 百, 千 or 万 counts in the next unit
        # down (三百五 = 350, 一千二 = 1200, 两万五 = 25000); 三百零五 is 305.
        return total + section + digit * _CN_ABBREVIATED[text[-2]]
    return total + section + (digit or 0)


def chinese_numeral(n: int, *, colloquial: bool = False) -> str | None:
    """The usual Chinese numeral of 0 <= n < 100,000,000 (350 -> 三百五十, 1008 -> 一千零八,
    12 -> 十二); colloquial drops the last unit as people say it (350 -> 三百五, 110 -> 一百一).
    None outside the range. `parse_number` reads all of these back (and 两 for 二)."""
    if not 0 <= n < 100_000_000:
        return None
    if n == 0:
        return "零"
    digits = "零一二三四五六七八九"
    units = ["", "十", "百", "千", "万", "十", "百", "千"]
    out, zero = "", False
    text = str(n)
    for i, ch in enumerate(text):
        place = len(text) - 1 - i
        d = int(ch)
        if d == 0:
            zero = True
            if place == 4 and out and not out.endswith("万"):
                out += "万"  # 10,500 -> 一万零五百: the myriad is said even when its digit is 0
            continue
        if zero and out:
            out += "零"
        zero = False
        out += digits[d] + units[place]
    if out.startswith("一十"):
        out = out[1:]
    if colloquial and len(out) >= 3 and out[-1] in "十百千" and out[-3] in "百千万" and out[-2] in digits:
        return out[:-1]
    return out


def parse_number(text: str) -> ParsedNumber | None:
    """Parse a *normalised* answer as a number; None when it is not one.

    Accepts integers, decimals (`.5`, `0.50`, `3,5` with a decimal comma), thousands separators
    (`1,000`), fractions (`3/4`, `-3/4`), percentages (`50%`) and Chinese numerals (`十二`).
    """
    text = text.strip()
    if not text:
        return None
    if _THOUSANDS_RE.match(text):
        text = text.replace(",", "")
    elif text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")  # decimal comma, as written in much of Europe
    match = _NUMBER_RE.match(text)
    if match is None:
        chinese = _parse_chinese_numeral(text)
        return None if chinese is None else ParsedNumber(Fraction(chinese), "chinese")
    sign = -1 if match["sign"] == "-" else 1
    if match["num"] is not None:
        numerator, denominator = int(match["num"]), int(match["den"])
        if denominator == 0:
            return None
        return ParsedNumber(sign * Fraction(numerator, denominator), "fraction",
                            sign * numerator, denominator)
    value = sign * Fraction(match["value"])
    if match["percent"]:
        return ParsedNumber(value / 100, "percent")
    return ParsedNumber(value, "decimal" if "." in match["value"] else "integer")


def numbers_equal(a: ParsedNumber, b: ParsedNumber, *, tolerance: float = 0.0,
                  equivalent_forms: bool = True) -> bool:
    """Whether two parsed answers count as the same number.

    With `equivalent_forms`, only the values matter (0.5 = 1/2 = .50 = 50%), within `tolerance`.
    Without it, the form matters too: a decimal must meet a decimal (0.5 = .50), a fraction must
    be written the same way (2/4 is not 1/2: the key asks for that form), a percentage a
    percentage. Integers and decimals count as one form (3 = 3.0).
    """
    if tolerance > 0:
        values_equal = abs(a.value - b.value) <= Fraction(str(tolerance))
    else:
        values_equal = a.value == b.value
    if not values_equal:
        return False
    if equivalent_forms:
        return True
    plain = {"integer", "decimal"}
    if a.form in plain and b.form in plain:
        return True
    if a.form != b.form:
        return False
    if a.form == "fraction":
        return (a.numerator, a.denominator) == (b.numerator, b.denominator)
    return True


_CHOICE_RE = re.compile(r"^[(\[]?([a-z])[)\].,:]?$")


def parse_choice(text: str) -> str | None:
    """The letter of a multiple-choice answer (`B`, `(b)`, `B.`) in upper case, or None."""
    match = _CHOICE_RE.match(text.strip().casefold())
    return match.group(1).upper() if match else None
