"""Label strings of generated answer crops, one generator per question kind: numbers (integers,
decimals, fractions, percentages), maths expressions, English words, Chinese words and numerals,
choice letters. `make_label` picks the generator of a category."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from grader.charset import HANZI
from grader.training.data import Sources
from grader.vocab import Kind

# One generator per question kind, in vocab.Kind's order (the stored sets' category numbers follow it).
CATEGORIES = tuple(kind.value for kind in Kind)
CN_DIGITS = "零一二三四五六七八九"


def _int_str(rng: np.random.Generator, max_digits: int = 4) -> str:
    n = int(rng.choice([1, 2, 3, 4, 5][:max_digits], p=_norm([3, 4, 3, 2, 1][:max_digits])))
    first = str(rng.integers(1, 10))
    return first + "".join(str(d) for d in rng.integers(0, 10, n - 1))


def _norm(weights: Sequence[float]) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return w / w.sum()


def number_label(rng: np.random.Generator) -> str:
    form = rng.choice(["int", "dec", "neg", "frac", "pct", "zero", "thousands", "negdec"],
                      p=_norm([30, 22, 10, 16, 10, 4, 3, 5]))
    if form == "int":
        return _int_str(rng, 5)
    if form == "dec":
        whole = "0" if rng.random() < 0.3 else _int_str(rng, 3)
        return whole + "." + "".join(str(d) for d in rng.integers(0, 10, rng.integers(1, 4)))
    if form == "neg":
        return "-" + _int_str(rng, 3)
    if form == "negdec":
        return "-" + _int_str(rng, 2) + "." + str(rng.integers(0, 10))
    if form == "frac":
        return _int_str(rng, 2) + "/" + _int_str(rng, 2)
    if form == "pct":
        s = _int_str(rng, 3)
        if rng.random() < 0.25:
            s += "." + str(rng.integers(0, 10))
        return s + "%"
    if form == "zero":
        return "0"
    return _int_str(rng, 1) + "," + "".join(str(d) for d in rng.integers(0, 10, 3))


def math_label(rng: np.random.Generator) -> str:
    a, b, c = (_int_str(rng, 2) for _ in range(3))
    v = str(rng.choice(list("xyzabn"), p=_norm([8, 3, 1, 2, 2, 2])))
    op = str(rng.choice(list("+-×÷")))
    forms = [
        f"{a}{v}{op}{b}={c}", f"{a}{op}{b}", f"{a}{op}{b}={c}", f"{v}={a}", f"{v}=-{a}",
        f"{a}{v}={b}", f"{v}{op}{a}={b}", f"({a}{op}{b}){op}{c}", f"{a}<{b}", f"{a}>{b}",
        f"{a}:{b}", f"{v}/{a}={b}", f"{a}{v}", f"{v}={a}/{b}", f"{a}.{b}{op}{c}",
        f"y={a}x{op}{b}", f"{a}{op}{b}{op}{c}",
    ]
    return forms[int(rng.integers(len(forms)))]


def text_label(rng: np.random.Generator, words: list[str]) -> str:
    def word() -> str:
        w = words[int(rng.integers(len(words)))]
        r = rng.random()
        if r < 0.08:
            return w.upper() if len(w) <= 6 else w
        if r < 0.3:
            return w[:1].upper() + w[1:]
        return w
    n = int(rng.choice([1, 2, 3], p=[0.72, 0.2, 0.08]))
    s = word()
    for _ in range(n - 1):
        w = word()
        if len(s) + 1 + len(w) <= 22:
            s += " " + w
    if rng.random() < 0.08:
        s += str(rng.choice(list(".?!,")))
    return s


def chinese_numeral(n: int) -> str:
    """Standard reading of 1..99999 (十二, 三百五十, 一千零八); 10-19 drop the leading 一."""
    units = ["", "十", "百", "千", "万"]
    digits = [int(d) for d in str(n)][::-1]
    out: list[str] = []
    zero = False
    for i in range(len(digits) - 1, -1, -1):
        d = digits[i]
        if d == 0:
            zero = True
            continue
        if zero and out:
            out.append("零")
        zero = False
        out.append(CN_DIGITS[d] + units[i])
    s = "".join(out) or "零"
    return s[1:] if s.startswith("一十") else s


def chinese_label(rng: np.random.Generator, src: Sources) -> str:
    r = rng.random()
    if r < 0.55:
        return src.cn_words[int(rng.choice(len(src.cn_words), p=src.cn_probs))]
    if r < 0.9:  # uniform characters: every level-1 hanzi appears many times
        return "".join(HANZI[i] for i in rng.integers(0, len(HANZI), rng.integers(1, 5)))
    return chinese_numeral(int(rng.choice([rng.integers(1, 100), rng.integers(100, 10000)])))


def choice_label(rng: np.random.Generator) -> str:
    return str(rng.choice(list("ABCDABCDabcd")))

def make_label(category: str, src: Sources, rng: np.random.Generator) -> str:
    if category == "number":
        return number_label(rng)
    if category == "math":
        return math_label(rng)
    if category == "text":
        return text_label(rng, src.en_words)
    if category == "chinese":
        return chinese_label(rng, src)
    return choice_label(rng)
