"""From train_grpo.py's flags to TRL's GRPOConfig: the GRPO flags' checks, --grpo-arg typed from the
dataclass, --config files and run replays.

    python train_grpo.py --config recipes/qwen2.5-0.5b-gsm8k-qlora.yaml --output-dir outputs/q05
    python train_grpo.py --config outputs/q05/run_config.json --output-dir outputs/q05-again   # replay
    python train_grpo.py ... --epsilon-high 0.28 --grpo-arg entropy_coef=0.001

First-class flags (flags.py) cover the knobs of the recent literature (DAPO, GSPO, high-entropy
tokens); any other GRPOConfig field goes through ``--grpo-arg KEY=VALUE``, typed from the
dataclass itself. A ``--config`` file (YAML or JSON) holds flags by their long names; the
command line overrides it. Heavy imports (transformers, trl) happen inside the functions that
need them, after the offline environment is set.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import enum
import json
import logging
import math
import os
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any, NamedTuple, Sequence

from grpo_suite import preflight
from grpo_suite.cli import set_offline_env
from grpo_suite.errors import UsageError, first_line
from grpo_suite.files import read_utf8
from grpo_suite.flags import KEY_VALUE, PER_INVOCATION, build_parser, explicit_flags
from grpo_suite.run_folder import SUITE

logger = logging.getLogger(__name__)

TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})
NONE_WORDS = frozenset({"none", "null"})

# The new first-class flags: GRPOConfig field -> flag. Their defaults are GRPOConfig's own except
# where the suite chose otherwise (optim, lr_scheduler_type); a test pins that.
FIRST_CLASS = {
    "epsilon_high": "--epsilon-high",
    "importance_sampling_level": "--importance-sampling-level",
    "mask_truncated_completions": "--mask-truncated-completions",
    "top_entropy_quantile": "--top-entropy-quantile",
    "steps_per_generation": "--steps-per-generation",
    "generation_batch_size": "--generation-batch-size",
    "multi_objective_aggregation": "--multi-objective-aggregation",
    "top_k": "--top-k",
    "min_p": "--min-p",
    "repetition_penalty": "--repetition-penalty",
    "chat_template_kwargs": "--chat-template-kwargs",
    "optim": "--optim",
    "lr_scheduler_type": "--lr-scheduler-type",
    "warmup_steps": "--warmup-ratio",
    "weight_decay": "--weight-decay",
    "max_grad_norm": "--max-grad-norm",
    "vllm_gpu_memory_utilization": "--vllm-gpu-memory-utilization",
    "vllm_enable_sleep_mode": "--vllm-enable-sleep-mode",
    "vllm_server_host": "--vllm-server-host",
    "vllm_server_port": "--vllm-server-port",
    "log_completions": "--log-completions",
    "num_completions_to_print": "--num-completions-to-print",
    "report_to": "--report-to",
}
# GRPOConfig fields train_grpo.grpo_config() sets from its older flags or from the device.
SET_BY_SUITE = {
    "output_dir": "--output-dir",
    "use_cpu": "the device (CUDA when available)",
    "bf16": "--dtype",
    "fp16": "--dtype",
    "gradient_checkpointing": "--gradient-checkpointing",
    "learning_rate": "--learning-rate",
    "beta": "--beta",
    "epsilon": "--epsilon",
    "loss_type": "--loss-type",
    "scale_rewards": "--scale-rewards",
    "num_iterations": "--num-iterations",
    "num_generations": "--num-generations",
    "max_completion_length": "--max-completion-length",
    "temperature": "--temperature",
    "top_p": "--top-p",
    "per_device_train_batch_size": "--per-device-train-batch-size",
    "gradient_accumulation_steps": "--gradient-accumulation-steps",
    "max_steps": "--max-steps",
    "num_train_epochs": "--num-train-epochs",
    "seed": "--seed",
    "data_seed": "--seed",
    "reward_weights": "--reward-weights",
    "use_vllm": "--use-vllm",
    "vllm_mode": "--vllm-mode",
    "logging_steps": "--logging-steps",
    "save_strategy": "--save-steps",
    "save_steps": "--save-steps",
    "eval_strategy": "--eval-steps",
    "eval_steps": "--eval-steps",
    "per_device_eval_batch_size": "--per-device-train-batch-size",
    "disable_tqdm": "train_grpo.py",
    "trust_remote_code": "--trust-remote-code",
    "model_init_kwargs": "--model, --dtype and --quantization",
    "warmup_ratio": "--warmup-ratio",
}
FLAG_FOR_FIELD = {**SET_BY_SUITE, **FIRST_CLASS}


# --------------------------------------------------------------------------------------------
# Checks and GRPOConfig fields
# --------------------------------------------------------------------------------------------


def check_flags(args: argparse.Namespace) -> None:
    """Combinations of the GRPO flags, names only transformers knows, and --grpo-arg (ranges: checks.RANGES)."""
    if args.generation_batch_size is not None and args.steps_per_generation is not None:
        raise UsageError("--generation-batch-size and --steps-per-generation set the same thing two ways; pass one")
    if args.epsilon_high is not None and args.epsilon_high < args.epsilon:
        raise UsageError(
            f"--epsilon-high ({args.epsilon_high}) is below --epsilon ({args.epsilon}): the upper clip "
            "would be tighter than the lower one; pass a larger --epsilon-high (DAPO uses 0.28 with 0.2)"
        )
    if args.num_completions_to_print is not None and not args.log_completions:
        raise UsageError("--num-completions-to-print needs --log-completions")
    _check_choice("--optim", args.optim, optimizer_names(), also=("auto",))
    _check_choice("--lr-scheduler-type", args.lr_scheduler_type, scheduler_names())
    if args.report_to not in ("none", "all"):
        for name in args.report_to.split(","):
            _check_choice("--report-to", name, tracker_names(), also=("none", "all"))
    grpo_arg_overrides(args.grpo_arg)


def _check_choice(flag: str, value: str, valid: Sequence[str], also: Sequence[str] = ()) -> None:
    if value in valid or value in also:
        return
    close = difflib.get_close_matches(value, list(valid) + list(also), n=3, cutoff=0.5)
    hint = f"closest: {', '.join(close)}; " if close else ""
    raise UsageError(
        f"{flag} {value!r} is not one transformers knows; {hint}valid: {', '.join(list(also) + list(valid))}"
    )


def optimizer_names() -> list[str]:
    from transformers.training_args import OptimizerNames

    return [o.value for o in OptimizerNames]


def scheduler_names() -> list[str]:
    from transformers.trainer_utils import SchedulerType

    return [s.value for s in SchedulerType]


def tracker_names() -> list[str]:
    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

    return sorted(INTEGRATION_TO_CALLBACK)


def resolve_optim(choice: str, on_cuda: bool, quantization: str) -> str:
    """``auto``: QLoRA's paged 8-bit AdamW for 4-bit weights on CUDA, plain AdamW otherwise."""
    if choice != "auto":
        return choice
    return "paged_adamw_8bit" if on_cuda and quantization == "4bit" else "adamw_torch"


