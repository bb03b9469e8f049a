"""Checks train_grpo.py makes before any work, and guards it keeps around user code during it.

- :func:`check_flags`: every number flag finite and in range, with the flag's name and the fix.
- :func:`check_reward_spec`: the reward selection and weights make a reward that can move.
- :func:`guard_user_reward`: a user reward function whose bad output (wrong length, strings,
  ``inf``) or exception becomes one line naming the function, the step and the fix.
- :func:`compare_with_record`: on ``--resume``, the flags that cannot change mid-run.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
from pathlib import Path
from typing import Any, Callable

from grpo_suite.errors import UsageError, first_line
from grpo_suite.flags import FREE_ON_RESUME, PER_INVOCATION

logger = logging.getLogger("train_grpo")

# Counts above these are typos or unit mistakes, beyond what any run can use: refused, not planned
# (a max_steps of 1e23 once drew a progress bar of 605 quadrillion hours).
MAX_STEPS = 10**7
MAX_EPOCHS = 10**4

# Every number flag's range, the one table: (dest, low, high, low inclusive, high inclusive); None is
# unbounded. Checked after the presets are filled in, so every value here is a number.
RANGES: tuple[tuple[str, float | None, float | None, bool, bool], ...] = (
    ("learning_rate", 0, None, False, True),
    ("temperature", 0, None, False, True),
    ("top_p", 0, 1, False, True),
    ("beta", 0, None, True, True),
    ("epsilon", 0, None, False, True),
    ("lora_dropout", 0, 1, True, False),
    ("lora_r", 1, None, True, True),
    ("lora_alpha", 0, None, False, True),
    ("seed", 0, 2**32 - 1, True, True),
    ("num_generations", 2, None, True, True),
    ("max_completion_length", 1, None, True, True),
    ("per_device_train_batch_size", 1, None, True, True),
    ("gradient_accumulation_steps", 1, None, True, True),
    ("logging_steps", 1, None, True, True),
    ("save_steps", 1, None, True, True),
    ("num_iterations", 1, None, True, True),
    ("max_samples", 1, None, True, True),
    ("max_eval_samples", 1, None, True, True),
    ("eval_steps", 0, None, True, True),
    ("length_target", 0, None, True, True),
    ("length_max", 1, None, True, True),
    ("epsilon_high", 0, None, False, True),
    ("top_entropy_quantile", 0, 1, True, True),
    ("steps_per_generation", 1, None, True, True),
    ("generation_batch_size", 1, None, True, True),
    ("top_k", 0, None, True, True),
    ("min_p", 0, 1, True, True),
    ("repetition_penalty", 0, None, False, True),
    ("warmup_ratio", 0, 1, True, False),
    ("weight_decay", 0, None, True, True),
    ("max_grad_norm", 0, None, True, True),
    ("vllm_gpu_memory_utilization", 0, 1, False, True),
    ("vllm_server_port", 1, 65535, True, True),
    ("num_completions_to_print", 0, None, True, True),
    ("difficulty_rows", 0, None, True, True),
    ("difficulty_samples", 2, None, True, True),
    ("dynamic_sampling_rounds", 0, None, True, True),
    ("judge_max_tokens", 1, None, True, True),
)
# Counts, the caps beyond which a value is a typo or a unit mistake (flag dest -> at most).
CAPS = {
    "max_steps": MAX_STEPS,
    "num_train_epochs": MAX_EPOCHS,
    "num_generations": 2**16,
    "max_completion_length": 2**20,
    "per_device_train_batch_size": 2**16,
    "gradient_accumulation_steps": 2**16,
    "logging_steps": MAX_STEPS,
    "save_steps": MAX_STEPS,
    "num_iterations": 1000,
    "max_samples": 10**12,
    "max_eval_samples": 10**12,
    "eval_steps": MAX_STEPS,
    "length_target": 10**9,
    "length_max": 10**9,
    "steps_per_generation": 2**16,
    "generation_batch_size": 2**24,
    "top_k": 10**7,
    "num_completions_to_print": 10**6,
    "difficulty_rows": 10**12,
    "difficulty_samples": 2**16,
    "dynamic_sampling_rounds": 1000,
    "judge_max_tokens": 2**16,
}
WHY = {
    "num_generations": ": GRPO compares completions within a group",
    "lora_alpha": ": the adapter's update is scaled by alpha / r, so 0 gives an adapter that does nothing",
    "top_p": ": it is the share of probability mass sampled from",
    "lora_dropout": ": it is the probability of dropping an input",
}


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_flags(args) -> None:
    """Every float flag finite, every flag in its range; --max-steps and epochs plan some steps."""
    for name, value in vars(args).items():
        if isinstance(value, float) and not math.isfinite(value):
            raise UsageError(f"{flag_name(name)} must be a finite number (got {value})")
    for name, low, high, low_in, high_in in RANGES:
        value = getattr(args, name, None)
        if value is None:
            continue
        if outside(value, low, high, low_in, high_in):
            raise UsageError(
                f"{flag_name(name)} must be {range_text(low, high, low_in, high_in)} (got {value})" + WHY.get(name, "")
            )
    for name, cap in CAPS.items():
        value = getattr(args, name, None)
        if value is not None and value > cap:
            raise UsageError(f"{flag_name(name)} must be at most {cap:,} (got {value}): beyond what any run can use")
    if args.length_max <= args.length_target:
        raise UsageError(
            f"--length-max ({args.length_max}) must be greater than --length-target ({args.length_target})"
        )
    if args.max_steps == 0 or args.max_steps < -1:
        raise UsageError(
            f"--max-steps must be a positive number of steps, or -1 to train by --num-train-epochs "
            f"(got {args.max_steps}): a run of zero steps trains nothing"
        )
    if args.max_steps == -1 and args.num_train_epochs <= 0:
        raise UsageError(
            f"--num-train-epochs must be positive (got {args.num_train_epochs}): a run of zero epochs "
            "trains nothing; or pass --max-steps"
        )
    targets = [t.strip() for t in args.lora_target_modules.split(",") if t.strip()]
    if not targets:
        raise UsageError("--lora-target-modules is empty; pass module names, or auto")
    if "all-linear" in targets or ("auto" in targets and len(targets) > 1):
        raise UsageError(
            f"--lora-target-modules {args.lora_target_modules}: pass auto alone for every attention and "
            "MLP projection (peft's all-linear), or module names without auto"
        )
    if "lm_head" in targets or "embed_tokens" in targets:
        raise UsageError(
            "--lora-target-modules: LoRA on lm_head or embed_tokens is not supported here (the output "
            "layer is tied to the embeddings in most models and a LoRA there breaks that tie); "
            "target the attention and MLP projections, or pass auto"
        )


def check_adapter_flags(args, parser) -> None:
    """--adapter continues an adapter whose shape is fixed, and which the run must never replace."""
    from grpo_suite import models

    models.read_adapter_config(args.adapter)
    defaults = parser
    changed = [
        f"--{name.replace('_', '-')}"
        for name in ("lora_r", "lora_alpha", "lora_dropout", "lora_target_modules")
        if getattr(args, name) != defaults.get_default(name)
    ]
    if changed:
        raise UsageError(
            f"{', '.join(changed)} cannot change an existing adapter (--adapter {args.adapter} fixes its rank, "
            "alpha, dropout and layers); drop them, or train a new adapter without --adapter"
        )
    adapter = Path(args.adapter).expanduser().resolve()
    out = Path(args.output_dir).expanduser().resolve() if args.output_dir else None
    if out is not None and (adapter == out or out in adapter.parents):
        raise UsageError(
            f"--adapter {args.adapter} is inside --output-dir {args.output_dir}: the run would replace the "
            "adapter it starts from; pass another --output-dir"
        )
    args.adapter = str(adapter)  # the record names where the adapter came from, wherever the run is resumed


def check_model_shape(args) -> None:
    """LoRA flags, or the adapter, against the model built from its config on the meta device;
    returns that skeleton (None where it cannot be built here) for the other checks of the model."""
    from grpo_suite import models

    skeleton = models.model_skeleton(args.model, args.revision, args.local_only, args.trust_remote_code)
    if skeleton is None:
        return None
    if not args.adapter:
        check_lora_shape(args, models.lora_target_widths(skeleton))
    elif (misfit := models.adapter_misfit(args.adapter, skeleton)) is not None:
        base = models.read_adapter_config(args.adapter).get("base_model_name_or_path")
        raise UsageError(
            f"--adapter {args.adapter} does not fit --model {args.model}: {misfit}; pass the model it was "
            f"trained on{f' ({base})' if base else ''} as --model"
        )
    return skeleton


def outside(value: float, low, high, low_in: bool, high_in: bool) -> bool:
    """Whether ``value`` lies outside the range (None: unbounded on that side)."""
    too_low = low is not None and (value < low if low_in else value <= low)
    return too_low or (high is not None and (value > high if high_in else value >= high))


def range_text(low, high, low_in, high_in) -> str:
    if high is None:
        return f"{'at least' if low_in else 'greater than'} {low}"
    return f"in {'[' if low_in else '('}{low}, {high}{']' if high_in else ')'}"


def check_target_modules(requested: list[str], available: list[str]) -> None:
    """LoRA targets that the model does not have, named with the ones it does."""
    missing = [t for t in requested if t not in available]
    if missing:
        raise UsageError(
            f"--lora-target-modules: the model has no layer named {', '.join(missing)}; "
            f"its linear layers are {', '.join(available)} (or pass auto)"
        )


def check_lora_shape(args, widths: dict[str, int]) -> list[str]:
    """The LoRA targets, after checking that the model has them and that --lora-r fits them:
    a rank above every target's narrower side adds parameters and no capacity."""
    targets = (
        sorted(widths)
        if args.lora_target_modules == "auto"
        else list(dict.fromkeys(t.strip() for t in args.lora_target_modules.split(",") if t.strip()))
    )
    check_target_modules(targets, sorted(widths))
    widest = max((widths[t] for t in targets), default=0)
    if widest and args.lora_r > widest:
        raise UsageError(
            f"--lora-r {args.lora_r} is larger than any target layer allows (rank at most {widest}, the "
            f"narrower side of the widest of {', '.join(targets)}); pass --lora-r {widest} or less (8 to 64 is usual)"
        )
    return targets


