"""A dataset row's fields as detection reads them: the column-name tables, dotted paths, value
shapes, candidate fields (top-level and one level inside objects) and option lists.

Names are compared with case, spaces, hyphens and underscores ignored (``Correct Answer`` is
``correct_answer``). Standard library only; detection itself is in schemas.py.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from grpo_suite.errors import UsageError

LETTERS = string.ascii_uppercase

# --------------------------------------------------------------------------------------------
# Column tables (names are normalised: lower case, no spaces, hyphens or underscores)
# --------------------------------------------------------------------------------------------

PROMPT_STRONG = (
    "question",
    "problem",
    "query",
    "prompt",
    "instruction",
    "questionstem",
    "stem",
    "goal",
    "questiontext",
    "problemstatement",
    "userprompt",
)
PROMPT_WEAK = (
    "input",
    "inputs",
    "text",
    "content",
    "sentence",
    "ctx",
    "startphrase",
    "message1",
    "request",
    "instructions",
)
CONTEXT_NAMES = (
    "passage",
    "body",
    "context",
    "article",
    "tabletitle",
    "table",
    "support",
    "paragraph",
    "document",
    "story",
    "background",
    "passages",
    "contexts",
)
OPTION_NAMES = (
    "options",
    "choices",
    "endings",
    "candidates",
    "option",
    "opts",
    "answerchoices",
    "answeroptions",
    "mc1targets",
)
# Reference columns by preference. Within the short answers, tier 0 is RL-native, tier 1 names a
# final answer outright, tier 2 is the generic "answer". Worked solutions come after every short answer.
REFERENCE_TIERS = (
    ("groundtruth",),
    (
        "finalanswer",
        "expectedanswer",
        "correctanswer",
        "answernumber",
        "bestanswer",
        "answerkey",
        "correct",
        "correctoption",
        "cop",
        "answeridx",
        "answerindex",
        "gt",
        "gtanswer",
        "finalans",
        "result",
        "numericanswer",
        "shortanswer",
        "answervalue",
        "goldanswer",
        "correctchoice",
        "answerletter",
    ),
    ("answer", "answers", "target", "targets", "reference", "label", "gold", "referenceanswer", "answersspans"),
)
SOLUTION_NAMES = (
    "solution",
    "rationale",
    "gtcot",
    "explanation",
    "steps",
    "cotcontent",
    "reasoning",
    "generatedsolution",
    "goldstandardsolution",
    "solutions",
    "answer",
    "target",
    "gold",
)
RESPONSE_NAMES = (
    "response",
    "output",
    "completion",
    "outputs",
    "responses",
    "reply",
    "assistant",
    "chosen",
    "message2",
)
# A reference summary: what a summarisation set holds beside its document, never a checkable answer.
SUMMARY_NAMES = ("summary", "summaries", "highlights", "tldr", "abstract", "headline", "summarytext")
# The text a summary is written from, where no prompt column says what to do with it.
DOCUMENT_NAMES = ("document", "article", "dialogue", "dialog", "text", "post", "content", "body", "story")
ALIAS_NAMES = ("correctanswers", "aliases", "answeraliases", "acceptedanswers", "validanswers")
CHAT_NAMES = ("messages", "conversations", "conversation", "prompt", "dialog", "dialogue", "chat", "turns")
SYSTEM_NAMES = ("system", "systemprompt", "systemmessage")
_OPTION_GROUP_RE = re.compile(r"^(option|opt|op|choice|answer|ending|sol|candidate|)([a-j]|[0-9])$")
_NAME_RE = re.compile(r"[\s_\-\ufeff]+")
_QA_SPLIT_RE = re.compile(r"\n\s*(?:A|Answer)\s*[:：]\s*")
_WORKED_MARKERS = ("####", "\\boxed", "\\fbox", "answer is", "answer:", "Answer:", "</answer>")
_SHORT_CHARS = 120
_WORD_RE = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{3,}")  # a word, not a LaTeX command: "=" chains in prose are work
_ROLE_KEYS = (("role", "content"), ("from", "value"), ("role", "value"), ("speaker", "text"), ("role", "text"))


def norm(name: str) -> str:
    """A column name as detection compares it: ``Correct Answer`` -> ``correctanswer``."""
    return _NAME_RE.sub("", str(name).lower())


def get_path(row: dict, path: str) -> Any:
    """The value at a dotted path (``answers.text``); None where any step is missing.

    Each step matches a key exactly, or else with case, spaces and underscores ignored.
    """
    value: Any = row
    for key in path.split("."):
        if isinstance(value, dict):
            value = value[key] if key in value else _loose_get(value, key)
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            value = [v.get(key, _loose_get(v, key)) for v in value]
        else:
            return None
    return value


def _loose_get(mapping: dict, key: str) -> Any:
    wanted = norm(key)
    return next((v for k, v in mapping.items() if norm(k) == wanted), None)


# --------------------------------------------------------------------------------------------
# Value shapes
# --------------------------------------------------------------------------------------------


def message_keys(value: Any) -> tuple[str, str] | None:
    """The (role, content) keys of a chat list, or None when ``value`` is not one."""
    if not (isinstance(value, list) and value and all(isinstance(m, dict) for m in value)):
        return None
    for keys in _ROLE_KEYS:
        if all(keys[0] in m and keys[1] in m for m in value):
            return keys
    return None


def is_messages(value: Any) -> bool:
    return message_keys(value) is not None


def is_text(value: Any) -> bool:
    return isinstance(value, str)


def is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def is_worked(value: Any) -> bool:
    """A worked solution rather than a short answer: a marker, several lines, or long."""
    if isinstance(value, list):
        return any(is_worked(v) for v in value)
    if not isinstance(value, str):
        return False
    return (
        "\n" in value.strip()
        or len(value) > _SHORT_CHARS
        or any(m in value for m in _WORKED_MARKERS)
        or (value.count("=") >= 2 and _WORD_RE.search(value) is not None)
    )


def marks_final_answer(value: Any) -> bool:
    """A text that states its final answer with a marker a reader finds ("#### 72", "\\boxed{72}",
    "The answer is: 72", "Answer: 72"), as SFT/RL math responses do (MetaMathQA, GSM8K)."""
    return isinstance(value, str) and any(m in value for m in _WORKED_MARKERS)


# Arithmetic or LaTeX: a worked solution, whose answer is read from its last number.
_ARITHMETIC_RE = re.compile(r"\d\s*[=+×÷*/^]\s*[\d($]|=\s*\$?-?\d|\$|\\\(|\\\[|<<")
# CJK ideographs, kana, hangul and full-width forms: one such character carries about a word.
_WIDE_RE = re.compile(r"[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\uff00-\uffef]")
FREE_TEXT_WORDS = 12  # a sentence this long is no short answer a completion could state exactly


def is_free_text(value: Any) -> bool:
    """Prose to imitate, not an answer to check (an SFT output, a chat reply, a long-form answer):
    several lines, long (a CJK character counts as four), or a sentence of 12 words or more, with
    no marked final answer and no arithmetic (a worked solution is read to its last number).

    >>> is_free_text("Lima"), is_free_text("Keep a regular schedule and avoid screens for an hour before bed.")
    (False, True)
    """
    if not isinstance(value, str) or marks_final_answer(value) or _ARITHMETIC_RE.search(value):
        return False
    text = value.strip()
    size = len(text) + 3 * len(_WIDE_RE.findall(text))
    return "\n" in text or size > _SHORT_CHARS or len(text.split()) >= FREE_TEXT_WORDS


def _values(rows: Sequence[dict], path: str) -> list:
    return [v for v in (get_path(row, path) for row in rows) if v is not None and v != "" and v != []]


def _all(rows: Sequence[dict], path: str, check: Callable[[Any], bool]) -> bool:
    values = _values(rows, path)
    return bool(values) and all(check(v) for v in values)


def describe_columns(rows: Sequence[dict], columns: Sequence[str]) -> str:
    """``name (type), ...`` for an error message."""

    def kind(value: Any) -> str:
        if isinstance(value, dict):
            return "dict{" + ", ".join(map(str, value)) + "}"
        if isinstance(value, list):
            return "list" + (f"[{kind(value[0])}]" if value else "")
        return type(value).__name__

    def sample(column: str) -> Any:
        return next((row.get(column) for row in rows if row.get(column) is not None), None)

    return ", ".join(f"{c} ({kind(sample(c))})" for c in columns)


FLAGS_HINT = (
    "Pass --prompt-field FIELD (several joined by '+', dotted paths allowed, e.g. body+question or "
    "question.stem+question.choices) and --reference-field FIELD (e.g. reward_model.ground_truth) to choose."
)


def fail(reason: str, rows: Sequence[dict], columns: Sequence[str]) -> UsageError:
    return UsageError(f"{reason}; columns seen: {describe_columns(rows, columns)}. {FLAGS_HINT}")


# --------------------------------------------------------------------------------------------
# Candidate fields: top-level columns and one level inside dict columns
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    path: str
    name: str  # normalised last step
    nested: bool


def _fields(columns: Sequence[str], rows: Sequence[dict]) -> list[_Field]:
    found = [_Field(c, norm(c), False) for c in columns]
    for column in columns:
        keys: dict[str, None] = {}
        for row in rows:
            if isinstance(row.get(column), dict):
                keys.update(dict.fromkeys(row[column]))
        found += [_Field(f"{column}.{k}", norm(k), True) for k in keys]
    return found


def _by_name(fields: Sequence[_Field], names: Sequence[str], rows, check) -> list[_Field]:
    """Fields whose name is in ``names`` (in that order) and whose sampled values pass ``check``."""
    ranked = sorted((f for f in fields if f.name in names), key=lambda f: (names.index(f.name), f.nested))
    return [f for f in ranked if _all(rows, f.path, check)]


def _distinct(fields: Sequence[_Field], rows: Sequence[dict]) -> list[_Field]:
    """Drop fields whose sampled values repeat an earlier field's: same text is no tie."""
    kept: list[_Field] = []
    for f in fields:
        values = [get_path(r, f.path) for r in rows]
        if not any(values == [get_path(r, k.path) for r in rows] for k in kept):
            kept.append(f)
    return kept


