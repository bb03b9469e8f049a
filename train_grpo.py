"""Train a LoRA adapter on a causal LM with GRPO (TRL's GRPOTrainer) and the composite reward.

    python train_grpo.py --demo --output-dir outputs/demo                 # CPU, offline, minutes
    python train_grpo.py --model Qwen/Qwen2.5-0.5B-Instruct --dataset openai/gsm8k \\
        --dataset-config main --output-dir outputs/gsm8k                  # one GPU, 4-bit LoRA

The dataset's prompt and reference are detected (see dataset_utils.py); ``--dry-run`` shows what
the model and the reward will see before any weight is loaded. Ctrl-C saves the adapter and a
checkpoint; ``--resume`` continues from the latest checkpoint.
"""

from __future__ import annotations

if __name__ == "__main__":  # Ctrl-C while the imports below load: one line and exit 130, no traceback
    import signal as _signal
    import sys as _sys

    from grpo_suite.errors import EXIT_INTERRUPTED as _EXIT_INTERRUPTED  # a standard-library-only module

    def _interrupted_at_start(signum, frame):
        _sys.stderr.write("interrupted: while starting; nothing was done\n")
        raise SystemExit(_EXIT_INTERRUPTED)

    _signal.signal(_signal.SIGINT, _interrupted_at_start)

import argparse
import importlib
import json
import logging
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Sequence

import dataset_utils
import rewards
from grpo_suite import (
    checks,
    config,
    difficulty,
    dynamic_sampling,
    flags,
    judge,
    model_cache,
    models,
    preflight,
    probe,
    reward_models,
    run_folder,
    symbolic,
    tools,
)
from grpo_suite.cli import import_object, negative_values_attached, set_offline_env, setup_logging
from grpo_suite.errors import EXIT_INTERRUPTED, UsageError, report_usage_error
from grpo_suite.guard import (
    RunState,
    TrainingFailed,
    _interrupt,
    _StopOnSignal,
    close_progress_bars,
    fingerprint,
    latest_checkpoint,
    make_callbacks,
    report_crash,
    report_interrupt,
    weights_finite,
)
from grpo_suite.no_reference import REWARD_ADVICE, has_no_reference
from grpo_suite.prompts import answer_instruction, instruction_for, render_prompt
from grpo_suite.records import (
    append_history,
    is_main_process,
    plot_reward_curves,
    wait_for_every_process,
    write_run_config,
)

logger = logging.getLogger("train_grpo")

# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def build_parser():
    """Every flag, in help groups: defined once in grpo_suite/flags.py."""
    return flags.build_parser()


def resolve_args(args: argparse.Namespace) -> argparse.Namespace:
    """Fill preset defaults, the demo's model and data, and check flags that need no data."""
    for name, (default, demo_default) in flags.PRESETS.items():
        if getattr(args, name) is None:
            setattr(args, name, demo_default if args.demo else default)
    if args.demo:
        import demo

        assets = demo.ensure_demo_assets()
        args.model = args.model or str(assets.model_dir)
        args.dataset = args.dataset or str(assets.data_dir)
        args.local_only = True
    args.model = model_cache.local_model(args.model)  # a .gguf file: its safetensors folder, converted once
    # Recorded as resolved ('' for none), so that a replay, a resume and the comparison use the very sentence.
    declared = models.declared_answer_instruction(args.model)
    args.answer_instruction = answer_instruction(args.answer_instruction, args.system_prompt, declared) or ""
    check_args(args)
    return args