# --------------------------------------------------------------------------------------------
# Rewards
# --------------------------------------------------------------------------------------------


def selected_components(spec: str) -> list[str]:
    names = [n.strip() for n in spec.split(",") if n.strip()]
    seen = set()
    for name in names:
        if name in seen:
            raise UsageError(f"--rewards lists {name} twice; list each component once")
        seen.add(name)
    return names


def weighted_names(spec: str) -> list[str]:
    return [part.partition("=")[0].strip() for part in spec.split(",") if part.strip()]


def check_reward_spec(
    components: list[str], weight_spec: str, extra_names: list[str], builtin: list[str], weights: list[float]
) -> None:
    """Weights name only selected rewards, user rewards do not shadow built-ins, some weight is > 0."""
    for name in extra_names:
        if name in builtin:
            raise UsageError(
                f"--extra-reward: the function name {name!r} is the name of a built-in component; "
                "rename your function (its name is the log key rewards/<name>/mean)"
            )
    if len(set(extra_names)) != len(extra_names):
        raise UsageError(f"--extra-reward: two functions share a name ({', '.join(extra_names)}); rename one")
    named = weighted_names(weight_spec)
    if len(set(named)) != len(named):
        raise UsageError(f"--reward-weights names a reward twice ({weight_spec}); name each once")
    for name in named:
        if name in builtin and name not in components:
            raise UsageError(
                f"--reward-weights gives {name} a weight, but --rewards does not select it; add it to "
                f"--rewards ({','.join(components + [name])}) or drop the weight"
            )
    if weights and not any(w > 0 for w in weights):
        raise UsageError(
            "every reward weight is 0, so every completion earns the same reward and nothing is learned; "
            "give some reward a weight above 0"
        )


