"""The built GRPOConfig checked before any weight loads: what the optimizer, the Trainer or TRL
would otherwise refuse at step 0 or while building the trainer, after the model has loaded.

Every value is checked where it ends up (the built config), whichever source set it: a flag, a
``--config`` file or ``--grpo-arg``; a refusal names that source through ``source(field)``. The
flags' own ranges are checks.RANGES; this module holds the fields that have no flag of their
own, the settings that need evaluation, the network, another package or a distributed launch,
and a build of the optimizer and its schedule on one dummy parameter, which catches what the
tables do not know (``optim_args``, ``lr_scheduler_kwargs``).
"""

from __future__ import annotations

import enum
import importlib.util
import json
import logging
import math
import os
from typing import Any, Callable

from grpo_suite.checks import outside, range_text
from grpo_suite.errors import UsageError, first_line

logger = logging.getLogger(__name__)

# Beyond what any run can use: an integer field above this is a typo or a unit mistake.
MAX_COUNT = 10**9

# GRPOConfig fields without a flag of their own: (field, low, high, low inclusive, high inclusive, why).
FIELD_RANGES: tuple[tuple[str, float | None, float | None, bool, bool, str], ...] = (
    ("adam_beta1", 0, 1, True, False, "Adam's decay of its first moment"),
    ("adam_beta2", 0, 1, True, False, "Adam's decay of its second moment"),
    ("adam_epsilon", 0, None, False, True, "it keeps Adam's division finite where a gradient is 0"),
    ("label_smoothing_factor", 0, 1, True, False, ""),
    ("neftune_noise_alpha", 0, 100, True, True, "it scales the noise added to embeddings; NEFTune uses 5 to 15"),
    ("torch_empty_cache_steps", 1, None, True, True, ""),
    ("eval_delay", 0, None, True, True, ""),
    ("eval_accumulation_steps", 1, None, True, True, ""),
    ("save_total_limit", 1, None, True, True, "0 keeps no checkpoint, so an interrupted run could not resume"),
    ("dataloader_num_workers", 0, 256, True, True, ""),
    ("dataloader_prefetch_factor", 1, None, True, True, ""),
    ("ddp_bucket_cap_mb", 1, None, True, True, ""),
    ("ddp_timeout", 1, None, True, True, "seconds"),
    ("num_generations_eval", 1, None, True, True, ""),
    ("delta", 0, None, False, True, "it clips the importance ratio from above"),
    ("sapo_temperature_neg", 0, None, False, True, ""),
    ("sapo_temperature_pos", 0, None, False, True, ""),
    ("ref_model_mixup_alpha", 0, 1, True, True, "it mixes the policy into the reference"),
    ("ref_model_sync_steps", 1, None, True, True, ""),
    ("entropy_coef", 0, None, True, True, ""),
    ("entropy_coef_min", 0, None, True, True, ""),
    ("entropy_coef_max", 0, None, True, True, ""),
    ("entropy_coef_delta", 0, None, True, True, ""),
    ("max_tool_calling_iterations", 0, None, True, True, ""),
    ("router_aux_loss_coef", 0, None, True, True, ""),
    ("pad_to_multiple_of", 1, None, True, True, ""),
    ("vllm_server_timeout", 0, None, False, True, "seconds"),
    ("vllm_group_port", 1, 65535, True, True, ""),
    ("vllm_max_model_length", 1, None, True, True, ""),
    ("vllm_tensor_parallel_size", 1, None, True, True, ""),
    ("vllm_importance_sampling_cap", 0, None, False, True, ""),
    ("vllm_importance_sampling_clip_max", 0, None, False, True, ""),
    ("vllm_importance_sampling_clip_min", 0, None, True, True, ""),
    ("off_policy_mask_threshold", 0, None, False, True, ""),
)