def check_args(args: argparse.Namespace) -> None:
    """Every flag, before any work: values, combinations, the model folder and the output folder."""
    if not args.model:
        raise UsageError("no model given; pass --model HUB_ID_OR_FOLDER, or --demo for the embedded one")
    if not args.dataset:
        raise UsageError("no dataset given; pass --dataset HUB_ID_OR_PATH, or --demo for the embedded one")
    if not args.output_dir and not args.dry_run and args.probe is None:
        raise UsageError("no output folder given; pass --output-dir DIR")
    checks.check_flags(args)
    check_trackers(args.report_to)  # a missing package first: installing it is the first fix
    plan = config.generation_plan(args)  # TRL's GRPOConfig built and pre-flight checked (grpo_suite/preflight.py)
    difficulty.check_flags(args)
    dynamic_sampling.check_plan(args, plan)
    if args.use_vllm and args.quantization in ("4bit", "8bit"):
        raise UsageError(
            "--use-vllm cannot be combined with 4-bit or 8-bit quantization: TRL cannot sync quantized "
            "LoRA weights into vLLM; pass --quantization none"
        )
    if args.use_vllm and importlib.util.find_spec("vllm") is None:
        raise UsageError("--use-vllm needs vLLM: pip install vllm")
    if args.overwrite and args.resume:
        raise UsageError("--overwrite and --resume contradict each other; pass one")
    models.check_model_source(args.model)
    if args.adapter:
        checks.check_adapter_flags(args, build_parser())
    if args.stop_when_stuck < 0:
        raise UsageError(
            f"--stop-when-stuck must be 0 (never) or a number of logged steps (got {args.stop_when_stuck})"
        )
    for flag in ("probe", "probe_before_train"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            raise UsageError(
                f"--{flag.replace('_', '-')} takes a number of prompts, at least 1 (got {getattr(args, flag)})"
            )
    if not args.dry_run and args.probe is None:
        run_folder.check_output_dir(Path(args.output_dir), args.overwrite, args.resume)


# --------------------------------------------------------------------------------------------
# Data and rewards
# --------------------------------------------------------------------------------------------


def load_data(args, tokenizer):
    """Training and held-out rows as ``prompt`` / ``reference``, and the detection."""
    loaded = dataset_utils.load_any(args.dataset, args.dataset_config, args.local_only)
    train, held_out = dataset_utils.pick_splits(loaded, args.split, args.seed)
    detection = dataset_utils.detect_dataset(train, args.prompt_field, args.reference_field)
    instruction = instruction_for(args.answer_instruction, detection) or ""
    if instruction != args.answer_instruction:
        logger.info("no answer instruction: %s data has no final answer to state", detection.family)
        args.answer_instruction = instruction  # recorded as used: a resume and the comparison read it
    chat = tokenizer.chat_template is not None
    if args.max_samples:
        train = train.shuffle(seed=args.seed).select(range(min(args.max_samples, len(train))))
    # With the tokenizer, a system message its template rejects is folded into the first user turn.
    train = dataset_utils.prepare(train, detection, args.system_prompt, chat, tokenizer, args.answer_instruction)
    held_out = dataset_utils.prepare(held_out, detection, args.system_prompt, chat, tokenizer, args.answer_instruction)
    logger.info("dataset: %d training rows, %d held out; %s", len(train), len(held_out), describe(detection))
    if len(train) == 0:
        raise UsageError(
            f"dataset {args.dataset} has no usable training row (none has a prompt); check --prompt-field and --split"
        )
    return train, held_out, detection


def check_coverage(args, train, names: list[str]) -> list[str]:
    """How many rows can earn the reference reward; under half is refused unless --allow-low-coverage.

    With --dry-run nothing is refused: the report lines come back for dry_run() to print.
    """
    if "reference_reward" not in names:
        return []
    coverage = dataset_utils.measure_coverage(train)
    if not args.dry_run:
        dataset_utils.check_coverage(coverage, args.allow_low_coverage)
        return []
    lines = dataset_utils.coverage_lines(coverage)
    quiet = logging.getLogger("dataset_utils")
    quiet.disabled = True  # the lines are printed below, not logged twice
    try:
        dataset_utils.check_coverage(coverage, args.allow_low_coverage)
    except UsageError as err:
        lines.append(f"WARNING: TRAINING WOULD BE REFUSED: {err}")
    finally:
        quiet.disabled = False
    return lines


def no_format_reward(args, detection) -> bool:
    """Data with no answer to state (preference, SFT, summaries) trains without format_reward, which
    pays for a 'Final answer:' line, unless the user chose the components or weighed that one.
    Changes --rewards as recorded, so that a resume and a replay use the same components."""
    if not has_no_reference(detection) or args.rewards != flags.DEFAULT_REWARDS:
        return False
    if "format_reward" in checks.weighted_names(args.reward_weights):
        return False
    args.rewards = ",".join(n for n in checks.selected_components(args.rewards) if n != "format_reward")
    logger.info("no format_reward: %s data has no final answer to state (rewards: %s)", detection.family, args.rewards)
    return True


def check_reward_fits(args, detection) -> list[str]:
    """Data with no answer to check (preference pairs, SFT outputs, summaries) needs a reward of the
    user's: without one the built-in rewards teach only format and length, so the run is refused
    unless --allow-low-coverage. With --dry-run the refusal comes back as a line to print."""
    judge.check_data(args, detection)
    if not has_no_reference(detection) or args.extra_reward or args.reward_model or args.judge_model:
        return []
    if tools.environment_reward(args):  # TRL adds the environment's get_reward() as one more reward
        return []
    message = (
        f"{detection.family} data has no answer a completion can be checked against, so the built-in "
        f"rewards would teach only format and length; {REWARD_ADVICE}; or pass --allow-low-coverage to "
        "train on format and length anyway"
    )
    if args.allow_low_coverage:
        logger.warning("--allow-low-coverage: %s", message)
        return []
    if args.dry_run:
        return [f"WARNING: TRAINING WOULD BE REFUSED: {message}"]
    raise UsageError(message)


def describe(detection) -> str:
    return (
        f"family {detection.family}, prompt {detection.prompt_field!r}, reference {detection.reference_field!r}, "
        f"conversational {detection.conversational}"
    )


def build_rewards(args) -> tuple[list, list[float], list[str]]:
    """Reward functions, their weights and names: the chosen components, then extra ones."""
    extras = [load_extra_reward(spec) for spec in args.extra_reward]
    extras += reward_models.build(
        args.reward_model, {f.__name__ for f in extras}, args.local_only, args.trust_remote_code
    )
    extras += judge.build(args, {f.__name__ for f in extras})
    extra_names = [f.__name__ for f in extras]
    names = checks.selected_components(args.rewards)
    try:
        weights = rewards.parse_weights(args.reward_weights, extra=extra_names)
        funcs, values = rewards.build_reward_funcs(
            names, {k: v for k, v in weights.items() if k not in extra_names}, args.length_target, args.length_max
        )
    except ValueError as err:
        raise UsageError(f"{err} (--rewards / --reward-weights)") from err
    funcs += extras
    values += [weights.get(name, 1.0) for name in extra_names]
    if not funcs:
        raise UsageError("no reward components selected; pass --rewards NAME,...")
    checks.check_reward_spec(names, args.reward_weights, extra_names, list(rewards.REWARD_COMPONENTS), values)
    return funcs, values, [f.__name__ for f in funcs]


def load_extra_reward(spec: str):
    """``module:function`` imported (the current folder is on the path) and guarded."""
    func = import_object("--extra-reward", spec)
    return checks.guard_user_reward(func, spec, checks.reward_name(func, spec))


TRACKER_MODULES = {
    "tensorboard": ("tensorboard", "tensorboardX"),
    "wandb": ("wandb",),
    "mlflow": ("mlflow",),
    "comet_ml": ("comet_ml",),
    "clearml": ("clearml",),
    "neptune": ("neptune",),
    "dvclive": ("dvclive",),
    "trackio": ("trackio",),
    "swanlab": ("swanlab",),
    "codecarbon": ("codecarbon",),
}
# Trackers that need an environment variable to start: (variable, what it is).
TRACKER_ENV = {"kubeflow": ("KUBEFLOW_TRAINER_SERVER_URL", "the Kubeflow trainer server's address")}


def check_model(args) -> None:
    """The model's config, before any weight loads: LoRA flags or the adapter against its layers,
    and the --grpo-arg settings that depend on the model (a router loss needs experts)."""
    skeleton = checks.check_model_shape(args)
    preflight.check_model_settings(config.grpo_arg_overrides(args.grpo_arg), skeleton)


def check_trackers(report_to) -> None:
    """A tracker that is not installed fails here, not after the model has loaded."""
    names = report_to if isinstance(report_to, (list, tuple)) else str(report_to or "none").split(",")
    for name in (n.strip() for n in names):
        modules = TRACKER_MODULES.get(name)
        if name in TRACKER_ENV and not os.environ.get(TRACKER_ENV[name][0]):
            variable, what = TRACKER_ENV[name]
            raise UsageError(f"--report-to {name}: set {variable} ({what}), or pass --report-to none")
        if modules and not any(importlib.util.find_spec(m) for m in modules):
            raise UsageError(
                f"--report-to {name}: {modules[0]} is not installed; pip install {modules[0]}, or pass --report-to none"
            )


def check_enough_rows(args, train_rows) -> None:
    """Refuse a run whose data cannot fill one generation batch: it would save an untrained adapter."""
    batch = config.generation_plan(args).batch
    needed = batch // args.num_generations
    if len(train_rows) < needed:
        raise UsageError(
            f"the dataset has {len(train_rows)} usable training row(s) but one step needs {needed} prompt(s) "
            f"({batch} completions per generation / --num-generations {args.num_generations}); add rows, or lower "
            "--per-device-train-batch-size or --gradient-accumulation-steps"
        )


def dry_run(args, tokenizer, train, detection, funcs, weights, coverage: Sequence[str] = ()) -> int:
    """Show what the model and the reward will see, and warn if the reference cannot score."""
    row = train[0]
    solution = rewards.correct_completion(row["reference"])  # the completion coverage counts as correct
    total, parts = rewards.combine(funcs, weights, solution, row["reference"]) if solution else (0.0, {})
    print(f"detection:  {describe(detection)}")
    for reason in detection.reasons:
        print(f"            because {reason}")
    print("prompt as the model sees it:\n" + render_prompt(tokenizer, row["prompt"], tools.template_kwargs(args)))
    if args.tools or args.environment:
        print("\n".join(tools.dry_run_lines(args)))
    print(f"reference:     {row['reference']!r}")
    print(f"final answer:  {rewards.extract_reference(row['reference']) or None}")
    if row["reference"] is not None:  # no reference: the reasons above said why, and nothing earns
        print(f"reward of the reference itself: total {total:.3f} " + json.dumps(parts))
    if row["reference"] is None and not has_no_reference(detection):  # else the reasons above said why
        print(
            "WARNING: no reference column: reference_reward is skipped and the model learns only format and "
            "length. Pass --reference-field if the data has answers."
        )
    elif row["reference"] is not None and parts.get("reference_reward") != 1.0:
        print(
            "WARNING: THE REFERENCE SOLUTION DOES NOT EARN reference_reward 1.0: the reward will always be 0. "
            "Check --reference-field, or the answer format of the data."
        )
    for line in coverage:
        print(line)
    for func in funcs:
        if isinstance(func, judge.Judge):
            example = func.judge_input(row["prompt"], "<completion>", row["reference"])
            print(f"{func.__name__} reads, for each completion (shown here as <completion>):\n{example}")
    if args.difficulty_filter:
        print(difficulty.plan_line(args, train))
    if args.dynamic_sampling:
        print(
            "dynamic sampling: groups whose completions all earn one reward are replaced by groups of fresh prompts, "
            f"up to {args.dynamic_sampling_rounds} extra generation rounds per generation batch"
        )
    return 0


# --------------------------------------------------------------------------------------------
# Model and trainer
# --------------------------------------------------------------------------------------------


def build_model(args, tokenizer):
    """The base model (quantized if asked) and its LoRA config, or the model with an adapter."""
    quantization = models.resolve_quantization(args.quantization)
    model = models.load_model(
        args.model,
        quantization,
        args.dtype,
        args.revision,
        args.local_only,
        args.trust_remote_code,
        args.attn_implementation,
    )
    if quantization != "none":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=bool(args.gradient_checkpointing))
    if args.adapter:
        return models.attach_adapter(model, args.adapter, args.model, trainable=True), None, quantization
    from peft import LoraConfig

    models.find_lora_targets(model)  # none at all is its own error
    targets = checks.check_lora_shape(args, models.lora_target_widths(model))
    logger.info("LoRA r=%d alpha=%d on %s", args.lora_r, args.lora_alpha, ", ".join(targets))
    lora = LoraConfig(
        r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        target_modules=targets,
        task_type="CAUSAL_LM",
    )
    return model, lora, quantization


