"""Which fields of a dataset row are the prompt, its context and options, and the reference.

Detection is a pure function of the column names and a few sample rows (standard library only),
so its cost does not grow with the dataset. Column names are compared with case, spaces,
hyphens and underscores ignored (``Correct Answer`` is ``correct_answer``), and one level of
nested objects is searched too (``question.stem``, ``reward_model.ground_truth``). It refuses to
guess: a tie or no fit is a UsageError that lists the columns with their types and the flags.
"""

from __future__ import annotations

import itertools
import re
import string
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

from grpo_suite.errors import UsageError

SAMPLE_ROWS = 32  # rows detection looks at: enough to see a context column that is often empty
LETTERS = string.ascii_uppercase


@dataclass(frozen=True)
class Detection:
    """Where a dataset's prompt and reference are, and how to turn a row into them.

    ``prompt_fields`` are the fields the prompt is built from, in prompt order: context first,
    then the question, then the options. ``option_fields`` names one options field (a list, a
    dict, or one "A) ... B) ..." string) or one field per option. ``option_base`` is the index
    a numeric reference counts from. Fields are column names or dotted paths into nested fields.
    """

    family: str
    prompt_fields: tuple[str, ...]
    reference_field: str | None
    prompt_kind: str = "text"
    reference_kind: str = "text"
    conversational: bool = False
    reasons: tuple[str, ...] = field(default=(), compare=False)
    context_fields: tuple[str, ...] = ()
    option_fields: tuple[str, ...] = ()
    option_base: int = 0
    alias_fields: tuple[str, ...] = ()
    system_field: str | None = None

    @property
    def prompt_field(self) -> str:
        return "+".join(self.prompt_fields)


# --------------------------------------------------------------------------------------------
# Column tables (names are normalised: lower case, no spaces, hyphens or underscores)
# --------------------------------------------------------------------------------------------

PROMPT_STRONG = ("question", "problem", "query", "prompt", "instruction", "questionstem", "stem", "goal",
                 "questiontext", "problemstatement", "userprompt")
PROMPT_WEAK = ("input", "inputs", "text", "content", "sentence", "ctx", "startphrase", "message1", "request",
               "instructions")
CONTEXT_NAMES = ("passage", "body", "context", "article", "tabletitle", "table", "support", "paragraph", "document",
                 "story", "background", "passages", "contexts")
OPTION_NAMES = ("options", "choices", "endings", "candidates", "option", "opts", "answerchoices", "answeroptions",
                "mc1targets")
# Reference columns by preference. Within the short answers, tier 0 is RL-native, tier 1 names a
# final answer outright, tier 2 is the generic "answer". Worked solutions come after every short answer.
REFERENCE_TIERS = (
    ("groundtruth",),
    ("finalanswer", "expectedanswer", "correctanswer", "answernumber", "bestanswer", "answerkey", "correct",
     "correctoption", "cop", "answeridx", "answerindex", "gt", "gtanswer", "finalans", "result", "numericanswer",
     "shortanswer", "answervalue", "goldanswer", "correctchoice", "answerletter"),
    ("answer", "answers", "target", "targets", "reference", "label", "gold", "referenceanswer", "answersspans"),
)
SOLUTION_NAMES = ("solution", "rationale", "gtcot", "explanation", "steps", "cotcontent", "reasoning",
                  "generatedsolution", "goldstandardsolution", "solutions", "answer", "target", "gold")
RESPONSE_NAMES = ("response", "output", "completion", "outputs", "responses", "reply", "assistant", "chosen", "message2")
ALIAS_NAMES = ("correctanswers", "aliases", "answeraliases", "acceptedanswers", "validanswers")
CHAT_NAMES = ("messages", "conversations", "conversation", "prompt", "dialog", "dialogue", "chat", "turns")
SYSTEM_NAMES = ("system", "systemprompt", "systemmessage")
_OPTION_GROUP_RE = re.compile(r"^(option|opt|op|choice|answer|ending|sol|candidate|)([a-j]|[0-9])$")
_NAME_RE = re.compile(r"[\s_\-\ufeff]+")
_QA_SPLIT_RE = re.compile(r"\n\s*(?:A|Answer)\s*[:：]\s*")
_WORKED_MARKERS = ("####", "\\boxed", "\\fbox", "answer is", "answer:", "Answer:")
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
    return ("\n" in value.strip() or len(value) > _SHORT_CHARS or any(m in value for m in _WORKED_MARKERS)
            or (value.count("=") >= 2 and _WORD_RE.search(value) is not None))


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


