"""Comb boxes: answers written one character per cell, read cell by cell vs as an open box.

    nice -n 10 .venv/bin/python bench/comb.py [--pages 30]

Each page is the six-question comb sheet of tests/test_comb.py (numbers with a decimal point
and a minus sign, an English word, Chinese numerals, a lone digit in a four-cell comb), filled
by grader.simulate (one glyph per cell, one hand per answer) and photographed. Every page is
graded twice by the shipped model: with the comb's cells cleaned one by one (what the grader
does), and with the whole box cleaned as an open box (walls left to the line removal). Prints
exact readings and automatic right verdicts for both.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader import crops  # noqa: E402
from grader.answer_key import parse_answer_key  # noqa: E402
from grader.pipeline import grade_photo  # noqa: E402
from grader.reader import load_reader  # noqa: E402
from grader.simulate import fill_answers, photograph  # noqa: E402
from grader.worksheet import render_page  # noqa: E402
from tests.test_comb import COMB_KEY  # noqa: E402


def run(pages: int, cells: bool) -> tuple[int, int, int]:
    key = parse_answer_key(COMB_KEY)
    if not cells:
        key = key.model_copy(update={"questions": [q.model_copy(update={"comb": 0}) for q in key.questions]})
    reader = load_reader()
    written = {q.id: q.answers[0] for q in key.questions}
    exact = right = n = 0
    for seed in range(100, 100 + pages):  # not the tests' seeds
        rng = np.random.default_rng(seed)
        # The sheet is always printed and written with cells; only the reading side differs.
        printed = parse_answer_key(COMB_KEY)
        photo = photograph(fill_answers(render_page(printed, 1), printed, 1, written, rng), rng)
        for answer in grade_photo(photo, key, reader).answers:
            n += 1
            exact += answer.result.text == written[answer.result.question_id]
            right += answer.result.verdict.value == "correct"
    return n, exact, right


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=30)
    args = parser.parse_args()
    print("| reading | answers | exact reading | automatic right verdict |\n|---|---|---|---|")
    for cells, name in ((True, "cell by cell (the grader)"), (False, "as an open box")):
        n, exact, right = run(args.pages, cells)
        print(f"| {name} | {n} | {exact / n:.1%} | {right / n:.1%} |")
    print(f"(crop margin per cell {crops.CELL_MARGIN_PX} px; model {load_reader().version})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
