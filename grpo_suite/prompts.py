"""Turn a dataset row into the prompt the model sees and the reference the reward reads.

The prompt puts context (passage, body, table) before the question and options after it as
lettered lines; chat lists keep their turns before the last reply, with content parts joined
to text and tool turns dropped. The reference is a short answer taken whole, a worked
solution read to its final answer, an option as its letter and text, or a list of aliases.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Callable

from grpo_suite.errors import UsageError, first_line
from grpo_suite.fields import LETTERS, get_path, is_worked, message_keys, norm, parse_options
from grpo_suite.no_reference import has_no_reference
from grpo_suite.schemas import Detection, split_qa_text

logger = logging.getLogger("dataset_utils")

ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "model": "assistant",
    "chatgpt": "assistant",
    "bing": "assistant",
    "bard": "assistant",
    "bot": "assistant",
    "ai": "assistant",
    "system": "system",
    "developer": "system",
}
_TEXT_PARTS = ("text", "input_text", "output_text")
TOOL_ROLES = ("tool", "function", "function_call", "observation", "ipython", "tool_call", "tool_response")
_UNIT_PAREN_RE = re.compile(r"^\s*([-+]?[$€£]?\d[\d,]*(?:\.\d+)?%?)\s*\(\s*[A-Za-z][^()]*\)\s*$")
_ANSWER_PREFIX_RE = re.compile(r"^\s*A\s*[:：]\s*")
_JSON_STR_LIST_RE = re.compile(r'^\[\s*".*"\s*\]$', re.DOTALL)
_TRANSCRIPT_RE = re.compile(r"\n\n(Human|Assistant):\s?")
_MARKED_RE = re.compile(r"####|\\boxed|\\fbox|answer\s+is|answer\s*[:：]", re.IGNORECASE)
_LAST_NUMBER_RE = re.compile(r"[-+]?\$?\d(?:[\d,]*\d)?(?:\.\d+)?(?:/\d+)?%?")
_LETTER_WRAP_RE = re.compile(r"^\(?([A-Za-z])\s?[).:]?\s*$")


# --------------------------------------------------------------------------------------------
# Text of a value
# --------------------------------------------------------------------------------------------


def format_scalar(value: Any) -> str:
    """A number as a person writes it: ``27.0`` -> ``27``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def content_text(content: Any) -> str:
    """A message's content as text: content parts (``[{"type": "text", "text": ...}]``) joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and part.get("type", "text") in _TEXT_PARTS:
                parts.append(str(part.get("text", part.get("value", "")) or ""))
        return "".join(parts)
    if isinstance(content, dict):
        return str(content.get("text", content.get("value", content.get("content", ""))) or "")
    return "" if content is None else format_scalar(content)


def text_of(value: Any, path: str) -> str | None:
    """Text for the prompt; a struct is an error naming the field, never its repr."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return format_scalar(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n".join(v.strip() for v in value)
    if isinstance(value, list) and all(isinstance(v, (int, float)) for v in value):
        return ", ".join(format_scalar(v) for v in value)
    kind = "dict{" + ", ".join(map(str, value)) + "}" if isinstance(value, dict) else type(value).__name__
    raise UsageError(
        f"field {path!r} holds a {kind}, not text; pick a text field inside it with a dotted path "
        f"(--prompt-field {path}.KEY)"
    )


def render_options(options: list[tuple[str | None, str]]) -> str:
    return "\n".join(f"{LETTERS[i]}. {text}" for i, (_, text) in enumerate(options))


def row_options(row: dict, detection: Detection) -> list[tuple[str | None, str]] | None:
    fields = detection.option_fields
    if not fields:
        return None
    if len(fields) == 1:
        return parse_options(get_path(row, fields[0]))
    options = []
    for path in fields:
        value = get_path(row, path)
        if value is not None and str(value).strip():
            options.append((norm(path)[-1:], format_scalar(value).strip()))
    return options or None