# Settings that only act when the run evaluates (--eval-steps): (field, the value that means "off").
EVAL_ONLY = (
    ("eval_on_start", False),
    ("metric_for_best_model", None),
    ("greater_is_better", None),
    ("eval_delay", 0),
    ("eval_accumulation_steps", None),
    ("batch_eval_metrics", False),
    ("num_generations_eval", None),
    ("bf16_full_eval", False),
    ("fp16_full_eval", False),
)
# Settings that reach the Hugging Face Hub or another service: (field, the value that means "off").
NETWORK = (
    ("push_to_hub", False),
    ("hub_model_id", None),
    ("hub_token", None),
    ("hub_revision", None),
    ("hub_always_push", False),
    ("log_completions_hub_repo", None),
    ("trackio_space_id", None),
    ("trackio_bucket_id", None),
    ("vllm_server_base_url", None),
)
# Trackers that send each run to a remote service (report_to).
REMOTE_TRACKERS = ("wandb", "comet_ml", "neptune", "clearml", "dagshub", "azure_ml", "swanlab", "flyte", "trackio")
# Settings the run sets itself, or a launcher does: (field, what to use instead).
NOT_HERE = {  # field: (its default, why)
    "local_rank": (-1, "the launcher (accelerate launch or torchrun) sets it"),
    "resume_from_checkpoint": (None, "use --resume, which checks the run folder and its checkpoint first"),
    "save_only_model": (False, "checkpoints without the optimizer and schedule cannot be resumed (--resume)"),
    "sync_ref_model": (False, "TRL cannot sync a reference model under LoRA, which every run here trains"),
}
# generation_kwargs keys a flag sets: the flag is the one way (and max_new_tokens would undo the
# completion length every other check plans with).
GENERATION_FLAGS = {
    "max_new_tokens": "--max-completion-length",
    "temperature": "--temperature",
    "top_p": "--top-p",
    "top_k": "--top-k",
    "min_p": "--min-p",
    "repetition_penalty": "--repetition-penalty",
    "do_sample": "train_grpo.py (GRPO samples)",
}
# generation_kwargs that GenerationConfig compares as numbers (transformers 5 holds None by default).
NUMERIC_GENERATION = (
    "num_beams",
    "num_beam_groups",
    "num_return_sequences",
    "no_repeat_ngram_size",
    "encoder_no_repeat_ngram_size",
    "length_penalty",
    "diversity_penalty",
    "typical_p",
    "epsilon_cutoff",
    "eta_cutoff",
    "encoder_repetition_penalty",
    "max_length",
    "min_length",
    "min_new_tokens",
    "penalty_alpha",
    "max_time",
)
# Metrics an evaluation logs, which metric_for_best_model may name (with or without "eval_").
EVAL_METRICS = ("loss", "reward", "reward_std", "frac_reward_zero_std", "entropy", "completions/mean_length")
# Packages some settings need: (field, the value that needs it, module, pip name).
NEEDS_PACKAGE = (
    ("use_liger_kernel", True, "liger_kernel", "liger-kernel"),
    ("deepspeed", "any", "deepspeed", "deepspeed"),
)
COMPILE_MODES = ("default", "lite", "reduce-overhead", "max-autotune-no-cudagraphs", "max-autotune")  # torch.compile's
DISTRIBUTED_ONLY = ("fsdp", "fsdp_config", "deepspeed", "parallelism_config")


class _Names:
    """How a refusal names a setting: as the user wrote it, ``--grpo-arg key=value`` or ``--flag value``."""

    def __init__(self, source: Callable[[str], str], given: dict[str, Any]):
        self.source, self.given = source, given

    def shown(self, field: str, value: Any) -> str:
        value = self.given.get(field, value)  # what was typed, not what GRPOConfig made of it
        if isinstance(value, enum.Enum):
            value = value.value
        if isinstance(value, (dict, list)):
            text = json.dumps(value)
        else:
            text = str(value).lower() if isinstance(value, bool) else str(value)
        name = self.source(field)
        return f"{name}={text}" if name.startswith("--grpo-arg") else f"{name} {text}"


