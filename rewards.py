"""Composite reward for GRPO: reference match, answer format, length and boilerplate.

Every component has TRL's reward signature ``(completions, **kwargs) -> list[float | None]``
and a stable ``__name__``, which TRL turns into the log key ``rewards/<name>/mean``.
Bonuses lie in [0, 1] and penalties in [-1, 0]; all scaling is done by the weights.

One extraction routine, :func:`extract_answer`, reads the final answer of a completion for
every component. Standard library only, so that it is fast and its tests run in milliseconds.

Batch CLI::

    python rewards.py --input pairs.jsonl        # {"completion": ..., "reference": ...} per line
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import math
import re
import sys
import unicodedata
from fractions import Fraction
from typing import Any, Callable, Iterable, NamedTuple, Sequence

# --------------------------------------------------------------------------------------------
# Answer extraction
# --------------------------------------------------------------------------------------------

# `answer:` also matches the tail of `final answer:`; the last marker wins either way.
_MARKER_RE = re.compile(r"\b(?:final\s+)?answer\s*[:：]", re.IGNORECASE)
_ANSWER_IS_RE = re.compile(r"\bthe\s+(?:final\s+)?answer\s+is\b\s*:?", re.IGNORECASE)
_BOXED_TOKENS = ("\\boxed", "\\fbox")
_NUMBER_RE = re.compile(
    r"[-+−]?\\[dt]?frac\{[^{}]{1,64}\}\{[^{}]{1,64}\}"  # a LaTeX fraction is one number, not two
    r"|[-+−]?[$€£¥₹]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?%?"
    r"(?:/\d+(?:\.\d+)?)?"
)
_GSM8K_MARK = "####"
_SCAN_CHARS = 16384  # how much of a completion's end is read for its final answer
_MAX_DIGITS = 400  # a longer numeral is compared as text: big ints are slow and rarely meant


class Extraction(NamedTuple):
    """A final answer read from text: the answer, how it was found, and where."""

    answer: str | None
    source: str | None  # "marker", "boxed", "answer_is", "last_number" or None
    start: int  # offset of the marker (or number) in the text, -1 when nothing was found


def completion_text(completion: Any) -> str:
    """The text of a plain or conversational completion (the last message's content)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return str(completion.get("content", ""))
    if isinstance(completion, (list, tuple)) and completion:
        return completion_text(completion[-1])
    return "" if completion is None else str(completion)


def _last_boxed(text: str) -> tuple[str | None, int]:
    """Content of the last ``\\boxed{...}`` with nested braces, and its offset."""
    start, token = max((text.rfind(_BOXED_TOKENS[0]), _BOXED_TOKENS[0]), (text.rfind(_BOXED_TOKENS[1]), _BOXED_TOKENS[1]))
    if start < 0:
        return None, -1
    open_at = start + len(token)
    while open_at < len(text) and text[open_at] == " ":
        open_at += 1
    if open_at >= len(text) or text[open_at] != "{":
        return None, -1
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[open_at + 1 : i].strip(), start
    return None, -1


def _last_match(pattern: re.Pattern, text: str) -> "_Found | None":
    last = collections.deque(pattern.finditer(text), maxlen=1)
    return _Found(last[0].group(), last[0].start(), last[0].end()) if last else None


class _Found(NamedTuple):
    text: str
    start: int
    end: int


def _line_after(text: str, pos: int) -> str:
    """The rest of the line from ``pos``, or the next non-empty line if that is blank."""
    rest = text[pos:]
    line, _, after = rest.partition("\n")
    if line.strip():
        return line.strip()
    return after.lstrip().partition("\n")[0].strip()


def _clean_span(span: str) -> str:
    """Trim what surrounds an answer: "the answer is", a box, math delimiters, the sentence."""
    inner = _ANSWER_IS_RE.match(span)
    if inner:
        span = span[inner.end() :].strip()
    boxed, _ = _last_boxed(span)
    if boxed is not None:
        span = boxed
    if span.startswith("$") and span.count("$") >= 2 and not _NUMBER_RE.match(span):
        span = span[1 : span.index("$", 1)]
    span = span.split(". ")[0].strip().strip("*$ ")
    if span.endswith(".") and not span.endswith(".."):
        span = span[:-1].rstrip()
    return span


def extract_answer(text: str, last_number: bool = True) -> Extraction:
    """Read the final answer of ``text``.

    Precedence: a ``final answer:`` / ``answer:`` marker, then the last ``\\boxed{...}``, then
    ``The answer is ...``, then (if ``last_number``) the last number in the text. Only the last
    16,384 characters are read. Cached, since several reward components read the same text.

    >>> extract_answer("3 + 4 = 7\\nFinal answer: $7.").answer
    '7'
    """
    found = _marked_answer(text)
    if found.source is None and last_number:
        return _last_number_answer(text)
    return found


def _tail(text: str) -> tuple[str, int]:
    # Only the end of a long text is read: that is where a final answer stands, and it bounds
    # the regex work on a megabyte of output.
    shift = max(0, len(text) - _SCAN_CHARS)
    return text[shift:], shift


@functools.lru_cache(maxsize=4096)
def _marked_answer(text: str) -> Extraction:
    tail, shift = _tail(text)
    low = tail.lower()
    # Both text markers contain "answer": without it, neither needs looking for.
    has_answer = "answer" in low
    marker = _last_marker(tail, low, _MARKER_RE, _COLON_AFTER, None) if has_answer else None
    if marker:
        span = _clean_span(_line_after(tail, marker.end))
        if span:
            return Extraction(span, "marker", shift + marker.start)
    boxed, at = _last_boxed(tail)
    if boxed:
        return Extraction(boxed, "boxed", shift + at)
    answer_is = _last_marker(tail, low, _ANSWER_IS_RE, _IS_AFTER, _THE_BEFORE) if has_answer else None
    if answer_is:
        span = _clean_span(_line_after(tail, answer_is.end))
        if span:
            return Extraction(span, "answer_is", shift + answer_is.start)
    return _NOTHING


_COLON_AFTER = re.compile(r"\s*[:：]")
_IS_AFTER = re.compile(r"\s+is\b\s*:?")
_THE_BEFORE = re.compile(r"\bthe\s+(?:final\s+)?$")


def _last_marker(text: str, low: str, pattern: re.Pattern, after: re.Pattern, before: re.Pattern | None):
    """The last match of ``pattern``, found from the word "answer" that every match contains.

    str.rfind finds candidates at C speed and two small regexes confirm them, instead of one
    case-insensitive regex tried at every position. Offsets of ``low`` equal those of ``text``
    only for ASCII, so other text takes the plain regex.
    """
    if not text.isascii():
        return _last_match(pattern, text)
    end = len(low)
    while (at := low.rfind("answer", 0, end)) >= 0:
        end = at
        if at and (low[at - 1].isalnum() or low[at - 1] == "_"):
            continue
        tail = after.match(low, at + len("answer"))
        if not tail:
            continue
        start = at
        if before is not None:
            window = low[max(0, at - 24) : at]
            head = before.search(window)
            if not head:
                continue
            start = at - len(window) + head.start()
        return _Found(text[start : tail.end()], start, tail.end())
    return None


@functools.lru_cache(maxsize=4096)
def _last_number_answer(text: str) -> Extraction:
    tail, shift = _tail(text)
    number = _last_number(tail)
    return Extraction(number.text, "last_number", shift + number.start) if number else _NOTHING


_NUMBER_CHARS = "0123456789,.eE+-−%/$€£¥₹"


def _last_number(text: str) -> "_Found | None":
    """The last number of ``text``: the regex runs only around its last digit, not over it all."""
    last_digit = max(map(text.rfind, "0123456789"))
    if last_digit < 0:
        return None
    run_start = len(text[: last_digit + 1].rstrip(_NUMBER_CHARS))
    window_start = max(0, run_start - 80)  # room for the "\frac{...}{" of a fraction
    found = _last_match(_NUMBER_RE, text[window_start : last_digit + 2])
    return found._replace(start=found.start + window_start) if found else None


_NOTHING = Extraction(None, None, -1)


def last_number(text: str) -> str | None:
    """The last number written in ``text`` (of its last 16,384 characters), however marked."""
    return _last_number_answer(text).answer


def clear_caches() -> None:
    """Forget cached extractions (for benchmarks that time a cold start)."""
    for cached in (_marked_answer, _last_number_answer, _extract_reference_text, parse_number):
        cached.cache_clear()


def extract_reference(reference: Any) -> list[str]:
    """The acceptable final answers of a reference: a value, a solution or a list of them.

    GSM8K's ``#### 1,234`` is read first, then the markers of :func:`extract_answer`; a plain
    value is taken whole. Booleans become yes/true or no/false.

    >>> extract_reference("She has 3 + 4 = 7 apples.\\n#### 7")
    ['7']
    """
    if reference is None:
        return []
    if isinstance(reference, bool):
        return ["yes", "true"] if reference else ["no", "false"]
    if isinstance(reference, (list, tuple)):
        return [answer for item in reference for answer in extract_reference(item)]
    return list(_extract_reference_text(str(reference)))


@functools.lru_cache(maxsize=4096)  # a GRPO group scores many completions against one reference
def _extract_reference_text(text: str) -> tuple[str, ...]:
    text = text.strip()
    if not text:
        return ()
    if _GSM8K_MARK in text:
        return (_clean_span(text.rsplit(_GSM8K_MARK, 1)[1]),)
    found = extract_answer(text, last_number=False)
    return (found.answer if found.answer else text,)


# --------------------------------------------------------------------------------------------
# Matching
# --------------------------------------------------------------------------------------------

_FRAC_RE = re.compile(r"^([-+]?)\\[dt]?frac(?:\{([^{}]+)\}\{([^{}]+)\}|(\d)(\d))$")
_LATEX_NOISE = ("\\!", "\\,", "\\;", "\\left", "\\right", "{,}", "\\$", "\\%")
_CURRENCY = "$€£¥₹"
_TIMES_TEN_RE = re.compile(r"^(.+?)\s*(?:\\times|\\cdot|×)\s*10\^\{?([-+]?\d{1,3})\}?$")
_PLAIN_RE = re.compile(r"^[-+]?(?:\d{1,3}(?:,\d{3})+|\d{1,300})(?:\.\d{1,300})?$")
_THOUSANDS_RE = re.compile(r"^\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_DECIMAL_RE = re.compile(r"^\d+(?:\.\d*)?(?:[eE][-+]?\d+)?$|^\.\d+(?:[eE][-+]?\d+)?$")
_TEXT_WRAP_RE = re.compile(r"\\(?:text|mathrm|textbf|mbox)\{([^{}]*)\}")
_ARTICLES_RE = re.compile(r"^(?:the|a|an)\s+")
_PUNCT_TABLE = {ord(c): " " for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"}
_REL_TOL = Fraction(1, 10**6)  # exact: a float tolerance would overflow on 1e400


def _decimal(text: str) -> Fraction | int | None:
    text = text.replace(",", "") if _THOUSANDS_RE.match(text) else text
    if not _DECIMAL_RE.match(text):
        return None
    mantissa, _, exponent = text.lower().partition("e")
    if len(mantissa) > _MAX_DIGITS or (exponent and abs(int(exponent)) > _MAX_DIGITS):
        return None
    return int(text) if text.isascii() and text.isdigit() else Fraction(text)  # exact, and fast


@functools.lru_cache(maxsize=65536)
def parse_number(text: str) -> Fraction | int | None:
    """Parse ``text`` whole as a number, or return None.

    Reads thousands commas, currency signs, ``%``, signs, decimals, ``a/b``,
    ``\\frac{a}{b}`` / ``\\dfrac``, scientific notation (``1.5e3``, ``1.5 \\times 10^{3}``) and a
    trailing period.

    >>> parse_number("$1,234.50")
    Fraction(2469, 2)
    """
    text = text.strip().replace("−", "-")
    if text.isascii() and text.isdigit():  # the common case, without the general machinery
        return int(text) if len(text) <= _MAX_DIGITS else None
    if _PLAIN_RE.match(text):  # signs, thousands commas and decimals, still without it
        plain = text.lstrip("+").replace(",", "")
        return int(plain) if "." not in plain else Fraction(plain)
    for noise in _LATEX_NOISE:
        text = text.replace(noise, noise[-1] if noise in ("\\$", "\\%") else "")
    text = text.strip().rstrip(".").strip("$ ").rstrip("%").strip()
    times_ten = _TIMES_TEN_RE.match(text)
    if times_ten:
        mantissa = parse_number(times_ten.group(1))
        return None if mantissa is None else mantissa * Fraction(10) ** int(times_ten.group(2))
    frac = _FRAC_RE.match(text)
    if frac:
        sign, num, den, short_num, short_den = frac.groups()
        return _ratio(sign + (num or short_num), den or short_den)
    if "/" in text:
        num, _, den = text.partition("/")
        return _ratio(num, den)
    sign = -1 if text.startswith("-") else 1
    text = text.lstrip("+-").strip().lstrip(_CURRENCY).strip()
    value = _decimal(text)
    return None if value is None else sign * value


def _ratio(num: str, den: str) -> Fraction | None:
    top, bottom = parse_number(num), parse_number(den)
    if top is None or bottom is None or bottom == 0 or "/" in num + den:
        return None
    return Fraction(top) / bottom


def _answer_number(span: str) -> Fraction | None:
    """The number an answer span states: the span whole, or else its last number."""
    value = parse_number(span)
    if value is not None:
        return value
    match = _last_number(span)
    return parse_number(match.text) if match else None


def numbers_match(a: Fraction, b: Fraction) -> bool:
    """Equal within a relative tolerance of 1e-6; two integers must be equal exactly.

    >>> numbers_match(Fraction(1, 3), Fraction("0.3333333")), numbers_match(Fraction(999999), Fraction(10**6))
    (True, False)
    """
    if a.denominator == 1 and b.denominator == 1:  # ints and integral Fractions alike
        return a == b
    return abs(a - b) <= _REL_TOL * max(abs(a), abs(b))


def normalize_text(text: str) -> str:
    """Case, width, punctuation, whitespace and a leading article folded away."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _TEXT_WRAP_RE.sub(r"\1", text).translate(_PUNCT_TABLE)
    text = " ".join(text.split())
    return _ARTICLES_RE.sub("", text)


def answers_match(answer: str | None, references: Sequence[str]) -> bool:
    """True when ``answer`` matches any reference: by number if both parse, else by text."""
    if not answer:
        return False
    number = _answer_number(answer)
    text = None  # normalised only if some reference is compared as text
    for reference in references:
        ref_number = parse_number(reference)
        if ref_number is not None and number is not None:
            if numbers_match(number, ref_number):
                return True
            continue
        text = normalize_text(answer) if text is None else text
        if text and text == normalize_text(reference):
            return True
    return False


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

    def length_reward(completions, **kwargs) -> list[float]:
        """Reward in [0, 1] for compact answers, by character count.

        >>> length_reward(["Answer: 7"])
        [1.0]
        """
        rewards = []
        for completion in completions:
            n = len(completion_text(completion))
            frac = min(1.0, max(0.0, (n - target) / (maximum - target)))
            rewards.append(0.5 * (1.0 + math.cos(math.pi * frac)))
        return rewards

    return length_reward


length_reward = make_length_reward()


def format_reward(completions, **kwargs) -> list[float]:
    """Reward in [0, 1] for an explicitly marked final answer.

    ``final answer:``, ``answer:``, ``\\boxed{}`` or ``The answer is`` earn 1.0 on the last
    non-empty line and 0.5 elsewhere; an unmarked answer earns 0.

    >>> format_reward(["3 + 4 = 7\\nAnswer: 7", "Answer: 7\\nbecause 3 + 4 = 7", "7"])
    [1.0, 0.5, 0.0]
    """
    rewards = []
    for completion in completions:
        text = completion_text(completion)  # as given, so the cached extraction is shared
        found = extract_answer(text, last_number=False)
        if found.source is None:
            rewards.append(0.0)
        else:
            last_line = text.rstrip().rfind("\n") + 1
            rewards.append(1.0 if found.start >= last_line else 0.5)
    return rewards


def reference_reward(completions, reference=None, **kwargs) -> list[float | None]:
    """1.0 when the completion's final answer matches the row's reference, else 0.0.

    None where a row has no reference, so that TRL leaves the row out of this component.
    Numbers match within a relative tolerance of 1e-6, text after normalisation; a list of
    references matches if any one does.

    >>> reference_reward(["So the answer is 1,234."], reference=["#### 1234"])
    [1.0]
    """
    references = reference if reference is not None else [None] * len(completions)
    rewards: list[float | None] = []
    for completion, ref in zip(completions, references):
        accepted = extract_reference(ref)
        if not accepted:
            rewards.append(None)
            continue
        answer = extract_answer(completion_text(completion)).answer
        rewards.append(1.0 if answers_match(answer, accepted) else 0.0)
    return rewards


def boilerplate_penalty(completions, **kwargs) -> list[float]:
    """-1.0 when the completion hedges with a phrase of ``BOILERPLATE_PHRASES``, else 0.0.

    >>> boilerplate_penalty(["As an AI language model, I can't say.", "Answer: 7"])
    [-1.0, 0.0]
    """
    return [-1.0 if _hedges(completion_text(c)) else 0.0 for c in completions]


@functools.lru_cache(maxsize=8)
def _phrase_keys(phrases: tuple[str, ...]) -> tuple[str, ...]:
    """The longest word of each phrase: a text holding none of them holds no phrase."""
    return tuple({max(phrase.split(), key=len) for phrase in phrases})


def _hedges(text: str) -> bool:
    text = text.lower()
    for curly in _APOSTROPHES:
        text = text.replace(curly, "'")
    if not any(key in text for key in _phrase_keys(BOILERPLATE_PHRASES)):
        return False
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
            _check_name(name)
        try:
            weight = float(value) if sep else math.nan
        except ValueError:
            weight = math.nan
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(f"reward weight for {name!r} must be a number >= 0, got {value.strip()!r}")
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
        funcs.append(make_length_reward(length_target, length_max) if name == "length_reward" else REWARD_COMPONENTS[name])
    return funcs, [weights.get(name, DEFAULT_WEIGHTS[name]) for name in names]


def score(
    completion: Any, reference: Any = None, weights: dict[str, float] | None = None
) -> tuple[float, dict[str, float | None]]:
    """Weighted total and per-component values for one completion, as the trainer sees them.

    ``weights`` selects the components and their weights (default ``DEFAULT_WEIGHTS``).

    >>> score("Answer: 7", "#### 7")[0]
    1.3
    """
    funcs, values = _cached_funcs(tuple((DEFAULT_WEIGHTS if weights is None else weights).items()))
    return combine(funcs, values, completion, reference)


def combine(funcs: Sequence[RewardFunc], weights: Sequence[float], completion: Any, reference: Any = None):
    """Weighted total and per-function values of any reward functions (user ones included)."""
    components = {f.__name__: f([completion], reference=[reference])[0] for f in funcs}
    total = sum(w * v for w, v in zip(weights, components.values()) if v is not None)
    return round(total, 10), components


@functools.lru_cache(maxsize=64)
def _cached_funcs(weights: tuple[tuple[str, float], ...]) -> tuple[list[RewardFunc], list[float]]:
    return build_reward_funcs([name for name, _ in weights], dict(weights))


# --------------------------------------------------------------------------------------------
# Batch CLI
# --------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Score completion/reference pairs with the composite reward, one JSON line each.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--input", required=True, help='JSONL file of {"completion", "reference"} rows; - for stdin')
    parser.add_argument(
        "--weights",
        default="",
        help="component weights as name=w,...; named components override the defaults "
        f"({', '.join(f'{k}={v}' for k, v in DEFAULT_WEIGHTS.items())})",
    )
    return parser


def score_row(row: dict, weights: dict[str, float]) -> dict:
    """The CLI's output object for one input row."""
    total, components = score(row.get("completion", ""), row.get("reference"), weights)
    match = reference_reward([row.get("completion", "")], reference=[row.get("reference")])[0]
    return {
        "match": None if match is None else match == 1.0,
        "answer": extract_answer(completion_text(row.get("completion", ""))).answer,
        "total": total,
        "components": components,
    }


def _read_rows(stream) -> Iterable[tuple[int, dict]]:
    for number, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"line {number}: not valid JSON ({err.msg}); expected {{\"completion\": ..., \"reference\": ...}}") from err
        if not isinstance(row, dict) or "completion" not in row:
            raise ValueError(f'line {number}: expected an object with a "completion" key')
        yield number, row


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        weights = {**DEFAULT_WEIGHTS, **parse_weights(args.weights)}
        stream = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8")
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    with stream:
        try:
            for _, row in _read_rows(stream):
                print(json.dumps(score_row(row, weights), ensure_ascii=False))
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