class RewardError(Exception):
    """A user reward function misbehaved during training."""


def reward_name(func: Callable, spec: str) -> str:
    """A stable name for a user reward: its __name__, or for a partial or callable object the spec's."""
    name = getattr(func, "__name__", None)
    if isinstance(name, str) and name and name != "<lambda>":
        return name
    # A functools.partial or a callable object has no __name__: the name the user wrote it under.
    return spec.rpartition(":")[2] or type(func).__name__


def guard_user_reward(func: Callable, spec: str, name: str) -> Callable:
    """The user's function, wrapped so that any misbehaviour is one clear error.

    Values that are not finite (NaN, inf) would turn the group's advantages into NaN: they count
    as "no reward" (None, which TRL skips) with a warning, and an error when every value is.
    """
    warned = []

    def guarded(completions, **kwargs):
        state = kwargs.get("trainer_state")
        step = getattr(state, "global_step", None)
        where = f"--extra-reward {spec} ({name})" + (f" at step {step + 1}" if step is not None else "")
        try:
            values = func(completions, **kwargs)
        except (Exception, SystemExit) as err:  # the user's code: any exception (an exit() too) is one line
            raise RewardError(f"{where} raised {type(err).__name__}: {first_line(err)}; fix the function") from err
        if values is None or isinstance(values, (str, bytes, dict)) or not hasattr(values, "__len__"):
            raise RewardError(
                f"{where} returned {type(values).__name__}; it must return a list with one float "
                f"(or None) per completion"
            )
        values = list(values)
        if len(values) != len(completions):
            raise RewardError(
                f"{where} returned {len(values)} values for {len(completions)} completions; "
                "return one value per completion"
            )
        clean: list[float | None] = []
        bad = 0
        for value in values:
            if value is None:
                clean.append(None)
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
                raise RewardError(
                    f"{where} returned {value!r} ({type(value).__name__}); each value must be a float or None"
                )
            try:
                number = float(value)
            except (TypeError, ValueError) as err:
                raise RewardError(f"{where} returned {value!r}, which is not a number") from err
            if not math.isfinite(number):
                bad += 1
                clean.append(None)
            else:
                clean.append(number)
        if values and bad == len(values):
            raise RewardError(
                f"{where} returned a non-finite value (NaN or inf) for every completion; "
                "return finite floats, or None where a completion cannot be scored"
            )
        if bad and not warned:
            warned.append(True)
            logger.warning("%s returned %d non-finite value(s); they count as no reward (warned once)", where, bad)
        return clean

    functools.update_wrapper(guarded, func)  # attributes a partial lacks are skipped
    guarded.__name__ = name
    return guarded