def grpo_config(args, weights: list[float] | None):
    """TRL's GRPOConfig of this run (built and checked in grpo_suite/config.py)."""
    return config.grpo_config(args, weights)


def trainer_from_args(args, callbacks=()):
    """Everything train() builds before training, for tests and benchmarks that look inside."""
    tokenizer = load_tokenizer(args)
    train_rows, held_out, _ = load_data(args, tokenizer)
    funcs, weights, _ = build_rewards(args)
    model, lora_config, _ = build_model(args, tokenizer)
    return build_trainer(args, model, lora_config, tokenizer, funcs, weights, train_rows, held_out, list(callbacks))


def load_tokenizer(args):
    """The run's tokenizer, with --chat-template applied and checked to show tools when the run has them."""
    tokenizer = models.load_tokenizer(args.model, args.revision, args.local_only, args.trust_remote_code)
    tools.apply_chat_template(args, tokenizer)
    tools.check_template(args, tokenizer)
    return tokenizer


def build_trainer(args, model, lora_config, tokenizer, funcs, weights, train, held_out, callbacks):
    eval_dataset = held_out.select(range(min(args.max_eval_samples, len(held_out)))) if args.eval_steps else None
    tool_funcs, environment = tools.run_tools(args)
    return dynamic_sampling.trainer_class()(
        dynamic_rounds=args.dynamic_sampling_rounds if args.dynamic_sampling else None,
        seed=args.seed,
        model=model,
        reward_funcs=funcs,
        args=grpo_config(args, weights),
        train_dataset=train,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        peft_config=lora_config,
        callbacks=callbacks,
        tools=tool_funcs or None,
        environment_factory=environment,
    )


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def adopt_run_record(args, explicit: set[str]) -> None:
    """--resume continues the run as it was started: every flag not given again is the run's own."""
    record = run_folder.read_run_config(Path(args.output_dir))
    if record is None:
        return
    recorded = checks.effective_args(record)
    for name, value in recorded.items():
        if name not in flags.PER_INVOCATION and name not in explicit and hasattr(args, name):
            setattr(args, name, value)
    if "answer_instruction" not in recorded and "answer_instruction" not in explicit:
        args.answer_instruction = ""  # a run recorded before the flag existed trained without one