# --------------------------------------------------------------------------------------------
# Chat turns
# --------------------------------------------------------------------------------------------


def chat_turns(messages: Any, counter: dict | None = None) -> list[dict]:
    """``[{role, content}]`` with roles mapped, content parts joined and tool turns dropped."""
    keys = message_keys(messages)
    if keys is None:
        return []
    role_key, content_key = keys
    turns = []
    for message in messages:
        role = str(message.get(role_key, "")).lower()
        role = ROLES.get(role, role)
        text = content_text(message.get(content_key))
        if role in TOOL_ROLES or (message.get("tool_calls") and not text.strip()):
            _count(counter, "tool_turns")
            continue
        turns.append({"role": role, "content": text})
    return turns


def _before_last_reply(turns: list[dict]) -> list[dict]:
    last = max((i for i, t in enumerate(turns) if t["role"] == "assistant"), default=len(turns))
    if last == 0:  # a reply with nothing before it: keep the turns, there is no prompt otherwise
        return turns
    return turns[:last]


def last_reply(value: Any) -> str | None:
    """The last assistant reply of a chat list, a reply dict, or a plain string."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return content_text(value.get("content", value.get("value", value.get("text"))))
    turns = chat_turns(value)
    replies = [t["content"] for t in turns if t["role"] == "assistant"]
    return replies[-1] if replies else None


def _transcript(text: str) -> list[dict]:
    """HH-RLHF's ``\\n\\nHuman: ...\\n\\nAssistant: ...`` as turns."""
    pieces = _TRANSCRIPT_RE.split("\n\n" + text.lstrip())
    turns = []
    for role, content in zip(pieces[1::2], pieces[2::2]):
        turns.append({"role": "user" if role == "Human" else "assistant", "content": content.strip()})
    return turns


# --------------------------------------------------------------------------------------------
# Prompt builders
# --------------------------------------------------------------------------------------------


def _compose(row: dict, d: Detection) -> str:
    parts: list[str] = []
    options_done = False
    for path in d.prompt_fields:
        if path in d.option_fields:
            if options_done:
                continue
            options_done = True
            options = row_options(row, d)
            if options:
                parts.append(render_options(options))
            continue
        text = text_of(get_path(row, path), path)
        if text:
            parts.append(text)
    return "\n\n".join(parts)


def _history(row: dict, d: Detection, counter: dict | None) -> list[dict]:
    value = get_path(row, d.prompt_fields[0])
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    return _before_last_reply(chat_turns(value, counter))


def _countdown(row: dict, d: Detection) -> str:
    nums, target = get_path(row, d.prompt_fields[0]), get_path(row, d.prompt_fields[1])
    return (
        f"Using the numbers {list(nums)}, create an equation that equals {target}. Use each number once, with + - * /."
    )


def _first_turn(row: dict, d: Detection) -> str | None:
    turns = get_path(row, d.prompt_fields[0]) or []
    return content_text(turns[0]) if turns else None


# A summarisation set's bare document says nothing of what to do with it; this sentence does.
SUMMARY_REQUEST = "Summarize the following text."


def _summarize(row: dict, d: Detection) -> str | None:
    text = text_of(get_path(row, d.prompt_fields[0]), d.prompt_fields[0])
    return f"{SUMMARY_REQUEST}\n\n{text}" if text else None


PROMPT_BUILDERS: dict[str, Callable[..., Any]] = {
    "text": lambda row, d, c: (
        _history(row, d, c)
        if message_keys(get_path(row, d.prompt_fields[0]))
        else text_of(get_path(row, d.prompt_fields[0]), d.prompt_fields[0])
    ),
    "join": lambda row, d, c: _compose(row, d),
    "compose": lambda row, d, c: _compose(row, d),
    "choices": lambda row, d, c: _compose(row, d),
    "messages": _history,
    "history": _history,
    "messages_history": _history,
    "sharegpt_history": _history,
    "transcript": lambda row, d, c: _before_last_reply(_transcript(str(get_path(row, d.prompt_fields[0]) or ""))),
    "qa_text": lambda row, d, c: split_qa_text(str(get_path(row, d.prompt_fields[0]) or ""))[0],
    "first_turn": lambda row, d, c: _first_turn(row, d),
    "countdown": lambda row, d, c: _countdown(row, d),
    "summarize": lambda row, d, c: _summarize(row, d),
}