def config_fields(args: argparse.Namespace, on_cuda: bool, quantization: str) -> dict[str, Any]:
    """GRPOConfig keyword arguments of the new first-class flags."""
    check_flags(args)
    return {
        "epsilon_high": args.epsilon_high,
        "importance_sampling_level": args.importance_sampling_level,
        "mask_truncated_completions": args.mask_truncated_completions,
        "top_entropy_quantile": args.top_entropy_quantile,
        "steps_per_generation": args.steps_per_generation,
        "generation_batch_size": args.generation_batch_size,
        "multi_objective_aggregation": args.multi_objective_aggregation,
        "top_k": args.top_k,
        "min_p": args.min_p,
        "repetition_penalty": args.repetition_penalty,
        "chat_template_kwargs": args.chat_template_kwargs,
        "optim": resolve_optim(args.optim, on_cuda, quantization),
        "lr_scheduler_type": args.lr_scheduler_type,
        "warmup_steps": args.warmup_ratio,  # transformers 5 reads a float below 1 as a ratio of the steps
        "weight_decay": args.weight_decay,
        "max_grad_norm": args.max_grad_norm,
        "vllm_gpu_memory_utilization": args.vllm_gpu_memory_utilization,
        "vllm_enable_sleep_mode": args.vllm_enable_sleep_mode,
        "vllm_server_host": args.vllm_server_host,
        "vllm_server_port": args.vllm_server_port,
        "log_completions": args.log_completions,
        "num_completions_to_print": args.num_completions_to_print,
        "report_to": []
        if args.report_to == "none"
        else ("all" if args.report_to == "all" else args.report_to.split(",")),
    }


