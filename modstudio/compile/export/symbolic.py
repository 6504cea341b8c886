"""Numbers that remember where they came from: ``Sym("channels", 64) * 4`` is 256 and reads
``channels * 4``.

The code generator runs a ModuleDef's shape rules and its layers' ``arguments`` with module
params and input sizes as symbols, so that a constructor argument comes out as an expression of
them (``nn.Conv2d(in_channels, channels * 4, 1)``) and one class serves every use of the module.
Arithmetic builds the text; comparisons, ``bool``, ``int()`` and hashing use the value (a rule
that branches on a value gives a body that holds for that value: the generator then writes a
class per distinct body).
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

from modstudio.graph.expressions import parse

# precedence of what a text is, so that an operand gets parentheses only where it needs them
_ATOM, _POWER, _UNARY, _PRODUCT, _SUM = 5, 4, 3, 2, 1
_OPERATORS: dict[type[ast.operator], tuple[str, int, Callable[[Any, Any], Any]]] = {
    ast.Add: ("+", _SUM, operator.add),
    ast.Sub: ("-", _SUM, operator.sub),
    ast.Mult: ("*", _PRODUCT, operator.mul),
    ast.Div: ("/", _PRODUCT, operator.truediv),
    ast.FloorDiv: ("//", _PRODUCT, operator.floordiv),
    ast.Mod: ("%", _PRODUCT, operator.mod),
    ast.Pow: ("**", _POWER, operator.pow),
}


class _Symbolic:
    """What ``SymInt`` and ``SymFloat`` share: the text, its precedence and the names it uses."""

    text: str
    precedence: int
    names: frozenset[str]

    def _binary(self, other: Any, op: type[ast.operator], reflected: bool = False) -> Any:
        if not isinstance(other, (int, float)) or isinstance(other, bool):
            return NotImplemented
        symbol, precedence, compute = _OPERATORS[op]
        left, right = (other, self) if reflected else (self, other)
        value = compute(_plain(left), _plain(right))
        right_associative = op is ast.Pow
        text = (
            f"{_operand(left, precedence, right_associative)} {symbol} "
            f"{_operand(right, precedence, not right_associative)}"
        )
        return symbol_of(text, value, precedence, names_in(left) | names_in(right))

    def __add__(self, other: Any) -> Any:
        return self._binary(other, ast.Add)

    def __radd__(self, other: Any) -> Any:
        return self._binary(other, ast.Add, True)

    def __sub__(self, other: Any) -> Any:
        return self._binary(other, ast.Sub)

    def __rsub__(self, other: Any) -> Any:
        return self._binary(other, ast.Sub, True)

    def __mul__(self, other: Any) -> Any:
        return self._binary(other, ast.Mult)

    def __rmul__(self, other: Any) -> Any:
        return self._binary(other, ast.Mult, True)

    def __truediv__(self, other: Any) -> Any:
        return self._binary(other, ast.Div)

    def __rtruediv__(self, other: Any) -> Any:
        return self._binary(other, ast.Div, True)

    def __floordiv__(self, other: Any) -> Any:
        return self._binary(other, ast.FloorDiv)

    def __rfloordiv__(self, other: Any) -> Any:
        return self._binary(other, ast.FloorDiv, True)

    def __mod__(self, other: Any) -> Any:
        return self._binary(other, ast.Mod)

    def __rmod__(self, other: Any) -> Any:
        return self._binary(other, ast.Mod, True)

    def __pow__(self, other: Any) -> Any:
        return self._binary(other, ast.Pow)

    def __rpow__(self, other: Any) -> Any:
        return self._binary(other, ast.Pow, True)

    def __neg__(self) -> Any:
        return symbol_of(f"-{_operand(self, _UNARY, True)}", -_plain(self), _UNARY, self.names)

    def __pos__(self) -> Any:
        return self

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__


class SymInt(_Symbolic, int):
    """An int with the text of where it came from."""

    def __new__(cls, text: str, value: int, precedence: int = _ATOM, names: frozenset[str] | None = None) -> SymInt:
        self = int.__new__(cls, value)
        self.text, self.precedence = text, precedence
        self.names = frozenset({text}) if names is None else names
        return self

    def __hash__(self) -> int:
        return int.__hash__(self)

    def __abs__(self) -> Any:
        return symbol_of(f"abs({self.text})", abs(int(self)), _ATOM, self.names)


class SymFloat(_Symbolic, float):
    """A float with the text of where it came from."""

    def __new__(cls, text: str, value: float, precedence: int = _ATOM, names: frozenset[str] | None = None) -> SymFloat:
        self = float.__new__(cls, value)
        self.text, self.precedence = text, precedence
        self.names = frozenset({text}) if names is None else names
        return self

    def __hash__(self) -> int:
        return float.__hash__(self)

    def __abs__(self) -> Any:
        return symbol_of(f"abs({self.text})", abs(float(self)), _ATOM, self.names)


def symbol_of(text: str, value: Any, precedence: int = _ATOM, names: frozenset[str] | None = None) -> Any:
    """A symbol of ``value``'s kind (a bool or anything but a number stays as it is)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    kind = SymInt if isinstance(value, int) else SymFloat
    return kind(text, value, precedence, names)