FLAGS_HINT = ("Pass --prompt-field FIELD (several joined by '+', dotted paths allowed, e.g. body+question or "
              "question.stem+question.choices) and --reference-field FIELD (e.g. reward_model.ground_truth) to choose.")


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
        if len(keys) >= 2 and keys in (list(LETTERS[: len(keys)]), [str(i) for i in range(1, len(keys) + 1)]) and all(
                is_scalar(v) or v is None for v in value.values()):
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
        if match and (match.group(1) or not match.group(2).isdigit()) and not f.nested and _all(rows, f.path, is_scalar):
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


# --------------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------------


def detect_fields(
    columns: Sequence[str],
    rows: Sequence[dict],
    prompt_field: str | None = None,
    reference_field: str | None = None,
) -> Detection:
    """Find the prompt and reference of a dataset from its column names and a few rows.

    Raises UsageError when nothing fits or two candidates tie. Overrides take dotted paths;
    ``prompt_field`` may join several fields with ``+``.
    """
    rows = [dict(r) for r in itertools.islice(rows, SAMPLE_ROWS)]
    columns = list(columns)
    prompt_paths = [resolve_path(p.strip(), columns, rows) for p in prompt_field.split("+")] if prompt_field else None
    reference_path = resolve_path(reference_field, columns, rows) if reference_field else None
    if prompt_paths:
        detection = _auto_if_same(columns, rows, tuple(prompt_paths)) or _with_prompt_override(columns, rows, prompt_paths)
    else:
        detection = _detect(columns, rows)
    if reference_path and reference_path != detection.reference_field:
        detection = _with_reference(detection, rows, reference_path, "from --reference-field")
    return detection


def _auto_if_same(columns, rows, prompt_paths: tuple[str, ...]) -> Detection | None:
    """The automatic detection when the override names the fields it found: a run's recorded
    fields then read the data exactly as the run did (countdown, transcripts, MT-Bench turns)."""
    try:
        auto = _detect(columns, rows)
    except UsageError:
        return None
    if auto.prompt_fields != prompt_paths:
        return None
    return replace(auto, reasons=(f"prompt from --prompt-field {'+'.join(prompt_paths)}",) + auto.reasons)


def resolve_path(path: str, columns: Sequence[str], rows: Sequence[dict]) -> str:
    """The override path with its first step spelled as the column is; an error if absent."""
    head, _, rest = path.partition(".")
    if head not in columns:
        loose = [c for c in columns if norm(c) == norm(head)]
        if not loose:
            raise fail(f"column {head!r} (from {path!r}) is not in the dataset", rows, columns)
        head = loose[0]
    full = head + ("." + rest if rest else "")
    if rest and rows and not _values(rows, full):
        raise fail(f"{path!r} is empty or missing in every sampled row", rows, columns)
    return full


def _detect(columns: list[str], rows: list[dict]) -> Detection:
    fields = _fields(columns, rows)
    for special in (_countdown, _preference, _kto, _mt_bench):
        found = special(fields, rows, columns)
        if found:
            return found
    chat = _chat_field(fields, rows)
    # Inside a chat schema, nested text (verl's extra_info.question) is metadata, not the prompt.
    question = _question(fields, rows, columns, nested=chat is None)
    if question is None and chat is None:
        raise fail("no column looks like a prompt", rows, columns)
    options = _options(fields, rows, question) if question else ()
    exclude = set(question or ()) | set(options) | ({chat.path} if chat else set())
    reference = _reference(fields, rows, columns, exclude)
    if question is not None and reference is None and chat is None and _all(rows, question[-1], _has_qa_split):
        return Detection("qa_text", question[-1:], question[-1], "qa_text", "qa_text",
                         reasons=(f"{question[-1]!r} holds 'Q: ... A: ...': the text after the last 'A:' is the reference",))
    if question is not None and (reference is not None or chat is None):
        return _tabular(fields, rows, question, reference)
    return _chat(fields, rows, chat, reference)