def plan_resume(args) -> tuple[Path | None, dict]:
    """The checkpoint to resume from and the flags that changed; (None, ...) when the run is complete."""
    out = Path(args.output_dir)
    record = run_folder.read_run_config(out)
    changed: dict = {}
    if record is None:
        logger.warning(
            "%s has no readable %s: this resume's flags cannot be checked against the run's", out, run_folder.RUN_CONFIG
        )
    else:
        changed = checks.compare_with_record(args, record)
    checkpoint = run_folder.latest_complete_checkpoint(out)  # names the checkpoints it skips, and why
    step = int(run_folder.trainer_state(checkpoint)["global_step"])
    planned = args.max_steps if args.max_steps > 0 else run_folder.trainer_state(checkpoint).get("max_steps")
    if "num_train_epochs" in changed and args.max_steps <= 0:
        planned = None  # a new epoch budget: the trainer plans the steps
    if planned is not None and step >= planned:
        restore_final_adapter(out, checkpoint)
        print(
            f"the run in {out} is already complete: step {step} of {planned} ({checkpoint.name}); nothing to train. "
            "Pass a larger --max-steps with --resume to train further"
        )
        return None, changed
    for name, (old, new) in changed.items():
        logger.warning(
            "--resume: --%s was %s and is %s now: the new value applies from step %d",
            name.replace("_", "-"),
            old,
            new,
            step + 1,
        )
    logger.info("resuming from %s (step %d)", checkpoint.name, step)
    return checkpoint, changed


