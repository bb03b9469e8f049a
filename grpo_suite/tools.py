"""Tool calling over several turns: ``--tools MODULE:FUNC,...``, ``--environment MODULE:FACTORY`` and
``--chat-template NAME_OR_FILE``, handed to TRL's GRPOTrainer (its ``tools`` and
``environment_factory`` arguments, which ``--grpo-arg`` cannot reach).

TRL runs the loop: the model's tool calls are parsed, the tools are called, their results appended
as tool turns, and generation continues, up to ``max_tool_calling_iterations`` (``--grpo-arg``);
tool results are masked out of the loss (TRL's ``tool_mask``), and it logs
``tools/call_frequency`` and ``tools/failure_frequency``. This module checks, before any weight
loads, what TRL would otherwise find late or not at all: each tool has the type hints and
docstring its JSON schema is built from (the schema is what the model sees, and what ``--dry-run``
prints), the environment has ``reset``, and the chat template can show tool calls and TRL can read
them back. A template that cannot (SmolLM2's, Llama 3's basic one) is one line naming
``--chat-template``, which takes one of TRL's shipped templates by name (``qwen2_5`` suits any
ChatML model) or a Jinja file; the tokenizer saved with the adapter keeps it, so the comparison and
a merged model use the same one.
"""

from __future__ import annotations

import functools
import inspect
import json
from pathlib import Path

from grpo_suite.cli import import_object
from grpo_suite.errors import UsageError, first_line


def schema(func, flag: str, spec: str) -> dict:
    """The JSON schema the model is shown for a tool, as transformers builds it from the function."""
    from transformers.utils import get_json_schema

    try:
        return get_json_schema(func)
    except Exception as err:  # transformers' TypeHintParsingException / DocstringParsingException
        raise UsageError(
            f"{flag} {spec}: {first_line(err)}; a tool needs a type hint on every argument and a Google-style "
            "docstring with an Args: section (the model is shown its schema)"
        ) from err


def check_signature(func, flag: str, spec: str) -> None:
    """A tool is a Python function of named arguments: the model fills a JSON object of them."""
    if not (inspect.isfunction(func) or inspect.ismethod(func)):
        kind = "a class" if inspect.isclass(func) else f"a {type(func).__name__}"
        raise UsageError(
            f"{flag} {spec} is {kind}, not a Python function; a tool is a def with typed arguments and a docstring "
            "(wrap it in one)"
        )
    for parameter in inspect.signature(func).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise UsageError(
                f"{flag} {spec}: *{parameter.name} cannot be shown to the model as an argument; give the tool named, "
                "typed arguments"
            )


def load_tools(specs: str | None) -> list:
    """The functions of ``--tools MODULE:FUNC,...``, each with a schema the model can be shown."""
    if specs is not None and not specs.strip(" ,"):
        raise UsageError("--tools is empty; pass MODULE:FUNC,... (e.g. recipes.calculator_tool:calculator), or drop it")
    funcs = []
    for spec in [s for s in (specs or "").split(",") if s.strip()]:
        func = import_object("--tools", spec)
        check_signature(func, "--tools", spec)
        schema(func, "--tools", spec)
        funcs.append(func)
    names = [f.__name__ for f in funcs]
    if len(set(names)) < len(names):
        raise UsageError(f"--tools {specs}: two tools share a name ({', '.join(names)}); the model calls them by name")
    return funcs


def environment_methods(instance) -> list:
    """An environment's tools, as TRL takes them: its public methods other than reset and get_reward."""
    return [
        getattr(instance, name)
        for name, _ in inspect.getmembers(type(instance), predicate=inspect.isfunction)
        if not name.startswith("_") and name not in ("reset", "get_reward")
    ]


def load_environment(spec: str | None):
    """``--environment MODULE:FACTORY``: the factory, after one instance was checked (reset, tool schemas)."""
    if spec is None:
        return None
    if not spec.strip():
        raise UsageError("--environment is empty; pass MODULE:FACTORY (a class with reset()), or drop it")
    factory = import_object("--environment", spec)
    try:
        instance = factory()
    except Exception as err:  # the user's constructor
        raise UsageError(
            f"--environment {spec}: calling it failed ({type(err).__name__}: {first_line(err)}); it must build an "
            "environment with no arguments"
        ) from err
    if not callable(getattr(instance, "reset", None)):
        raise UsageError(
            f"--environment {spec}: what it builds has no reset() method; TRL calls reset() before each rollout "
            "(it may return text to append to the prompt)"
        )
    methods = environment_methods(instance)
    if not methods:
        raise UsageError(f"--environment {spec}: it has no public method for the model to call as a tool")
    for method in methods:
        check_signature(method, "--environment", f"{spec}.{method.__name__}")
        schema(method, "--environment", f"{spec}.{method.__name__}")
    return factory


def trl_templates() -> dict[str, Path]:
    """TRL's shipped chat templates by name (the *_training variants are TRL's own business)."""
    import trl

    folder = Path(trl.__file__).parent / "chat_templates"
    return {p.stem: p for p in sorted(folder.glob("*.jinja")) if not p.stem.endswith("_training")}