def _choices() -> dict[str, tuple[str, ...]]:
    """String fields whose valid values a library lists, but checks only when it uses them."""
    from accelerate.utils import DynamoBackend
    from transformers.generation.configuration_utils import ALL_CACHE_IMPLEMENTATIONS
    from transformers.training_args import trainer_log_levels

    return {
        "log_level": tuple(trainer_log_levels),
        "log_level_replica": tuple(trainer_log_levels),
        "cache_implementation": tuple(ALL_CACHE_IMPLEMENTATIONS),
        "torch_compile_backend": tuple(b.value.lower() for b in DynamoBackend if b.value != "NO"),
        "torch_compile_mode": COMPILE_MODES,
    }


def check_before_build(fields: dict[str, Any], overrides: dict[str, Any]) -> None:
    """What GRPOConfig itself would refuse in transformers' words, said first in ours."""
    if fields.get("eval_strategy") == "no":
        for field, off in (*EVAL_ONLY, ("load_best_model_at_end", False)):
            value = overrides.get(field, off)
            if value is not None and value != off:
                raise UsageError(
                    f"--grpo-arg {field}={str(value).lower() if isinstance(value, bool) else value}: {field} acts "
                    "only when the run evaluates on held-out data; pass --eval-steps N to evaluate every N steps"
                )
        if str(fields.get("lr_scheduler_type")) == "reduce_lr_on_plateau":
            raise UsageError(
                "--lr-scheduler-type reduce_lr_on_plateau lowers the rate when the held-out metric stops improving, "
                "so it needs evaluation; pass --eval-steps N, or another --lr-scheduler-type"
            )


def check_config(config: Any, source: Callable[[str], str], offline: bool, given: dict[str, Any] | None = None) -> None:
    """Refuse, in one line naming the flag or key, what GRPOConfig accepted but training would not.
    ``source(field)`` names where a field's value came from; ``given`` holds the --grpo-arg values as typed."""
    names = _Names(source, given or {})
    _check_ranges(config, names)
    _check_choices(config, names)
    _check_not_here(config, names)
    _check_evaluation(config, names)
    _check_network(config, names, offline)
    _check_packages_and_launch(config, names)
    _check_generation(config, names)
    _check_dataloader(config, names)
    _check_best_metric(config, names)
    _check_optimizer(config, names)


def _set(config: Any, field: str, off: Any) -> bool:
    value = getattr(config, field, off)
    return value is not None and value != off and value not in ("", [], {})


def _check_ranges(config: Any, names: _Names) -> None:
    for field, low, high, low_in, high_in, why in FIELD_RANGES:
        value = getattr(config, field, None)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        if not math.isfinite(value) or outside(value, low, high, low_in, high_in):
            allowed = range_text(low, high, low_in, high_in)
            raise UsageError(f"{names.shown(field, value)}: {field} must be {allowed}" + (f" ({why})" if why else ""))
    for field, value in vars(config).items():
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_COUNT:
            raise UsageError(
                f"{names.shown(field, value)}: {field} is beyond what any run can use (at most {MAX_COUNT:,})"
            )


def _check_choices(config: Any, names: _Names) -> None:
    for field, valid in _choices().items():
        value = getattr(config, field, None)
        if value is not None and str(value).lower() not in valid:
            raise UsageError(f"{names.shown(field, value)}: {field} must be one of {', '.join(valid)}")


def _check_not_here(config: Any, names: _Names) -> None:
    for field, (default, instead) in NOT_HERE.items():
        value = getattr(config, field, default)
        if value is not None and value != default and not (value is False and default is None):
            raise UsageError(f"{names.shown(field, value)}: not a setting for this run; {instead}")