# --------------------------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------------------------

_OPTION_MARK_RE = re.compile(r"(?:^|(?<=[\s,;(]))\(?([A-Ja-j])\s?[).:]\s*")


def split_option_string(text: str) -> list[tuple[str, str]] | None:
    """``"A) 5 B) 6"`` or MathQA's ``"a ) 38 , b ) 27.675"``: (label, text) pairs, or None.

    The first label must open the string and labels must run A, B, C, ... in order, so a
    parenthesis inside an option is not taken for a label.
    """
    marks: list[re.Match] = []
    for match in _OPTION_MARK_RE.finditer(text):
        if match.group(1).upper() != LETTERS[len(marks)]:
            continue
        if not marks and text[: match.start()].strip():
            return None
        marks.append(match)
    if len(marks) < 2:
        return None
    pairs = []
    for i, match in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        pairs.append((match.group(1), text[match.end() : end].strip().rstrip(",;").strip()))
    return pairs


_LABEL_PREFIX_RE = re.compile(r"^\(?([A-Ja-j])\s?[).:]\s*")


def parse_options(value: Any) -> list[tuple[str | None, str]] | None:
    """Options in any common form, as (source label, text) pairs; None when not options."""
    if isinstance(value, str):
        return split_option_string(value)
    if isinstance(value, dict):
        if isinstance(value.get("text"), list):
            labels = value.get("label") if isinstance(value.get("label"), list) else [None] * len(value["text"])
            return [(None if lab is None else str(lab), str(t)) for lab, t in zip(labels, value["text"])]
        if isinstance(value.get("choices"), list):
            return [(None, str(t)) for t in value["choices"]]
        keys = [str(k).strip().upper() for k in value]
        if (
            len(keys) >= 2
            and keys in (list(LETTERS[: len(keys)]), [str(i) for i in range(1, len(keys) + 1)])
            and all(is_scalar(v) or v is None for v in value.values())
        ):
            return [(str(k), str(v)) for k, v in value.items() if v is not None]
        return None
    if isinstance(value, list) and value:
        if all(isinstance(v, dict) and "text" in v for v in value):
            return [(str(v.get("label")) if v.get("label") is not None else None, str(v["text"])) for v in value]
        if all(is_scalar(v) for v in value):
            return _strip_label_prefixes([str(v) for v in value])
    return None