# --------------------------------------------------------------------------------------------
# Resume
# --------------------------------------------------------------------------------------------

# What a run is: changing any of these mid-run makes the checkpoint describe another run.
FIXED_ON_RESUME = (
    "model",
    "revision",
    "dataset",
    "dataset_config",
    "split",
    "prompt_field",
    "reference_field",
    "system_prompt",
    "answer_instruction",
    "max_samples",
    "seed",
    "difficulty_filter",  # the rows a run trains on were chosen when it started (difficulty_rows.jsonl)
    "difficulty_band",
    "difficulty_rows",
    "difficulty_samples",
    "quantization",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "lora_target_modules",
    "adapter",
    "num_generations",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "rewards",
    "reward_weights",
    "extra_reward",
    "reward_model",
    "judge_model",
    "judge_rubric",
    "judge_max_tokens",
    "tools",
    "environment",
    "chat_template",
    "length_target",
    "length_max",
    "loss_type",
    "scale_rewards",
    "num_iterations",
    "importance_sampling_level",
    "epsilon_high",
    "mask_truncated_completions",
    "top_entropy_quantile",
    "steps_per_generation",
    "generation_batch_size",
    "multi_objective_aggregation",
    "optim",
    "lr_scheduler_type",
    "warmup_ratio",
    "weight_decay",
    "chat_template_kwargs",
    "grpo_arg",
)
# The checkpoint's trainer state and scheduler carry these; train_grpo.py applies the new value.
RESTORED_FROM_CHECKPOINT = ("learning_rate", "save_steps", "logging_steps", "eval_steps")
# Not compared on resume: this invocation's own flags, and where and how the run runs (flags.py).
NOT_COMPARED = PER_INVOCATION | FREE_ON_RESUME


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def effective_args(record: dict) -> dict[str, Any]:
    """The flags the run trains with now: those it started with, then each resume's changes."""
    current = dict(record.get("args", {}))
    for event in record.get("history", []):
        if event.get("event") == "resume":
            for name, change in (event.get("changed") or {}).items():
                if isinstance(change, list) and len(change) == 2:
                    current[name] = change[1]
    return current


