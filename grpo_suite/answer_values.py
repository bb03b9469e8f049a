"""What one answer span says: its number, letter, boolean and text, whether it is mathematics,
and whether it hedges. answer_reading.py finds the span; answers.py compares two readings."""

from __future__ import annotations

import functools
import re
import unicodedata
from fractions import Fraction
from typing import NamedTuple, Sequence

from grpo_suite.number_parsing import (
    _FRAC_NAMES_RE,
    _NUMBER_WORDS,
    _strip_latex_noise,
    numbers_match,
    parse_number,
    unwrap_math,
)

_DIGIT_RE = re.compile(r"\d")

# --------------------------------------------------------------------------------------------
# Reading one answer: its number, letter, boolean, text and whether it is mathematical
# --------------------------------------------------------------------------------------------

_TEXT_WRAP_RE = re.compile(r"\\(?:text|textbf|textit|textnormal|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}")
_ARTICLES_RE = re.compile(r"\b(?:a|an|the)\b")
_PUNCT_TABLE = {ord(c): " " for c in '!"#$%&()*+,-/:;<=>?@[\\]^_`{|}~。，：；！？、（）'}
_PUNCT_TABLE.update({ord("'"): None, ord("’"): None, ord("."): None})  # "don't", "U.S." stay one word
_LETTER_ONLY_RE = re.compile(r"^[(\[]?([A-Ja-j])[)\]]?[.)。:：]?$")
_LETTER_TEXT_RE = re.compile(r"^(?:[(\[]([A-J])[)\]]|([A-J])[.)。:：])\s*(\S.*)$", re.DOTALL)
_LETTER_NAME_RE = re.compile(r"^([A-J])\s+([A-Z].*)$", re.DOTALL)  # a key "C Cecile" (references only)
# An answer that opens with a letter: "D, it is ...", "D it can't be A" (not "A dog", "I think").
_LEADING_LETTER_RE = re.compile(r"^([B-HJ]|[AI](?!\s+[a-z]))(?=[\s,;:!?]|$)")
_LAST_LETTER_RE = re.compile(r"(?<![\w'’])([B-HJ]|A(?!\s+[a-z]))(?![\w'’])")
_OPTION_RE = re.compile(r"^(?:option|choice)\s*[(\[]?([A-Ja-j])\b[)\]]?", re.IGNORECASE)
_BOOLEANS = {"yes": True, "true": True, "no": False, "false": False}
_EQUALS_RE = re.compile(r"(?<![<>!=])=(?!=)")  # not the "=" of "<=", ">=", "!=", "=="
_APPROX_RE = re.compile(r"\\approx|≈")
# A lone name ("x", "a_1", "\\theta") or a ratio of names ("V_1:V_2"): what an answer "x = 5" names.
_SIMPLE_LHS_RE = re.compile(r"^\s*[A-Za-z](?:_\{?\w+\}?)?(?:\s*:\s*[A-Za-z](?:_\{?\w+\}?)?)?\s*$|^\s*\\[a-z]+\s*$")
# "and" (or "\\quad\\text{and}\\quad") between two values lists them: "$1$ and $2$", "6 \\text{ and } 8".
_AND_LIST_RE = re.compile(r"(?<=[\d$})\]])\s*(?:\\q?quad\s*)?\band\b(?:\s*\\q?quad)?\s*(?=[-+\w$\\({\[])")
_MATHY_RE = re.compile(
    r"\\[A-Za-z]+|[\^_{}=<>≤≥≠√π∞|]"  # LaTeX commands, powers, groups, relations
    r"|(?:^|[^A-Za-z])[A-Za-z0-9]\s*[-+*/]\s*[A-Za-z0-9(\\]"  # operators between short operands
    r"|[(\[][^()\[\],]{0,200},[^()\[\]]{0,200}[)\]]"  # tuples and intervals (bounded: no backtracking blow-up)
    r"|\d\s*,\s*-?\d"  # lists of numbers ("-2, 1")
)
_WORD_RE = re.compile(
    r"^[^\W\d_]+(?:[-'’.][^\W\d_]+)*\.?$|^[^\W\d_]{1,4}(?:\^?[23²³])?(?:/[^\W\d_]{1,4})?$|^[-–—$%°€£]$"
)
_UNIT_NUMBER_RE = re.compile(r"^([-+]?[$€£]?\d[\d,]*(?:\.\d+)?)([^\W\d_]{1,4}(?:\^?[23²³])?)$")
_STOP_WORDS = frozenset(
    "a an the is are was were be so total of it its there that this thus therefore hence "
    "we get has have had in on at for to and or answer final which".split()
)
_MATH_NAME_RE = re.compile(r"\$[^$\d]{1,40}\$|\\\([^\d]{1,40}?\\\)")
_SPACED_GROUPS_RE = re.compile(r"(?<![\d.,])(\d{1,3})((?:[ \u00a0\u202f\u2009]\d{3})+)(?![\d])")
_SHORT_FRAC_RE = re.compile(r"\\frac(\d)(\d)")
_SHORT_ROOT_RE = re.compile(r"\\sqrt(\d)")
_BRACED_POWER_RE = re.compile(r"\^\{(\w)\}")
_FREE_VARIABLE_RE = re.compile(r"(?<![\\A-Za-z])[A-Za-z](?![A-Za-z])")  # "n" of "10-4n", not of "\\pi"
_RELATION_RE = re.compile(r"[=<>≤≥≠]|\\(?:le|ge|leq|geq|ne|neq|lt|gt|in|mid)(?![A-Za-z])")
_ITEMS_RE = re.compile(r"^(\\\{|\(|\[)(.*)(\\\}|\)|\])$")
_ROOT_RE = re.compile(r"^([-+]?\d{0,12}(?:\.\d{1,12})?)\\sqrt\{(\d{1,12})\}$")
_DIGIT_GAP_RE = re.compile(r"(?<=\d)[ \t]+(?=\d)")
_COMPACT_DROP_RE = re.compile(r"\s+|\\left|\\right|\\displaystyle|\\[!,;:]|\$")


