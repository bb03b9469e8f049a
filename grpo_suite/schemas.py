"""Which fields of a dataset row are the prompt, its context and options, and the reference.

The fields themselves (name tables, paths, value shapes, options) are read in fields.py. Detection is a pure function of the column names and a few sample rows (standard library only),
so its cost does not grow with the dataset. Column names are compared with case, spaces,
hyphens and underscores ignored (``Correct Answer`` is ``correct_answer``), and one level of
nested objects is searched too (``question.stem``, ``reward_model.ground_truth``). It refuses to
guess: a tie or no fit is a UsageError that lists the columns with their types and the flags.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

from grpo_suite.errors import UsageError
from grpo_suite.fields import (
    _OPTION_GROUP_RE,
    _QA_SPLIT_RE,
    ALIAS_NAMES,
    CHAT_NAMES,
    CONTEXT_NAMES,
    DOCUMENT_NAMES,
    OPTION_NAMES,
    PROMPT_STRONG,
    PROMPT_WEAK,
    REFERENCE_TIERS,
    RESPONSE_NAMES,
    SOLUTION_NAMES,
    SUMMARY_NAMES,
    SYSTEM_NAMES,
    _all,
    _by_name,
    _distinct,
    _Field,
    _fields,
    _option_group,
    _values,
    fail,
    get_path,
    is_messages,
    is_scalar,
    is_text,
    is_worked,
    marks_final_answer,
    message_keys,
    norm,
    option_base,
    parse_options,
)
from grpo_suite.no_reference import (
    NO_REFERENCE,
    NO_REFERENCE_FAMILIES,
    REPLY_ROLES,
    REWARD_ADVICE,
    free_text_reference,
    has_no_reference,
    summary_beats,
    without_reference,
)

SAMPLE_ROWS = 32  # rows detection looks at: enough to see a context column that is often empty


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
        detection = _auto_if_same(columns, rows, tuple(prompt_paths), reference_path) or _with_prompt_override(
            columns, rows, prompt_paths
        )
    else:
        detection = _detect(columns, rows, reference_path)
    if reference_path is None:
        detection = free_text_reference(detection, rows)
        if prompt_paths and detection.reference_field is None and not has_no_reference(detection):
            detection = _no_reference_of_auto(columns, rows, detection)
        return detection
    if reference_path != detection.reference_field:
        if detection.family in NO_REFERENCE_FAMILIES and detection.reference_field is None:
            kept = tuple(r for r in detection.reasons if not r.startswith(NO_REFERENCE) and r != REWARD_ADVICE)
            detection = replace(detection, reasons=kept)
            detection = replace(detection, family=_family(detection, rows))
        detection = _with_reference(detection, rows, reference_path, "from --reference-field")
        detection = replace(detection, family=_family(detection, rows))
    return detection


def _no_reference_of_auto(columns, rows, detection: Detection) -> Detection:
    """With --prompt-field and no reference found, the automatic detection's verdict that the data
    holds replies to imitate (preference, SFT, summaries) still stands: the prompt is the user's."""
    try:
        auto = free_text_reference(_detect(columns, rows), rows)
    except UsageError:
        return detection
    if not has_no_reference(auto):
        return detection
    said = tuple(r for r in auto.reasons if r.startswith(NO_REFERENCE) or r == REWARD_ADVICE)
    return replace(detection, family=auto.family, reasons=detection.reasons + said)


def _auto_if_same(columns, rows, prompt_paths: tuple[str, ...], reference_path: str | None) -> Detection | None:
    """The automatic detection when the override names the fields it found: a run's recorded
    fields then read the data exactly as the run did (countdown, transcripts, MT-Bench turns)."""
    try:
        auto = _detect(columns, rows, reference_path)
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