def _has_qa_split(value: Any) -> bool:
    return isinstance(value, str) and _QA_SPLIT_RE.search(value) is not None and value.lstrip()[:2] in ("Q:", "Qu")


def split_qa_text(text: str) -> tuple[str, str | None]:
    """``"Q: ...\\nA: 42"`` as (prompt, reference); the reference is None without an ``A:`` line."""
    last = None
    for last in _QA_SPLIT_RE.finditer(text):
        pass
    if last is None:
        return text, None
    return text[: last.start()].strip(), text[last.end() :].strip() or None


# --- special families -----------------------------------------------------------------------


def _field(fields: Sequence[_Field], *names: str, nested: bool = False) -> _Field | None:
    return next((f for n in names for f in fields if f.name == n and f.nested == nested), None)


def _countdown(fields, rows, columns) -> Detection | None:
    target, nums = _field(fields, "target"), _field(fields, "nums")
    if target and nums and _all(rows, nums.path, lambda v: isinstance(v, list)):
        return Detection("countdown", (nums.path, target.path), target.path, "countdown", "text",
                         reasons=("columns match the countdown schema: nums and target",))
    return None


def _reply_shape(value: Any) -> bool:
    return isinstance(value, str) or is_messages(value) or (isinstance(value, dict) and any(
        k in value for k in ("content", "value", "text")))


def _preference(fields, rows, columns) -> Detection | None:
    chosen = _field(fields, "chosen", "chosenresponse", "chosenmessages", "chosenconversation")
    rejected = _field(fields, "rejected", "rejectedresponse", "rejectedmessages", "rejectedconversation")
    if not (chosen and rejected and _all(rows, chosen.path, _reply_shape)):
        return None
    chat = _chat_field([f for f in fields if f.path not in (chosen.path, rejected.path)], rows)
    system = _field(fields, *SYSTEM_NAMES)
    if chat is not None:
        return Detection("preference", (chat.path,), chosen.path, "history", "last_reply", True,
                         (f"preference data: prompt {chat.path!r}, the chosen reply {chosen.path!r} is the reference",),
                         system_field=system.path if system and _all(rows, system.path, is_text) else None)
    question = _question([f for f in fields if f.path not in (chosen.path, rejected.path)], rows, columns)
    if question is not None:
        base = _tabular(fields, rows, question, None)
        return replace(base, family="preference", reference_field=chosen.path, reference_kind="last_reply",
                       reasons=(f"preference data: prompt {base.prompt_field!r}, the chosen reply {chosen.path!r} "
                                "is the reference",))
    if _all(rows, chosen.path, is_messages):
        return Detection("preference", (chosen.path,), chosen.path, "history", "last_reply", True,
                         ("preference chat lists: the prompt is the chosen conversation before its last reply",))
    if _all(rows, chosen.path, lambda v: isinstance(v, str) and "Assistant:" in v):
        return Detection("preference_transcript", (chosen.path,), chosen.path, "transcript", "transcript", True,
                         ("Human:/Assistant: transcripts: the prompt is the chosen transcript before its last reply",))
    return None


def _kto(fields, rows, columns) -> Detection | None:
    label = _field(fields, "label", "ktotag")
    if not (label and _all(rows, label.path, lambda v: isinstance(v, bool))):
        return None
    completion = _field(fields, "completion")
    prompt = _field(fields, "prompt")
    if completion and prompt:
        conversational = _all(rows, prompt.path, is_messages)
        return Detection("kto", (prompt.path,), completion.path, "history" if conversational else "text", "kto",
                         conversational, ("KTO data: the completion is the reference where label is true",),
                         alias_fields=(label.path,))
    chat = _chat_field(fields, rows)
    if chat:
        return Detection("kto", (chat.path,), chat.path, "history", "kto", True,
                         ("KTO chat data: the last reply is the reference where label is true",), alias_fields=(label.path,))
    return None


def _mt_bench(fields, rows, columns) -> Detection | None:
    turns = _field(fields, "turns")
    if not (turns and _all(rows, turns.path, lambda v: isinstance(v, list) and not is_messages(v))):
        return None
    reference = _field(fields, "reference")
    return Detection("mt_bench", (turns.path,), reference.path if reference else None, "first_turn", "first_item",
                     reasons=("MT-Bench questions: the first turn is the prompt, reference[0] its reference",))


