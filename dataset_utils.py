"""Load a dataset from anywhere and find its prompt and reference, whatever its schema.

Detection is a pure function of the column names and a few sample rows (standard library only),
so its cost does not grow with the dataset. It knows the schemas people train on (GSM8K, MATH,
SQuAD, ARC, Alpaca, chat lists, ...), takes dotted-path overrides, and refuses to guess: a tie
or no fit is an error that lists the columns and the flags to pass.

Inspect CLI::

    python dataset_utils.py openai/gsm8k --dataset-config main --split train
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import string
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

logger = logging.getLogger(__name__)

SAMPLE_ROWS = 5  # rows detection looks at
HELD_OUT_FRACTION = 0.05
HELD_OUT_MAX = 500
LETTERS = string.ascii_uppercase


class UsageError(Exception):
    """Bad input from the user: reported as one line, with the fix, and no traceback."""


# --------------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Detection:
    """Where a dataset's prompt and reference are, and how to turn a row into them.

    ``prompt_kind`` and ``reference_kind`` name entries of ``PROMPT_BUILDERS`` and
    ``REFERENCE_BUILDERS``; fields are column names or dotted paths into nested fields.
    """

    family: str
    prompt_fields: tuple[str, ...]
    reference_field: str | None
    prompt_kind: str = "text"
    reference_kind: str = "text"
    conversational: bool = False
    reasons: tuple[str, ...] = field(default=(), compare=False)

    @property
    def prompt_field(self) -> str:
        return "+".join(self.prompt_fields)


def get_path(row: dict, path: str) -> Any:
    """The value at a dotted path (``answers.text``); None where any step is missing."""
    value: Any = row
    for key in path.split("."):
        if isinstance(value, dict):
            value = value.get(key)
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            value = [v.get(key) for v in value]
        else:
            return None
    return value


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


def _is_messages(value: Any, role_key: str = "role", content_key: str = "content") -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(m, dict) and role_key in m and content_key in m for m in value)
    )


def _is_choices_dict(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("text"), list) and isinstance(value.get("label"), list)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


def _all(rows: Sequence[dict], column: str, check: Callable[[Any], bool]) -> bool:
    values = [row.get(column) for row in rows if row.get(column) is not None]
    return bool(values) and all(check(v) for v in values)


def _has_marker(rows: Sequence[dict], column: str, marker: str) -> bool:
    return any(marker in str(row.get(column, "")) for row in rows)


@dataclass(frozen=True)
class _Rule:
    """A known schema: the columns it needs, a check on sample rows, and the detection."""

    family: str
    columns: tuple[str, ...]
    detection: Callable[[Sequence[dict]], Detection]
    check: Callable[[Sequence[dict]], bool] = lambda rows: True
    fallback: bool = False  # considered only when no other rule fits


def _d(family, prompt, reference, prompt_kind="text", reference_kind="text", conversational=False, why=""):
    prompt = (prompt,) if isinstance(prompt, str) else tuple(prompt)
    reasons = (f"columns match the {family} schema" + (f": {why}" if why else ""),)
    return lambda rows: Detection(family, prompt, reference, prompt_kind, reference_kind, conversational, reasons)


def _prompt_is_conversational(rows):
    return _all(rows, "prompt", _is_messages)


def _trl(family, reference):
    def detect(rows):
        conv = _prompt_is_conversational(rows)
        kind = "messages" if conv else "text"
        why = "conversational prompt (list of {role, content})" if conv else "plain-text prompt"
        return _d(family, "prompt", reference, kind, "chat_text", conv, why)(rows)

    return detect


RULES: tuple[_Rule, ...] = (
    _Rule("countdown", ("target", "nums"), _d("countdown", ("nums", "target"), "target", "countdown", "text")),
    _Rule(
        "multiple_choice",
        ("question", "choices", "answerKey"),
        _d("multiple_choice", ("question", "choices"), "answerKey", "choices", "choice_key", why="question, choices{text, label}, answerKey"),
        lambda rows: _all(rows, "choices", _is_choices_dict),
    ),
    _Rule(
        "openbookqa",
        ("question_stem", "choices", "answerKey"),
        _d("openbookqa", ("question_stem", "choices"), "answerKey", "choices", "choice_key", why="question_stem, choices{text, label}, answerKey"),
        lambda rows: _all(rows, "choices", _is_choices_dict),
    ),
    _Rule(
        "mmlu",
        ("question", "choices", "answer"),
        _d("mmlu", ("question", "choices"), "answer", "choices", "choice_index", why="choices list and an answer index"),
        lambda rows: _all(rows, "choices", _is_str_list) and _all(rows, "answer", lambda v: isinstance(v, int)),
    ),
    _Rule(
        "aqua_rat",
        ("question", "options", "correct"),
        _d("aqua_rat", ("question", "options"), "correct", "options", "option_letter", why="options list and a correct letter"),
    ),
    _Rule(
        "boolq",
        ("question", "passage", "answer"),
        _d("boolq", ("passage", "question"), "answer", "join", "text", why="boolean answer"),
        lambda rows: _all(rows, "answer", lambda v: isinstance(v, bool)),
    ),
    _Rule(
        "squad",
        ("context", "question", "answers"),
        _d("squad", ("context", "question"), "answers.text", "join", "text", why="every answers.text is accepted"),
        lambda rows: _all(rows, "answers", lambda v: isinstance(v, dict) and "text" in v),
    ),
    _Rule(
        "triviaqa",
        ("question", "answer"),
        _d("triviaqa", "question", "answer", "text", "aliases", why="answer{value, aliases}"),
        lambda rows: _all(rows, "answer", lambda v: isinstance(v, dict) and "value" in v),
    ),
    _Rule("svamp", ("Body", "Question", "Answer"), _d("svamp", ("Body", "Question"), "Answer", "join", "text")),
    _Rule(
        "alpaca",
        ("instruction", "input", "output"),
        _d("alpaca", ("instruction", "input"), "output", "join", "text", why="instruction joined with a non-empty input"),
    ),
    _Rule(
        "dolly",
        ("instruction", "context", "response"),
        _d("dolly", ("instruction", "context"), "response", "join", "text", why="instruction joined with a non-empty context"),
    ),
    _Rule("preference", ("prompt", "chosen", "rejected"), _trl("preference", "chosen")),
    _Rule("trl_prompt_completion", ("prompt", "completion"), _trl("trl_prompt_completion", "completion")),
    _Rule(
        "math500",
        ("problem", "solution", "answer"),
        _d("math500", "problem", "answer", why="the short answer is preferred to the solution"),
    ),
    _Rule(
        "math",
        ("problem", "solution"),
        _d("math", "problem", "solution", why="solution read through its \\boxed{} answer"),
    ),
    _Rule(
        "gsm8k",
        ("question", "answer"),
        _d("gsm8k", "question", "answer", why="answer ends in '#### N'"),
        lambda rows: _all(rows, "answer", _is_text) and _has_marker(rows, "answer", "####"),
    ),
    _Rule(
        "question_answer",
        ("question", "answer"),
        _d("question_answer", "question", "answer", "text", "solution_answer",
           why="Orca-Math style worked answer, read to its final number"),
        lambda rows: _all(rows, "question", _is_text) and _all(rows, "answer", _is_text) and not _has_marker(rows, "answer", "####"),
    ),
    _Rule("metamathqa", ("query", "response"), _d("metamathqa", "query", "response")),
    _Rule(
        "messages",
        ("messages",),
        _d("messages", "messages", "messages", "messages_history", "last_assistant", True, "turns before the last assistant turn"),
        lambda rows: _all(rows, "messages", _is_messages),
    ),
    _Rule(
        "conversation",
        ("conversation",),
        _d("conversation", "conversation", "conversation", "messages_history", "last_assistant", True, "turns before the last assistant turn"),
        lambda rows: _all(rows, "conversation", _is_messages),
    ),
    _Rule(
        "conversations",
        ("conversations",),
        _d("conversations", "conversations", "conversations", "messages_history", "last_assistant", True, "turns before the last assistant turn"),
        lambda rows: _all(rows, "conversations", _is_messages),
    ),
    _Rule(
        "preference_chat",
        ("chosen", "rejected"),
        _d("preference_chat", "chosen", "chosen", "messages_history", "last_assistant", True,
           "chat lists: the prompt is the chosen conversation before its last answer"),
        lambda rows: _all(rows, "chosen", _is_messages),
    ),
    _Rule(
        "sharegpt",
        ("conversations",),
        _d("sharegpt", "conversations", "conversations", "sharegpt_history", "sharegpt_last", True, "[{from, value}] turns"),
        lambda rows: _all(rows, "conversations", lambda v: _is_messages(v, "from", "value")),
    ),
    _Rule("prompt_only", ("prompt",), _trl("prompt_only", None), fallback=True),
)

# Columns that, alone, name a prompt or a reference, for datasets no rule knows.
PROMPT_NAMES = ("prompt", "question", "query", "problem", "instruction", "input", "text", "content")
REFERENCE_NAMES = ("answer", "solution", "response", "output", "completion", "target", "label", "reference")


def describe_columns(rows: Sequence[dict], columns: Sequence[str]) -> str:
    """``name (type), ...`` for an error message."""

    def kind(value: Any) -> str:
        if isinstance(value, dict):
            return "dict{" + ", ".join(value) + "}"
        if isinstance(value, list):
            return "list" + (f"[{kind(value[0])}]" if value else "")
        return type(value).__name__

    sample = rows[0] if rows else {}
    return ", ".join(f"{c} ({kind(sample.get(c))})" for c in columns)


def _fail(reason: str, rows: Sequence[dict], columns: Sequence[str]) -> UsageError:
    return UsageError(
        f"{reason}; columns seen: {describe_columns(rows, columns)}. "
        "Pass --prompt-field COLUMN (and --reference-field COLUMN, dotted paths allowed) to choose."
    )


def detect_fields(
    columns: Sequence[str],
    rows: Sequence[dict],
    prompt_field: str | None = None,
    reference_field: str | None = None,
) -> Detection:
    """Find the prompt and reference of a dataset from its column names and a few rows.

    The most specific known schema wins; overrides take dotted paths. Raises UsageError when
    nothing fits or two candidates tie.
    """
    rows = list(itertools.islice(rows, SAMPLE_ROWS))
    columns = list(columns)
    for override in (prompt_field, reference_field):
        if override and override.split(".")[0] not in columns:
            raise _fail(f"column {override.split('.')[0]!r} (from {override!r}) is not in the dataset", rows, columns)
    matched = [r for r in RULES if set(r.columns) <= set(columns) and r.check(rows)]
    matched = [r for r in matched if not r.fallback] or matched
    if prompt_field:
        return _with_overrides(matched, rows, columns, prompt_field, reference_field)
    if matched:
        best = max(len(r.columns) for r in matched)
        top = [r for r in matched if len(r.columns) == best]
        if len(top) > 1:
            names = " and ".join(r.family for r in top)
            raise _fail(f"the columns fit both {names}", rows, columns)
        detection = top[0].detection(rows)
        if reference_field:
            detection = replace(detection, reference_field=reference_field, reference_kind="text",
                                 reasons=detection.reasons + (f"reference from --reference-field {reference_field}",))
        return detection
    return _generic(rows, columns, reference_field)


def _with_overrides(matched, rows, columns, prompt_field, reference_field) -> Detection:
    sample = [get_path(row, prompt_field) for row in rows]
    conversational = bool(sample) and all(_is_messages(v) for v in sample if v is not None)
    reasons = [f"prompt from --prompt-field {prompt_field}"]
    if reference_field is None:
        known = [r.detection(rows) for r in matched if r.detection(rows).prompt_fields == (prompt_field,)]
        if known:
            return replace(known[0], reasons=tuple(reasons) + known[0].reasons)
        candidates = [c for c in REFERENCE_NAMES if c in columns and c != prompt_field]
        reference_field = candidates[0] if len(candidates) == 1 else None
        reasons.append(f"reference column {reference_field!r} by name" if reference_field else "no reference column")
    else:
        reasons.append(f"reference from --reference-field {reference_field}")
    kind = "messages" if conversational else "text"
    return Detection("custom", (prompt_field,), reference_field, kind, "text", conversational, tuple(reasons))


def _generic(rows, columns, reference_field) -> Detection:
    text_columns = [c for c in columns if _all(rows, c, _is_text)]
    prompts = [c for c in PROMPT_NAMES if c in text_columns]
    if len(prompts) != 1:
        reason = "no column looks like a prompt" if not prompts else f"several columns could be the prompt ({', '.join(prompts)})"
        raise _fail(reason, rows, columns)
    references = [c for c in REFERENCE_NAMES if c in columns and c != prompts[0]]
    for part in ("answer", "solution"):  # expected_answer, then generated_solution: short answers first
        if not references:
            references = [c for c in columns if c != prompts[0] and part in c.lower()]
    if reference_field is None and len(references) > 1:
        raise _fail(f"several columns could be the reference ({', '.join(references)})", rows, columns)
    reference = reference_field or (references[0] if references else None)
    reasons = (f"the only prompt-like text column is {prompts[0]!r}",
               f"reference column {reference!r}" if reference else "no reference column: reference_reward is skipped")
    return Detection("generic", (prompts[0],), reference, "text", "text", False, reasons)


# --------------------------------------------------------------------------------------------
# Row mapping
# --------------------------------------------------------------------------------------------


def _lettered(question: str, options: Sequence[str], labels: Sequence[str] | None = None) -> str:
    labels = labels or LETTERS[: len(options)]
    return question.strip() + "\n" + "\n".join(f"{label}. {text}" for label, text in zip(labels, options))


def _join(row: dict, fields: Sequence[str]) -> str:
    return "\n\n".join(str(v).strip() for v in (get_path(row, f) for f in fields) if v not in (None, "") and str(v).strip())


def _history(messages: list, role_key="role", content_key="content") -> list[dict]:
    roles = {"human": "user", "gpt": "assistant", "user": "user", "assistant": "assistant", "system": "system"}
    turns = [{"role": roles.get(m[role_key], m[role_key]), "content": m[content_key]} for m in messages]
    last = max((i for i, t in enumerate(turns) if t["role"] == "assistant"), default=len(turns))
    return turns[:last]


def _last_assistant(messages: list, role_key="role", content_key="content") -> str | None:
    answers = [m[content_key] for m in messages if m[role_key] in ("assistant", "gpt")]
    return answers[-1] if answers else None


PROMPT_BUILDERS: dict[str, Callable[[dict, Detection], Any]] = {
    "text": lambda row, d: get_path(row, d.prompt_fields[0]),
    "messages": lambda row, d: get_path(row, d.prompt_fields[0]),
    "join": lambda row, d: _join(row, d.prompt_fields),
    "choices": lambda row, d: _lettered(
        row[d.prompt_fields[0]],
        row["choices"]["text"] if isinstance(row["choices"], dict) else row["choices"],
        row["choices"]["label"] if isinstance(row["choices"], dict) else None,
    ),
    "options": lambda row, d: row["question"].strip() + "\n" + "\n".join(row["options"]),
    "countdown": lambda row, d: (
        f"Using the numbers {list(row['nums'])}, create an equation that equals {row['target']}. "
        "Use each number once, with + - * /."
    ),
    "messages_history": lambda row, d: _history(row[d.prompt_fields[0]]),
    "sharegpt_history": lambda row, d: _history(row["conversations"], "from", "value"),
}


def _choice_key(row: dict) -> list[str]:
    key = str(row["answerKey"]).strip()
    labels, texts = row["choices"]["label"], row["choices"]["text"]
    return [key] + [t for label, t in zip(labels, texts) if str(label) == key]


def _option_letter(row: dict) -> list[str]:
    letter = str(row["correct"]).strip()
    texts = [o.split(")", 1)[1].strip() for o in row["options"] if o.strip().upper().startswith(letter.upper() + ")")]
    return [letter] + texts


def _chat_text(value: Any) -> Any:
    return _last_assistant(value) if _is_messages(value) else value


def _solution_answer(text: Any) -> Any:
    """The final answer of a worked solution with no marker: its last number (rewards' rule)."""
    from rewards import extract_answer

    return extract_answer(str(text)).answer or text if text is not None else None


REFERENCE_BUILDERS: dict[str, Callable[[dict, Detection], Any]] = {
    "text": lambda row, d: get_path(row, d.reference_field),
    "solution_answer": lambda row, d: _solution_answer(get_path(row, d.reference_field)),
    "chat_text": lambda row, d: _chat_text(get_path(row, d.reference_field)),
    "aliases": lambda row, d: [row["answer"]["value"], *row["answer"].get("aliases", [])],
    "choice_key": lambda row, d: _choice_key(row),
    "choice_index": lambda row, d: [LETTERS[row["answer"]], row["choices"][row["answer"]]],
    "option_letter": lambda row, d: _option_letter(row),
    "last_assistant": lambda row, d: _last_assistant(row[d.reference_field]),
    "sharegpt_last": lambda row, d: _last_assistant(row["conversations"], "from", "value"),
}


def build_prompt(row: dict, detection: Detection, system_prompt: str | None = None, chat: bool = True) -> Any:
    """The prompt GRPOTrainer takes: a message list when ``chat``, else plain text."""
    prompt = PROMPT_BUILDERS[detection.prompt_kind](row, detection)
    if isinstance(prompt, list):
        messages = [m for m in prompt if not (system_prompt and m["role"] == "system")]
    elif prompt is None or not str(prompt).strip():
        return None
    elif chat:
        messages = [{"role": "user", "content": str(prompt)}]
    else:
        return (system_prompt + "\n\n" if system_prompt else "") + str(prompt)
    if system_prompt:
        messages = [{"role": "system", "content": system_prompt}, *messages]
    if not chat:
        return "\n\n".join(m["content"] for m in messages)
    return messages


def render_prompt(tokenizer, prompt: Any) -> str:
    """A mapped prompt exactly as the model sees it: chat template applied to message lists."""
    if isinstance(prompt, list):
        return tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    return prompt


def build_reference(row: dict, detection: Detection) -> Any:
    """The value the reward receives: a string, a list of acceptable answers, or None."""
    if detection.reference_field is None:
        return None
    value = REFERENCE_BUILDERS[detection.reference_kind](row, detection)
    if isinstance(value, list):
        value = [str(v) for v in value if v not in (None, "")]
        return value or None
    if value is None or isinstance(value, bool):
        return value
    return str(value) if str(value).strip() else None


def map_row(row: dict, detection: Detection, system_prompt: str | None = None, chat: bool = True) -> dict:
    return {"prompt": build_prompt(row, detection, system_prompt, chat), "reference": build_reference(row, detection)}


# --------------------------------------------------------------------------------------------
# Loading (imports `datasets` only when called)
# --------------------------------------------------------------------------------------------

FILE_BUILDERS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet", ".arrow": "arrow"}


def set_offline_env() -> None:
    """Make every Hugging Face library refuse the network; call before importing them."""
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ[name] = "1"


def load_any(source: str, config: str | None = None, local_only: bool = False):
    """A DatasetDict (or Dataset) from a hub id, a ``save_to_disk`` folder or a data file."""
    import datasets

    datasets.disable_progress_bars()
    path = Path(source).expanduser()
    try:
        if path.is_file():
            builder = FILE_BUILDERS.get("".join(path.suffixes[-1:]).lower())
            if builder is None:
                raise UsageError(f"dataset file {source} has an unknown type; use one of {', '.join(FILE_BUILDERS)}")
            if path.stat().st_size == 0:
                raise UsageError(f"dataset file {source} is empty")
            return datasets.load_dataset(builder, data_files=str(path))
        if path.is_dir() and any((path / n).exists() for n in ("dataset_dict.json", "state.json")):
            return datasets.load_from_disk(str(path))
        if path.is_dir():
            return datasets.load_dataset(str(path))
        if local_only or source.startswith((".", "/", "~")):
            raise UsageError(
                f"dataset {source!r} is not on disk; download it first "
                f"(hf download --repo-type dataset {source}) or pass a local file or folder"
            )
        return datasets.load_dataset(source, config)
    except UsageError:
        raise
    except Exception as err:  # datasets raises many types; all mean the same to the user here
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UsageError(f"could not load dataset {source!r}: {first}") from err


def pick_splits(loaded, split: str = "train", seed: int = 0):
    """The training split and a held-out split (test, validation, or a deterministic carve)."""
    import datasets

    if isinstance(loaded, datasets.Dataset):
        loaded = datasets.DatasetDict({"train": loaded})
    if split not in loaded:
        raise UsageError(f"split {split!r} not found; available splits: {', '.join(loaded)}. Pass --split NAME")
    train = loaded[split]
    for name in ("test", "validation", "valid", "eval"):
        if name in loaded and name != split:
            return train, loaded[name]
    if len(train) < 2:
        raise UsageError(f"split {split!r} has {len(train)} row(s); at least 2 are needed")
    size = min(HELD_OUT_MAX, max(1, int(len(train) * HELD_OUT_FRACTION)))
    carved = train.train_test_split(test_size=size, seed=seed)
    logger.info("no test split: held out %d of %d rows (seed %d) for evaluation", size, len(train), seed)
    return carved["train"], carved["test"]


def detect_dataset(dataset, prompt_field: str | None = None, reference_field: str | None = None) -> Detection:
    """Detection on a ``datasets.Dataset``: its columns and first rows only."""
    if len(dataset) == 0:
        raise UsageError("the dataset has no rows")
    rows = dataset.select(range(min(SAMPLE_ROWS, len(dataset)))).to_list()
    return detect_fields(dataset.column_names, rows, prompt_field, reference_field)


def prepare(dataset, detection: Detection, system_prompt: str | None = None, chat: bool = True):
    """Map rows to ``prompt`` and ``reference`` columns; drop rows with an empty prompt, loudly."""
    mapped = dataset.map(
        lambda row: map_row(dict(row), detection, system_prompt, chat),
        remove_columns=dataset.column_names,
        desc="mapping rows",
    )
    kept = mapped.filter(lambda row: row["prompt"] is not None and len(row["prompt"]) > 0)
    if len(kept) < len(mapped):
        logger.warning("dropped %d of %d rows with an empty prompt", len(mapped) - len(kept), len(mapped))
    if len(kept) == 0:
        raise UsageError(f"every row has an empty prompt in field {detection.prompt_field!r}; pass --prompt-field")
    return kept


# --------------------------------------------------------------------------------------------
# Inspect CLI
# --------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Show how a dataset's prompt and reference are detected and mapped.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_dataset_args(parser, positional=True)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    return parser


def add_dataset_args(parser: argparse.ArgumentParser, positional: bool = False) -> None:
    """The dataset flags, shared by every script."""
    group = parser.add_argument_group("data")
    if positional:
        group.add_argument("dataset", help="hub id, save_to_disk folder, or .json/.jsonl/.csv/.parquet/.arrow file")
    else:
        group.add_argument("--dataset", help="hub id, save_to_disk folder, or .json/.jsonl/.csv/.parquet/.arrow file")
    group.add_argument("--dataset-config", default=None, help="hub dataset configuration (e.g. main for gsm8k)")
    group.add_argument("--split", default="train", help="split to train on")
    group.add_argument("--prompt-field", default=None, help="prompt column or dotted path; auto-detected if unset")
    group.add_argument("--reference-field", default=None, help="reference column or dotted path; auto-detected if unset")
    group.add_argument("--system-prompt", default=None, help="system message put before every prompt")
    group.add_argument("--local-only", action="store_true", help="never touch the network: local files and caches only")


def _examples(dataset, detection: Detection, system_prompt: str | None) -> list[dict]:
    from rewards import extract_reference

    examples = []
    for row in dataset.select(range(min(3, len(dataset)))).to_list():
        mapped = map_row(row, detection, system_prompt)
        answers = extract_reference(mapped["reference"])
        answer = answers[0] if len(answers) == 1 else (answers or None)
        examples.append({**mapped, "answer": answer})
    return examples


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.local_only:
        set_offline_env()
    try:
        train, _ = pick_splits(load_any(args.dataset, args.dataset_config, args.local_only), args.split)
        detection = detect_dataset(train, args.prompt_field, args.reference_field)
        examples = _examples(train, detection, args.system_prompt)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"prompt_field": detection.prompt_field, "reference_field": detection.reference_field,
                          "conversational": detection.conversational, "examples": examples}, ensure_ascii=False))
        return 0
    print(f"family:          {detection.family}")
    print(f"prompt field:    {detection.prompt_field} ({detection.prompt_kind})")
    print(f"reference field: {detection.reference_field} ({detection.reference_kind})")
    print(f"conversational:  {detection.conversational}")
    for reason in detection.reasons:
        print(f"  because {reason}")
    for i, example in enumerate(examples, 1):
        print(f"\n--- row {i}\nprompt:    {example['prompt']!r}\nreference: {example['reference']!r}\nanswer:    {example['answer']!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