def _detect(columns: list[str], rows: list[dict], reference_path: str | None = None) -> Detection:
    fields = _fields(columns, rows)
    found = _countdown(fields, rows, columns) or _preference(fields, rows, columns, reference_path)
    found = found or _kto(fields, rows, columns) or _mt_bench(fields, rows, columns)
    if found:
        return found
    chat = _chat_field(fields, rows)
    # Inside a chat schema, nested text (verl's extra_info.question) is metadata, not the prompt.
    summary = _field(fields, *SUMMARY_NAMES)
    summary = summary if summary and _all(rows, summary.path, is_text) else None
    rest = [f for f in fields if not summary or f.path != summary.path]
    question = _question(rest, rows, columns, nested=chat is None)
    options = _options(fields, rows, question) if question else ()
    exclude = set(question or ()) | set(options) | ({chat.path} if chat else set())
    reference = _reference(fields, rows, columns, exclude)
    if summary and (reference is None or summary_beats(reference, rows)):
        found = _summary(rest, rows, question, summary)
        if found:
            return found
    if question is None and chat is None:
        raise fail("no column looks like a prompt", rows, columns)
    if question is not None and reference is None and chat is None and _all(rows, question[-1], _has_qa_split):
        return Detection(
            "qa_text",
            question[-1:],
            question[-1],
            "qa_text",
            "qa_text",
            reasons=(f"{question[-1]!r} holds 'Q: ... A: ...': the text after the last 'A:' is the reference",),
        )
    if question is not None and (reference is not None or chat is None):
        return _tabular(fields, rows, question, reference)
    return _chat(fields, rows, chat, reference)


def _has_qa_split(value: Any) -> bool:
    return isinstance(value, str) and _QA_SPLIT_RE.search(value) is not None and value.lstrip()[:2] in ("Q:", "Qu")


def split_qa_text(text: str) -> tuple[str, str | None]:
    """``"Q: ...\\nA: 42"`` as (prompt, reference); the reference is None without an ``A:`` line."""
    last = None
    for last in _QA_SPLIT_RE.finditer(text):  # noqa: B007 - the loop keeps the last match
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
        return Detection(
            "countdown",
            (nums.path, target.path),
            target.path,
            "countdown",
            "text",
            reasons=("columns match the countdown schema: nums and target",),
        )
    return None


def _reply_shape(value: Any) -> bool:
    return (
        isinstance(value, str)
        or is_messages(value)
        or (isinstance(value, dict) and any(k in value for k in ("content", "value", "text")))
    )


def _preference(fields, rows, columns, reference_path: str | None = None) -> Detection | None:
    """Preference pairs: the prompt as the pair shares it, and no reference, since the chosen reply
    is a reply people preferred, not an answer a completion can match; unless ``--reference-field``
    names the chosen column, which then is read as the last reply (the user knows their data)."""
    chosen = _field(fields, "chosen", "chosenresponse", "chosenmessages", "chosenconversation")
    rejected = _field(fields, "rejected", "rejectedresponse", "rejectedmessages", "rejectedconversation")
    if not (chosen and rejected and _all(rows, chosen.path, _reply_shape)):
        return None
    found = _preference_prompt(fields, rows, columns, chosen, rejected)
    if found is None:
        return None
    gold = _gold_beside_pair(fields, rows, columns, found, (chosen.path, rejected.path))
    if gold is not None and reference_path in (None, gold.path):
        why = f"the gold column {gold.path!r} is the reference, not the chosen reply"
        return _with_reference(
            replace(found, reference_field=None, reasons=found.reasons + (why,)), rows, gold.path, "by name"
        )
    if reference_path == chosen.path:
        return replace(
            found,
            reasons=found.reasons + (f"the chosen reply {chosen.path!r} is the reference, from --reference-field",),
        )
    return without_reference(
        replace(found, reference_field=None),
        found.family,
        f"{chosen.path!r} and {rejected.path!r} are replies ranked by people, not answers a completion can be checked against",
    )


def _gold_beside_pair(fields, rows, columns, found: Detection, pair: tuple[str, str]) -> _Field | None:
    """A gold answer column beside a preference pair (``answer``, ``ground_truth``): a reply column never."""
    pool = [
        f for f in fields if f.path not in pair and f.path.split(".")[0] not in pair and f.name not in RESPONSE_NAMES
    ]
    return _reference(pool, rows, columns, set(found.prompt_fields))