# --------------------------------------------------------------------------------------------
# The answer instruction
# --------------------------------------------------------------------------------------------

# Said after each prompt so that an instruct model states an answer the reward reads. Measured
# on SmolLM2-135M-Instruct, greedy, 48 word problems (operands to 20), 128 new tokens, its
# template's own system prompt kept: without it 17% right and 23% of replies with an explicit
# answer; with it 27% and 79%, and replies of 44 tokens instead of 75 (benchmarks/bench_real_model.py).
ANSWER_INSTRUCTION = "End your reply with a line 'Final answer: ' followed by your answer."
# A prompt that already asks for a format keeps its own: two instructions would contradict.
_ASKS_FOR_FORMAT_RE = re.compile(
    r"final\s+answer|\\boxed|\banswer\s*[:：]|####|<answer>|\banswer\s+is\b|\banswer\s+(?:with|in)\b",
    re.IGNORECASE,
)


def answer_instruction(value: str | None, system_prompt: str | None = None, declared: str | None = None) -> str | None:
    """The instruction a run appends to its prompts, from ``--answer-instruction``'s ``value``.

    None (the flag not given) means: none where the user wrote their own ``--system-prompt``
    (their instructions are theirs), else what the model folder ``declared`` (the demo's toy,
    warm-started on the bare questions, declares none), else :data:`ANSWER_INSTRUCTION`.
    '' means none.

    >>> answer_instruction(None) == ANSWER_INSTRUCTION, answer_instruction(None, "Be brief."), answer_instruction("")
    (True, None, None)
    """
    if value is None:
        if system_prompt:
            return None
        value = ANSWER_INSTRUCTION if declared is None else declared
    return value.strip() or None


def instruction_for(instruction: str | None, detection: Detection) -> str | None:
    """The answer instruction for a dataset's rows: the default's "Final answer:" line is dropped
    for data with no answer to state (preference pairs, SFT outputs, summaries), where a run
    would learn it as noise; an instruction of the user's own stays."""
    if instruction == ANSWER_INSTRUCTION and has_no_reference(detection):
        return None
    return instruction


def recorded_instruction(run: dict) -> str | None:
    """The ``--answer-instruction`` value a training run recorded, for :func:`answer_instruction`:
    '' (none) for a run recorded before the flag existed, None (the default) for no record at all."""
    return run.get("args", {}).get("answer_instruction", "") if run else None


