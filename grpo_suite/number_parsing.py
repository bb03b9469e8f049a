"""Numbers in every written form, for answers.py: parsing one span whole as a number, comparing
two numbers, and the pattern that finds numbers inside text.

:func:`parse_number` reads thousands separators, currency, percentages, degrees, decimals,
fractions in their LaTeX spellings, mixed numbers and scientific notation; :func:`numbers_match`
compares two values within a relative tolerance. Standard library only: every reward pays for
this, so it stays fast.
"""

from __future__ import annotations

import functools
import re
from fractions import Fraction

_NUMBER_RE = re.compile(
    r"(?=[-+−$€£¥₹\\\d])(?:"  # a cheap first test at every position: 2.5x faster over prose
    r"[-+−]?\\[dtc]?frac\{[^{}]{1,64}\}\{[^{}]{1,64}\}"  # a LaTeX fraction is one number, not two
    r"|[-+−]?[$€£¥₹]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?%?"
    r"(?:/\d+(?:\.\d+)?)?)"
)
_ANY_DIGIT_RE = re.compile(r"\d")  # Unicode digits too, as int() and Fraction() read them
# Two letters in a row that no backslash opens: every form read here spells its words as LaTeX commands.
_PROSE_RE = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2}")
_MAX_DIGITS = 400  # a longer numeral is compared as text: big ints are slow and rarely meant
_DISPLAY_MATH = (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"))


def unwrap_math(span: str) -> str:
    """The content of ``span`` when math delimiters (``$``, ``$$``, ``\\(``, ``\\[``) open it."""
    if span[:1] not in ("$", "\\"):
        return span
    for opening, closing in _DISPLAY_MATH:
        if span.startswith(opening) and span.find(closing, len(opening)) > 0:
            return span[len(opening) : span.index(closing, len(opening))].strip()
    if span.startswith("$") and span.count("$") >= 2 and not _NUMBER_RE.match(span):
        return span[1 : span.index("$", 1)].strip()
    return span


_FRAC_RE = re.compile(r"^([-+]?)\\frac\s*(?:\{([^{}]+)\}|(\d))\s*(?:\{([^{}]+)\}|(\d))$")
_MIXED_RE = re.compile(r"^([-+]?)(\d+)\s*\\frac\s*(?:\{(\d+)\}|(\d))\s*(?:\{(\d+)\}|(\d))$")
_LATEX_NOISE = ("\\left", "\\right", "\\displaystyle", "~")
_LATEX_SPACE_RE = re.compile(r"\\[!,;: ]\s*")  # "11,\! 111": the space after a spacing command is source layout
_CURRENCY = "$€£¥₹"
_TIMES_SIGNS = frozenset("\\×*")  # the signs _TIMES_TEN_RE needs ("\times", "\cdot", "×", "*"), one of them
_TIMES_TEN_RE = re.compile(r"^(.+?)\s*(?:\\times|\\cdot|×|\*)\s*10\s*\^\s*\{?\s*([-+]?\d{1,3})\s*\}?$")
_PLAIN_RE = re.compile(r"^[-+]?(?:[1-9]\d{0,2}(?:,\d{3})+|\d{1,300})(?:\.\d{1,300})?$")
_THOUSANDS_RE = re.compile(r"^[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?$")
_SPACED_THOUSANDS_RE = re.compile(r"^[-+]?\d{1,3}(?:[ \u00a0\u202f\u2009]\d{3})+(?:\.\d+)?$")
# "1000,99", "1,22", "0,111": a comma that cannot separate thousands separates decimals. "1,2" and
# "-2,1" stay lists (of roots, say), as MATH writes them.
_DECIMAL_COMMA_RE = re.compile(r"^\d+,\d\d$|^0,\d+$|^\d{4,},\d+$")
_DECIMAL_RE = re.compile(r"^\d+(?:\.\d*)?(?:[eE][-+]?\d+)?$|^\.\d+(?:[eE][-+]?\d+)?$")
_DEGREES_RE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°")
_FRAC_NAMES_RE = re.compile(r"\\[dtc]frac")
_REL_TOL = Fraction(1, 10**6)  # exact: a float tolerance would overflow on 1e400
_NUMBER_WORDS = {
    word: n
    for n, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split()
    )
}
_NUMBER_WORDS.update(
    {
        "thirty": 30,
        "forty": 40,
        "fifty": 50,
        "sixty": 60,
        "seventy": 70,
        "eighty": 80,
        "ninety": 90,
        "hundred": 100,
        "thousand": 1000,
        "million": 10**6,
    }
)


def _plain_value(plain: str) -> Fraction | int:
    """``[-]digits[.digits]`` exactly: an int where the decimals are zeros ("18.0"), without
    Fraction's string parsing, which costs more than the rest of a reward."""
    whole, _, decimals = plain.partition(".")
    decimals = decimals.rstrip("0")
    if not decimals:
        return int(whole) if whole not in ("", "-") else 0
    negative = whole.startswith("-")
    value = Fraction(int(whole.lstrip("-") + decimals), 10 ** len(decimals))
    return -value if negative else value


def _decimal(text: str) -> Fraction | int | None:
    text = text.replace(",", "") if _THOUSANDS_RE.match(text) else text
    if not _DECIMAL_RE.match(text):
        return None
    mantissa, _, exponent = text.lower().partition("e")
    if len(mantissa) > _MAX_DIGITS or (exponent and abs(int(exponent)) > _MAX_DIGITS):
        return None
    return int(text) if text.isascii() and text.isdigit() else Fraction(text)  # exact, and fast