def restore_final_adapter(out: Path, checkpoint: Path) -> None:
    """A complete run whose final adapter is missing or damaged gets it back from its last checkpoint."""
    final = out / "adapter_model.safetensors"
    if final.is_file() and (out / "adapter_config.json").is_file() and models.safetensors_problem(final) is None:
        return
    for name in ("adapter_model.safetensors", "adapter_config.json"):
        tmp = out / (name + ".tmp")
        shutil.copyfile(checkpoint / name, tmp)
        os.replace(tmp, out / name)
    logger.warning("the final adapter in %s was missing or incomplete: restored it from %s", out, checkpoint.name)


def probe_command(args, tokenizer, train_rows, funcs, weights) -> int:
    """--probe: sample, score and judge, then exit 0 whatever it finds; nothing is trained."""
    model, _, _ = build_model(args, tokenizer)
    result = probe.run_probe(
        args, tokenizer, model, train_rows, funcs, weights, args.probe, config.generation_plan(args)
    )
    print(probe.format_report(result))
    if args.output_dir:
        out = Path(args.output_dir)
        fresh = not out.exists() or not any(out.iterdir())
        if out.is_dir() and not fresh and not run_folder.is_run_folder(out):
            print(f"probe.json not written: {out} holds files that are not a run of this suite")
        else:
            out.mkdir(parents=True, exist_ok=True)
            probe.write_json(result, out / "probe.json")
            print(f"written to {out / 'probe.json'}")
    return 0