def recorded_template_kwargs(recorded: dict) -> dict:
    """A run's recorded ``chat_template_kwargs`` (a dict, or the JSON text given on the command line)."""
    value = recorded.get("chat_template_kwargs") or {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as err:
            raise UsageError(f"run_config.json: chat_template_kwargs {value!r} is not JSON ({err.msg})") from err
    return dict(value)


def add_instruction(prompt: Any, instruction: str | None, counter: dict | None = None) -> Any:
    """``prompt`` with ``instruction`` after its last user turn's text (or after plain text),
    unless that text already asks for an answer format; counted in ``counter``."""
    if not instruction or prompt is None:
        return prompt
    if isinstance(prompt, list):
        users = [i for i, m in enumerate(prompt) if m["role"] == "user" and str(m["content"]).strip()]
        if not users:
            return prompt  # nothing asked: the row is dropped as empty, not saved by the instruction
        if _ASKS_FOR_FORMAT_RE.search(prompt[users[-1]]["content"]):
            _count(counter, "instruction_skipped")
            return prompt
        at = users[-1]
        turn = {**prompt[at], "content": prompt[at]["content"].rstrip() + "\n\n" + instruction}
        _count(counter, "instruction_added")
        return [*prompt[:at], turn, *prompt[at + 1 :]]
    if not str(prompt).strip():
        return prompt
    if _ASKS_FOR_FORMAT_RE.search(str(prompt)):
        _count(counter, "instruction_skipped")
        return prompt
    _count(counter, "instruction_added")
    return str(prompt).rstrip() + "\n\n" + instruction


def _count(counter: dict | None, key: str) -> None:
    if counter is not None:
        counter[key] = counter.get(key, 0) + 1


def build_prompt(
    row: dict,
    detection: Detection,
    system_prompt: str | None = None,
    chat: bool = True,
    counter: dict | None = None,
    instruction: str | None = None,
) -> Any:
    """The prompt GRPOTrainer takes: a message list when ``chat``, else plain text; ``instruction``
    (see :func:`answer_instruction`) follows the last user turn."""
    prompt = PROMPT_BUILDERS[detection.prompt_kind](row, detection, counter)
    if isinstance(prompt, list) or (prompt is not None and str(prompt).strip()):
        prompt = add_instruction(prompt, instruction, counter)
    system = system_prompt or (
        text_of(get_path(row, detection.system_field), detection.system_field) if detection.system_field else None
    )
    if isinstance(prompt, list):
        messages = [m for m in prompt if not (system and m["role"] == "system")]
        if not any(m["content"].strip() for m in messages):
            return None
    elif prompt is None or not str(prompt).strip():
        return None
    elif chat:
        messages = [{"role": "user", "content": str(prompt)}]
    else:
        return (system + "\n\n" if system else "") + str(prompt)
    if system:
        messages = [{"role": "system", "content": system}, *messages]
    if not chat:
        return "\n\n".join(m["content"] for m in messages)
    return messages


# --------------------------------------------------------------------------------------------
# Reference builders
# --------------------------------------------------------------------------------------------


def clean_short_answer(value: Any) -> Any:
    """A short answer as the reward should read it: whole, never reduced to a number inside it.

    Only wrappers are removed: an ``A:`` prefix, ASDiv's unit in parentheses (``9 (apples)``),
    a JSON list in a string (``'["34"]'``). Numbers are written as people write them.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return format_scalar(value)
    if isinstance(value, list):
        return [a for a in (clean_short_answer(v) for v in value) if a not in (None, "")]
    if isinstance(value, dict):
        return _dict_answer(value)
    text = str(value).strip()
    if _JSON_STR_LIST_RE.match(text):
        try:
            return [str(v) for v in json.loads(text)]
        except ValueError:
            pass
    text = _ANSWER_PREFIX_RE.sub("", text, count=1)
    unit = _UNIT_PAREN_RE.match(text)
    return unit.group(1) if unit else text


def _dict_answer(value: dict) -> Any:
    """TriviaQA's {value, aliases}, SQuAD's {text: [...]}, verl's {ground_truth}, DROP's {spans}."""
    by_name = {norm(k): v for k, v in value.items()}
    for key in ("groundtruth", "text", "spans", "answer", "content"):
        if key in by_name:
            return clean_short_answer(by_name[key])
    if "value" in by_name or "aliases" in by_name:
        answers = [by_name.get("value")] + list(by_name.get("aliases") or [])
        return [a for a in (clean_short_answer(v) for v in answers) if a not in (None, "")]
    raise UsageError(
        f"the reference is a dict{{{', '.join(map(str, value))}}} with no answer in it; "
        "pass --reference-field FIELD.KEY"
    )


def _solution(value: Any) -> Any:
    """A worked solution: kept whole when it marks its answer (the reward reads ####, \\boxed,
    "The answer is", "Answer:"), else read to its last number, the Orca-Math convention."""
    if isinstance(value, list):
        return [_solution(v) for v in value if v is not None]
    if value is None or not isinstance(value, str) or not is_worked(value):
        return clean_short_answer(value)
    if _MARKED_RE.search(value):
        return value
    numbers = _LAST_NUMBER_RE.findall(value)
    return numbers[-1].replace(",", "").lstrip("$") if numbers else value


def _choice(row: dict, d: Detection) -> Any:
    """An option reference (letter, label, index or option text) as [letter, option text]."""
    value = get_path(row, d.reference_field)
    options = row_options(row, d)
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None:
        return None
    position = _option_position(value, options or [], d.option_base)
    if position is None or not options:
        return [clean_short_answer(value)] if not isinstance(value, bool) else value
    return [LETTERS[position], options[position][1]]


def _option_position(value: Any, options: list, base: int) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        index = value - base
        return index if 0 <= index < len(options) else None
    text = str(value).strip()
    wrapped = _LETTER_WRAP_RE.match(text)
    key = wrapped.group(1) if wrapped else text
    for i, (label, _) in enumerate(options):
        if label is not None and label.strip().lower() == key.lower():
            return i
    if (
        wrapped
        and key.upper() in LETTERS[: len(options)]
        and all(label is None or len(label) == 1 for label, _ in options)
    ):
        return LETTERS.index(key.upper())
    if text.isdigit():
        return _option_position(int(text), options, base)
    folded = " ".join(text.lower().split())
    matches = [i for i, (_, t) in enumerate(options) if " ".join(t.lower().split()) == folded]
    return matches[0] if len(matches) == 1 else None


def _labelled_choice(row: dict, d: Detection) -> Any:
    value = get_path(row, d.reference_field) or {}
    choices, labels = value.get("choices") or [], value.get("labels") or []
    right = [i for i, label in enumerate(labels) if label == 1 and i < len(choices)]
    return [LETTERS[right[0]], str(choices[right[0]])] if len(right) == 1 else None


def _aliases(row: dict, d: Detection) -> Any:
    answers = clean_short_answer(get_path(row, d.reference_field))
    answers = list(answers) if isinstance(answers, list) else ([answers] if answers is not None else [])
    for path in d.alias_fields:
        more = get_path(row, path)
        if isinstance(more, str):
            more = [m for m in (p.strip() for p in more.split(";")) if m]
        more = clean_short_answer(more)
        answers += more if isinstance(more, list) else ([more] if more else [])
    seen: list = []
    for answer in answers:
        if answer not in seen:
            seen.append(answer)
    return seen or None


def _kto(row: dict, d: Detection) -> Any:
    label = get_path(row, d.alias_fields[0]) if d.alias_fields else True
    return last_reply(get_path(row, d.reference_field)) if label else None


def _first_item(row: dict, d: Detection) -> Any:
    value = get_path(row, d.reference_field)
    if isinstance(value, list):
        value = value[0] if value else None
    return clean_short_answer(value)


def _transcript_reply(row: dict, d: Detection) -> Any:
    turns = _transcript(str(get_path(row, d.reference_field) or ""))
    replies = [t["content"] for t in turns if t["role"] == "assistant"]
    return replies[-1] if replies else None


REFERENCE_BUILDERS: dict[str, Callable[[dict, Detection], Any]] = {
    "text": lambda row, d: clean_short_answer(get_path(row, d.reference_field)),
    "solution": lambda row, d: _solution(get_path(row, d.reference_field)),
    "solution_answer": lambda row, d: _solution(get_path(row, d.reference_field)),
    "aliases": _aliases,
    "choice": _choice,
    "labelled_choice": _labelled_choice,
    "last_reply": lambda row, d: last_reply(get_path(row, d.reference_field)),
    "last_assistant": lambda row, d: last_reply(get_path(row, d.reference_field)),
    "chat_text": lambda row, d: last_reply(get_path(row, d.reference_field)),
    "kto": _kto,
    "first_item": _first_item,
    "transcript": _transcript_reply,
    "qa_text": lambda row, d: split_qa_text(str(get_path(row, d.reference_field) or ""))[1],
}


def build_reference(row: dict, detection: Detection) -> Any:
    """The value the reward receives: a string, a list of acceptable answers, a bool, or None."""
    if detection.reference_field is None:
        return None
    value = REFERENCE_BUILDERS[detection.reference_kind](row, detection)
    if isinstance(value, list):
        value = [format_scalar(v) for v in value if v not in (None, "") and str(v).strip()]
        return value or None
    if value is None or isinstance(value, bool):
        return value
    return format_scalar(value).strip() or None


def map_row(
    row: dict,
    detection: Detection,
    system_prompt: str | None = None,
    chat: bool = True,
    counter: dict | None = None,
    instruction: str | None = None,
) -> dict:
    return {
        "prompt": build_prompt(row, detection, system_prompt, chat, counter, instruction),
        "reference": build_reference(row, detection),
    }


# --------------------------------------------------------------------------------------------
# Chat templates
# --------------------------------------------------------------------------------------------

_folded_once: list[bool] = []


def fold_system(messages: list[dict]) -> list[dict]:
    """A system message merged into the first user turn, for templates that reject the role."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if not system:
        return rest
    for message in rest:
        if message["role"] == "user":
            message["content"] = f"{system}\n\n{message['content']}"
            return rest
    return [{"role": "user", "content": system}, *rest]


def _apply(tokenizer, messages: list[dict], template_kwargs: dict | None = None) -> str:
    return tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True, **(template_kwargs or {})
    )


