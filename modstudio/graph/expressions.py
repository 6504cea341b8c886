"""A small, safe evaluator for parameter expressions such as ``=channels * 4``.

Parametric modules let inner node parameters refer to the module's own parameters.
The expression language is deliberately tiny: numbers, parameter names, ``+ - * / // % **``,
unary minus, parentheses and the functions ``min``, ``max``, ``abs``, ``round``, ``int``.
It is parsed with :mod:`ast` and walked by hand; nothing is ever passed to ``eval``.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from functools import lru_cache

from .numbers import number_problem, shown

EXPRESSION_PREFIX = "="
MAX_EXPRESSION_LENGTH = 200
_MAX_POWER_EXPONENT = 64
_MAX_ROUND_DIGITS = 15  # round(x, n): |n| at most this (round(5, -10**15) would never end)

Number = int | float


class ExpressionError(ValueError):
    """An expression that cannot be parsed or evaluated; the message says why."""


_BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Number], Number]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}
_FUNCTIONS: dict[str, Callable[..., Number]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "round": round,
    "int": int,
}


def is_expression(value: object) -> bool:
    """True for a parameter value written as an expression (a string starting with ``=``)."""
    return isinstance(value, str) and value.startswith(EXPRESSION_PREFIX)


def expression_text(value: str) -> str:
    return value[len(EXPRESSION_PREFIX) :].strip() if is_expression(value) else value


def parse(text: str) -> ast.expr:
    """Parse and check an expression; raise :class:`ExpressionError` naming the problem. The tree is
    shared between calls with the same text (read it, never change it)."""
    return _parsed(expression_text(text))


@lru_cache(maxsize=4096)  # a project evaluates its few expressions once per node, on every check and build
def _parsed(text: str) -> ast.expr:
    if not text:
        raise ExpressionError("empty expression")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"cannot parse '{text}': {exc.msg}") from None
    _check(tree.body, text)
    return tree.body


def _check(node: ast.AST, text: str) -> None:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise ExpressionError(f"'{text}': only numbers are allowed, not {node.value!r}")
    elif isinstance(node, ast.Name):
        pass
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            raise ExpressionError(f"'{text}': operator {type(node.op).__name__} is not allowed")
        _check(node.left, text)
        _check(node.right, text)
    elif isinstance(node, ast.UnaryOp):
        if type(node.op) not in _UNARY:
            raise ExpressionError(f"'{text}': operator {type(node.op).__name__} is not allowed")
        _check(node.operand, text)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
            allowed = ", ".join(sorted(_FUNCTIONS))
            raise ExpressionError(f"'{text}': only the functions {allowed} may be called")
        if node.keywords or not node.args:
            raise ExpressionError(f"'{text}': {node.func.id}() takes positional arguments only")
        for arg in node.args:
            _check(arg, text)
    else:
        raise ExpressionError(f"'{text}': {type(node).__name__} is not allowed in an expression")


def names_used(text: str) -> set[str]:
    """The parameter names an expression refers to (function names excluded)."""
    tree = parse(text)
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in called}


def evaluate(text: str, names: Mapping[str, Number]) -> Number:
    """Evaluate an expression with the given parameter values."""
    tree = parse(text)
    return _eval(tree, names, expression_text(text))


def _eval(node: ast.expr, names: Mapping[str, Number], text: str) -> Number:
    if isinstance(node, ast.Constant):
        return _finite(node.value, text)  # type: ignore[arg-type]
    if isinstance(node, ast.Name):
        if node.id not in names:
            known = ", ".join(sorted(names)) or "none"
            raise ExpressionError(f"'{text}': unknown name '{node.id}' (module parameters: {known})")
        return _finite(names[node.id], text)
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_eval(node.operand, names, text))
    if isinstance(node, ast.BinOp):
        left = _eval(node.left, names, text)
        right = _eval(node.right, names, text)
        if isinstance(node.op, ast.Pow) and abs(right) > _MAX_POWER_EXPONENT:
            raise ExpressionError(f"'{text}': exponent {shown(right)} is too large")
        try:
            result = _BINARY[type(node.op)](left, right)
        except ZeroDivisionError:
            raise ExpressionError(f"'{text}': division by zero") from None
        except OverflowError:
            raise ExpressionError(f"'{text}': a result is out of range (numbers lie within ±10^15)") from None
        return _finite(result, text)
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    args = [_eval(a, names, text) for a in node.args]
    if node.func.id == "round" and len(args) == 2 and abs(args[1]) > _MAX_ROUND_DIGITS:
        raise ExpressionError(f"'{text}': round() to {shown(args[1])} digits; at most {_MAX_ROUND_DIGITS}")
    try:
        return _finite(_FUNCTIONS[node.func.id](*args), text)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ExpressionError(f"'{text}': {node.func.id}() {exc}") from None


def _finite(value: Number, text: str) -> Number:
    """The value itself if it is a finite number within the bound of every number (see numbers.py)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ExpressionError(f"'{text}': result {shown(value)} is not a number")
    why = number_problem(value)
    if why:
        raise ExpressionError(f"'{text}': the result is out of range: {why}")
    return value
