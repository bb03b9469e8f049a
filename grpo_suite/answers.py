"""Reading and comparing final answers: the one place that does either, for rewards and datasets.

:func:`extract_answer` reads the final answer of a completion, :func:`extract_reference` the
acceptable answers of a reference, and :func:`answers_match` compares them. A fast path in the
standard library decides numbers (every written form), multiple-choice letters, booleans and
text; a pair it cannot decide where either side is mathematical (LaTeX, operators, intervals,
sets, tuples, matrices, equations) goes to math_verify (``math-verify``, the checker TRL and
open-r1 use) under a per-pair time limit. Both verdicts are cached.

Numbers are parsed in number_parsing.py and math_verify runs in symbolic.py; their public names
(:func:`parse_number`, :func:`numbers_match`, :func:`symbolic_match`, ...) are importable from here.
"""

from __future__ import annotations

import collections
import functools
import re
import unicodedata
from fractions import Fraction
from itertools import islice, repeat
from typing import Any, NamedTuple, Sequence

from grpo_suite.number_parsing import (  # noqa: F401 - re-exported: answers.parse_number etc. stay public names
    _DISPLAY_MATH,
    _FRAC_NAMES_RE,
    _NUMBER_RE,
    _NUMBER_WORDS,
    _PLAIN_RE,
    _strip_latex_noise,
    numbers_match,
    parse_number,
    unwrap_math,
)
from grpo_suite.symbolic import SYMBOLIC_TIME_LIMIT, _SYMBOLIC_MAX_CHARS, run_limited, symbolic_match  # noqa: F401

# --------------------------------------------------------------------------------------------
# Extraction
# --------------------------------------------------------------------------------------------

# `answer:` also matches the tail of `final answer:`; the last marker wins either way.
_MARKER_RE = re.compile(r"\b(?:final\s+)?answer\s*[:：]", re.IGNORECASE)
# "The (final) answer is", "My choice is", "The correct option is", "Final answer is", and "Answer is"
# opening a sentence. _last_marker finds these from their last word; _answer_is_start confirms what precedes it.
_ANSWER_IS_RE = re.compile(
    r"(?:\b(?:the|my|our)\s+(?:(?:final|correct|right|best)\s+)?|\bfinal\s+|(?:^|(?<=[.!?]))\s*\b)"
    r"(?:answer|option|choice)(?:\s*\([^()\n]{1,40}\))?\s+is\b\s*:?", re.IGNORECASE | re.MULTILINE)
_IS_WORDS = ("answer", "option", "choice")
_COLON_AFTER = re.compile(r"\s*[:：]")
_IS_AFTER = re.compile(r"(?:\s*\([^()\n]{1,40}\))?\s+is\b\s*:?")  # "the answer (Yes or No) is"
_LEAD_ENDINGS = ("the", "my", "our", "final", "correct", "right", "best")  # the last words _IS_LEAD can end in
_IS_LEAD = re.compile(r"\b(?:(?:the|my|our)\s+(?:(?:final|correct|right|best)\s+)?|final\s+)\Z")
_THINK_END = "</think>"
_END_OF_TURN = ("<|im_end|>", "<|im_start|>", "<|endoftext|>", "<|eot_id|>", "<|end|>", "<|end_of_text|>")
_ANSWER_OPEN, _ANSWER_CLOSE = "<answer>", "</answer>"
_GSM8K_MARK = "####"
_SCAN_CHARS = 16384  # how much of a completion's end is read for its final answer
_SHORT_LINE = 80  # an unmarked last line up to this long is the answer itself ("Paris.")
_SHORT_WORDS = 6  # ... when it holds no digit and at most this many words
_SENTENCE_END_RE = re.compile(r"(?<=\S)[.。]\s+")
# A period after these does not end the sentence: "Mrs. Hilt", "U.S. Army", "e.g. apples".
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st jr sr vs etc fig eq approx inc ltd co corp mt ft dept est gen gov sgt lt col "
    "capt rev hon jan feb mar apr jun jul aug sep sept oct nov dec e.g i.e a.m p.m u.s u.k".split()
)


class Extraction(NamedTuple):
    """A final answer read from text: the answer, how it was found, and where.

    ``whole`` is the answer's line before it was cut at its first sentence ("No. I am your
    father"), compared as text only; None where nothing was cut.
    """

    answer: str | None
    source: str | None  # marker, answer_tag, boxed, answer_is, last_line, last_math, last_number, last_letter
    start: int  # offset of the marker (or answer) in the text, -1 when nothing was found
    whole: str | None = None