def _check_generation(config: Any, names: _Names) -> None:
    """generation_kwargs: no key a flag sets, token ids as integers, and what GenerationConfig validates."""
    kwargs = getattr(config, "generation_kwargs", None) or {}
    if not isinstance(kwargs, dict):
        return
    shown = names.shown("generation_kwargs", kwargs)
    for key, value in kwargs.items():
        if key in GENERATION_FLAGS:
            raise UsageError(f"{shown}: {key} is set by {GENERATION_FLAGS[key]}; use that instead")
        ids = value if isinstance(value, list) else [value]
        if key.endswith("token_id") and not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise UsageError(f"{shown}: {key} must be a token id (an integer) or a list of them")
    from transformers import GenerationConfig

    for key, value in kwargs.items():
        if key in NUMERIC_GENERATION and (not isinstance(value, (int, float)) or isinstance(value, bool)):
            raise UsageError(f"{shown}: {key} must be a number (got {value!r})")
        if key in ("num_beams", "num_return_sequences") and value != 1:
            raise UsageError(
                f"{shown}: GRPO samples one completion per copy of a prompt ({key} must be 1); "
                "use --num-generations for the group size"
            )
    try:
        GenerationConfig(**kwargs).validate(strict=True)
    except (ValueError, TypeError) as err:
        raise UsageError(f"{shown}: {first_line(err)}") from err


def _check_dataloader(config: Any, names: _Names) -> None:
    if getattr(config, "dataloader_persistent_workers", False) and not getattr(config, "dataloader_num_workers", 0):
        raise UsageError(
            f"{names.shown('dataloader_persistent_workers', True)}: needs worker processes; "
            "add --grpo-arg dataloader_num_workers=N (N at least 1), or drop it"
        )


def _check_best_metric(config: Any, names: _Names) -> None:
    metric = getattr(config, "metric_for_best_model", None)
    if not metric or str(getattr(config, "eval_strategy", "no")).lower().endswith("no"):
        return
    name = metric[5:] if metric.startswith("eval_") else metric
    if name not in EVAL_METRICS and not (name.startswith("rewards/") and name.endswith(("/mean", "/std"))):
        raise UsageError(
            f"{names.shown('metric_for_best_model', metric)}: not a metric the evaluation logs; pass one of "
            f"{', '.join(EVAL_METRICS)}, or rewards/<component>/mean"
        )


def _check_evaluation(config: Any, names: _Names) -> None:
    if str(getattr(config, "eval_strategy", "no")).lower().endswith("no"):
        for field, off in EVAL_ONLY:
            if _set(config, field, off):
                raise UsageError(
                    f"{names.shown(field, getattr(config, field))}: {field} acts only when the run evaluates on "
                    "held-out data; pass --eval-steps N to evaluate every N steps"
                )


def _check_network(config: Any, names: _Names, offline: bool) -> None:
    trackers = getattr(config, "report_to", None) or []
    trackers = [trackers] if isinstance(trackers, str) else list(trackers)
    if offline:
        for field, off in NETWORK:
            if _set(config, field, off):
                raise UsageError(
                    f"{names.shown(field, getattr(config, field))}: {field} needs the network, and this run is "
                    "offline (--local-only or HF_HUB_OFFLINE); drop it, or run online"
                )
        remote = [t for t in trackers if t in REMOTE_TRACKERS or t == "all"]
        if remote and not (remote == ["wandb"] and os.environ.get("WANDB_MODE") in ("offline", "disabled")):
            raise UsageError(
                f"--report-to {','.join(trackers)}: {remote[0]} sends the run to a remote service, and this run is "
                "offline (--local-only or HF_HUB_OFFLINE); pass --report-to tensorboard or none"
            )
    if getattr(config, "push_to_hub", False) and not offline:
        from huggingface_hub import get_token

        if not (getattr(config, "hub_token", None) or get_token()):
            raise UsageError(
                f"{names.shown('push_to_hub', True)}: pushing to the Hub needs a token; run "
                "`hf auth login` or set HF_TOKEN"
            )


def _check_packages_and_launch(config: Any, names: _Names) -> None:
    for field, needs, module, package in NEEDS_PACKAGE:
        value = getattr(config, field, None)
        if (value == needs or (needs == "any" and value)) and importlib.util.find_spec(module) is None:
            raise UsageError(f"{names.shown(field, value)}: needs the {package} package; pip install {package}")
    launched = int(os.environ.get("WORLD_SIZE", "1") or 1) > 1
    for field in DISTRIBUTED_ONLY:
        value = getattr(config, field, None)
        if value and value != [] and not launched:
            raise UsageError(
                f"{names.shown(field, value)}: {field} works only in a distributed launch; run under "
                "`accelerate launch --config_file CONFIG train_grpo.py ...` (README, Multi-GPU)"
            )


