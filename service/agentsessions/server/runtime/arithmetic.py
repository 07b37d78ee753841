"""A safe arithmetic evaluator for the `calculate` tool: a small AST walk, never eval()."""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable

EXPRESSION_MAX_CHARS = 500
INT_MAX_BITS = 4096  # bounds memory and time: 10**1233 is about as large as a result gets
EXPONENT_MAX = 10_000

Number = int | float


class CalculationError(ValueError):
    """The expression is not arithmetic this evaluator accepts, or its result is out of range."""


_BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_UNARY: dict[type[ast.unaryop], Callable[[Number], Number]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_FUNCTIONS: dict[str, Callable[..., Number]] = {
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "sqrt": math.sqrt,
    "exp": math.exp,
    "log": math.log,
    "log10": math.log10,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "floor": math.floor,
    "ceil": math.ceil,
}
_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}


def _checked(value: Number) -> Number:
    if isinstance(value, int) and value.bit_length() > INT_MAX_BITS:
        raise CalculationError("the result is too large")
    if isinstance(value, float) and not math.isfinite(value):
        raise CalculationError("the result is not a finite number")
    return value


def _power(base: Number, exponent: Number) -> Number:
    if abs(exponent) > EXPONENT_MAX:
        raise CalculationError(f"exponents are limited to ±{EXPONENT_MAX}")
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and exponent > 0
        and (abs(base).bit_length() - 1) * exponent > INT_MAX_BITS
    ):
        raise CalculationError("the result is too large")
    result = base**exponent
    if isinstance(result, complex):
        raise CalculationError("the result is not a real number")
    return result


def _eval(node: ast.AST) -> Number:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return _checked(value)
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow):
            return _checked(_power(left, right))
        if type(node.op) in _BINARY:
            return _checked(_BINARY[type(node.op)](left, right))
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
    ):
        args = [_eval(arg) for arg in node.args]
        return _checked(_FUNCTIONS[node.func.id](*args))
    if isinstance(node, ast.Name):
        raise CalculationError(f"unknown name {node.id!r}; known: {', '.join(_CONSTANTS)}")
    if isinstance(node, ast.Call):
        raise CalculationError(f"only these functions, positional: {', '.join(_FUNCTIONS)}")
    raise CalculationError(f"unsupported syntax ({type(node).__name__})")


def evaluate(expression: str) -> Number:
    """Evaluates `+ - * / // % **`, parentheses, numbers, pi/e/tau and a few math functions.

    >>> evaluate("2 * (3 + 4) ** 2")
    98
    """
    if len(expression) > EXPRESSION_MAX_CHARS:
        raise CalculationError(f"expressions are limited to {EXPRESSION_MAX_CHARS} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise CalculationError("not an arithmetic expression") from None
    try:
        return _eval(tree)
    except ZeroDivisionError:
        raise CalculationError("division by zero") from None
    except (OverflowError, ValueError, TypeError) as exc:
        if isinstance(exc, CalculationError):
            raise
        raise CalculationError(str(exc) or "invalid arithmetic") from None


def format_number(value: Number) -> str:
    if isinstance(value, float):
        return format(value, ".15g")
    return str(value)