def grpo_config(args, weights: list[float] | None = None):
    """TRL's GRPOConfig from every flag, --config value and --grpo-arg; what it refuses is one line."""
    import torch

    from grpo_suite import models

    on_cuda = torch.cuda.is_available()
    dtype = models.resolve_dtype(args.dtype)
    checkpointing = on_cuda if args.gradient_checkpointing is None else args.gradient_checkpointing
    fields = dict(
        output_dir=args.output_dir,
        use_cpu=not on_cuda,
        bf16=on_cuda and dtype == torch.bfloat16,
        fp16=on_cuda and dtype == torch.float16,
        gradient_checkpointing=checkpointing,
        learning_rate=args.learning_rate,
        beta=args.beta,
        epsilon=args.epsilon,
        loss_type=args.loss_type,
        scale_rewards=args.scale_rewards,
        num_iterations=args.num_iterations,
        num_generations=args.num_generations,
        max_completion_length=args.max_completion_length,
        temperature=args.temperature,
        top_p=args.top_p,
        per_device_train_batch_size=args.per_device_train_batch_size,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        max_steps=args.max_steps,
        num_train_epochs=args.num_train_epochs,
        seed=args.seed,
        data_seed=args.seed,
        reward_weights=weights,
        use_vllm=args.use_vllm,
        vllm_mode=args.vllm_mode,
        logging_steps=args.logging_steps,
        save_strategy="steps",
        save_steps=args.save_steps,
        eval_strategy="steps" if args.eval_steps else "no",
        eval_steps=args.eval_steps or None,
        per_device_eval_batch_size=args.per_device_train_batch_size,
        disable_tqdm=False,
    )
    # The new flags (optim, schedule, DAPO/GSPO knobs, trackers), then --grpo-arg for any other field.
    fields.update(config_fields(args, on_cuda, models.resolve_quantization(args.quantization)))
    return build_config(fields, args.grpo_arg)