# --- prompt ---------------------------------------------------------------------------------


def _question(fields, rows, columns, nested: bool = True) -> tuple[str, ...] | None:
    """The question field(s): strong names first, weak ones only when no strong one fits."""
    top = [f for f in fields if not f.nested]
    order = {f.path: i for i, f in enumerate(fields)}

    def candidates(pool):  # identical text in two columns is one candidate: the first column
        return _distinct(sorted(_by_name(pool, names, rows, is_text), key=lambda f: order[f.path]), rows)

    for names in (PROMPT_STRONG, PROMPT_WEAK):
        found = candidates(top)
        if not found and nested:
            found = candidates([f for f in fields if f.nested])
        found.sort(key=lambda f: names.index(f.name))
        if len(found) == 1 or (found and found[0].name == "instruction"):
            first = found[0]
            extra = [f for f in top if f.name in ("input", "inputs") and f.path != first.path
                     and all(isinstance(get_path(r, f.path), (str, type(None))) for r in rows)]
            if first.name != "instruction":
                extra = []
            return (first.path, *(f.path for f in extra[:1]))
        if len(found) > 1:
            names_seen = ", ".join(f.path for f in found)
            raise fail(f"several columns could be the prompt ({names_seen})", rows, columns)
    return None


def _chat_field(fields, rows) -> _Field | None:
    found = _by_name([f for f in fields if not f.nested], CHAT_NAMES, rows, is_messages)
    return found[0] if found else None


def _context(fields, rows, question: Sequence[str]) -> tuple[str, ...]:
    found = [f for f in fields if f.name in CONTEXT_NAMES and f.path not in question
             and _all(rows, f.path, is_text) and not _same_as_any(rows, f.path, question)]
    order = {f.path: i for i, f in enumerate(fields)}
    return tuple(f.path for f in sorted(found, key=lambda f: order[f.path]))


def _same_as_any(rows, path: str, others: Sequence[str]) -> bool:
    return any([get_path(r, path) for r in rows] == [get_path(r, o) for r in rows] for o in others)


def _options(fields, rows, question: Sequence[str]) -> tuple[str, ...]:
    prefix = question[0].rsplit(".", 1)[0] + "." if "." in question[0] else None
    names = OPTION_NAMES + (("answers",) if _answers_are_options(fields, rows) else ())
    single = [f for f in fields if f.name in names and _all(rows, f.path, lambda v: parse_options(v) is not None)]
    # A nested question object holds its own choices (OpenBookQA, ARC, CommonsenseQA originals).
    single.sort(key=lambda f: (not (prefix and f.path.startswith(prefix)), f.nested))
    if single:
        return (single[0].path,)
    return _option_group(fields, rows)


def _answers_are_options(fields, rows) -> bool:
    """ReClor's ``answers``: a fixed-length list of texts that an integer ``label`` indexes."""
    answers, label = _field(fields, "answers"), _field(fields, "label")
    if not (answers and label and _all(rows, label.path, lambda v: isinstance(v, int) and not isinstance(v, bool))):
        return False
    lengths = {len(v) if isinstance(v, list) else -1 for v in _values(rows, answers.path)}
    return len(lengths) == 1 and min(lengths) >= 3


def _labelled_choices(rows, options: tuple[str, ...]) -> bool:
    """TruthfulQA's ``mc1_targets``: {choices, labels} where label 1 marks the right choice."""
    return len(options) == 1 and _all(rows, options[0], lambda v: isinstance(v, dict) and isinstance(v.get("labels"), list))


def _tabular(fields, rows, question: tuple[str, ...], reference: _Field | None) -> Detection:
    context = _context(fields, rows, question)
    options = _options(fields, rows, question)
    prompt_fields = (*context, *question, *options)
    reasons = [f"the question is {'+'.join(question)!r}"]
    if context:
        reasons.append(f"context {', '.join(context)} put before the question")
    if options:
        reasons.append(f"options from {', '.join(options)} rendered as lettered lines")
    system = _field(fields, *SYSTEM_NAMES)
    detection = Detection("question_answer", prompt_fields, None, "compose", "text", False, (),
                          context_fields=context, option_fields=options,
                          system_field=system.path if system and _all(rows, system.path, is_text) else None)
    if reference is None and _labelled_choices(rows, options):
        detection = replace(detection, reference_field=options[0], reference_kind="labelled_choice",
                            reasons=(f"reference: the choice of {options[0]} labelled 1",))
    elif reference is not None:
        detection = _with_reference(detection, rows, reference.path, "by name")
    detection = replace(detection, reasons=tuple(reasons) + detection.reasons)
    return replace(detection, family=_family(detection, rows))