def is_symbol(value: Any) -> bool:
    return isinstance(value, _Symbolic)


def names_in(value: Any) -> frozenset[str]:
    """The symbols' names a value is written with (in lists and tuples too)."""
    if isinstance(value, _Symbolic):
        return value.names
    if isinstance(value, (list, tuple)):
        return frozenset().union(*map(names_in, value)) if value else frozenset()
    return frozenset()


def _plain(value: Any) -> Any:
    if isinstance(value, SymInt):
        return int(value)
    if isinstance(value, SymFloat):
        return float(value)
    return value


def _operand(value: Any, precedence: int, strict: bool) -> str:
    """An operand's text, in parentheses where the operator binds tighter than it."""
    if isinstance(value, _Symbolic):
        own = value.precedence
        text = value.text
    else:
        text = repr(value) if not isinstance(value, float) or value == value else "float('nan')"
        own = _UNARY if text.startswith("-") else _ATOM
    return f"({text})" if own < precedence or (strict and own == precedence) else text


def expression_symbol(expression: str, value: Any, env: Mapping[str, Any], whole: bool) -> Any:
    """A param given as an expression (``=channels * 4``), as a symbol of its value (computed by
    shape inference) written with what its names stand for in ``env`` (module param -> a symbol or a
    plain number). ``whole``: the param is an int, so a true division or a ``round`` is wrapped in
    ``int(...)`` as evaluation makes it whole."""
    tree = parse(expression)
    text, precedence = _printed(tree, env)
    used = names_in([env[n.id] for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in env])
    if not used:
        return value  # no module param in it: a plain number
    if whole and any(isinstance(n, ast.Div) or _is_call(n, "round") for n in ast.walk(tree)):
        text, precedence = f"int({text})", _ATOM
    return symbol_of(text, value, precedence, used)


def _is_call(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name


def _printed(node: ast.expr, env: Mapping[str, Any]) -> tuple[str, int]:
    """An expression's tree as Python text (the expression language is a subset of Python)."""
    if isinstance(node, ast.Constant):
        return repr(node.value), _ATOM
    if isinstance(node, ast.Name):
        value = env[node.id]
        if isinstance(value, _Symbolic):
            return value.text, value.precedence
        text = repr(value)
        return text, _UNARY if text.startswith("-") else _ATOM
    if isinstance(node, ast.UnaryOp):
        operand, precedence = _printed(node.operand, env)
        sign = "-" if isinstance(node.op, ast.USub) else "+"
        return f"{sign}{f'({operand})' if precedence <= _UNARY else operand}", _UNARY
    if isinstance(node, ast.BinOp):
        symbol, precedence, _ = _OPERATORS[type(node.op)]
        left, lp = _printed(node.left, env)
        right, rp = _printed(node.right, env)
        power = isinstance(node.op, ast.Pow)
        if lp < precedence or (power and lp == precedence):
            left = f"({left})"
        if rp < precedence or (not power and rp == precedence):
            right = f"({right})"
        return f"{left} {symbol} {right}", precedence
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    return f"{node.func.id}({', '.join(_printed(a, env)[0] for a in node.args)})", _ATOM
