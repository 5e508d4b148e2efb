"""Equal expressions written differently (grader.algebra): tables of cases."""

from __future__ import annotations

import pytest

from grader.algebra import canonical, expanded_form, parse_polynomial


@pytest.mark.parametrize("a, b, equal", [
    ("4(x+2)", "4x+8", True),
    ("4(x+2)", "8+4x", True),
    ("3(2x+3)", "6x+9", True),
    ("(x+1)(x-1)", "xx-1", True),
    ("2a+b", "b+2a", True),
    ("x/2", "0.5x", True),
    ("-(x-3)", "3-x", True),
    ("2×3x", "6x", True),
    ("4(x+2)", "4x+2", False),
    ("x=7", "7=x", False),   # sides in order: an equation is not rearranged
    ("2x", "2y", False),
])
def test_canonical_table(a, b, equal):
    assert (canonical(a) == canonical(b)) is equal


@pytest.mark.parametrize("text", ["", "4(x+2", "x+", "x/(x+1)", "2^3", "1/0", "x==2", "a" * 100, "4!"])
def test_not_an_expression(text):
    assert canonical(text) is None


def test_degree_is_bounded():
    assert parse_polynomial("(x+1)" * 20) is None


@pytest.mark.parametrize("text, expanded", [("4(x+2)", "4x+8"), ("3(2x-1)", "6x-3"),
                                            ("2(x+3)=y", "2x+6=y"), ("4x+8", None)])
def test_expanded_form(text, expanded):
    assert expanded_form(text) == expanded
