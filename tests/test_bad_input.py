"""Bad input, table by table (issue 22): each class of input an attacker or an unlucky school
sends, the outcome expected (a named error with a message naming the problem), and the budget
it must stay in (time; memory where the case could exhaust it). The reproductions are the
issue's cases scaled down to run in a second; each one fails without the fix it guards."""

from __future__ import annotations

import resource
import time

import pytest

from grader.answer_key import parse_answer_key
from grader.errors import AnswerKeyInvalid
from grader.limits import KEY

# --- answer keys -------------------------------------------------------------------------------


def alias_bomb(levels: int, width: int = 9) -> str:
    """A "billion laughs" key: each level lists the previous one `width` times (issue 22: nine
    per level over eight levels is 372 bytes that expand to 43 million strings)."""
    lines = ['a0: &a0 ["lol"]']
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * width) + "]")
    return "\n".join(lines) + f"\nid: k\ntitle: t\nquestions: *a{levels}\n"


def grid_key(count: int, pages: int = 50) -> str:
    """A valid key with `count` questions in a grid of non-overlapping boxes over `pages`."""
    per_page = -(-count // pages)
    columns = 10
    rows = -(-per_page // columns)
    lines = ["id: big", "title: Big", f"pages: {pages}", "questions:"]
    for n in range(count):
        page, slot = divmod(n, per_page)
        row, column = divmod(slot, columns)
        box = [column / columns, row / rows, 0.9 / columns, 0.9 / rows]
        lines.append(f"  - {{id: q{n}, page: {page + 1}, box: {box}, kind: number, answers: ['1']}}")
    return "\n".join(lines) + "\n"


def nested(depth: int) -> str:
    return "id: k\ntitle: t\nquestions: " + "[" * depth + "]" * depth + "\n"


KEY_CASES = [
    # (case, key text, message fragment)
    ("alias bomb, 8 levels", alias_bomb(8), "aliases expand to more than 200,000"),
    ("alias bomb, 4 levels", alias_bomb(4), "question #1"),
    ("many aliases", "x: &x 1\nl: [" + ", ".join(["*x"] * 150) + "]\nid: k\n", "more than 100 YAML aliases"),
    ("nesting 10,000 deep", nested(10_000), "nests more than 20 levels"),
    ("4,900 questions", grid_key(4_900), "4,900 questions; the limit is 2,000"),
    ("a 2 MB key", "id: k\ntitle: t\nprompt: '" + "x" * 2_000_000 + "'\n", "the limit is 1.0 MB"),
]


@pytest.mark.parametrize("text,fragment", [c[1:] for c in KEY_CASES], ids=[c[0] for c in KEY_CASES])
def test_a_key_over_the_budget_is_refused_fast_with_a_short_message(text, fragment):
    started, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(AnswerKeyInvalid) as caught:
        parse_answer_key(text, "lol.yaml")
    elapsed = time.perf_counter() - started
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    message = str(caught.value)
    assert fragment in message and "lol.yaml" in message, message
    # The 8-level bomb took 6.3 GB and > 120 s, the 4-level one gave a 428,653-character message.
    assert len(message) < 3_000, len(message)
    assert elapsed < 2.0 and grown_mb < 200, (elapsed, grown_mb)


def test_a_big_key_within_the_budget_is_checked_in_well_under_a_second():
    text = grid_key(KEY.max_questions)
    started = time.perf_counter()
    key = parse_answer_key(text, "big.yaml")
    assert len(key.questions) == KEY.max_questions
    assert time.perf_counter() - started < 3.0  # the pairwise overlap check alone took 13.7 s at 4,900
    overlapping = text.replace("{id: q1999, page: 50, box: [0.9,", "{id: q1999, page: 50, box: [0.05,", 1)
    assert overlapping != text
    with pytest.raises(AnswerKeyInvalid, match=r"question 'q1999', field 'box': expected boxes that do not "
                                               r"overlap.*question 'q19[0-9][0-9]'"):
        parse_answer_key(overlapping, "big.yaml")


def test_an_alias_for_a_shared_match_block_still_works():
    text = """\
id: k
title: t
questions:
  - {id: a, page: 1, box: [0.1, 0.1, 0.2, 0.1], kind: text, answers: [x], match: &lenient {threshold: 70}}
  - {id: b, page: 1, box: [0.1, 0.3, 0.2, 0.1], kind: text, answers: [y], match: *lenient}
"""
    key = parse_answer_key(text, "k.yaml")
    assert [q.match.threshold for q in key.questions] == [70, 70]