def chat_template_text(value: str) -> str:
    """``--chat-template``: a Jinja file, or the name of one of TRL's shipped templates."""
    path = Path(value).expanduser()
    if not value.strip():
        raise UsageError("--chat-template is empty; pass a .jinja file or a name such as qwen2_5, or drop it")
    if path.is_dir():
        raise UsageError(f"--chat-template {value} is a folder; pass the .jinja file itself")
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as err:
            raise UsageError(f"--chat-template {value}: cannot be read ({first_line(err)})") from err
        if not text.strip():
            raise UsageError(f"--chat-template {value} is empty; pass a Jinja chat template")
        return text
    known = trl_templates()
    if value in known:
        return known[value].read_text(encoding="utf-8")
    raise UsageError(
        f"--chat-template {value}: no such file, and TRL ships no template by that name; pass a .jinja file or one "
        f"of {', '.join(known)}"
    )


def apply_chat_template(args, tokenizer) -> None:
    """The run's chat template, replaced by ``--chat-template`` when given (checked to render a prompt)."""
    if not getattr(args, "chat_template", None):
        return
    tokenizer.chat_template = chat_template_text(args.chat_template)
    try:
        tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    except Exception as err:  # a Jinja error in the user's file
        raise UsageError(
            f"--chat-template {args.chat_template}: it cannot render a prompt ({first_line(err)})"
        ) from err


def check_template(args, tokenizer) -> None:
    """Tools need a template that shows tool calls and results, whose calls TRL can parse back, and that TRL
    can train with (prefix-preserving, or one it has a training variant of): what GRPOTrainer checks only
    after the weights have loaded."""
    if not (args.tools or args.environment):
        return
    whose = f"--chat-template {args.chat_template}" if args.chat_template else f"the chat template of {args.model}"
    from trl.chat_template_utils import (
        add_response_schema,
        get_training_chat_template,
        is_chat_template_prefix_preserving,
        supports_tool_calling,
    )

    fix = (
        "pass --chat-template qwen2_5 (it suits ChatML models, with <|im_start|>; note that it adds a Qwen system "
        "prompt unless --system-prompt is given), another of TRL's templates with tools, or a .jinja file that "
        "TRL knows the response format of"
    )
    if not supports_tool_calling(tokenizer):
        raise UsageError(f"{whose} cannot show tool calls and their results; {fix}")
    if getattr(tokenizer, "response_template", None) is None and getattr(tokenizer, "response_schema", None) is None:
        try:
            add_response_schema(tokenizer)
        except ValueError as err:
            raise UsageError(
                f"TRL cannot read tool calls back from {whose} (it knows the response "
                f"format of its shipped templates only); {fix}"
            ) from err
    if not is_chat_template_prefix_preserving(tokenizer):
        try:
            get_training_chat_template(tokenizer)
        except ValueError as err:
            raise UsageError(
                f"TRL cannot train tool calls with {whose}: it renders earlier turns "
                f"differently once a tool result follows, and TRL has no training version of it; {fix}"
            ) from err


@functools.lru_cache(maxsize=4)
def _loaded(tools_spec: str | None, environment_spec: str | None):
    """Imported and checked once per process: an environment may start a sandbox, so one instance, built here,
    lends its methods to every prompt rendering (TRL builds its own per rollout)."""
    funcs = load_tools(tools_spec)
    factory = load_environment(environment_spec)
    methods = environment_methods(factory()) if factory is not None else []
    names = [t.__name__ for t in funcs + methods]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UsageError(
            f"--tools and --environment both define a tool named {twice[0]!r}; the model calls tools by name, so "
            "rename one"
        )
    return tuple(funcs), factory, tuple(methods)


def run_tools(args) -> tuple[list, object]:
    """The run's standalone tools and environment factory (None), as TRL's GRPOTrainer takes them."""
    funcs, factory, _ = _loaded(getattr(args, "tools", None), getattr(args, "environment", None))
    return list(funcs), factory


def shown_tools(args) -> list:
    """Every tool the model is shown: the standalone ones, then the environment's methods."""
    funcs, _, methods = _loaded(getattr(args, "tools", None), getattr(args, "environment", None))
    return list(funcs) + list(methods)


def environment_reward(args) -> str | None:
    """The name TRL logs an environment's own reward under (its class), when it has a get_reward()."""
    _, factory, methods = _loaded(getattr(args, "tools", None), getattr(args, "environment", None))
    if factory is None or not methods:
        return None
    owner = type(methods[0].__self__)
    return owner.__name__ if callable(getattr(owner, "get_reward", None)) else None


def template_kwargs(args) -> dict:
    """``--chat-template-kwargs`` plus the tools, as TRL renders each prompt of a run with tools: the
    prompt-length check, the dry run and the probe render through this."""
    kwargs = dict(args.chat_template_kwargs or {})
    if getattr(args, "tools", None) or getattr(args, "environment", None):
        kwargs["tools"] = shown_tools(args)
    return kwargs


def dry_run_lines(args) -> list[str]:
    """The tool schema the model is shown."""
    shown = [schema(t, "--tools", t.__name__) for t in shown_tools(args)]
    return [f"tools the model is shown ({len(shown)}), after the prompt above:", json.dumps(shown, indent=2)]


def count_calls(tokenizer, prompt_ids: list[int], completions: list[list[int]], tools: list) -> int:
    """How many completions (their first turn) call a tool, parsed as TRL parses them in training."""
    from trl.chat_template_utils import parse_response

    calls = 0
    for ids in completions:
        try:
            parsed = parse_response(tokenizer, ids, prefix=prompt_ids, tools=tools)
        except Exception:  # TRL counts an unreadable call as a failure, not a call
            continue
        calls += bool(isinstance(parsed, dict) and parsed.get("tool_calls"))
    return calls