def _with_prompt_override(columns, rows, paths: list[str]) -> Detection:
    fields = _fields(columns, rows)
    if len(paths) == 1 and _all(rows, paths[0], is_messages):
        reference = _reference(fields, rows, columns, set(paths))
        return _chat(fields, rows, _Field(paths[0], norm(paths[0]), "." in paths[0]), reference,
                     reason=f"prompt from --prompt-field {paths[0]}")
    options = tuple(p for p in paths if _all(rows, p, lambda v: not isinstance(v, str) and parse_options(v) is not None)
                    or (norm(p.rsplit(".", 1)[-1]) in OPTION_NAMES and _all(rows, p, lambda v: parse_options(v) is not None)))
    detection = Detection("custom", tuple(paths), None, "compose", "text", False,
                          (f"prompt from --prompt-field {'+'.join(paths)}",), option_fields=options)
    try:
        reference = _reference(fields, rows, columns, set(paths))
    except UsageError:
        reference = None
    if reference is not None:
        detection = _with_reference(detection, rows, reference.path, "by name")
    else:
        detection = replace(detection, reasons=detection.reasons + ("no reference column",))
    return detection


def _chat(fields, rows, chat: _Field, reference: _Field | None, reason: str | None = None) -> Detection:
    system = _field(fields, *SYSTEM_NAMES)
    system_path = system.path if system and _all(rows, system.path, is_text) else None
    why = reason or f"chat list {chat.path!r}: the turns before the last reply are the prompt"
    detection = Detection("chat", (chat.path,), chat.path, "history", "last_reply", True, (why,),
                          system_field=system_path)
    if reference is not None:
        detection = _with_reference(detection, rows, reference.path, "by name")
    elif not any(_has_reply(v) for v in _values(rows, chat.path)):
        detection = replace(detection, reference_field=None, reasons=detection.reasons + ("no reply and no answer column: no reference",))
    return replace(detection, family=_family(detection, rows))


def _has_reply(messages: list) -> bool:
    keys = message_keys(messages)
    return bool(keys) and any(str(m.get(keys[0])).lower() in ("assistant", "gpt", "model", "chatgpt", "bot") for m in messages)


# --- reference ------------------------------------------------------------------------------


def _reference(fields, rows, columns, exclude: set[str]) -> _Field | None:
    """The reference field: short answers before worked solutions, then by name tier."""
    usable = [f for f in fields if f.path not in exclude and f.path.split(".")[0] not in exclude and _values(rows, f.path)]
    short: list[tuple[int, _Field]] = []
    for tier, names in enumerate(REFERENCE_TIERS):
        for f in _by_name(usable, names, rows, lambda v: not isinstance(v, dict) or _answer_dict(v)):
            if f.name == "label" and not _options(fields, rows, ("",)) and not _all(rows, f.path, lambda v: isinstance(v, bool)):
                continue  # a class label without options (or yes/no) is not an answer the model can state
            if not _all(rows, f.path, is_worked) and not _all(rows, f.path, is_messages):
                short.append((tier, f))
    if short:
        best = min(t for t, _ in short)
        top = _distinct([f for t, f in short if t == best], rows)
        top = [f for f in top if not any(f.path.startswith(o.path + ".") for o in top if o is not f)]
        if len(top) > 1:
            raise fail(f"several columns could be the reference ({', '.join(f.path for f in top)})", rows, columns)
        return top[0]
    for names in (SOLUTION_NAMES, RESPONSE_NAMES):
        found = _distinct(_by_name(usable, names, rows, lambda v: isinstance(v, (str, list, dict))), rows)
        if found:
            return found[0]
    return None


def _answer_dict(value: Any) -> bool:
    """A struct that carries its answer: TriviaQA's {value, aliases}, SQuAD's {text}, verl's {ground_truth}."""
    return isinstance(value, dict) and any(norm(k) in ("value", "text", "groundtruth", "spans", "aliases", "answer")
                                           for k in value)