def probe_before_train(args, tokenizer, model, train_rows, funcs, weights):
    """--probe-before-train: refuse a run the probe says cannot learn, unless --force."""
    result = probe.run_probe(
        args, tokenizer, model, train_rows, funcs, weights, args.probe_before_train, config.generation_plan(args)
    )
    print(probe.format_report(result))
    if result.cannot_learn and not args.force:
        causes = "; ".join(v["cause"] for v in result.verdicts if v["severity"] == "cannot learn")
        raise UsageError(
            f"the probe says this run cannot learn: {causes}. Change the flags it names, or pass "
            "--force to train anyway"
        )
    return result


def train(
    args,
    tokenizer,
    train_rows,
    held_out,
    detection,
    funcs,
    weights,
    names,
    run: RunState,
    resume_from: Path | None = None,
    changed: dict | None = None,
) -> int:

    out = Path(args.output_dir)
    run.phase = "checking the data"
    checks.check_prompt_lengths(args, tokenizer, train_rows)
    check_enough_rows(args, train_rows)
    run.phase = "loading the model"
    model, lora_config, quantization = build_model(args, tokenizer)
    run.phase = "loading the reward models and the judge"
    for func in funcs:
        if isinstance(func, (reward_models.RewardModel, judge.Judge)):
            func.load()  # here, not at the first score: a model that cannot load fails before any step
    filtered = None
    if args.difficulty_filter:
        run.phase = "measuring pass rates (--difficulty-filter)"
        train_rows, filtered = difficulty.select_rows(args, tokenizer, model, train_rows, funcs, resume_from)
    probed = None
    if args.probe_before_train is not None:
        run.phase = "probing"
        probed = probe_before_train(args, tokenizer, model, train_rows, funcs, weights)
    # The folder is taken just before the trainer is built (TRL writes into it, e.g. completions/):
    # an earlier run set aside here is put back if building or training fails before a checkpoint.
    run.phase = "preparing the output folder"
    if is_main_process():
        run.folder = run_folder.RunFolder(out, replace=args.overwrite, resume=resume_from is not None)
        run.folder.take()
        run.attach_log(out)
        if probed is not None:
            probe.write_json(probed, out / "probe.json")
        if filtered is not None:
            difficulty.write(out, filtered)
        if resume_from is None:
            write_run_config(out, args, detection, names, weights, quantization, difficulty=filtered)
        else:
            append_history(
                out,
                "resume",
                from_checkpoint=resume_from.name,
                changed={k: list(v) for k, v in (changed or {}).items()},
            )
    # The other processes must not create the folder before the main one has taken it (it refuses a folder
    # that exists unless it is an earlier run to replace or resume).
    wait_for_every_process()
    if not is_main_process():
        out.mkdir(parents=True, exist_ok=True)
    run.phase = "building the trainer"
    stop = _StopOnSignal()
    run.trainer = build_trainer(
        args,
        model,
        lora_config,
        tokenizer,
        funcs,
        weights,
        train_rows,
        held_out,
        make_callbacks(out, stop, run, changed),
    )
    start_step = run_folder.checkpoint_step(resume_from) if resume_from else 0
    run.phase = "training"
    stop.install()
    try:
        run.trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    finally:
        stop.uninstall()
    run.phase = "finishing"
    return finish(args, out, run, stop, start_step)