class GenerationPlan(NamedTuple):
    """What one generation round is, as TRL's GRPOConfig computed it from the flags."""

    batch: int  # completions generated per round, over every process (generation_batch_size)
    steps_per_generation: int  # micro-steps one round serves
    processes: int
    gradient_accumulation_steps: int
    num_generations: int

    @property
    def prompts(self) -> int:
        """Prompts per round, over every process."""
        return self.batch // self.num_generations

    @property
    def prompts_per_process(self) -> int:
        """Prompts one process generates per round (at least one)."""
        return max(1, self.prompts // self.processes)

    @property
    def rounds_per_step(self) -> float:
        """Generation rounds per optimizer step (gradient accumulation / steps per generation)."""
        return self.gradient_accumulation_steps / self.steps_per_generation

    @property
    def prompts_per_step(self) -> float:
        """Prompts one optimizer step trains on, over every process."""
        return self.prompts * self.rounds_per_step


def generation_plan(args) -> GenerationPlan:
    """The generation batch of this run, read from TRL's own GRPOConfig built from the flags: the
    one source of the rule (batch x processes x steps per generation, or --generation-batch-size)."""
    built = grpo_config(args)
    return GenerationPlan(
        built.generation_batch_size,
        built.steps_per_generation,
        built.world_size,
        built.gradient_accumulation_steps,
        built.num_generations,
    )


def build_config(fields: dict[str, Any], grpo_args: Sequence[str]):
    """GRPOConfig from the flags' fields and the --grpo-arg overrides; its own refusals are one line."""
    from trl import GRPOConfig

    overrides = grpo_arg_overrides(grpo_args)
    for key in overrides:
        if key in fields:  # grpo_config() sets it: the flag is the one way, so a run has one value for it
            raise UsageError(
                f"--grpo-arg {key}: train_grpo.py sets {key} from "
                f"{FLAG_FOR_FIELD.get(key, 'its own flags')}; use that instead"
            )
    preflight.check_before_build(fields, overrides)
    try:
        built = GRPOConfig(**fields, **overrides)
    except ImportError as err:  # a setting whose package is missing (deepspeed): importlib's words name it
        given = ", ".join(f"--grpo-arg {k}" for k in overrides) or "these settings"
        raise UsageError(f"{given}: a package it needs is missing ({first_line(err)})") from err
    except (ValueError, TypeError) as err:
        given = f" (--grpo-arg {', '.join(f'{k}={v}' for k, v in overrides.items())})" if overrides else ""
        raise UsageError(
            _batch_refusal(first_line(err), {**fields, **overrides})
            or f"TRL's GRPOConfig refused these settings{given}: {first_line(err)}"
        ) from err

    def source(field: str) -> str:
        if field in overrides:
            return f"--grpo-arg {field}"
        return FLAG_FOR_FIELD.get(field, f"GRPOConfig.{field}")

    preflight.check_config(built, source, offline=_offline(), given=overrides)
    return built


def _offline() -> bool:
    """Whether this run may not reach the network: --local-only sets HF_HUB_OFFLINE (cli.set_offline_env)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


_NOT_WHOLE_GROUPS = re.compile(r"generation_batch_size \((\d+)\) must be divisible by num_generations \((\d+)\)")
_NOT_WHOLE_STEPS = re.compile(r"generation_batch_size \((\d+)\) must be divisible by the global batch size \((\d+)\)")


def _batch_refusal(message: str, fields: dict[str, Any]) -> str | None:
    """TRL's refusal of a generation batch, in the flags' words (its numbers are TRL's own)."""
    per_device = fields.get("per_device_train_batch_size") or 1
    if found := _NOT_WHOLE_GROUPS.search(message):
        batch, group = map(int, found.groups())
        if fields.get("generation_batch_size"):
            made = f"--generation-batch-size {batch}"
        else:
            steps = fields.get("steps_per_generation")
            flag = "--steps-per-generation" if steps else "--gradient-accumulation-steps"
            steps = steps or fields.get("gradient_accumulation_steps") or 1
            made = (
                f"the generation batch (--per-device-train-batch-size {per_device} x {batch // (per_device * steps)} "
                f"process(es) x {flag} {steps} = {batch})"
            )
        return (
            f"{made} must be divisible by --num-generations {group}: every prompt's group is generated whole; "
            "change the batch flags or --num-generations"
        )
    if found := _NOT_WHOLE_STEPS.search(message):
        batch, step = map(int, found.groups())
        return (
            f"--generation-batch-size {batch} must be a multiple of the completions of one micro-step "
            f"(--per-device-train-batch-size {per_device} x {step // per_device} process(es) = {step})"
        )
    return None


# --------------------------------------------------------------------------------------------
# --grpo-arg KEY=VALUE, typed from the dataclass
# --------------------------------------------------------------------------------------------


def grpo_fields() -> dict[str, Any]:
    """GRPOConfig's init fields and their resolved types."""
    from trl import GRPOConfig

    hints = typing.get_type_hints(GRPOConfig)
    return {f.name: hints.get(f.name, f.type) for f in dataclasses.fields(GRPOConfig) if f.init}


CONFIG_PATH_FIELDS = ("deepspeed", "fsdp_config")  # a JSON object, or the path of a JSON file


def grpo_arg_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings as typed GRPOConfig keyword arguments; the last value of a key wins."""
    if not items:
        return {}
    fields = grpo_fields()
    overrides: dict[str, Any] = {}
    for item in items:
        match = KEY_VALUE.match(item)
        if not match:
            raise UsageError(f"--grpo-arg {item!r} is not KEY=VALUE (e.g. --grpo-arg entropy_coef=0.001)")
        key, text = match.group(1).replace("-", "_"), match.group(2).strip()
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=3, cutoff=0.6)
            hint = f"closest: {', '.join(close)}" if close else "see TRL's GRPOConfig documentation for the names"
            raise UsageError(f"--grpo-arg {key}: GRPOConfig has no field {key!r}; {hint}")
        if key in FLAG_FOR_FIELD:
            raise UsageError(f"--grpo-arg {key}: train_grpo.py sets {key} from {FLAG_FOR_FIELD[key]}; use that instead")
        if key in CONFIG_PATH_FIELDS and not text.startswith("{"):
            if not Path(text).expanduser().is_file():
                raise UsageError(f"--grpo-arg {key}={text}: no such file; pass its JSON config file or a JSON object")
            overrides[key] = text
            continue
        try:
            overrides[key] = convert(text, fields[key])
        except ValueError as err:
            raise UsageError(f"--grpo-arg {key}={text}: {err} (GRPOConfig.{key} is {type_name(fields[key])})") from err
    return overrides


def type_name(tp: Any) -> str:
    return tp.__name__ if isinstance(tp, type) else str(tp).replace("typing.", "")


def convert(text: str, tp: Any) -> Any:
    """A command-line string as a value of type ``tp`` (bool, int, float, str, enums, lists, dicts, unions)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        members = typing.get_args(tp)
        if type(None) in members and text.lower() in NONE_WORDS:
            return None
        if any(m is dict or typing.get_origin(m) is dict for m in members):
            return _json_as(text, dict, "an object {...}")  # 'dict | str': the str is only TRL's CLI form of a dict
        errors = []
        for member in sorted((m for m in members if m is not type(None)), key=_try_order):
            try:
                return convert(text, member)
            except ValueError as err:
                errors.append(str(err))
        raise ValueError("; ".join(errors))
    if origin is typing.Literal:
        for choice in typing.get_args(tp):
            if str(choice).lower() == text.lower():
                return choice
        raise ValueError(f"expected one of {', '.join(map(str, typing.get_args(tp)))}")
    if tp is bool:
        if text.lower() in TRUE_WORDS | FALSE_WORDS:
            return text.lower() in TRUE_WORDS
        raise ValueError(f"{text!r} is not true or false")
    if tp is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not an integer") from None
    if tp is float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise ValueError(f"{text!r} is not a finite number")
        return value
    if tp is str or tp is Any:
        return text
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(text).value
        except ValueError:
            raise ValueError(f"{text!r} is not one of {', '.join(str(m.value) for m in tp)}") from None
    if tp is dict or origin is dict:
        return _json_as(text, dict, "an object {...}")
    if tp is list or origin is list:
        return _list(text, (typing.get_args(tp) or (str,))[0])
    raise ValueError(f"a {type_name(tp)} cannot be given on the command line")


def _try_order(tp: Any) -> int:
    """In a union, the strictest reading first: '1' is an int before it is a string."""
    order = (bool, int, float)
    if tp in order:
        return order.index(tp)
    if tp is str or tp is Any:
        return 9
    return 5


def _json_as(text: str, kind: type, what: str) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"not JSON ({err.msg}); write {what}") from None
    if not isinstance(value, kind):
        raise ValueError(f"a JSON {type(value).__name__}, not {what}")
    return value


def _list(text: str, item_type: Any) -> list:
    """A JSON list, or comma-separated items, each of the list's item type."""
    if text.startswith("["):
        return [
            convert(json.dumps(v) if not isinstance(v, str) else v, item_type) for v in _json_as(text, list, "a list")
        ]
    return [convert(part.strip(), item_type) for part in text.split(",") if part.strip()]


# --------------------------------------------------------------------------------------------
# --config FILE
# --------------------------------------------------------------------------------------------


def parse_with_config(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line over the --config file's flags, then check the new flags."""
    argv = list(sys.argv[1:] if argv is None else argv)
    path = config_path(argv)
    values = load_config(path) if path else {}
    if values:  # a flag the command line gives replaces the file's: the file's value is not parsed
        # A fresh parser: explicit_flags changes the defaults of the one it is given.
        given = explicit_flags(build_parser(), argv) - {"grpo_arg", "extra_reward", "config"}
        values = {k: v for k, v in values.items() if k not in given}
    tokens = config_tokens(parser, values, path) if path else []
    args = parser.parse_args(tokens + argv)
    if args.local_only or args.demo:
        set_offline_env()  # the checks below import transformers
    check_flags(args)
    return args


_FLAG_RE = re.compile(r"(--[a-z0-9][a-z0-9-]*)")


def blame_config(err: UsageError, parser: argparse.ArgumentParser, argv: Sequence[str]) -> UsageError:
    """A refusal of a flag that the --config file set (and the command line did not) names the file."""
    path = config_path(argv)
    flag = _FLAG_RE.match(str(err))
    if not path or not flag or flag.group(1) == "--config":
        return err
    dest = flag.group(1)[2:].replace("-", "_")
    try:
        values = load_config(path)
    except UsageError:
        return err
    if dest in ("grpo_arg", "extra_reward") and dest in values:  # added to: blame the file for its own items
        items = values[dest] if isinstance(values[dest], list) else [values[dest]]
        item = str(err)[len(flag.group(1)) :].strip().split(":")[0]  # the refused "key=value" as shown
        on_command_line = [argv[i + 1] for i, token in enumerate(argv[:-1]) if token == flag.group(1)]
        if item.split("=")[0] in {str(i).split("=")[0].strip().replace("-", "_") for i in items} and not any(
            c.split("=")[0].strip().replace("-", "_") == item.split("=")[0] for c in on_command_line
        ):
            return UsageError(f"--config {path}: {err}")
        return err
    if dest in values and dest not in explicit_flags(parser, argv):
        return UsageError(f"--config {path}: {err}")
    return err


def config_path(argv: Sequence[str]) -> str | None:
    """The last --config FILE (or --config=FILE) before any ``--``."""
    path = None
    for i, token in enumerate(argv):
        if token == "--":
            break
        if token == "--config" and i + 1 < len(argv):
            path = argv[i + 1]
        elif token.startswith("--config="):
            path = token.partition("=")[2]
    return path


def load_config(path: str) -> dict[str, Any]:
    """The flags of a YAML or JSON file, keys with underscores; a run record gives its ``args``."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise UsageError(
            f"--config {path}: no such file; pass a YAML or JSON file of flags, or a run's run_config.json"
        )
    try:
        text = read_utf8(file, "--config file")
    except OSError as err:
        raise UsageError(f"--config {path}: cannot be read ({err.strerror or first_line(err)})") from err
    try:
        if file.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except json.JSONDecodeError as err:
        raise UsageError(f"--config {path}: not valid JSON at line {err.lineno}: {err.msg}") from err
    except RecursionError as err:  # json's and yaml's parsers recurse once per level of nesting
        raise UsageError(f"--config {path}: nested too deep to read; {_NESTING}") from err
    except Exception as err:  # yaml.YAMLError, imported lazily: its first line names the line and column
        raise UsageError(f"--config {path}: not valid YAML: {' '.join(str(err).split())}") from err
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UsageError(f"--config {path}: holds a {type(data).__name__}; write one flag per line, e.g. 'lora_r: 16'")
    if "suite" in data and data["suite"] != SUITE:
        raise UsageError(
            f"--config {path}: a record written by another program (suite {data['suite']!r}, not "
            f"{SUITE!r}); pass a YAML or JSON file of flags, or a run_config.json of this suite"
        )
    if isinstance(data.get("args"), dict) and "suite" in data:  # a run's run_config.json: replay its flags
        data = {k: v for k, v in data["args"].items() if k not in PER_INVOCATION}
    values: dict[str, Any] = {}
    for key, value in data.items():
        name = str(key).lstrip("-").replace("-", "_")
        if name in values:
            raise UsageError(f"--config {path}: {key!r} is given twice (dashes and underscores name the same flag)")
        if _depth(value) > MAX_NESTING:
            raise UsageError(f"--config {path}: {key!r} is nested more than {MAX_NESTING} levels deep; {_NESTING}")
        values[name] = value
    return values


MAX_NESTING = 3  # a flag's value: a scalar, a list, or a mapping of plain values (chat_template_kwargs)
_NESTING = "a flag takes a value, a list, or a mapping of plain values"


def _depth(value: Any, limit: int = MAX_NESTING + 1) -> int:
    """Levels of lists and mappings in ``value`` (a scalar is 0), counted up to ``limit``."""
    if limit <= 0 or not isinstance(value, (list, dict)):
        return 0
    items = value.values() if isinstance(value, dict) else value
    return 1 + max((_depth(v, limit - 1) for v in items), default=0)


def config_tokens(parser: argparse.ArgumentParser, values: dict[str, Any], path: str) -> list[str]:
    """The file's flags as command-line tokens, checked by the parser itself, so errors name the file."""
    actions = {a.dest: a for a in parser.flag_actions() if a.option_strings}
    tokens: list[str] = []
    for name, value in values.items():
        if name == "config":
            raise UsageError(f"--config {path}: config files do not nest; remove its 'config' key")
        action = actions.get(name)
        if action is None:
            close = difflib.get_close_matches(name, list(actions), n=3, cutoff=0.6)
            hint = f"closest: {', '.join(_long(actions[c]) for c in close)}" if close else "see --help for the flags"
            raise UsageError(f"--config {path}: unknown flag {name!r}; {hint}")
        tokens += _tokens(action, value, path)
    parser.exit_on_error = False  # a bad value raises here, so the message can name the file
    try:
        parser.parse_args(tokens)
    except argparse.ArgumentError as err:
        raise UsageError(f"--config {path}: {err}") from err
    finally:
        parser.exit_on_error = True
    return tokens


def _long(action: argparse.Action) -> str:
    """The flag's first long name (BooleanOptionalAction lists --x before --no-x)."""
    return next((s for s in action.option_strings if s.startswith("--")), action.option_strings[0])


def _tokens(action: argparse.Action, value: Any, path: str) -> list[str]:
    flag = _long(action)
    if value is None:
        return []  # the flag's own default
    if isinstance(action, argparse.BooleanOptionalAction):
        _need_bool(flag, value, path)
        return [flag if value else "--no-" + flag[2:]]
    if action.kind in ("store_true", "store_false"):  # kind: set by cli.FlagGroup.add
        _need_bool(flag, value, path)
        return [flag] if value == action.const else []
    if action.kind == "append":
        items = value if isinstance(value, list) else [value]
        return [t for item in items for t in (flag, _text(item))]
    if isinstance(value, list):
        raise UsageError(f"--config {path}: {flag} takes one value, not a list")
    return [flag, _text(value)]


def _need_bool(flag: str, value: Any, path: str) -> None:
    if not isinstance(value, bool):
        raise UsageError(f"--config {path}: {flag} is on or off: write true or false (got {value!r})")


def _text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, float):
        return repr(value)
    return str(value)