def _strip_latex_noise(text: str) -> str:
    if "\\" not in text and "{" not in text and "~" not in text and "°" not in text:
        return text
    if "\\!" in text or "\\," in text or "\\;" in text or "\\:" in text or "\\ " in text:
        text = _LATEX_SPACE_RE.sub("", text)
    for noise in _LATEX_NOISE:
        text = text.replace(noise, "")
    text = text.replace("{,}", ",").replace("\\$", "$").replace("\\%", "%").replace("\\{", "{").replace("\\}", "}")
    if "circ" in text or "°" in text:
        text = _DEGREES_RE.sub("", text)
    spelled = "\\dfrac" in text or "\\tfrac" in text or "\\cfrac" in text
    return _FRAC_NAMES_RE.sub(r"\\frac", text) if spelled else text


@functools.lru_cache(maxsize=65536)
def parse_number(text: str) -> Fraction | int | None:
    """Parse ``text`` whole as a number, or return None.

    Reads thousands separators (``1,234``, ``1 234``, ``1{,}234``, ``1\\,234``), currency signs,
    ``%``, degrees, signs, decimals, ``a/b``, ``\\frac{a}{b}`` in all its spellings (``\\dfrac``,
    ``\\cfrac``, ``\\frac12``, ``\\frac 1 2``, ``\\frac3{3}``), mixed numbers (``918\\frac{1}{2}``),
    scientific notation (``1.5e3``, ``1.5 \\times 10^{3}``), math delimiters and a trailing period.

    >>> parse_number("$1,234.50")
    Fraction(2469, 2)
    """
    text = text.strip().replace("−", "-")
    if text.isascii() and text.isdigit():  # the common case, without the general machinery
        return int(text) if len(text) <= _MAX_DIGITS else None
    plain = text[1:] if text[:1] in _CURRENCY else text
    if _PLAIN_RE.match(plain):  # signs, currency, thousands commas and decimals, still without it
        return _plain_value(plain.lstrip("+").replace(",", ""))
    if not _ANY_DIGIT_RE.search(text):  # every written number has a digit: words need no further look
        return None
    text = unwrap_math(_strip_latex_noise(text).strip()).strip().rstrip(".").strip("$ ").rstrip("%").strip()
    if _PROSE_RE.search(text):  # a word outside a LaTeX command ("5166. The total is 5166"): no number
        return None
    if text.startswith("{") and text.endswith("}") and text.count("{") == 1:
        text = text[1:-1].strip()
    sign = -1 if text.startswith("-") else 1
    value = None if "\\" in text else _decimal(text.lstrip("+-").strip().lstrip(_CURRENCY).strip())
    if value is not None:  # "$5", "-€3.50", "7.": the rest of the forms need not be tried
        return sign * value
    if (" " in text or not text.isascii()) and _SPACED_THOUSANDS_RE.match(text):
        text = "".join(text.split())
    elif "," in text and _DECIMAL_COMMA_RE.match(text):
        text = text.replace(",", ".")
    times_ten = _TIMES_TEN_RE.match(text) if "10" in text and not _TIMES_SIGNS.isdisjoint(text) else None
    if times_ten:
        mantissa = parse_number(times_ten.group(1))
        return None if mantissa is None else mantissa * Fraction(10) ** int(times_ten.group(2))
    fraction = _fraction(text) if "\\frac" in text else None
    if fraction is not None or "\\" in text:
        return fraction
    if "/" in text:
        num, _, den = text.partition("/")
        return _ratio(num, den)
    value = _decimal(text.lstrip("+-").strip().lstrip(_CURRENCY).strip())
    return None if value is None else sign * value


def _fraction(text: str) -> Fraction | None:
    mixed = _MIXED_RE.match(text) if text[:1].isdigit() else None
    if mixed:
        sign, whole, num, short_num, den, short_den = mixed.groups()
        part = _ratio(num or short_num, den or short_den)
        if part is None or part >= 1:  # "2\frac{3}{2}" is not how a mixed number is written
            return None
        return (-1 if sign == "-" else 1) * (int(whole) + part)
    frac = _FRAC_RE.match(text)
    if frac:
        sign, num, short_num, den, short_den = frac.groups()
        return _ratio(sign + (num or short_num), den or short_den)
    return None


def _ratio(num: str, den: str) -> Fraction | None:
    top, bottom = parse_number(num), parse_number(den)
    if top is None or bottom is None or bottom == 0 or "/" in num + den:
        return None
    if isinstance(top, int) and isinstance(bottom, int):  # exact either way, and twice as fast
        return top // bottom if top % bottom == 0 else Fraction(top, bottom)
    return Fraction(top) / bottom


def numbers_match(a: Fraction, b: Fraction) -> bool:
    """Equal within a relative tolerance of 1e-6; two integers must be equal exactly.

    >>> numbers_match(Fraction(1, 3), Fraction("0.3333333")), numbers_match(Fraction(999999), Fraction(10**6))
    (True, False)
    """
    if a.denominator == 1 and b.denominator == 1:  # ints and integral Fractions alike
        return a == b
    return abs(a - b) <= _REL_TOL * max(abs(a), abs(b))