_NOTHING = Extraction(None, None, -1)


def completion_text(completion: Any) -> str:
    """The text of a plain or conversational completion (the last message's content)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        content = completion.get("content", "")
        if isinstance(content, list):  # content parts: [{"type": "text", "text": "..."}, {"type": "image", ...}]
            return "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
        return "" if content is None else str(content)
    if isinstance(completion, (list, tuple)) and completion:
        return completion_text(completion[-1])
    return "" if completion is None else str(completion)


def _last_boxed(text: str, end: int | None = None) -> tuple[str | None, int, int]:
    """Content of the last ``\\boxed{...}`` (before ``end``) with nested braces, its offset and
    the offset after its closing brace."""
    end = len(text) if end is None else end
    boxed, fbox = text.rfind("\\boxed", 0, end), text.rfind("\\fbox", 0, end)
    start, open_at = (boxed, boxed + 6) if boxed >= fbox else (fbox, fbox + 5)
    if start < 0:
        return None, -1, -1
    while open_at < len(text) and text[open_at] == " ":
        open_at += 1
    if open_at >= len(text) or text[open_at] != "{":
        return None, -1, -1
    close = text.find("}", open_at)
    if close > 0 and text.find("{", open_at + 1, close) < 0:  # no nested group: str.find, not a loop
        return text[open_at + 1 : close].strip(), start, close + 1
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[open_at + 1 : i].strip(), start, i + 1
    return None, -1, -1


def _boxed_group(text: str) -> tuple[str | None, int]:
    """The last box, joined with the boxes just before it ("\\boxed{-2} and \\boxed{1}" -> "-2, 1")."""
    content, start, _ = _last_boxed(text)
    if content is None:
        return None, -1
    parts = [content]
    for _ in range(8 if text.rfind("\\boxed", 0, start) >= 0 or text.rfind("\\fbox", 0, start) >= 0 else 0):
        previous, previous_start, previous_end = _last_boxed(text, start)
        if previous is None or not _BOX_GAP_RE.match(text, previous_end, start):
            break
        parts.insert(0, previous)
        start = previous_start
    return ", ".join(parts), start


_BOX_GAP_RE = re.compile(r"(?:\s|,|;|\$|\\[()\[\]]|\\quad|\\qquad|\\,|\\text\{\s*(?:and|or)?\s*,?\s*\}|and\b|or\b)*\Z")


class _Found(NamedTuple):
    text: str
    start: int
    end: int


def _last_match(pattern: re.Pattern, text: str) -> _Found | None:
    last = collections.deque(pattern.finditer(text), maxlen=1)
    return _Found(last[0].group(), last[0].start(), last[0].end()) if last else None


def _line_after(text: str, pos: int) -> str:
    """The rest of the line from ``pos`` (the next non-empty line if blank); a display-math
    block that opens there is read to its closing delimiter."""
    rest = text[pos : pos + 4096].lstrip()
    for opening, closing in _DISPLAY_MATH if rest[:1] in ("$", "\\") else ():
        if rest.startswith(opening):
            end = rest.find(closing, len(opening))
            if end > 0:
                return " ".join(rest[: end + len(closing)].split())
    return rest.partition("\n")[0].strip()


def _first_sentence(span: str) -> str:
    """``span`` up to its first full stop, reading abbreviations and initials as words."""
    if "." not in span and "。" not in span:
        return span
    for stop in _SENTENCE_END_RE.finditer(span):
        word = span[span.rfind(" ", 0, stop.start()) + 1 : stop.start()].lower().lstrip("(\"'*")
        follows = span[stop.end() : stop.end() + 1]
        initial = word.replace(".", "")
        if span[stop.start()] == "." and (word in _ABBREVIATIONS or (len(initial) == 1 and initial.isalpha())
                                          or (word == "no" and follows.isdigit())):
            continue
        return span[: stop.start()]
    return span


def _clean_span(span: str) -> tuple[str, str]:
    """Trim what surrounds an answer: "the answer is", a box, math delimiters, markdown and
    the sentence after it. Returns the answer and the uncut line."""
    simple = _SIMPLE_SPAN_RE.match(span)
    if simple:  # "1,234." or "$56": most answers of arithmetic tasks, read without the general steps
        return simple.group(1), simple.group(1)
    inner = _ANSWER_IS_RE.match(span)
    if inner:
        span = span[inner.end() :].strip()
    boxed, _ = _boxed_group(span)
    if boxed is not None:
        span = boxed
    span = span.strip().strip("*_` ").strip()
    whole = _strip_stop(span)  # uncut, the adverb too: "Just Dance" is a title
    if span[:1].isalpha() and span[:1].lower() in _FILLER_INITIALS:
        span = _FILLER_RE.sub("", span, count=1)
    span = unwrap_math(_first_sentence(span)).strip().strip("*$ ")
    return _strip_stop(span), whole


# An adverb before the answer itself: "The answer is for sure D", "Answer: definitely Paris".
# Not "just" or "simply": "Just Dance" is a title.
_FILLER_RE = re.compile(r"^(?:for sure|definitely|certainly|clearly|obviously|probably|likely|most likely|surely|"
                        r"undoubtedly)\b[\s,:]*(?=\S)", re.IGNORECASE)
_FILLER_INITIALS = frozenset("fdcoplmsu")
_SIMPLE_SPAN_RE = re.compile(r"^[\s*_]*([-+]?[$€£]?\d[\d,]*(?:\.\d+)?)[\s*_]*\.?[\s*_]*$")


def _strip_stop(span: str) -> str:
    span = span.strip()
    if span.endswith("。") or (span.endswith(".") and not span.endswith("..")):
        span = span[:-1].rstrip()
    return span


def extract_answer(text: str, last_number: bool = True) -> Extraction:
    """Read the final answer of ``text``.

    Only what follows a closing ``</think>`` is read, when something does. Precedence: a
    ``final answer:`` / ``answer:`` marker, ``<answer>...</answer>`` tags, the last
    ``\\boxed{...}`` (with the boxes just before it), ``The (correct) answer is ...``. Then, if
    ``last_number`` (unmarked answers, which format_reward does not count): a short last line
    ("Paris.", "B)", "x = 5"), else the last inline math, the last number that stands alone (not
    the 2 of AZYUK2A) or the last option letter. A chat template's end-of-turn token ends the
    text. Only the last 16,384 characters are read. Cached, since several components read one text.

    >>> extract_answer("3 + 4 = 7\\nFinal answer: 7.").answer
    '7'
    """
    found = _marked_answer(text)
    if found.source is None and last_number:
        return _unmarked_answer(text)
    return found


def _region(text: str) -> tuple[str, int]:
    """The part of ``text`` that holds the answer: after ``</think>`` if anything is, and only
    its end, which bounds the regex work on a megabyte of output."""
    if "</" not in text and "<|" not in text:  # most texts: only their end is read
        start = max(0, len(text) - _SCAN_CHARS)
        return text[start:], start
    think = text.rfind(_THINK_END)
    start = think + len(_THINK_END) if think >= 0 and text[think + len(_THINK_END) :].strip() else 0
    # A chat template's end of turn, after some content: what follows is not the answer.
    content = len(text) - len(text[start:].lstrip())
    end = min((at for at in map(text.find, _END_OF_TURN, repeat(content + 1)) if at >= 0), default=len(text))
    start = max(start, end - _SCAN_CHARS)
    return text[start:end], start


@functools.lru_cache(maxsize=4096)
def _marked_answer(text: str) -> Extraction:
    tail, shift = _region(text)
    low = tail.lower()
    # Both text markers contain "answer": without it, neither needs looking for.
    has_answer = "answer" in low
    marker = _last_marker(tail, low, _MARKER_RE, _COLON_AFTER, None) if has_answer else None
    if marker:
        line = _line_after(tail, marker.end)
        if _PLAIN_RE.match(line):  # "Answer: 1,234": nothing to trim
            return Extraction(line, "marker", shift + marker.start, line)
        span, whole = _clean_span(line)
        if span:
            return Extraction(span, "marker", shift + marker.start, whole)
    tagged = _answer_tag(tail) if has_answer else None
    if tagged:
        return Extraction(tagged[0], "answer_tag", shift + tagged[2], tagged[1])
    boxed, at = _boxed_group(tail)
    if boxed:
        return Extraction(boxed, "boxed", shift + at)
    is_words = _IS_WORDS if "option" in low or "choice" in low else ("answer",) if has_answer else ()
    answer_is = _last_marker(tail, low, _ANSWER_IS_RE, _IS_AFTER, _answer_is_start, is_words) if is_words else None
    if answer_is:
        span, whole = _clean_span(_line_after(tail, answer_is.end))
        if span:
            return Extraction(span, "answer_is", shift + answer_is.start, whole)
    return _NOTHING


def _answer_tag(tail: str) -> tuple[str, str, int] | None:
    """The content of the last ``<answer>`` tag (closed or not), read like a short answer."""
    at = tail.rfind(_ANSWER_OPEN)
    if at < 0:
        return None
    end = tail.find(_ANSWER_CLOSE, at)
    content = tail[at + len(_ANSWER_OPEN) : end if end >= 0 else len(tail)].strip()
    if not content:
        return None
    # A marker inside the tag, else the content read as an unmarked answer: a short last line
    # ("London"), or the last math or number of a worked answer ("So she fills 28 / 2 = 14 bags.").
    inner = _marked_answer(content)
    if inner.source is None:
        inner = _unmarked_answer(content)
    return (inner.answer, inner.whole or inner.answer, at) if inner.answer else None


def _last_marker(text: str, low: str, pattern: re.Pattern, after: re.Pattern, before=None,
                 words: tuple[str, ...] = ("answer",)):
    """The last match of ``pattern``, found from the word of ``words`` that every match contains.

    str.rfind finds candidates at C speed and small regexes confirm them (``after`` what follows
    the word, ``before(low, at)`` where the marker starts, or None), instead of one
    case-insensitive regex tried at every position. Offsets of ``low`` equal those of ``text``
    only for ASCII, so other text takes the plain regex.
    """
    if not text.isascii():
        found = _last_match(pattern, text)
        lead = len(found.text) - len(found.text.lstrip()) if found else 0  # a sentence's start: after its spaces
        return found._replace(text=found.text[lead:], start=found.start + lead) if found else None
    last = None
    for word in words:  # the last marker of each word; the last of those is the text's
        found = _last_word_marker(text, low, word, after, before)
        if found is not None and (last is None or found.end > last.end):
            last = found
    return last


def _last_word_marker(text: str, low: str, word: str, after: re.Pattern, before) -> _Found | None:
    end = len(low)
    while (at := low.rfind(word, 0, end)) >= 0:
        end = at
        if at and (low[at - 1].isalnum() or low[at - 1] == "_"):
            continue
        tail = after.match(low, at + len(word))
        if not tail:
            continue
        start = at if before is None else before(low, at)
        if start is not None:
            return _Found(text[start : tail.end()], start, tail.end())
    return None


def _answer_is_start(low: str, at: int) -> int | None:
    """Where "... answer is" starts, given its word at ``at``: at "the correct", "my" or "final"
    before it, or at the word itself when it opens a sentence ("Answer is 7"); None otherwise."""
    window = low[max(0, at - 32) : at]
    lead = _IS_LEAD.search(window) if window.rstrip().endswith(_LEAD_ENDINGS) else None  # endswith: C speed
    if lead:
        start = at - len(window) + lead.start()
        if not start or not (low[start - 1].isalnum() or low[start - 1] == "_"):
            return start
    gap = at - len(low[:at].rstrip())  # the whitespace just before the word
    opens = at == gap or low[at - gap - 1] in ".!?\n" or "\n" in low[at - gap : at]
    return at if opens else None


@functools.lru_cache(maxsize=4096)
def _unmarked_answer(text: str) -> Extraction:
    tail, shift = _region(text)
    body = tail.rstrip()
    line_start = body.rfind("\n") + 1
    line = body[line_start:].strip()
    for _ in range(3):  # "\]", "</answer>", "<br>" state nothing: the line above them is the last one
        if not (line_start and _only_markup(line)):
            break
        body = body[: line_start - 1].rstrip()
        line_start = body.rfind("\n") + 1
        line = body[line_start:].strip()
    if line and len(line) <= _SHORT_LINE and not _only_markup(line):
        span = _short_answer(line)
        if span:
            return Extraction(span[0], "last_line", shift + line_start, span[1])
    math = _last_math(tail)
    if math:
        return Extraction(math.text, "last_math", shift + math.start)
    number = _last_number(tail)
    if number:
        return Extraction(number.text, "last_number", shift + number.start)
    end = tail[-2000:]
    letter = _last_match(_LAST_LETTER_RE, end)  # "... therefore I think it's B"
    return Extraction(letter.text, "last_letter", shift + len(tail) - len(end) + letter.start) if letter else _NOTHING


def _last_math(text: str) -> _Found | None:
    """The last inline or display math (``$...$``, ``$$...$$``, ``\\(...\\)``, ``\\[...\\]``)
    when no digit follows it and it states something (a digit or a command): "the pair is $(7, 6)$"."""
    best = None
    close = text.rfind("$")
    if close > 0:
        double = text[close - 1] == "$"
        opening = text.rfind("$$", 0, close - 1) if double else text.rfind("$", 0, close)
        if opening >= 0:
            best = (opening + (2 if double else 1), close - (1 if double else 0), close + 1)
    for opening_token, closing_token in (("\\(", "\\)"), ("\\[", "\\]")):
        close = text.rfind(closing_token)
        if close >= 0 and (best is None or close + 2 > best[2]):
            opening = text.rfind(opening_token, 0, close)
            if opening >= 0:
                best = (opening + 2, close, close + 2)
    if best is None or best[1] - best[0] > 2000 or _DIGIT_RE.search(text, best[2]):
        return None
    content = text[best[0] : best[1]].strip()
    if not (_DIGIT_RE.search(content) or "\\" in content):
        return None
    return _Found(content, best[0], best[1])


_DIGIT_RE = re.compile(r"\d")
_TAG_RE = re.compile(r"</?[A-Za-z][^<>]{0,80}>")
_WORD_CHAR_RE = re.compile(r"\w")


def _only_markup(line: str) -> bool:
    """A line of tags and punctuation alone ("\\]", "$$", "</answer>", "<br>"): it states no answer."""
    return not _WORD_CHAR_RE.search(_TAG_RE.sub("", line) if "<" in line else line)


def _short_answer(line: str) -> tuple[str, str] | None:
    """A short last line as the answer: text or a letter (its first sentence, "Paris."), a
    number with words around it or an expression whole ("x = 5"), or else the last number
    standing alone in it; None to read the whole text instead.

    A line with digits is read whole, not cut at its first sentence: an unmarked answer comes
    last ("I added 3 and 4. The total is 7").
    """
    span, whole = _clean_span(line)
    if not span:
        return None
    if not any(c.isdigit() for c in whole):
        short = len(whole.split()) <= _SHORT_WORDS or _letter(whole, "answer")[0] is not None
        return (span, whole) if short else None
    whole = unwrap_math(whole)
    if parse_number(whole) is not None or _read_number(whole, "answer")[0] is not None:
        return whole, whole
    math = _last_math(whole)
    if math:
        return math.text, whole
    if _prose_words(whole, 4) <= 3 and _MATHY_RE.search(whole):
        return whole, whole
    number = _last_number(whole)
    return (number.text, whole) if number else (whole, whole)


# Latin words outside LaTeX commands, and every letter of scripts written without spaces (CJK).
_PROSE_WORD_RE = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}|[^\W\d_A-Za-z]")


def _prose_words(text: str, enough: int) -> int:
    """How many prose words ``text`` holds, counted up to ``enough``: a long text is not read to its end."""
    return sum(1 for _ in islice(_PROSE_WORD_RE.finditer(text), enough))


# Digits glued to a letter or inside a LaTeX group belong to a name or an expression.
_NOT_ALONE_BEFORE = frozenset("_^{\\")
_NOT_ALONE_AFTER = frozenset("_^}")
_NUMBER_CHARS = "0123456789,.eE+-−%/$€£¥₹"


def _last_number(text: str) -> _Found | None:
    """The last number of ``text`` that stands alone: the regex runs only around candidate
    digits, not over the whole text."""
    end = len(text)
    for _ in range(8):  # a few numbers inside names or groups are skipped, not a megabyte of them
        last_digit = max(map(text.rfind, "0123456789", repeat(0), repeat(end)))  # map: C speed
        if last_digit < 0:
            return None
        run_start = len(text[: last_digit + 1].rstrip(_NUMBER_CHARS))
        found = _last_number_in(text, run_start, last_digit + 2)
        if found is None:
            return None
        before = text[found.start - 1] if found.start else " "
        after = text[found.end] if found.end < len(text) else " "
        glued = before.isascii() and before.isalpha()  # "AZYUK2A"; "比例为13/28" is a number in a sentence
        if not (glued or before in _NOT_ALONE_BEFORE or after in _NOT_ALONE_AFTER):
            return found
        end = max(0, found.start)
    return None


def _last_number_in(text: str, run_start: int, stop: int) -> _Found | None:
    """The last number match ending by ``stop``: searched within the run of number characters
    alone, or from 80 characters earlier where the run opens a LaTeX group ("\\frac{3}{4")."""
    if run_start and text[run_start - 1] in "{}":
        window_start = max(0, run_start - 80)  # room for the "\frac{...}{" of a fraction
        found = _last_match(_NUMBER_RE, text[window_start:stop])
        return found._replace(start=found.start + window_start, end=found.end + window_start) if found else None
    found, pos = None, run_start
    while (match := _NUMBER_RE.search(text, pos, stop)) is not None:
        found, pos = match, match.end()
    return _Found(found.group(), found.start(), found.end()) if found else None


def last_number(text: str) -> str | None:
    """The last number written in ``text`` (of its last 16,384 characters), however marked."""
    number = _last_number(_region(text)[0])
    return number.text if number else None


def extract_reference(reference: Any) -> list[str]:
    """The acceptable final answers of a reference: a value, a solution or a list of them.

    A worked solution is read for GSM8K's ``#### 1,234``, then the markers of
    :func:`extract_answer` (``Answer:``, ``\\boxed{}``, ``The answer is``); a short answer
    without one (``$10-4 n$``, ``Paris``, ``(D) Alina``) is taken whole, never reduced to its last
    number. An unmarked solution or proof whose last line is a long sentence of plain text
    yields no answer ([]): it states none, so reference_reward leaves the row out. Booleans
    become yes/true or no/false.

    >>> extract_reference("She has 3 + 4 = 7 apples.\\n#### 7")
    ['7']
    """
    if isinstance(reference, str):  # the common case first: this runs for every completion
        return list(_extract_reference_text(reference))
    if reference is None:
        return []
    if isinstance(reference, bool):
        return ["yes", "true"] if reference else ["no", "false"]
    if isinstance(reference, (list, tuple)):
        return [answer for item in reference for answer in extract_reference(item)]
    if isinstance(reference, dict):  # SQuAD's {"text": [...]}, TriviaQA's {"aliases": [...]}, verl's {"ground_truth": ...}
        keys = [key for key in _REFERENCE_KEYS if key in reference]
        return extract_reference(reference[keys[0]]) if keys else []
    return list(_extract_reference_text(str(reference)))


_REFERENCE_KEYS = ("ground_truth", "answer", "aliases", "normalized_aliases", "text", "value")


@functools.lru_cache(maxsize=4096)  # a GRPO group scores many completions against one reference
def _extract_reference_text(text: str) -> tuple[str, ...]:
    text = text.strip()
    if not text:
        return ()
    if _GSM8K_MARK in text:
        span = text.rsplit(_GSM8K_MARK, 1)[1].strip()
        span = span if _PLAIN_RE.match(span) else _clean_span(span)[0]
        return (span,) if span else ()
    marked = _marked_answer(text)
    if marked.source is not None:
        return (marked.answer,)
    if _ends_in_prose(text):
        return ()  # a proof's closing sentence is no answer, nor is a number from the lines above it
    found = extract_answer(text, last_number=_is_worked_solution(text))
    return (found.answer if found.answer else text,)


def _ends_in_prose(text: str) -> bool:
    """An unmarked solution or proof longer than a short line whose last line is a sentence of
    plain text ("Hence the sum is even, as claimed."): more than a few words, with no digit, no
    math and no option letter. It states no answer to compare with; a short answer ("Consider
    its parity.", "(D) Alina", "$10-4 n$") is taken whole instead."""
    if len(text) <= _SHORT_LINE:
        return False
    line = text.rstrip().rpartition("\n")[2].strip()
    if len(line.split()) <= _SHORT_WORDS or _DIGIT_RE.search(line) or "$" in line or _MATHY_RE.search(line):
        return False
    return _letter(line, "reference")[0] is None


def _is_worked_solution(text: str) -> bool:
    """A reference long enough to be a solution, not an answer: it is read for its last line,
    math or number like a completion. A short answer ("Paris", "$10-4 n$") is taken whole."""
    return len(text) > 200 and _prose_words(text, 20) >= 20 and bool(_DIGIT_RE.search(text))


# --------------------------------------------------------------------------------------------
# Reading one answer: its number, letter, boolean, text and whether it is mathematical
# --------------------------------------------------------------------------------------------

_TEXT_WRAP_RE = re.compile(r"\\(?:text|textbf|textit|textnormal|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}")
_ARTICLES_RE = re.compile(r"\b(?:a|an|the)\b")
_PUNCT_TABLE = {ord(c): " " for c in "!\"#$%&()*+,-/:;<=>?@[\\]^_`{|}~。，：；！？、（）"}
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
_WORD_RE = re.compile(r"^[^\W\d_]+(?:[-'’.][^\W\d_]+)*\.?$|^[^\W\d_]{1,4}(?:\^?[23²³])?(?:/[^\W\d_]{1,4})?$|^[-–—$%°€£]$")
_UNIT_NUMBER_RE = re.compile(r"^([-+]?[$€£]?\d[\d,]*(?:\.\d+)?)([^\W\d_]{1,4}(?:\^?[23²³])?)$")
_STOP_WORDS = frozenset("a an the is are was were be so total of it its there that this thus therefore hence "
                        "we get has have had in on at for to and or answer final which".split())
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
        return len(a[1]) == len(r[1]) and all(any(numbers_match(x, y) for y in r[1]) for x in a[1]) and \
            all(any(numbers_match(x, y) for x in a[1]) for y in r[1])
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
_SPELLED_RE = re.compile(rf"\b(?:{_NUMBER_WORD_ALTERNATION})(?:(?:\s+and\s+|\s+|-)(?:{_NUMBER_WORD_ALTERNATION}))+\b",
                         re.IGNORECASE)


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
_NEGATED_RE = re.compile(r"^(?:n't|not|never)\b|^(?:(?:option|choice)\s+)?\S{1,24}\s+(?:is|are)(?:\s+not\b|n't\b|\s+(?:wrong|"
                         r"incorrect|false)\b)", re.IGNORECASE)
_LETTER_LIST_RE = re.compile(r"^[(\[]?[A-J][)\]]?(?:\s*(?:,|;|/|&|\bor\b|\band\b)?\s*[(\[]?[A-J][)\]]?)+[.。]?$")
# Words that bound or deny a number stated among words: "less than 7", "7 or more", "The answer isn't 7".
_NUMBER_HEDGES = frozenset("less more fewer greater least most below above than exceeds not isnt never wrong incorrect".split())
_YES, _NO = frozenset({"yes", "true"}), frozenset({"no", "false"})


def _hedge(span: str, text: str) -> str | None:
    """"all" where ``span`` denies its value ("not 7", "B is wrong"), names several options ("A, B
    or C", "(C) and (D)") or says yes and no; "number" where words bound or deny the number it
    states ("less than 7", "7 or more", "The answer isn't 7"); else None."""
    if _NEGATED_RE.match(span) or _LETTER_LIST_RE.match(span.strip("*$ ")):
        return "all"
    words = text.split()
    if not _YES.isdisjoint(words[:4]) and not _NO.isdisjoint(words[:4]):
        return "all"
    return "number" if _DIGIT_RE.search(span) and not _NUMBER_HEDGES.isdisjoint(words) else None


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
        if " " in a.text + r.text and a.text.replace(" ", "") == r.text.replace(" ", "") \
                and not _DIGIT_RE.search(a.text):
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
    return any(symbolic_match(_symbolic_side(a.span, r.span), r.span) for r in undecided
               if len(r.span) <= _SYMBOLIC_MAX_CHARS)


def _symbolic_side(answer: str, reference: str) -> str:
    """What math_verify reads of the answer: against a reference that is no equation, what
    follows the answer's last "=" ("\\sum_{i=1}^{n} i = \\frac{n(n+1)}{2}" states the fraction)."""
    if _EQUALS_RE.search(reference):
        return answer
    parts = _EQUALS_RE.split(unwrap_math(answer))
    return parts[-1].strip() if len(parts) > 1 and parts[-1].strip() else answer


def extraction_matches(found: Extraction, references: Sequence[str], *, symbolic: bool = True,
                       text: str | None = None) -> bool:
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
    return any(whole.text == r.text and not r.mathy for r in (read_answer(ref, "reference") for ref in references if ref))


def clear_caches() -> None:
    """Forget cached extractions and verdicts (for benchmarks that time a cold start)."""
    for cached in (_marked_answer, _unmarked_answer, _extract_reference_text, parse_number, read_answer,
                   symbolic_match):
        cached.cache_clear()