def _preference_prompt(fields, rows, columns, chosen: _Field, rejected: _Field) -> Detection | None:
    """Where a preference pair's prompt is; the detection reads ``chosen`` as its reference."""
    pair = (chosen.path, rejected.path)
    chat = _chat_field([f for f in fields if f.path not in pair], rows)
    system = _field(fields, *SYSTEM_NAMES)
    if chat is not None:
        return Detection(
            "preference",
            (chat.path,),
            chosen.path,
            "history",
            "last_reply",
            True,
            (f"preference data: the prompt is {chat.path!r}",),
            system_field=system.path if system and _all(rows, system.path, is_text) else None,
        )
    question = _question([f for f in fields if f.path not in pair], rows, columns)
    if question is not None:
        base = _tabular(fields, rows, question, None)
        return replace(
            base,
            family="preference",
            reference_field=chosen.path,
            reference_kind="last_reply",
            reasons=(f"preference data: the prompt is {base.prompt_field!r}",),
        )
    if _all(rows, chosen.path, is_messages):
        return Detection(
            "preference",
            (chosen.path,),
            chosen.path,
            "history",
            "last_reply",
            True,
            ("preference chat lists: the prompt is the chosen conversation before its last reply",),
        )
    if _all(rows, chosen.path, lambda v: isinstance(v, str) and "Assistant:" in v):
        return Detection(
            "preference_transcript",
            (chosen.path,),
            chosen.path,
            "transcript",
            "transcript",
            True,
            ("Human:/Assistant: transcripts: the prompt is the chosen transcript before its last reply",),
        )
    return None


def _kto(fields, rows, columns) -> Detection | None:
    label = _field(fields, "label", "ktotag")
    if not (label and _all(rows, label.path, lambda v: isinstance(v, bool))):
        return None
    completion = _field(fields, "completion")
    prompt = _field(fields, "prompt")
    if completion and prompt:
        conversational = _all(rows, prompt.path, is_messages)
        return Detection(
            "kto",
            (prompt.path,),
            completion.path,
            "history" if conversational else "text",
            "kto",
            conversational,
            ("KTO data: the completion is the reference where label is true",),
            alias_fields=(label.path,),
        )
    chat = _chat_field(fields, rows)
    if chat:
        return Detection(
            "kto",
            (chat.path,),
            chat.path,
            "history",
            "kto",
            True,
            ("KTO chat data: the last reply is the reference where label is true",),
            alias_fields=(label.path,),
        )
    return None


def _mt_bench(fields, rows, columns) -> Detection | None:
    turns = _field(fields, "turns")
    if not (turns and _all(rows, turns.path, lambda v: isinstance(v, list) and not is_messages(v))):
        return None
    reference = _field(fields, "reference")
    return Detection(
        "mt_bench",
        (turns.path,),
        reference.path if reference else None,
        "first_turn",
        "first_item",
        reasons=("MT-Bench questions: the first turn is the prompt, reference[0] its reference",),
    )


def _summary(fields, rows, question: tuple[str, ...] | None, summary: _Field) -> Detection | None:
    """A summarisation set (CNN/DailyMail, XSum, SAMSum, TL;DR): its summaries are no reference.
    A prompt column that says what to do is the prompt; a bare document is asked for a summary."""
    why = f"{summary.path!r} holds reference summaries, which no completion matches word for word"
    if question and norm(question[0].rsplit(".", 1)[-1]) in PROMPT_STRONG:
        base = _tabular(fields, rows, question, None)
        return without_reference(
            replace(base, reasons=(f"summaries: the prompt is {base.prompt_field!r}",)), "summary", why
        )
    documents = [
        f for f in _by_name([f for f in fields if not f.nested], DOCUMENT_NAMES + CONTEXT_NAMES, rows, is_text)
    ]
    if not documents:
        return None
    document = documents[0].path
    reason = f"summaries: the prompt asks for a summary of {document!r}"
    return without_reference(Detection("summary", (document,), None, "summarize", reasons=(reason,)), "summary", why)


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
            extra = [
                f
                for f in top
                if f.name in ("input", "inputs")
                and f.path != first.path
                and all(isinstance(get_path(r, f.path), (str, type(None))) for r in rows)
            ]
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
    found = [
        f
        for f in fields
        if f.name in CONTEXT_NAMES
        and f.path not in question
        and _all(rows, f.path, is_text)
        and not _same_as_any(rows, f.path, question)
    ]
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
    return len(options) == 1 and _all(
        rows, options[0], lambda v: isinstance(v, dict) and isinstance(v.get("labels"), list)
    )


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
    detection = Detection(
        "question_answer",
        prompt_fields,
        None,
        "compose",
        "text",
        False,
        (),
        context_fields=context,
        option_fields=options,
        system_field=system.path if system and _all(rows, system.path, is_text) else None,
    )
    if reference is None and _labelled_choices(rows, options):
        detection = replace(
            detection,
            reference_field=options[0],
            reference_kind="labelled_choice",
            reasons=(f"reference: the choice of {options[0]} labelled 1",),
        )
    elif reference is not None:
        detection = _with_reference(detection, rows, reference.path, "by name")
    detection = replace(detection, reasons=tuple(reasons) + detection.reasons)
    return replace(detection, family=_family(detection, rows))


