"""The composite reward's components, their registry and weights, and scoring one completion.

Every component has TRL's reward signature ``(completions, **kwargs) -> list[float | None]``
and a stable ``__name__``, which TRL turns into the log key ``rewards/<name>/mean``.
Bonuses lie in [0, 1] and penalties in [-1, 0]; all scaling is done by the weights. Answers
are read and compared in answers.py; ``rewards.py`` at the root re-exports these names.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Iterable, Sequence

from grpo_suite.answers import completion_text, extract_answer, extract_reference, extraction_matches

# --------------------------------------------------------------------------------------------
# Reward components
# --------------------------------------------------------------------------------------------

RewardFunc = Callable[..., list]

BOILERPLATE_PHRASES: tuple[str, ...] = (
    "as an ai language model",
    "as an ai model",
    "as an ai assistant",
    "as a language model",
    "i'm just an ai",
    "i am just an ai",
    "i'm only an ai",
    "i cannot help with",
    "i can't help with",
    "i'm unable to help",
    "i am unable to help",
    "i don't have personal opinions",
    "i do not have personal opinions",
    "i don't have personal feelings",
    "i do not have the ability to",
    "i'm sorry, but i can't",
    "i'm sorry, but i cannot",
)
_APOSTROPHES = ("’", "‘", "ʼ")

DEFAULT_LENGTH_TARGET = 400
DEFAULT_LENGTH_MAX = 1600


def make_length_reward(target: int = DEFAULT_LENGTH_TARGET, maximum: int = DEFAULT_LENGTH_MAX):
    """Build ``length_reward``: 1 up to ``target`` characters, cosine decay to 0 at ``maximum``."""
    if not 0 < target < maximum:
        raise ValueError(f"length target must be positive and below the maximum, got {target} and {maximum}")

    def one(text: str, reference: Any = None) -> float:
        if len(text) <= target:
            return 1.0
        frac = min(1.0, max(0.0, (len(text) - target) / (maximum - target)))
        return 0.5 * (1.0 + math.cos(math.pi * frac))

    def length_reward(completions, **kwargs) -> list[float]:
        """Reward in [0, 1] for compact answers, by character count.

        >>> length_reward(["Answer: 7"])
        [1.0]
        """
        return [one(completion_text(completion)) for completion in completions]

    length_reward._single = one
    return length_reward


length_reward = make_length_reward()


def format_reward(completions, **kwargs) -> list[float]:
    """Reward in [0, 1] for an explicitly marked final answer.

    ``final answer:``, ``answer:``, ``<answer>...</answer>``, ``\\boxed{}`` or ``The answer is``
    earn 1.0 on the last non-empty line and 0.5 elsewhere; an unmarked answer ("Paris.") earns 0.

    >>> format_reward(["3 + 4 = 7\\nAnswer: 7", "Answer: 7\\nbecause 3 + 4 = 7", "7"])
    [1.0, 0.5, 0.0]
    """
    return [_format_one(completion_text(completion)) for completion in completions]


def _format_one(text: str, reference: Any = None) -> float:
    found = extract_answer(text, last_number=False)  # the text as given, so the cached extraction is shared
    if found.source is None:
        return 0.0
    return 1.0 if found.start >= text.rstrip().rfind("\n") + 1 else 0.5


def reference_reward(completions, reference=None, **kwargs) -> list[float | None]:
    """1.0 when the completion's final answer matches the row's reference, else 0.0.

    None where a row has no reference, so that TRL leaves the row out of this component.
    Numbers match in every written form (relative tolerance 1e-6), multiple-choice letters,
    booleans and text after SQuAD normalisation, symbolic answers through math_verify (see
    :func:`answers.answers_match`); a list of references matches if any one does.

    >>> reference_reward(["So the answer is 1,234."], reference=["#### 1234"])
    [1.0]
    """
    references = reference if reference is not None else [None] * len(completions)
    return [_reference_one(completion_text(c), ref) for c, ref in zip(completions, references)]


def _reference_one(text: str, reference: Any = None) -> float | None:
    accepted = extract_reference(reference)
    if not accepted:
        return None
    return 1.0 if extraction_matches(extract_answer(text), accepted, text=text) else 0.0


def boilerplate_penalty(completions, **kwargs) -> list[float]:
    """-1.0 when the completion hedges with a phrase of ``BOILERPLATE_PHRASES``, else 0.0.

    >>> boilerplate_penalty(["As an AI language model, I can't say.", "Answer: 7"])
    [-1.0, 0.0]
    """
    return [_boilerplate_one(completion_text(c)) for c in completions]


def _boilerplate_one(text: str, reference: Any = None) -> float:
    return -1.0 if _hedges(text) else 0.0


# Each component's value for one completion's text, used by combine() to score one completion
# without building the batch lists that TRL's signature needs: the batch functions above are
# these in a loop, so both paths give the same values.
format_reward._single = _format_one
reference_reward._single = _reference_one
boilerplate_penalty._single = _boilerplate_one


@functools.lru_cache(maxsize=8)
def _phrase_keys(phrases: tuple[str, ...]) -> tuple[str, ...]:
    """The longest word of each phrase without an apostrophe (so that curly ones need not be
    folded first): a text holding none of them holds no phrase."""
    return tuple({max((word for word in phrase.split() if "'" not in word), key=len) for phrase in phrases})


def _hedges(text: str) -> bool:
    text = text.lower()
    for key in _phrase_keys(BOILERPLATE_PHRASES):
        if key in text:
            break
    else:
        return False
    for curly in _APOSTROPHES:
        text = text.replace(curly, "'")
    # str.replace keeps this linear and fast on a megabyte; split() would build a list of words.
    for space in "\t\n\r\f\v\xa0":
        text = text.replace(space, " ")
    while "  " in text:
        text = text.replace("  ", " ")
    return any(phrase in text for phrase in BOILERPLATE_PHRASES)


# --------------------------------------------------------------------------------------------
# Registry and composition
# --------------------------------------------------------------------------------------------

REWARD_COMPONENTS: dict[str, RewardFunc] = {
    "reference_reward": reference_reward,
    "format_reward": format_reward,
    "length_reward": length_reward,
    "boilerplate_penalty": boilerplate_penalty,
}

DEFAULT_WEIGHTS: dict[str, float] = {
    "reference_reward": 1.0,
    "format_reward": 0.2,
    "length_reward": 0.1,
    "boilerplate_penalty": 0.5,
}


def _check_name(name: str) -> None:
    if name not in REWARD_COMPONENTS:
        valid = ", ".join(REWARD_COMPONENTS)
        raise ValueError(f"unknown reward component {name!r}; valid names: {valid}")


def parse_weights(spec: str, extra: Iterable[str] = ()) -> dict[str, float]:
    """Parse ``name=w,name=w`` into a dict, checking names and that weights are finite and >= 0.

    ``extra`` names user reward functions that may be weighted besides the components.
    """
    weights = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, sep, value = item.partition("=")
        name = name.strip()
        if name not in extra:
            if name not in REWARD_COMPONENTS:  # the run's own rewards (--extra-reward, --reward-model, ...) too
                valid = ", ".join([*REWARD_COMPONENTS, *extra])
                raise ValueError(f"unknown reward component {name!r}; valid names: {valid}")
        try:
            weight = float(value) if sep else math.nan
        except ValueError:
            weight = math.nan
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(f"reward weight for {name!r} must be a number >= 0, got {value.strip()!r}")
        if name in weights:
            raise ValueError(f"reward weight for {name!r} is given twice ({weights[name]:g} and {weight:g}); keep one")
        weights[name] = weight
    return weights


def build_reward_funcs(
    names: Iterable[str] | None = None,
    weights: dict[str, float] | None = None,
    length_target: int = DEFAULT_LENGTH_TARGET,
    length_max: int = DEFAULT_LENGTH_MAX,
) -> tuple[list[RewardFunc], list[float]]:
    """Reward functions and weights for ``GRPOTrainer(reward_funcs=...)`` and
    ``GRPOConfig(reward_weights=...)``.

    ``names`` defaults to every component; ``weights`` overrides ``DEFAULT_WEIGHTS`` per name.
    """
    names = list(names) if names is not None else list(REWARD_COMPONENTS)
    weights = dict(weights or {})
    for name in [*names, *weights]:
        _check_name(name)
    funcs = []
    for name in names:
        funcs.append(
            make_length_reward(length_target, length_max) if name == "length_reward" else REWARD_COMPONENTS[name]
        )
    return funcs, [weights.get(name, DEFAULT_WEIGHTS[name]) for name in names]


def correct_completion(reference: Any) -> str | None:
    """The shortest completion a correct model would write for ``reference``: its first
    acceptable answer after ``Final answer:``; None when the reference holds no answer.

    The one rule for "a correct completion": the dry run scores it and coverage counts the rows
    whose reference it earns.

    >>> correct_completion("48 / 2 = 24 clips in May.\n#### 72")
    'Final answer: 72'
    """
    answers = extract_reference(reference)
    return f"Final answer: {answers[0]}" if answers else None


def score(
    completion: Any, reference: Any = None, weights: dict[str, float] | None = None
) -> tuple[float, dict[str, float | None]]:
    """Weighted total and per-component values for one completion, as the trainer sees them.

    ``weights`` selects the components and their weights (default ``DEFAULT_WEIGHTS``).

    >>> score("Answer: 7", "#### 7")[0]
    1.3
    """
    plan = _DEFAULT_PLAN if weights is None else _cached_plan(tuple(weights.items()))
    return _weighted(plan, completion, reference)


def combine(funcs: Sequence[RewardFunc], weights: Sequence[float], completion: Any, reference: Any = None):
    """Weighted total and per-function values of any reward functions (user ones included)."""
    return _weighted(_plan(funcs, weights), completion, reference)


def _plan(funcs: Sequence[RewardFunc], weights: Sequence[float]) -> tuple:
    """(name, per-text function or None, batch function, weight) for each function: a built-in
    component is scored on one completion's text without building the batch lists."""
    return tuple((func.__name__, getattr(func, "_single", None), func, weight) for func, weight in zip(funcs, weights))


def _weighted(plan: tuple, completion: Any, reference: Any) -> tuple[float, dict[str, float | None]]:
    text = completion_text(completion)
    components, total = {}, 0.0
    for name, single, func, weight in plan:  # a plain loop: this runs for every completion
        value = components[name] = single(text, reference) if single else func([completion], reference=[reference])[0]
        if value is not None:
            total += weight * value
    return round(total, 10), components


@functools.lru_cache(maxsize=64)
def _cached_plan(weights: tuple[tuple[str, float], ...]) -> tuple:
    return _plan(*build_reward_funcs([name for name, _ in weights], dict(weights)))


_DEFAULT_PLAN = _plan(*build_reward_funcs(list(DEFAULT_WEIGHTS), DEFAULT_WEIGHTS))
