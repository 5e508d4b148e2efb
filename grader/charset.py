"""The recogniser's alphabet, and the subset of it each question kind allows.

Index 0 of the model output is the CTC blank; character i of the charset is output i + 1.
The charset file (models/charset.txt, one character per line, space written as `<space>`)
travels with the weights, so the runtime never rebuilds it from code.
"""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np

DIGITS = string.digits
LETTERS = string.ascii_letters
PUNCT = "+-×÷=.,/%()<>:?!'"
SPACE_TOKEN = "<space>"
KINDS = ("number", "math", "text", "chinese", "choice")


def gb2312_level1() -> str:
    """The 3,755 level-1 hanzi: GB2312 rows 0xB0-0xD7, cells 0xA1-0xFE (row 0xD7 ends at 0xF9)."""
    chars = []
    for row in range(0xB0, 0xD8):
        last = 0xF9 if row == 0xD7 else 0xFE
        for cell in range(0xA1, last + 1):
            chars.append(bytes([row, cell]).decode("gb2312"))
    return "".join(chars)


HANZI = gb2312_level1()


def default_charset() -> list[str]:
    return list(DIGITS) + list(LETTERS) + [" "] + list(PUNCT) + list(HANZI)


def save_charset(chars: list[str], path: Path) -> None:
    path.write_text("\n".join(SPACE_TOKEN if c == " " else c for c in chars) + "\n", encoding="utf-8")


def load_charset(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [" " if line == SPACE_TOKEN else line for line in lines if line]


def kind_alphabet(kind: str) -> str:
    """Characters a question of this kind may contain."""
    if kind == "number":
        return DIGITS + ".,-/% "
    if kind == "math":
        # Any Latin letter (variables, sin/log, f(x)), spaces, commas (coordinates) and `!`:
        # with only x y z a b n, real writers' expressions read 18.0 % exact against 57.0 % (200
        # held-back CROHME crops, crnn-5), generated validation maths 95.0 % against 94.3 %.
        return DIGITS + LETTERS + " +-×÷=()./<>:,!'%"
    if kind == "text":
        return LETTERS + " '-.,?!"
    if kind == "chinese":
        return HANZI + DIGITS
    if kind == "choice":
        return "ABCDabcd"
    raise ValueError(f"unknown question kind {kind!r}; expected one of {', '.join(KINDS)}")


def kind_mask(kind: str | None, chars: list[str]) -> np.ndarray:
    """Boolean mask over the model outputs (blank first) allowed for a kind; None allows all."""
    mask = np.ones(len(chars) + 1, dtype=bool)
    if kind is None:
        return mask
    allowed = set(kind_alphabet(kind))
    mask[1:] = [c in allowed for c in chars]
    return mask