def _with_prompt_override(columns, rows, paths: list[str]) -> Detection:
    fields = _fields(columns, rows)
    if len(paths) == 1 and _all(rows, paths[0], is_messages):
        reference = _reference(fields, rows, columns, set(paths))
        return _chat(
            fields,
            rows,
            _Field(paths[0], norm(paths[0]), "." in paths[0]),
            reference,
            reason=f"prompt from --prompt-field {paths[0]}",
        )
    options = tuple(
        p
        for p in paths
        if _all(rows, p, lambda v: not isinstance(v, str) and parse_options(v) is not None)
        or (norm(p.rsplit(".", 1)[-1]) in OPTION_NAMES and _all(rows, p, lambda v: parse_options(v) is not None))
    )
    detection = Detection(
        "custom",
        tuple(paths),
        None,
        "compose",
        "text",
        False,
        (f"prompt from --prompt-field {'+'.join(paths)}",),
        option_fields=options,
    )
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
    detection = Detection(
        "chat", (chat.path,), chat.path, "history", "last_reply", True, (why,), system_field=system_path
    )
    if reference is not None:
        detection = _with_reference(detection, rows, reference.path, "by name")
    elif not any(_has_reply(v) for v in _values(rows, chat.path)):
        detection = replace(
            detection,
            reference_field=None,
            reasons=detection.reasons + ("no reply and no answer column: no reference",),
        )
    return replace(detection, family=_family(detection, rows))


def _has_reply(messages: list) -> bool:
    keys = message_keys(messages)
    return bool(keys) and any(str(m.get(keys[0])).lower() in REPLY_ROLES for m in messages)


# --- reference ------------------------------------------------------------------------------


def _reference(fields, rows, columns, exclude: set[str]) -> _Field | None:
    """The reference field: short answers before worked solutions, then by name tier."""
    usable = [
        f for f in fields if f.path not in exclude and f.path.split(".")[0] not in exclude and _values(rows, f.path)
    ]
    short: list[tuple[int, _Field]] = []
    for tier, names in enumerate(REFERENCE_TIERS):
        for f in _by_name(usable, names, rows, lambda v: not isinstance(v, dict) or _answer_dict(v)):
            if (
                f.name == "label"
                and not _options(fields, rows, ("",))
                and not _all(rows, f.path, lambda v: isinstance(v, bool))
            ):
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
    return isinstance(value, dict) and any(
        norm(k) in ("value", "text", "groundtruth", "spans", "aliases", "answer") for k in value
    )


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
        aliases = tuple(
            f
            for f in _fields(list(rows[0]) if rows else [], rows)
            if f.name in ALIAS_NAMES and f.path != path and not f.path.startswith(path + ".")
        )
        aliases = tuple(f.path for f in aliases)
        kind = "aliases" if aliases or kind == "aliases" else kind
    reason = f"reference {path!r} {why}: {KIND_NOTES.get(kind, kind)}" + (
        f", also accepting {', '.join(aliases)}" if aliases else ""
    )
    return replace(
        detection,
        reference_field=path,
        reference_kind=kind,
        option_base=base,
        alias_fields=aliases or detection.alias_fields,
        reasons=detection.reasons + (reason,),
    )


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
    # A response column that ends in a marked final answer ("The answer is: 72") is a worked
    # solution too; one without markers (an SFT output, a summary) stays text.
    if name in RESPONSE_NAMES and 2 * sum(map(marks_final_answer, values)) >= len(values) > 0:
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