def finish(args, out: Path, run: RunState, stop: _StopOnSignal, start_step: int) -> int:
    """Check what training produced, then save it; a run that did not train is never called saved."""
    trainer = run.trainer
    step = trainer.state.global_step
    logger.info(
        "rank %s of %s finished at step %d", os.environ.get("RANK", "0"), os.environ.get("WORLD_SIZE", "1"), step
    )
    if run.bad is None and not weights_finite(trainer.model):
        run.bad = (step, "the adapter weights")
    if run.bad is not None:
        bad_step, what = run.bad
        last = latest_checkpoint(out)
        keep = f"; the last good checkpoint is {last.name}" if last else ""
        raise TrainingFailed(
            f"training diverged: {what} became non-finite (NaN or inf) at step {bad_step}, so the "
            f"adapter was not saved{keep}. Lower --learning-rate, or check that every reward "
            "returns finite values"
        )
    if step <= start_step:
        raise TrainingFailed(
            f"no training step ran (step {step}); the adapter was not saved. Check --max-steps, "
            "--num-train-epochs and the number of training rows"
        )
    if run.fingerprint is not None and fingerprint(trainer.model) == run.fingerprint:
        why = (
            run.stuck[1]
            if run.stuck
            else "no update reached it: every group earned one reward "
            "(groups/zero_spread_frac 1, run --probe to see why), or the learning rate was 0 (a warm-up longer than "
            "the run)"
        )
        raise TrainingFailed(
            f"nothing was learned: the adapter is unchanged after {step - start_step} step(s), so it "
            f"was not saved as a result: {why}"
        )
    save_final_adapter(trainer, out)
    run.final_saved = True
    if not trainer.is_world_process_zero():
        return EXIT_INTERRUPTED if stop.received is not None else 0
    if run.folder is not None:
        run.folder.commit()
    plot_reward_curves(out, args.beta)
    if stop.received is not None:
        append_history(out, "interrupted", step=step)
        logger.warning(
            "stopped by signal at step %d; adapter and checkpoint saved in %s; continue with --resume", step, out
        )
        return EXIT_INTERRUPTED
    if run.stuck is not None:
        append_history(out, "stopped_when_stuck", step=step, cause=run.stuck[1])
        logger.warning(
            "stopped at step %d because %s; adapter and checkpoint saved in %s",
            step,
            run.stuck[1],
            out,
        )
        return 0
    append_history(out, "finished", step=step, math_verify=dict(symbolic.TIMEOUTS))
    if symbolic.TIMEOUTS["pairs"]:
        logger.info(symbolic.timeout_summary())
    logger.info("adapter saved in %s; compare it with: python compare_base_vs_lora.py --adapter %s", out, out)
    return 0


