"""Comparing final answers: the one place that decides whether an answer matches a reference.

:func:`answers_match` compares an answer with the acceptable answers of a reference, and
:func:`extraction_matches` does so for what :func:`extract_answer` read. A fast path in the
standard library decides numbers (every written form), multiple-choice letters, booleans and
text; a pair it cannot decide where either side is mathematical (LaTeX, operators, intervals,
sets, tuples, matrices, equations) goes to math_verify (``math-verify``, the checker TRL and
open-r1 use) under a per-pair time limit. Both verdicts are cached.

Reading is done beside it: answer_reading.py finds the answer of a completion or a reference,
answer_values.py reads one span, number_parsing.py parses numbers and symbolic.py runs
math_verify. Their public names are importable from here, the one module the rest of the
suite asks about answers.
"""

from __future__ import annotations

from typing import Sequence

from grpo_suite.answer_reading import (  # noqa: F401 - re-exported: the public names of reading answers
    Extraction,
    _extract_reference_text,
    _marked_answer,
    _unmarked_answer,
    completion_text,
    extract_answer,
    extract_reference,
    last_number,
)
from grpo_suite.answer_values import (  # noqa: F401 - re-exported
    _DIGIT_RE,
    _EQUALS_RE,
    Reading,
    _items_equal,
    _rhs,
    normalize_text,
    read_answer,
)
from grpo_suite.number_parsing import numbers_match, parse_number, unwrap_math  # noqa: F401 - re-exported
from grpo_suite.symbolic import _SYMBOLIC_MAX_CHARS, SYMBOLIC_TIME_LIMIT, run_limited, symbolic_match  # noqa: F401

# --------------------------------------------------------------------------------------------
# Comparing an answer with a reference
# --------------------------------------------------------------------------------------------


def _fast_verdict(a: Reading, r: Reading) -> bool | None:
    """True or False where numbers, letters, booleans or text decide; None where they cannot."""
    if a.compact and a.compact == r.compact:
        return True
    if r.letter is not None:  # the letter-or-text rule: a letter decides, else the option text
        if a.letter is not None:
            return a.letter == r.letter
        if r.option and a.text == r.option:
            return True
    if r.boolean is not None and a.boolean is not None:
        return a.boolean == r.boolean
    if a.number is not None and r.number is not None:
        if not (a.units and r.units) or a.units <= r.units or r.units <= a.units:
            return numbers_match(a.number, r.number)
        return False
    if a.items is not None and r.items is not None:
        return _items_equal(a.items, r.items)
    if (a.items is not None and r.number is not None) or (r.items is not None and a.number is not None):
        return False  # several values never equal one
    if a.root is not None or r.root is not None:
        mine = a.root if a.root is not None else a.number
        theirs = r.root if r.root is not None else r.number
        if mine is not None and theirs is not None:
            try:
                mine, theirs = float(mine), float(theirs)
            except OverflowError:
                return False
            return abs(mine - theirs) <= 1e-9 * max(abs(mine), abs(theirs))
    if a.compact == _rhs(r.compact) or _rhs(a.compact) == r.compact:  # "y=2x+3" states "2x+3"
        return True
    if (a.number is not None and r.variables) or (r.number is not None and a.variables):
        return False
    if a.text and not (a.mathy or r.mathy):
        if a.text == r.text:
            return True
        # "goosebumps", "Goose-bumps", "goose bumps": SQuAD deletes a hyphen, we read it as a space,
        # so words are compared once more without their spaces (never digits: "1 2" is not "12").
        if (
            " " in a.text + r.text
            and a.text.replace(" ", "") == r.text.replace(" ", "")
            and not _DIGIT_RE.search(a.text)
        ):
            return True
    # math_verify is asked only where both sides could be mathematics and one of them is more
    # than a number: never for text, a letter key, or a word against a formula.
    maths = (a.mathy or a.number is not None) and (r.mathy or r.number is not None) and r.letter is None
    return None if maths and (a.mathy or r.mathy) else False


def answers_match(answer: str | None, references: Sequence[str], *, symbolic: bool = True) -> bool:
    """True when ``answer`` matches any reference.

    Numbers match in every written form (within a relative tolerance of 1e-6, integers
    exactly), a multiple-choice letter against the key's letter (or the option text when no
    letter is given), yes/no against true/false in the reference's sense, text after SQuAD
    normalisation. Where these cannot decide and either side is mathematical, math_verify
    decides (unless ``symbolic`` is False) within :data:`SYMBOLIC_TIME_LIMIT` seconds.
    """
    if not answer or not answer.strip():
        return False
    if answer in references:  # the same words match in every reading, so none need be parsed
        return True
    number = parse_number(answer)
    if number is not None:  # the common case: two plain numbers, without reading either further
        for reference in references:
            value = parse_number(reference) if reference else None
            if value is None:
                break
            if numbers_match(number, value):
                return True
        else:
            return False
    a = read_answer(answer, "answer")
    readings = [read_answer(ref, "reference") for ref in references if ref and ref.strip()]
    letters = {r.letter for r in readings if r.letter is not None}
    if a.letter is not None and letters:  # a letter answers a lettered key, whatever else is listed
        return a.letter in letters
    undecided = []
    for r in readings:
        verdict = _fast_verdict(a, r)
        if verdict:
            return True
        if verdict is None:
            undecided.append(r)
    if not symbolic or len(a.span) > _SYMBOLIC_MAX_CHARS:  # a page of text is no formula to verify
        return False
    return any(
        symbolic_match(_symbolic_side(a.span, r.span), r.span) for r in undecided if len(r.span) <= _SYMBOLIC_MAX_CHARS
    )


def _symbolic_side(answer: str, reference: str) -> str:
    """What math_verify reads of the answer: against a reference that is no equation, what
    follows the answer's last "=" ("\\sum_{i=1}^{n} i = \\frac{n(n+1)}{2}" states the fraction)."""
    if _EQUALS_RE.search(reference):
        return answer
    parts = _EQUALS_RE.split(unwrap_math(answer))
    return parts[-1].strip() if len(parts) > 1 and parts[-1].strip() else answer


def extraction_matches(
    found: Extraction, references: Sequence[str], *, symbolic: bool = True, text: str | None = None
) -> bool:
    """:func:`answers_match` for an extraction, whose uncut line may also match as text
    ("No. I am your father", "Mrs. Hilt"). Given the ``text`` it was read from, an unmarked last
    line without a digit ("Hope this helps!") gives way to the text's last number against
    references that are numbers: such a line cannot answer them."""
    if answers_match(found.answer, references, symbolic=symbolic):
        return True
    if text is not None and found.source == "last_line" and not _DIGIT_RE.search(found.whole or found.answer):
        number = last_number(text)
        if number is not None and any(parse_number(ref) is not None for ref in references if ref):
            return answers_match(number, references, symbolic=False)
    if found.whole is None or found.whole == found.answer or parse_number(found.answer) is not None:
        return False  # a number that does not match is not rescued by the sentence around it
    whole = read_answer(found.whole, "answer")
    if not whole.text or whole.mathy:  # "(x-8)^2" and "(x+8)^2" are one text without their signs
        return False
    return any(
        whole.text == r.text and not r.mathy for r in (read_answer(ref, "reference") for ref in references if ref)
    )


def clear_caches() -> None:
    """Forget cached extractions and verdicts (for benchmarks that time a cold start)."""
    for cached in (
        _marked_answer,
        _unmarked_answer,
        _extract_reference_text,
        parse_number,
        read_answer,
        symbolic_match,
    ):
        cached.cache_clear()