def render_prompt(tokenizer, prompt: Any, template_kwargs: dict | None = None) -> str:
    """A mapped prompt exactly as the model sees it: the chat template applied to message lists,
    with the run's ``--chat-template-kwargs`` as TRL passes them when it trains.

    The one renderer of the suite: the dry run, the prompt-length check, the probe and the
    comparison all render through it. A template that rejects the system role gets it folded
    into the first user turn (said once in the log); any other template error is one UsageError
    line.
    """
    if not isinstance(prompt, list):
        return prompt
    try:
        return _apply(tokenizer, prompt, template_kwargs)
    except Exception as err:  # jinja2 raises TemplateError, templates raise anything
        error = err
    if any(m.get("role") == "system" for m in prompt):
        try:
            text = _apply(tokenizer, fold_system(prompt), template_kwargs)
        except Exception as err:
            error = err
        else:
            if not _folded_once:
                _folded_once.append(True)
                logger.warning(
                    "the chat template rejects a system message (%s): folded it into the first user turn",
                    first_line(error),
                )
            return text
    raise UsageError(
        f"the tokenizer's chat template failed on a prompt: {first_line(error)}; pass a tokenizer "
        "whose template accepts these roles, or --system-prompt '' / another --prompt-field"
    )


def prompt_ids(tokenizer, prompt: Any, template_kwargs: dict | None = None) -> list[int]:
    """The token ids TRL's GRPOTrainer generates from: a rendered chat prompt without added
    special tokens (the template writes its own), a plain-text prompt with the tokenizer's own
    (a BOS where it adds one), as the trainer tokenizes each."""
    if isinstance(prompt, list):
        return tokenizer(render_prompt(tokenizer, prompt, template_kwargs), add_special_tokens=False, verbose=False)[
            "input_ids"
        ]
    return tokenizer(prompt, verbose=False)["input_ids"]


def template_rejects_system(tokenizer) -> bool:
    """Whether the chat template raises on a system message but accepts the same turns folded."""
    probe = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    try:
        _apply(tokenizer, probe)
        return False
    except Exception:
        try:
            _apply(tokenizer, fold_system(probe))
            return True
        except Exception:
            return False
