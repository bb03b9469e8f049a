"""Reading final answers: the answer a completion states, and the acceptable answers of a reference.

:func:`extract_answer` finds the final answer of a completion (a marker, a tag, a box, "the
answer is", else its last line, math or number); :func:`extract_reference` the answers a
reference accepts (GSM8K's "####", a worked solution, aliases, objects). How a span is read
(number, letter, text) is in answer_values.py; comparing is in answers.py.
"""

from __future__ import annotations

import collections
import functools
import re
from itertools import islice, repeat
from typing import Any, NamedTuple

from grpo_suite.answer_values import _DIGIT_RE, _LAST_LETTER_RE, _MATHY_RE, _letter, _read_number
from grpo_suite.number_parsing import (
    _DISPLAY_MATH,
    _NUMBER_RE,
    _PLAIN_RE,
    parse_number,
    unwrap_math,
)

# --------------------------------------------------------------------------------------------
# Extraction
# --------------------------------------------------------------------------------------------

# `answer:` also matches the tail of `final answer:`; the last marker wins either way.
_MARKER_RE = re.compile(r"\b(?:final\s+)?answer\s*[:：]", re.IGNORECASE)
# "The (final) answer is", "My choice is", "The correct option is", "Final answer is", and "Answer is"
# opening a sentence. _last_marker finds these from their last word; _answer_is_start confirms what precedes it.
_ANSWER_IS_RE = re.compile(
    r"(?:\b(?:the|my|our)\s+(?:(?:final|correct|right|best)\s+)?|\bfinal\s+|(?:^|(?<=[.!?]))\s*\b)"
    r"(?:answer|option|choice)(?:\s*\([^()\n]{1,40}\))?\s+is\b\s*:?",
    re.IGNORECASE | re.MULTILINE,
)
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
        if span[stop.start()] == "." and (
            word in _ABBREVIATIONS or (len(initial) == 1 and initial.isalpha()) or (word == "no" and follows.isdigit())
        ):
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
_FILLER_RE = re.compile(
    r"^(?:for sure|definitely|certainly|clearly|obviously|probably|likely|most likely|surely|"
    r"undoubtedly)\b[\s,:]*(?=\S)",
    re.IGNORECASE,
)
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


def _last_marker(
    text: str, low: str, pattern: re.Pattern, after: re.Pattern, before=None, words: tuple[str, ...] = ("answer",)
):
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
    if isinstance(
        reference, dict
    ):  # SQuAD's {"text": [...]}, TriviaQA's {"aliases": [...]}, verl's {"ground_truth": ...}
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