def _check_optimizer(config: Any, names: _Names) -> None:
    """The optimizer and its schedule built once on a dummy parameter, as the Trainer builds them
    at step 0: what they refuse (betas, eps, optim_args, lr_scheduler_kwargs) is refused now."""
    import torch
    from transformers import Trainer
    from transformers.optimization import get_scheduler

    try:
        optimizer_cls, kwargs = Trainer.get_optimizer_cls_and_kwargs(config)
    except (ValueError, TypeError, ImportError) as err:
        field = "optim_args" if config.optim_args else "optim"
        raise UsageError(
            f"{names.shown(field, getattr(config, field))}: the optimizer cannot be built: {first_line(err)}"
            + ("; optim_args takes key=value pairs separated by commas" if field == "optim_args" else "")
        ) from err
    if not isinstance(optimizer_cls, type) or not issubclass(optimizer_cls, torch.optim.Optimizer):
        return  # a factory that needs the model (GaLore, LOMO): built with it, at step 0
    if not optimizer_cls.__module__.startswith("torch."):
        return  # bitsandbytes' and others' optimizers may need the GPU that holds the weights
    try:
        optimizer = optimizer_cls([torch.nn.Parameter(torch.zeros(1))], **kwargs)
    except (ValueError, TypeError, RuntimeError) as err:
        raise UsageError(
            f"{names.shown('optim', config.optim)}: the optimizer refused its settings (--learning-rate, "
            f"--weight-decay, --grpo-arg adam_beta1/adam_beta2/adam_epsilon/optim_args): {first_line(err)}"
        ) from err
    steps = config.max_steps if config.max_steps and config.max_steps > 0 else 100
    shown = names.shown("lr_scheduler_type", config.lr_scheduler_type)
    try:
        schedule = get_scheduler(
            config.lr_scheduler_type,
            optimizer,
            num_warmup_steps=config.get_warmup_steps(steps),
            num_training_steps=steps,
            scheduler_specific_kwargs=config.lr_scheduler_kwargs or {},
        )
        # The rate at the steps a schedule turns at: a bad power or cycle count fails here, not at the end.
        warmup = config.get_warmup_steps(steps)
        for step in sorted({0, 1, warmup, (warmup + steps) // 2, steps - 1, steps}):
            for rate in (f(step) for f in getattr(schedule, "lr_lambdas", ())):
                if not math.isfinite(rate) or rate < 0:
                    raise ValueError(f"the rate at step {step} would be {rate}")
    except (ValueError, TypeError, ArithmeticError) as err:
        raise UsageError(
            f"{shown}: the learning-rate schedule refused its settings (--grpo-arg lr_scheduler_kwargs): "
            f"{first_line(err)}"
        ) from err
    logger.debug("optimizer %s and schedule %s build", optimizer_cls.__name__, config.lr_scheduler_type)


def check_model_settings(overrides: dict[str, Any], skeleton: Any) -> None:
    """--grpo-arg settings that depend on the model, checked on its config-only skeleton (no weights)."""
    if skeleton is None:
        return
    text_config = skeleton.config.get_text_config()
    coef = overrides.get("router_aux_loss_coef")
    if coef and not hasattr(text_config, "output_router_logits"):
        raise UsageError(
            f"--grpo-arg router_aux_loss_coef={coef}: {type(skeleton).__name__} is no Mixture-of-Experts model, "
            "so there is no router loss to weight; drop it"
        )
    if overrides.get("cast_lm_head_to_fp32") and getattr(text_config, "tie_word_embeddings", False):
        # TRL 1.16 hooks the tied embeddings through model.model.embed_tokens, which a LoRA model
        # (PeftModel around the causal LM) does not have: the trainer fails while being built.
        raise UsageError(
            f"--grpo-arg cast_lm_head_to_fp32=true: {type(skeleton).__name__} ties its output layer to its "
            "embeddings, which TRL cannot cast under LoRA; drop it"
        )