def save_final_adapter(trainer, out: Path) -> None:
    """The adapter at the top of the folder, written aside and renamed: never half a file there."""
    tmp = out / ".final"
    if trainer.is_world_process_zero():
        shutil.rmtree(tmp, ignore_errors=True)
    trainer.save_model(str(tmp))  # every rank takes part (gathers under FSDP / DeepSpeed); rank 0 writes
    if trainer.is_world_process_zero():
        for path in tmp.iterdir():
            os.replace(path, out / path.name)
        tmp.rmdir()


def main(argv: Sequence[str] | None = None) -> int:
    run = RunState()
    previous_term = signal.signal(signal.SIGTERM, _interrupt)
    previous_int = signal.signal(signal.SIGINT, _interrupt)
    code = 1
    args = None
    try:
        raw = negative_values_attached(list(sys.argv[1:] if argv is None else argv))
        argv = raw
        if "--local-only" in raw or "--demo" in raw:
            set_offline_env()  # before any Hugging Face library is imported (parsing may)
        setup_logging()
        try:
            args = config.parse_with_config(build_parser(), argv)  # --config FILE, then the command line
            if args.local_only or args.demo:
                set_offline_env()  # --local-only given in a --config file
            if args.resume and args.output_dir:
                adopt_run_record(args, flags.explicit_flags(build_parser(), raw))
                if args.local_only or args.demo:
                    set_offline_env()
            args = resolve_args(args)
        except UsageError as err:
            raise config.blame_config(err, build_parser(), argv) from err
        run.out = Path(args.output_dir) if args.output_dir else None
        run.watchdog, run.stop_after = args.watchdog, args.stop_when_stuck
        resume_from, changed = None, {}
        if args.resume:
            run.phase = "reading the checkpoint"
            resume_from, changed = plan_resume(args)
            if resume_from is None:
                code = 0
                return code
        run.phase = "loading the rewards"
        tools.run_tools(args)  # the user's tool modules imported, each tool's schema built
        funcs, weights, names = build_rewards(args)
        check_model(args)
        run.phase = "loading the tokenizer"
        tokenizer = load_tokenizer(args)
        run.phase = "loading the data"
        train_rows, held_out, detection = load_data(args, tokenizer)
        if no_format_reward(args, detection):
            funcs, weights, names = build_rewards(args)
        coverage = check_reward_fits(args, detection) + check_coverage(args, train_rows, names)
        difficulty.check_reward(args, names)
        if args.dry_run:
            try:
                checks.check_prompt_lengths(args, tokenizer, train_rows)
            except UsageError as err:
                coverage.append(f"WARNING: TRAINING WOULD BE REFUSED: {err}")
            code = dry_run(args, tokenizer, train_rows, detection, funcs, weights, coverage)
            return code
        if args.probe is not None:
            run.phase = "probing"
            code = probe_command(args, tokenizer, train_rows, funcs, weights)
            return code
        code = train(args, tokenizer, train_rows, held_out, detection, funcs, weights, names, run, resume_from, changed)
        return code
    except UsageError as err:
        run.release(failed=True)
        close_progress_bars()
        code = report_usage_error(err)
        return code
    except KeyboardInterrupt:
        run.release(failed=run.phase != "finishing")
        code = report_interrupt(run)
        return code
    except Exception as err:  # anything a library raised: one line, the traceback in a file
        run.release(failed=True)
        code = report_crash(err, run, bool(args and getattr(args, "debug", False)))
        return code
    finally:
        run.release(failed=code not in (0, EXIT_INTERRUPTED))
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:  # a Ctrl-C in the last instant, outside main's own handling
        print("interrupted", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED) from None
