"""Symbols for module params: arithmetic gives the value and the Python text that computes it."""

from __future__ import annotations

import pytest

from modstudio.compile.export.symbolic import expression_symbol, is_symbol, names_in, symbol_of


@pytest.mark.parametrize(
    ("build", "text", "value"),
    [
        (lambda a, b: (a + 1) * 2, "(a + 1) * 2", 14),
        (lambda a, b: 2 - (a - b), "2 - (a - b)", -2),
        (lambda a, b: a - b - 1, "a - b - 1", 3),
        (lambda a, b: a // (b * 2), "a // (b * 2)", 1),
        (lambda a, b: (a + 2 * 1 - 3) // b + 1, "(a + 2 - 3) // b + 1", 3),
        (lambda a, b: -a * b, "-a * b", -12),
        (lambda a, b: a**2, "a ** 2", 36),
        (lambda a, b: a / b, "a / b", 3.0),
    ],
)
def test_arithmetic_on_symbols_writes_the_expression_that_computes_the_value(build, text, value):
    result = build(symbol_of("a", 6), symbol_of("b", 2))
    assert is_symbol(result) and result.text == text and result == value
    assert eval(text, {"a": 6, "b": 2}) == value  # the text computes the value
    assert names_in(result) <= {"a", "b"}


def test_comparisons_and_plain_conversions_use_the_value():
    a = symbol_of("channels", 64)
    assert a > 32 and a == 64 and int(a) == 64 and not is_symbol(int(a)) and hash(a) == hash(64)
    assert [0] * 3 == [0, 0, 0] and list(range(symbol_of("n", 3))) == [0, 1, 2]


def test_an_expression_param_is_written_with_what_its_names_stand_for():
    env = {"width": symbol_of("width", 4), "depth": 3}
    assert expression_symbol("=width*2 + depth", 11, env, whole=True).text == "width * 2 + 3"
    assert expression_symbol("=width / 2", 2, env, whole=True).text == "int(width / 2)"
    assert expression_symbol("=(width + 1) ** 2", 25, env, whole=True).text == "(width + 1) ** 2"
    assert expression_symbol("=depth * 2", 6, env, whole=True) == 6 and not is_symbol(
        expression_symbol("=depth * 2", 6, env, whole=True)
    )  # no module param in it: a plain number
