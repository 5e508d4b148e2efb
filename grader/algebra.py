"""Equal expressions written differently: `4(x+2)`, `4x+8` and `8+4x` as one polynomial.

A key that accepts equivalent forms (`match: {equivalent_forms: true}` on a math question)
accepts any expression whose polynomial equals the key's, and asks the recogniser about the
expanded form too (`expanded_form`). A key that does not (the default for math: "factorise
4x + 8" wants `4(x+2)`, not the question back) compares the text as written.

The grammar is what homework writes in one line: integers and decimals, single-letter variables,
`+ - × /` (normalised text: `*` and `÷` already mapped), implicit multiplication (`2x`, `3(x+1)`,
`(a+b)(a-b)`), parentheses and one `=`. Division only by a number. Anything else (a power, a
function name read as letters that multiply, a stray sign) either parses as what it says or is
not an expression (None); nothing is evaluated with `eval`, so a reading can never run code.
Coefficients are exact (`fractions.Fraction`). Pure functions, no I/O.
"""

from __future__ import annotations

import re
from fractions import Fraction

# A monomial is a sorted tuple of (variable, power); a polynomial maps monomials to coefficients.
Monomial = tuple[tuple[str, int], ...]
Polynomial = dict[Monomial, Fraction]

MAX_LENGTH = 80  # characters: a worksheet answer, not a document
MAX_DEGREE = 8  # (x+1)(x+1)... stops here rather than growing without bound
_TOKEN = re.compile(r"\d+(?:\.\d+)?|\.\d+|[A-Za-z]|[+\-×/()]")


class _NotAnExpression(ValueError):
    pass


def _tokens(text: str) -> list[str]:
    tokens, pos = [], 0
    for match in _TOKEN.finditer(text):
        if match.start() != pos:
            raise _NotAnExpression(text)
        tokens.append(match.group())
        pos = match.end()
    if pos != len(text) or not tokens:
        raise _NotAnExpression(text)
    return tokens


def _add(a: Polynomial, b: Polynomial, sign: int = 1) -> Polynomial:
    out = dict(a)
    for mono, coef in b.items():
        out[mono] = out.get(mono, Fraction(0)) + sign * coef
    return {m: c for m, c in out.items() if c != 0}


def _times_monomials(a: Monomial, b: Monomial) -> Monomial:
    powers: dict[str, int] = dict(a)
    for var, power in b:
        powers[var] = powers.get(var, 0) + power
    if sum(powers.values()) > MAX_DEGREE:
        raise _NotAnExpression("degree")
    return tuple(sorted(powers.items()))


def _multiply(a: Polynomial, b: Polynomial) -> Polynomial:
    out: Polynomial = {}
    for ma, ca in a.items():
        for mb, cb in b.items():
            out = _add(out, {_times_monomials(ma, mb): ca * cb})
    return out


class _Parser:
    """Recursive descent over the tokens: expr := sign? term (('+'|'-') term)*;
    term := factor (('×'|'/')? factor)*; factor := sign factor | number | letter | '(' expr ')'."""

    def __init__(self, tokens: list[str]):
        self.tokens, self.pos = tokens, 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise _NotAnExpression("unexpected end")
        self.pos += 1
        return token

    def expression(self) -> Polynomial:
        total = self.term()
        while self.peek() in ("+", "-"):
            sign = 1 if self.take() == "+" else -1
            total = _add(total, self.term(), sign)
        return total

    def term(self) -> Polynomial:
        product = self.factor()
        while True:
            token = self.peek()
            if token == "×":
                self.take()
                product = _multiply(product, self.factor())
            elif token == "/":
                self.take()
                divisor = self.factor()
                if set(divisor) - {()} or not divisor:
                    raise _NotAnExpression("division by an expression or by zero")
                product = {m: c / divisor[()] for m, c in product.items()}
            elif token is not None and token not in "+-)":
                product = _multiply(product, self.factor())  # implicit: 2x, 3(x+1)
            else:
                return product

    def factor(self) -> Polynomial:
        token = self.take()
        if token in ("+", "-"):
            inner = self.factor()
            return inner if token == "+" else {m: -c for m, c in inner.items()}
        if token == "(":
            inner = self.expression()
            if self.take() != ")":
                raise _NotAnExpression("unbalanced parentheses")
            return inner
        if token[0].isdigit() or token[0] == ".":
            value = Fraction(token)
            return {(): value} if value else {}
        if token.isalpha():
            return {((token, 1),): Fraction(1)}
        raise _NotAnExpression(token)


def parse_polynomial(text: str) -> Polynomial | None:
    """The polynomial of a normalised expression (no spaces, `×` for times), or None."""
    if not text or len(text) > MAX_LENGTH:
        return None
    try:
        parser = _Parser(_tokens(text))
        poly = parser.expression()
        if parser.peek() is not None:
            return None
        return poly
    except (_NotAnExpression, ZeroDivisionError):
        return None


def canonical(text: str) -> tuple | None:
    """A comparable value of an expression or an equation (`2(x+1)=y`: each side's polynomial,
    in order); None when some side is not an expression."""
    polys = _sides(text)
    return None if polys is None else tuple(tuple(sorted(p.items())) for p in polys)


def _sides(text: str) -> list[Polynomial] | None:
    """Each side of an expression or an equation as a polynomial; None when some side is not one."""
    sides = text.split("=")
    if len(sides) > 2:
        return None
    polys = [parse_polynomial(side) for side in sides]
    return None if any(p is None for p in polys) else [p for p in polys if p is not None]


def _coefficient(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    decimal = f"{float(value):.6f}".rstrip("0")
    return decimal if Fraction(decimal) == value else f"{value.numerator}/{value.denominator}"


def _format(poly: Polynomial) -> str:
    if not poly:
        return "0"
    order = sorted(poly, key=lambda m: (-sum(p for _, p in m), m))
    out = ""
    for mono in order:
        coef = poly[mono]
        sign = "-" if coef < 0 else "+"
        magnitude = _coefficient(abs(coef))
        letters = "".join(var * power for var, power in mono)
        body = letters if letters and magnitude == "1" else magnitude + letters
        out += (sign if out or sign == "-" else "") + body
    return out


def expanded_form(text: str) -> str | None:
    """The expression multiplied out in the usual order (`4(x+2)` -> `4x+8`, `(x+1)(x-1)` ->
    `xx-1`... written `x` twice: the charset has no powers); None when it is not one or when
    it is already written that way."""
    polys = _sides(text)
    if polys is None:
        return None
    out = "=".join(_format(p) for p in polys)
    return None if out == text else out