def _answer_key(values: list) -> str | None:
    """The one key of answer structs that holds the answers (SQuAD's text, DROP's spans)."""
    for key in ("text", "spans", "ground_truth"):
        if values and all(isinstance(v, dict) and key in v for v in values):
            return key
    return None


def _with_reference(detection: Detection, rows, path: str, why: str) -> Detection:
    values = _values(rows, path)
    key = _answer_key(values)
    if key:
        path, values = f"{path}.{key}", _values(rows, f"{path}.{key}")
    options = detection.option_fields
    kind, aliases = _reference_kind(path, values, bool(options)), ()
    base = detection.option_base
    if kind == "choice":
        count = max((len(_row_options(r, options) or []) for r in rows), default=0)
        base = option_base(values, count, _default_base(options))
    if kind in ("text", "aliases"):
        aliases = tuple(f for f in _fields(list(rows[0]) if rows else [], rows)
                        if f.name in ALIAS_NAMES and f.path != path and not f.path.startswith(path + "."))
        aliases = tuple(f.path for f in aliases)
        kind = "aliases" if aliases or kind == "aliases" else kind
    reason = (f"reference {path!r} {why}: {KIND_NOTES.get(kind, kind)}"
              + (f", also accepting {', '.join(aliases)}" if aliases else ""))
    return replace(detection, reference_field=path, reference_kind=kind, option_base=base, alias_fields=aliases or detection.alias_fields,
                   reasons=detection.reasons + (reason,))


KIND_NOTES = {
    "text": "a short answer, taken whole",
    "solution": "a worked solution, read to its marked final answer (else its last number)",
    "choice": "an option's letter, index or text, accepted as the letter or the option text",
    "aliases": "every listed answer is accepted",
    "last_reply": "the last reply",
}


def _default_base(options: Sequence[str]) -> int:
    """What a numeric reference counts from when the sample does not show: a list from 0 (as
    Python does), ``answer0``.. from 0, ``option1``.. from 1, lettered columns (``answerA``) from 1."""
    if len(options) < 2:
        return 0
    suffix = _OPTION_GROUP_RE.match(norm(options[0])).group(2)
    return int(suffix) if suffix.isdigit() else 1


def _row_options(row: dict, option_fields: Sequence[str]):
    if len(option_fields) == 1:
        return parse_options(get_path(row, option_fields[0]))
    return [(None, str(get_path(row, f))) for f in option_fields if get_path(row, f) is not None]


def _reference_kind(path: str, values: list, has_options: bool) -> str:
    if values and all(is_messages(v) or (isinstance(v, dict) and ("role" in v or "from" in v)) for v in values):
        return "last_reply"
    if has_options and all(is_scalar(v) for v in values):
        return "choice"
    if values and all(isinstance(v, dict) for v in values):
        return "aliases"
    if values and all(isinstance(v, list) for v in values):
        return "aliases"
    name = norm(path.rsplit(".", 1)[-1])
    if name in SOLUTION_NAMES and 2 * sum(map(is_worked, values)) >= len(values) > 0:
        return "solution"
    return "text"


def _family(detection: Detection, rows) -> str:
    """A name for the schema, for the reader: the shape found, not a promise of the source."""
    ref = detection.reference_field or ""
    names = {norm(p.rsplit(".", 1)[-1]) for p in detection.prompt_fields}
    if detection.prompt_kind == "history":
        if norm(ref.rsplit(".", 1)[-1]) == "groundtruth":
            return "verl" if "." in ref else "rlvr"
        keys = message_keys(next(iter(_values(rows, detection.prompt_fields[0])), None))
        return "sharegpt" if keys == ("from", "value") else "chat"
    if detection.option_fields:
        return "multiple_choice"
    if detection.context_fields:
        return "reading_comprehension"
    if detection.reference_kind == "solution":
        values = [str(v) for v in _values(rows, ref)]
        if any("####" in v for v in values):
            return "gsm8k"
        return "math" if any("\\boxed" in v for v in values) else "worked_solution"
    if "instruction" in names:
        return "instruction"
    return "question_answer" if ref else "prompt_only"