def _strip_label_prefixes(texts: list[str]) -> list[tuple[str | None, str]]:
    """AQuA's ``["A)21", "B)10"]``: the prefixes are labels when they run A, B, C, ..."""
    matches = [_LABEL_PREFIX_RE.match(t) for t in texts]
    if all(m and m.group(1).upper() == LETTERS[i] for i, m in enumerate(matches)):
        return [(m.group(1), t[m.end() :].strip()) for m, t in zip(matches, texts)]
    return [(None, t) for t in texts]


def _option_group(fields: Sequence[_Field], rows) -> tuple[str, ...]:
    """Columns holding one option each (``A``..``D``, ``opa``..``opd``, ``option1``, ``sol1``...)."""
    groups: dict[str, list[tuple[str, _Field]]] = {}
    for f in fields:
        match = _OPTION_GROUP_RE.match(f.name)
        if (
            match
            and (match.group(1) or not match.group(2).isdigit())
            and not f.nested
            and _all(rows, f.path, is_scalar)
        ):
            groups.setdefault(match.group(1), []).append((match.group(2), f))
    best: tuple[str, ...] = ()
    for members in groups.values():
        members.sort(key=lambda m: m[0])
        suffixes = [s for s, _ in members]
        start = suffixes[0]
        if start not in ("a", "0", "1"):
            continue
        run = [members[0][1]]
        for (prev, _), (cur, f) in zip(members, members[1:]):
            if ord(cur) != ord(prev) + 1:
                break
            run.append(f)
        if len(run) >= 2 and len(run) > len(best):
            best = tuple(f.path for f in run)
    return best


def option_base(values: Sequence[Any], count: int, default: int) -> int:
    """Whether numeric references count options from 0 or 1, by what the sample shows."""
    numbers = {int(v) for v in values if isinstance(v, int) or (isinstance(v, str) and v.strip().isdigit())}
    if 0 in numbers:
        return 0
    if count in numbers:
        return 1
    return default