class Reading(NamedTuple):
    """What one answer span says, in every form the fast path compares."""

    span: str  # as written, for math_verify
    compact: str  # LaTeX spacing and spelling folded, for exact structural equality
    text: str  # SQuAD-normalised text
    number: Fraction | int | None
    units: frozenset  # the words around a number ("apples"), compared when both sides have some
    letter: str | None  # a multiple-choice letter
    option: str | None  # the option's text after the letter, normalised ("(D) Alina" -> "alina")
    boolean: bool | None
    mathy: bool
    items: tuple | None  # a tuple, interval, set or list of numbers: (brackets, values)
    root: float | None  # the value of a\sqrt{b}
    variables: bool  # an expression in unknowns ("10-4n"), not an equation: never equal to a number


def normalize_text(text: str) -> str:
    """SQuAD's normalisation: case, width, punctuation, articles and whitespace folded away,
    with abbreviations kept whole ("U.S." -> "us")."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _TEXT_WRAP_RE.sub(r"\1", text).translate(_PUNCT_TABLE)
    return " ".join(_ARTICLES_RE.sub(" ", text).split())


def _compact(text: str) -> str:
    text = _FRAC_NAMES_RE.sub(r"\\frac", _TEXT_WRAP_RE.sub(r"\1", unicodedata.normalize("NFKC", text)))
    if "and" in text:
        text = _AND_LIST_RE.sub(",", text)
    # Spaces go, except between digits: "4 2" is two numbers, not 42 ("1 000" is read as a number).
    text = _COMPACT_DROP_RE.sub("", _DIGIT_GAP_RE.sub("\u2423", text)).replace("\u2423", " ")
    text = text.replace("{,}", ",").replace("−", "-")
    if ";" in text:  # "-12;-11;-10", "(0;0;0),(0;-2;0)": where a comma is a decimal point, ";" separates values
        text = text.replace(";", ",")
    text = _SHORT_FRAC_RE.sub(r"\\frac{\1}{\2}", text)
    text = _BRACED_POWER_RE.sub(r"^\1", _SHORT_ROOT_RE.sub(r"\\sqrt{\1}", text))
    return text.rstrip(".")


def _rhs(compact: str) -> str | None:
    head, equals, tail = compact.partition("=")
    return tail if equals and tail and "=" not in tail and _SIMPLE_LHS_RE.match(head) else None


def _items(compact: str) -> tuple[str, tuple] | None:
    """A tuple, interval, set or bare list of numbers: its brackets and values ("[1,2)" -> ("[)", (1, 2)))."""
    bracketed = _ITEMS_RE.match(compact)
    kind, body = (bracketed.group(1) + bracketed.group(3), bracketed.group(2)) if bracketed else (",", compact)
    parts = body.split(",")
    if len(parts) < 2 or len(parts) > 64:
        return None
    values = tuple(parse_number(part) for part in parts)
    return None if None in values else (kind, values)


def _items_equal(a: tuple[str, tuple], r: tuple[str, tuple]) -> bool:
    unordered = (",", "\\{\\}")  # a set, or a bare list of solutions, in any order
    if a[0] in unordered and r[0] in unordered:
        return (
            len(a[1]) == len(r[1])
            and all(any(numbers_match(x, y) for y in r[1]) for x in a[1])
            and all(any(numbers_match(x, y) for x in a[1]) for y in r[1])
        )
    return a[0] == r[0] and len(a[1]) == len(r[1]) and all(map(numbers_match, a[1], r[1]))


def _root(compact: str) -> float | None:
    """The value of ``a\\sqrt{b}``, the commonest irrational answer, as a float."""
    found = _ROOT_RE.match(compact)
    if not found:
        return None
    coefficient = {"": 1.0, "-": -1.0, "+": 1.0}.get(found.group(1))
    return (float(found.group(1)) if coefficient is None else coefficient) * float(found.group(2)) ** 0.5


def _letter(span: str, role: str) -> tuple[str | None, str | None]:
    """A multiple-choice letter and the option text after it: "(B)", "B)", "B。", "Option B",
    "(D) Alina"; for references "C Cecile", for answers "D, it is ..."."""
    span = _TEXT_WRAP_RE.sub(r"\1", span).strip().strip("*").strip()
    only = _LETTER_ONLY_RE.match(span)
    if only:
        return only.group(1).upper(), None
    with_text = _LETTER_TEXT_RE.match(span)
    if with_text:
        return (with_text.group(1) or with_text.group(2)), normalize_text(with_text.group(3))
    option = _OPTION_RE.match(span)
    if option:
        return option.group(1).upper(), None
    pattern = _LEADING_LETTER_RE if role == "answer" else _LETTER_NAME_RE
    found = pattern.match(span)
    if not found:
        return None, None
    return found.group(1), (normalize_text(found.group(2)) if role == "reference" else None)


def _read_number(span: str, role: str) -> tuple[Fraction | int | None, frozenset]:
    """The number ``span`` states: the span whole; what follows its last ``=`` (for a reference
    only after a lone variable: ``x = 5``, not ``a + 3z = 0``); or the last number among words
    and units ("18 apples", "$15\\text{ cm}^2$"). Never a number inside a name or expression."""
    value = parse_number(span)
    if value is not None:
        return value, frozenset()
    plain = _TEXT_WRAP_RE.sub(r" \1", unwrap_math(_strip_latex_noise(span).strip()))
    parts = _EQUALS_RE.split(plain)
    if len(parts) > 1 and (role == "answer" or (len(parts) == 2 and _SIMPLE_LHS_RE.match(parts[0]))):
        plain = parts[-1]
    # "1/3 \approx 0.33" states 1/3; "x \approx 11" states 11.
    for piece in _APPROX_RE.split(plain) if role == "answer" else (plain,):
        value = parse_number(piece)
        if value is not None:
            return value, frozenset()
    return _number_among_words(plain)


_NUMBER_WORD_ALTERNATION = "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
# Two or more number words in a row ("forty two", "forty-two", "one hundred and six"); one word alone
# is read token by token below.
_SPELLED_RE = re.compile(
    rf"\b(?:{_NUMBER_WORD_ALTERNATION})(?:(?:\s+and\s+|\s+|-)(?:{_NUMBER_WORD_ALTERNATION}))+\b", re.IGNORECASE
)


_SIGNED_RE = re.compile(rf"\b(?:minus|negative)\s+(\d|(?:{_NUMBER_WORD_ALTERNATION})\b)", re.IGNORECASE)


def _signed_digits(found: re.Match) -> str:
    value = found.group(1)
    return "-" + (value if value.isdigit() else str(_NUMBER_WORDS[value.lower()]))


def _spelled_number(words: Sequence[str]) -> int | None:
    """The value of number words written in order ("forty two", "two thousand five hundred and
    six"), or None where they are not one number ("one two", "twenty thirty")."""
    total, current, last = 0, 0, None
    for word in words:
        if word == "and":
            if last not in ("hundred", "scale"):
                return None
            continue
        value = _NUMBER_WORDS[word]
        if value < 10:
            kind, allowed = "unit", (None, "tens", "hundred", "scale")
        elif value < 100:
            kind, allowed = ("teen" if value < 20 else "tens"), (None, "hundred", "scale")
        elif value == 100:
            kind, allowed = "hundred", ("unit", "teen")  # "five hundred", "fifteen hundred"
        else:
            kind, allowed = "scale", ("unit", "teen", "tens", "hundred")
        if last not in allowed:
            return None
        if kind == "hundred":
            current *= 100
        elif kind == "scale":
            total, current = total + current * value, 0
        else:
            current += value
        last = kind
    return None if last is None else total + current


def _spelled_to_digits(found: re.Match) -> str:
    value = _spelled_number(found.group().lower().replace("-", " ").split())
    return found.group() if value is None else str(value)


def _number_among_words(text: str) -> tuple[Fraction | int | None, frozenset]:
    text = _MATH_NAME_RE.sub(" x ", text)  # "the largest $n$ is 34": a named quantity is a word
    if "-" in text or " " in text:
        text = _SPELLED_RE.sub(_spelled_to_digits, text)
        if "minus" in text.lower() or "negative" in text.lower():  # "minus 14", "negative fourteen"
            text = _SIGNED_RE.sub(_signed_digits, text)
    text = _SPACED_GROUPS_RE.sub(lambda m: m.group(1) + "".join(m.group(2).split()), text)
    number, words = None, set()
    for token in text.split():
        token = token.strip("()\"'*,;:!?").rstrip(".")
        if token[:1] == "[" and token[-1:] == "]":  # "[90]", as Geometry3K answers; not "[0,9)"
            token = token[1:-1]
        if not token:
            continue
        value = parse_number(token)
        if value is None and token.lower() in _NUMBER_WORDS:
            value = _NUMBER_WORDS[token.lower()]
        unit = _UNIT_NUMBER_RE.match(token) if value is None else None
        if unit:
            value, token = parse_number(unit.group(1)), unit.group(2)
            words.add(token.lower())
        if value is not None:
            if number is not None:
                return None, frozenset()  # a list ("10, 4, -2") is not its last number
            number = value
        elif _WORD_RE.match(token):
            words.add(token.lower().rstrip("."))
        else:
            return None, frozenset()  # an identifier or an operator: not a number among words
    return number, frozenset(words - _STOP_WORDS)


@functools.lru_cache(maxsize=16384)
def read_answer(span: str, role: str = "answer") -> Reading:
    """Everything the fast path compares about one answer (``role``: "answer" or "reference")."""
    span = span.strip()
    text = normalize_text(unwrap_math(span))
    hedge = _hedge(span, text) if role == "answer" else None
    if hedge == "all":  # "not 7", "B is wrong", "A, B or C", "yes or no": nothing is stated
        return Reading(span, _compact(span), text, None, frozenset(), _NO_LETTER, None, None, False, None, None, False)
    number, units = _read_number(span, role) if hedge is None else (None, frozenset())  # "less than 7"
    letter, option = _letter(span, role)
    first = text.split(" ", 1)[0] if text else ""
    boolean = _BOOLEANS.get(first) if role == "answer" else _BOOLEANS.get(text)
    plain = _TEXT_WRAP_RE.sub(r"\1", span)
    compact = _compact(span)
    items = _items(compact) if number is None and "," in compact else None
    root = _root(compact) if "sqrt" in compact else None
    mathy = bool(_MATHY_RE.search(plain.replace(";", ","))) and letter is None  # "1;2" lists as "1,2" does
    bare = _TEXT_WRAP_RE.sub("", compact)
    variables = mathy and bool(_FREE_VARIABLE_RE.search(bare)) and not _RELATION_RE.search(bare)
    return Reading(span, compact, text, number, units, letter, option, boolean, mathy, items, root, variables)


_NO_LETTER = "?"  # the letter of an answer that names several options or denies one: it matches no key
# An answer that denies or hedges what it states, so that no number, letter or boolean is read from it.
_NEGATED_RE = re.compile(
    r"^(?:n't|not|never)\b|^(?:(?:option|choice)\s+)?\S{1,24}\s+(?:is|are)(?:\s+not\b|n't\b|\s+(?:wrong|"
    r"incorrect|false)\b)",
    re.IGNORECASE,
)
_LETTER_LIST_RE = re.compile(r"^[(\[]?[A-J][)\]]?(?:\s*(?:,|;|/|&|\bor\b|\band\b)?\s*[(\[]?[A-J][)\]]?)+[.。]?$")
# Words that bound or deny a number stated among words: "less than 7", "7 or more", "The answer isn't 7".
_NUMBER_HEDGES = frozenset(
    "less more fewer greater least most below above than exceeds not isnt never wrong incorrect".split()
)
_YES, _NO = frozenset({"yes", "true"}), frozenset({"no", "false"})


def _hedge(span: str, text: str) -> str | None:
    """ "all" where ``span`` denies its value ("not 7", "B is wrong"), names several options ("A, B
    or C", "(C) and (D)") or says yes and no; "number" where words bound or deny the number it
    states ("less than 7", "7 or more", "The answer isn't 7"); else None."""
    if _NEGATED_RE.match(span) or _LETTER_LIST_RE.match(span.strip("*$ ")):
        return "all"
    words = text.split()
    if not _YES.isdisjoint(words[:4]) and not _NO.isdisjoint(words[:4]):
        return "all"
    return "number" if _DIGIT_RE.search(span) and not _NUMBER_HEDGES.isdisjoint(words) else None
