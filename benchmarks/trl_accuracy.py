"""TRL's own accuracy reward, as a careful user of plain TRL would run it: the reference of
bench_learning.py.

``trl.rewards.accuracy_reward`` (math_verify) takes a ``solution`` column of final answers and
conversational completions; this adapter gives it the reference's final answer (after ``####``)
and wraps plain completions as one assistant message. It adds no matching logic of its own.
"""

from __future__ import annotations

from trl.rewards import accuracy_reward


def trl_accuracy_reward(completions, reference, **kwargs):
    """TRL's accuracy_reward on the run's reference column. Range {0, 1, None}."""
    solutions = [str(r).split("####")[-1].strip() for r in reference]
    messages = [c if isinstance(c, list) else [{"role": "assistant", "content": c}] for c in completions]
    return accuracy_reward(messages, solutions)