def compare_with_record(args, record: dict) -> dict[str, tuple[Any, Any]]:
    """Refuse a resume whose fixed flags differ from the run's; return the other changed flags."""
    recorded = effective_args(record)
    changed: dict[str, tuple[Any, Any]] = {}
    for name, value in vars(args).items():
        if name in NOT_COMPARED or name not in recorded:
            continue
        old, new = recorded[name], _plain(value)
        if _same(old, new):
            continue
        if name in FIXED_ON_RESUME:
            raise UsageError(
                f"--resume: {flag_name(name)} is {_show(new)} but the run was started with {_show(old)}; "
                f"it cannot change mid-run: pass {flag_name(name)} {_show(old)} (or drop it), or start a "
                "new run in another folder"
            )
        changed[name] = (old, new)
    return changed


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, (int, float)) and isinstance(new, (int, float)) and not isinstance(old, bool):
        return math.isclose(old, new, rel_tol=1e-12, abs_tol=0.0)
    if isinstance(old, str) and isinstance(new, str) and os.path.exists(old) and os.path.exists(new):
        return os.path.realpath(old) == os.path.realpath(new)  # the same folder, given two ways
    return old == new


def _show(value: Any) -> str:
    if value is None:
        return "(not set)"
    if isinstance(value, list):
        return " ".join(map(str, value)) or "(none)"
    return str(value)


def check_prompt_lengths(args, tokenizer, train) -> None:
    """Fail before training if a prompt cannot fit with its completion in the model's context."""
    from transformers import AutoConfig

    from grpo_suite.prompts import prompt_ids
    from grpo_suite.tools import template_kwargs

    model_config = AutoConfig.from_pretrained(
        args.model, revision=args.revision, local_files_only=args.local_only, trust_remote_code=args.trust_remote_code
    )
    context = getattr(model_config, "max_position_embeddings", None)
    if not context:
        return
    sample = train.select(range(min(1000, len(train))))
    with_tools = (
        " (the tools' schema and the template's text included)"
        if getattr(args, "tools", None) or getattr(args, "environment", None)
        else ""
    )
    for i, row in enumerate(sample):
        n = len(prompt_ids(tokenizer, row["prompt"], template_kwargs(args)))  # too long is our error
        if n + args.max_completion_length > context:
            raise UsageError(
                f"the prompt of row {i} has {n} tokens{with_tools}, and with --max-completion-length "
                f"{args.max_completion_length} it exceeds the model's context of {context} tokens; shorten the "
                "prompts (--max-samples, another --prompt-field) or lower --max-completion-length"
                + (", or use a model with a longer context" if with_tools else "")
            )
