"""A calculator the model may call while it answers: ``--tools recipes.calculator_tool:calculator``.

    python train_grpo.py --model PATH --dataset DATA --tools recipes.calculator_tool:calculator \
        --chat-template qwen2_5 --output-dir outputs/calculator

The schema the model is shown is built from the type hints and the docstring (``--dry-run`` prints
it). Arithmetic only, evaluated over the parsed expression tree, never with ``eval``: the model
writes the expression, and a model's text must not run code.
"""

from __future__ import annotations

import ast
import math
import operator

_OPERATORS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}
MAX_EXPONENT = 100  # 10 ** 10 ** 10 would hang the run
MAX_LENGTH = 200


def _value(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_value(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _value(node.left), _value(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise ValueError(f"exponent {right} is too large")
        return _OPERATORS[type(node.op)](left, right)
    raise ValueError(f"only numbers and + - * / // % ** ( ) are allowed, not {ast.unparse(node)!r}")


def calculator(expression: str) -> str:
    """Evaluates an arithmetic expression and returns its value.

    Args:
        expression: The arithmetic to evaluate, with numbers, + - * / // % ** and parentheses, e.g. "12 * (3 + 4)".

    Returns:
        The value, or an error message starting with "error:".
    """
    if len(expression) > MAX_LENGTH:
        return f"error: the expression is longer than {MAX_LENGTH} characters"
    try:
        value = _value(ast.parse(expression.replace("^", "**"), mode="eval").body)
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError, TypeError) as err:
        return f"error: {err}"
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    return str(value)


class CalculatorEnv:
    """The calculator as an environment, ``--environment recipes.calculator_tool:CalculatorEnv``: TRL builds one
    per rollout, calls ``reset`` before it and adds ``get_reward`` as one more reward (``rewards/CalculatorEnv``):
    1 for a rollout whose one calculator call worked, else 0, so a run learns to call it."""

    def __init__(self):
        self.worked = self.calls = 0

    def reset(self, **kwargs) -> None:
        self.worked = self.calls = 0

    def calculator(self, expression: str) -> str:
        self.calls += 1
        value = calculator(expression)
        self.worked += not value.startswith("error:")
        return value

    def get_reward(self) -> float:
        return 1.0 if self.calls == 1 and self.worked == 1 else 0.0


CalculatorEnv.calculator.__doc__ = calculator.__doc__  # the model is shown the same tool, by the same name
