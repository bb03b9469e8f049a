"""Train a LoRA adapter on a causal LM with GRPO (TRL's GRPOTrainer) and the composite reward.

    python train_grpo.py --demo --output-dir outputs/demo                 # CPU, offline, minutes
    python train_grpo.py --model Qwen/Qwen2.5-0.5B-Instruct --dataset openai/gsm8k \\
        --dataset-config main --output-dir outputs/gsm8k                  # one GPU, 4-bit LoRA

The dataset's prompt and reference are detected (see dataset_utils.py); ``--dry-run`` shows what
the model and the reward will see before any weight is loaded. Ctrl-C saves the adapter and a
checkpoint; ``--resume`` continues from the latest checkpoint.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import shutil
import signal
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

import dataset_utils
import rewards
from dataset_utils import UsageError

logger = logging.getLogger("train_grpo")

# Flags whose default depends on --demo: (default, demo default). The tiny demo model needs a
# far higher learning rate and far shorter completions than a real one.
PRESETS: dict[str, tuple[Any, Any]] = {
    "learning_rate": (1e-5, 1e-3),
    "max_completion_length": (512, 24),
    "per_device_train_batch_size": (8, 32),
    "max_steps": (-1, 60),
    "num_train_epochs": (1.0, 1.0),
    "logging_steps": (10, 5),
    "save_steps": (200, 20),
}
LIBRARIES = ("torch", "trl", "transformers", "peft", "datasets", "accelerate", "bitsandbytes")
EXIT_INTERRUPTED = 130


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _preset_help(name: str, text: str) -> str:
    default, demo = PRESETS[name]
    return f"{text} (default: {default}; with --demo: {demo})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="GRPO fine-tuning of a causal LM with a LoRA adapter.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    model = parser.add_argument_group("model")
    model.add_argument("--model", help="hub id or local folder of a causal LM (required unless --demo)")
    model.add_argument("--revision", default=None, help="hub revision (branch, tag or commit) of the model")
    model.add_argument("--trust-remote-code", action="store_true", help="run model code shipped with the checkpoint")
    model.add_argument("--quantization", choices=["auto", "4bit", "8bit", "none"], default="auto",
                       help="weight quantization: auto is 4bit (nf4, double quant) on CUDA and none on CPU")
    model.add_argument("--dtype", choices=["auto", "float32", "bfloat16", "float16"], default="auto",
                       help="compute dtype: auto is bfloat16 where supported on CUDA, else float16; float32 on CPU")
    model.add_argument("--attn-implementation", default=None, help="e.g. sdpa, eager, flash_attention_2")
    model.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=None,
                       help="recompute activations to save memory (default: on with CUDA, off on CPU)")

    lora = parser.add_argument_group("LoRA")
    lora.add_argument("--lora-r", type=int, default=16, help="LoRA rank")
    lora.add_argument("--lora-alpha", type=int, default=32, help="LoRA scaling alpha")
    lora.add_argument("--lora-dropout", type=float, default=0.05, help="LoRA dropout")
    lora.add_argument("--lora-target-modules", default="auto",
                      help="comma-separated module names; auto finds every attention and MLP projection")
    lora.add_argument("--adapter", default=None, help="continue training this existing adapter folder")

    dataset_utils.add_dataset_args(parser)
    data = parser._action_groups[-1]
    data.add_argument("--max-samples", type=int, default=None, help="train on at most this many rows")
    data.add_argument("--eval-steps", type=int, default=0, help="evaluate on the held-out split every N steps; 0 = never")
    data.add_argument("--max-eval-samples", type=int, default=64, help="held-out rows used for evaluation")

    reward = parser.add_argument_group("rewards")
    reward.add_argument("--rewards", default=",".join(rewards.REWARD_COMPONENTS),
                        help=f"reward components to use, comma-separated; valid: {', '.join(rewards.REWARD_COMPONENTS)}")
    reward.add_argument("--reward-weights", default="",
                        help="name=w,... overriding the defaults "
                        f"({', '.join(f'{k}={v}' for k, v in rewards.DEFAULT_WEIGHTS.items())}); extra rewards default to 1")
    reward.add_argument("--length-target", type=int, default=rewards.DEFAULT_LENGTH_TARGET,
                        help="length_reward is 1 up to this many characters")
    reward.add_argument("--length-max", type=int, default=rewards.DEFAULT_LENGTH_MAX,
                        help="length_reward falls to 0 at this many characters")
    reward.add_argument("--extra-reward", action="append", default=[], metavar="MODULE:FUNCTION",
                        help="a user reward function (completions, **kwargs) -> list[float|None]; repeatable")

    grpo = parser.add_argument_group("GRPO")
    grpo.add_argument("--num-generations", type=int, default=8, help="completions sampled per prompt (group size)")
    grpo.add_argument("--max-completion-length", type=int, default=None,
                      help=_preset_help("max_completion_length", "max new tokens per completion"))
    grpo.add_argument("--temperature", type=float, default=1.0, help="sampling temperature")
    grpo.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling probability")
    grpo.add_argument("--learning-rate", type=float, default=None,
                      help=_preset_help("learning_rate", "AdamW learning rate; LoRA wants ~10x full fine-tuning's"))
    grpo.add_argument("--beta", type=float, default=0.0, help="KL coefficient against the base model; 0 = no KL")
    grpo.add_argument("--epsilon", type=float, default=0.2, help="PPO clipping range")
    grpo.add_argument("--loss-type", default="dapo", choices=["grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo"],
                      help="token-loss aggregation (see TRL's GRPOConfig)")
    grpo.add_argument("--scale-rewards", default="group", choices=["group", "batch", "none"],
                      help="divide advantages by the reward std of the group, the batch, or not at all")
    grpo.add_argument("--num-iterations", type=int, default=1, help="optimisation passes per generation batch (mu)")
    grpo.add_argument("--per-device-train-batch-size", type=int, default=None,
                      help=_preset_help("per_device_train_batch_size", "completions per device per step"))
    grpo.add_argument("--gradient-accumulation-steps", type=int, default=1, help="steps accumulated per update")
    grpo.add_argument("--max-steps", type=int, default=None, help=_preset_help("max_steps", "optimizer steps; -1 = by epochs"))
    grpo.add_argument("--num-train-epochs", type=float, default=None, help=_preset_help("num_train_epochs", "epochs"))
    grpo.add_argument("--seed", type=int, default=0, help="random seed (data order, sampling, held-out split)")
    grpo.add_argument("--use-vllm", action="store_true", help="generate with vLLM (needs vllm installed; not with 4-bit)")
    grpo.add_argument("--vllm-mode", default="colocate", choices=["colocate", "server"], help="vLLM placement")

    out = parser.add_argument_group("output")
    out.add_argument("--output-dir", required=False, help="folder for the adapter, logs and checkpoints")
    out.add_argument("--overwrite", action="store_true", help="delete a non-empty --output-dir and start afresh")
    out.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --output-dir")
    out.add_argument("--save-steps", type=int, default=None, help=_preset_help("save_steps", "checkpoint every N steps"))
    out.add_argument("--logging-steps", type=int, default=None, help=_preset_help("logging_steps", "log every N steps"))
    out.add_argument("--report-to", default="none", choices=["none", "tensorboard", "wandb"], help="experiment tracker")
    out.add_argument("--dry-run", action="store_true",
                     help="load only data and tokenizer, show the prompt, reference and reward, then exit")
    out.add_argument("--demo", action="store_true", help="use the embedded tiny model and arithmetic task (CPU, offline)")
    return parser


def resolve_args(args: argparse.Namespace) -> argparse.Namespace:
    """Fill preset defaults, the demo's model and data, and check flags that need no data."""
    for name, (default, demo_default) in PRESETS.items():
        if getattr(args, name) is None:
            setattr(args, name, demo_default if args.demo else default)
    if args.demo:
        import demo

        assets = demo.ensure_demo_assets()
        args.model = args.model or str(assets.model_dir)
        args.dataset = args.dataset or str(assets.data_dir)
        args.local_only = True
    check_args(args)
    return args


def check_args(args: argparse.Namespace) -> None:
    if not args.model:
        raise UsageError("no model given; pass --model HUB_ID_OR_FOLDER, or --demo for the embedded one")
    if not args.dataset:
        raise UsageError("no dataset given; pass --dataset HUB_ID_OR_PATH, or --demo for the embedded one")
    if not args.output_dir and not args.dry_run:
        raise UsageError("no output folder given; pass --output-dir DIR")
    if args.num_generations < 2:
        raise UsageError(f"--num-generations must be at least 2 (got {args.num_generations}): GRPO compares completions within a group")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    batch = args.per_device_train_batch_size * world * args.gradient_accumulation_steps
    if batch % args.num_generations:
        raise UsageError(
            f"the generation batch (--per-device-train-batch-size {args.per_device_train_batch_size} x {world} process(es) "
            f"x --gradient-accumulation-steps {args.gradient_accumulation_steps} = {batch}) must be divisible by "
            f"--num-generations {args.num_generations}"
        )
    for flag in ("learning_rate", "temperature", "max_completion_length", "lora_r"):
        if getattr(args, flag) <= 0:
            raise UsageError(f"--{flag.replace('_', '-')} must be positive (got {getattr(args, flag)})")
    if args.use_vllm and args.quantization in ("4bit", "8bit"):
        raise UsageError("--use-vllm cannot be combined with 4-bit or 8-bit quantization: TRL cannot sync quantized "
                         "LoRA weights into vLLM; pass --quantization none")
    if args.use_vllm and importlib.util.find_spec("vllm") is None:
        raise UsageError("--use-vllm needs vLLM: pip install vllm")
    if args.overwrite and args.resume:
        raise UsageError("--overwrite and --resume contradict each other; pass one")
    if args.resume and args.adapter:
        raise UsageError("--resume continues a checkpoint, which holds its adapter; drop --adapter")
    check_output_dir(args)


# --------------------------------------------------------------------------------------------
# Output folder
# --------------------------------------------------------------------------------------------


def check_output_dir(args: argparse.Namespace) -> None:
    """Refuse to write over an earlier run unless the user asked to; checked before any work."""
    if args.dry_run:
        return
    out = Path(args.output_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--output-dir {out} is a file; pass a folder")
    if args.resume and latest_checkpoint(out) is None:
        raise UsageError(f"--resume: no checkpoint-* folder in {out}; train without --resume first")
    if not args.resume and not args.overwrite and out.is_dir() and any(out.iterdir()):
        raise UsageError(f"--output-dir {out} is not empty; pass --resume to continue it, --overwrite to replace it, "
                         "or another folder")


def prepare_output_dir(args: argparse.Namespace) -> Path:
    """The output folder, emptied first if --overwrite was given (by the main process)."""
    out = Path(args.output_dir)
    if args.overwrite and out.is_dir() and is_main_process():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def latest_checkpoint(out: Path) -> Path | None:
    checkpoints = [p for p in out.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    return max(checkpoints, key=lambda p: int(p.name.split("-")[-1]), default=None)


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


# --------------------------------------------------------------------------------------------
# Data and rewards
# --------------------------------------------------------------------------------------------


def load_data(args, tokenizer):
    """Training and held-out rows as ``prompt`` / ``reference``, and the detection."""
    loaded = dataset_utils.load_any(args.dataset, args.dataset_config, args.local_only)
    train, held_out = dataset_utils.pick_splits(loaded, args.split, args.seed)
    detection = dataset_utils.detect_dataset(train, args.prompt_field, args.reference_field)
    chat = tokenizer.chat_template is not None
    if args.max_samples:
        train = train.shuffle(seed=args.seed).select(range(min(args.max_samples, len(train))))
    train = dataset_utils.prepare(train, detection, args.system_prompt, chat)
    held_out = dataset_utils.prepare(held_out, detection, args.system_prompt, chat)
    logger.info("dataset: %d training rows, %d held out; %s", len(train), len(held_out), describe(detection))
    return train, held_out, detection


def describe(detection) -> str:
    return (f"family {detection.family}, prompt {detection.prompt_field!r}, reference {detection.reference_field!r}, "
            f"conversational {detection.conversational}")


def build_rewards(args) -> tuple[list, list[float], list[str]]:
    """Reward functions, their weights and names: the chosen components, then extra ones."""
    extras = [load_extra_reward(spec) for spec in args.extra_reward]
    extra_names = [f.__name__ for f in extras]
    names = [n.strip() for n in args.rewards.split(",") if n.strip()]
    try:
        weights = rewards.parse_weights(args.reward_weights, extra=extra_names)
        funcs, values = rewards.build_reward_funcs(names, {k: v for k, v in weights.items() if k not in extra_names},
                                                   args.length_target, args.length_max)
    except ValueError as err:
        raise UsageError(f"{err} (--rewards / --reward-weights)") from err
    funcs += extras
    values += [weights.get(name, 1.0) for name in extra_names]
    if not funcs:
        raise UsageError("no reward components selected; pass --rewards NAME,...")
    return funcs, values, [f.__name__ for f in funcs]


def load_extra_reward(spec: str):
    module_name, _, func_name = spec.partition(":")
    if not module_name or not func_name:
        raise UsageError(f"--extra-reward {spec!r} must look like module:function")
    try:
        func = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError) as err:
        raise UsageError(f"--extra-reward {spec!r}: {err}") from err
    if not callable(func):
        raise UsageError(f"--extra-reward {spec!r} is not a function")
    return func


def check_prompt_lengths(args, tokenizer, train, context: int | None) -> None:
    """Fail before training if a prompt cannot fit with its completion in the model's context."""
    if not context:
        return
    sample = train.select(range(min(1000, len(train))))
    for i, row in enumerate(sample):
        n = len(tokenizer(dataset_utils.render_prompt(tokenizer, row["prompt"]), add_special_tokens=False)["input_ids"])
        if n + args.max_completion_length > context:
            raise UsageError(
                f"the prompt of row {i} has {n} tokens, and with --max-completion-length {args.max_completion_length} "
                f"it exceeds the model's context of {context} tokens; shorten the prompts (--max-samples, another "
                "--prompt-field) or lower --max-completion-length"
            )


def dry_run(args, tokenizer, train, detection, funcs, weights) -> int:
    """Show what the model and the reward will see, and warn if the reference cannot score."""
    row = train[0]
    solution = reference_solution(row["reference"])
    total, parts = rewards.combine(funcs, weights, solution, row["reference"]) if solution else (0.0, {})
    print(f"detection:  {describe(detection)}")
    for reason in detection.reasons:
        print(f"            because {reason}")
    print("prompt as the model sees it:\n" + dataset_utils.render_prompt(tokenizer, row["prompt"]))
    print(f"reference:     {row['reference']!r}")
    print(f"final answer:  {rewards.extract_reference(row['reference']) or None}")
    print(f"reward of the reference itself: total {total:.3f} " + json.dumps(parts))
    if row["reference"] is None:
        print("WARNING: no reference column: reference_reward is skipped and the model learns only format and "
              "length. Pass --reference-field if the data has answers.")
    elif parts.get("reference_reward") != 1.0:
        print("WARNING: THE REFERENCE SOLUTION DOES NOT EARN reference_reward 1.0: the reward will always be 0. "
              "Check --reference-field, or the answer format of the data.")
    return 0


def reference_solution(reference) -> str | None:
    """A completion that states the reference, as a correct model would write it."""
    if isinstance(reference, list):
        reference = reference[0] if reference else None
    if reference is None:
        return None
    if isinstance(reference, bool):
        return "Answer: yes" if reference else "Answer: no"
    answers = rewards.extract_reference(reference)
    return f"{reference}\nAnswer: {answers[0]}" if answers and answers[0] != reference else f"Answer: {reference}"


# --------------------------------------------------------------------------------------------
# Model and trainer
# --------------------------------------------------------------------------------------------


def build_model(args, tokenizer):
    """The base model (quantized if asked) and its LoRA config, or the model with an adapter."""
    import suite_utils

    quantization = suite_utils.resolve_quantization(args.quantization)
    model = suite_utils.load_model(args.model, quantization, args.dtype, args.revision, args.local_only,
                                   args.trust_remote_code, args.attn_implementation)
    if quantization != "none":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=bool(args.gradient_checkpointing))
    if args.adapter:
        return suite_utils.attach_adapter(model, args.adapter, args.model, trainable=True), None, quantization
    from peft import LoraConfig

    targets = (suite_utils.find_lora_targets(model) if args.lora_target_modules == "auto"
               else [t.strip() for t in args.lora_target_modules.split(",") if t.strip()])
    logger.info("LoRA r=%d alpha=%d on %s", args.lora_r, args.lora_alpha, ", ".join(targets))
    config = LoraConfig(r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
                        target_modules=targets, task_type="CAUSAL_LM")
    return model, config, quantization


def grpo_config(args, weights: list[float]):
    import torch
    from trl import GRPOConfig

    import suite_utils

    on_cuda = torch.cuda.is_available()
    dtype = suite_utils.resolve_dtype(args.dtype)
    checkpointing = on_cuda if args.gradient_checkpointing is None else args.gradient_checkpointing
    return GRPOConfig(
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
        report_to=[] if args.report_to == "none" else [args.report_to],
        lr_scheduler_type="constant_with_warmup",
        warmup_steps=0,
        disable_tqdm=False,
    )


class _StopOnSignal:
    """SIGINT/SIGTERM ask the trainer to save and stop at the end of the current step."""

    def __init__(self):
        self.received: int | None = None

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, signum, frame) -> None:
        if self.received is not None:  # a second Ctrl-C means stop now
            raise KeyboardInterrupt
        self.received = signum
        logger.warning("received %s: saving the adapter and a checkpoint after this step (again to abort)",
                       signal.Signals(signum).name)


def make_callbacks(out: Path, stop: _StopOnSignal):
    from transformers import TrainerCallback

    class MetricsAndSignals(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero and logs:
                with open(out / "metrics.jsonl", "a", encoding="utf-8") as f:
                    f.write(json.dumps({"step": state.global_step, **logs}) + "\n")

        def on_step_end(self, args, state, control, **kwargs):
            if stop.received is not None:
                control.should_save = True
                control.should_training_stop = True

    return [MetricsAndSignals()]


def trainer_from_args(args, callbacks=()):
    """Everything train() builds before training, for tests and benchmarks that look inside."""
    import suite_utils

    tokenizer = suite_utils.load_tokenizer(args.model, args.revision, args.local_only, args.trust_remote_code)
    train_rows, held_out, _ = load_data(args, tokenizer)
    funcs, weights, _ = build_rewards(args)
    model, lora_config, _ = build_model(args, tokenizer)
    return build_trainer(args, model, lora_config, tokenizer, funcs, weights, train_rows, held_out, list(callbacks))


def build_trainer(args, model, lora_config, tokenizer, funcs, weights, train, held_out, callbacks):
    from trl import GRPOTrainer

    eval_dataset = held_out.select(range(min(args.max_eval_samples, len(held_out)))) if args.eval_steps else None
    return GRPOTrainer(model=model, reward_funcs=funcs, args=grpo_config(args, weights), train_dataset=train,
                       eval_dataset=eval_dataset, processing_class=tokenizer, peft_config=lora_config,
                       callbacks=callbacks)


# --------------------------------------------------------------------------------------------
# Records of the run
# --------------------------------------------------------------------------------------------


def write_run_config(out: Path, args, detection, reward_names, weights, quantization) -> None:
    versions = {}
    for lib in LIBRARIES:
        try:
            versions[lib] = importlib.import_module(lib).__version__
        except Exception:  # a library that fails to import has no version to record
            versions[lib] = None
    record = {
        "args": vars(args),
        "quantization": quantization,
        "detection": asdict(detection),
        "rewards": dict(zip(reward_names, weights)),
        "versions": versions,
        "git_commit": git_commit(),
    }
    (out / "run_config.json").write_text(json.dumps(record, indent=2, default=str))


def git_commit() -> str | None:
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                                text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def plot_reward_curves(out: Path, beta: float) -> Path | None:
    """reward_curves.png from metrics.jsonl: total and per-component reward, length, KL."""
    path = out / "metrics.jsonl"
    if not path.exists():
        return None
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if "reward" in r]
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    components = sorted({k for r in rows for k in r if k.startswith("rewards/") and k.endswith("/mean")})
    panels = [("reward (weighted total)", ["reward"]), ("reward components", components),
              ("completion length (tokens)", ["completions/mean_length"])]
    if beta > 0:
        panels.append(("KL to the base model", ["kl"]))
    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 2.6 * len(panels)), sharex=True)
    for ax, (title, keys) in zip(axes, panels):
        for key in keys:
            points = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), (int, float))]
            if points:
                ax.plot(*zip(*points), marker="o", markersize=3, label=key.removeprefix("rewards/").removesuffix("/mean"))
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if len(keys) > 1:
            ax.legend(fontsize=8)
    axes[-1].set_xlabel("step")
    fig.tight_layout()
    fig.savefig(out / "reward_curves.png", dpi=110)
    plt.close(fig)
    return out / "reward_curves.png"


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def train(args, tokenizer, train_rows, held_out, detection, funcs, weights, names) -> int:
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(args.model, revision=args.revision, local_files_only=args.local_only,
                                        trust_remote_code=args.trust_remote_code)
    check_prompt_lengths(args, tokenizer, train_rows, getattr(config, "max_position_embeddings", None))
    out = prepare_output_dir(args)
    model, lora_config, quantization = build_model(args, tokenizer)
    if is_main_process():
        write_run_config(out, args, detection, names, weights, quantization)
    stop = _StopOnSignal()
    trainer = build_trainer(args, model, lora_config, tokenizer, funcs, weights, train_rows, held_out,
                            make_callbacks(out, stop))
    stop.install()
    resume = str(latest_checkpoint(out)) if args.resume else None
    trainer.train(resume_from_checkpoint=resume)
    logger.info("rank %s of %s finished at step %d", os.environ.get("RANK", "0"), os.environ.get("WORLD_SIZE", "1"),
                trainer.state.global_step)
    trainer.save_model(str(out))  # writes on the main process only
    if not trainer.is_world_process_zero():
        return EXIT_INTERRUPTED if stop.received is not None else 0
    plot_reward_curves(out, args.beta)
    if stop.received is not None:
        logger.warning("stopped by signal at step %d; adapter and checkpoint saved in %s; continue with --resume",
                       trainer.state.global_step, out)
        return EXIT_INTERRUPTED
    logger.info("adapter saved in %s; compare it with: python compare_base_vs_lora.py --adapter %s", out, out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.local_only or args.demo:
        dataset_utils.set_offline_env()  # before any Hugging Face library is imported
    import suite_utils

    suite_utils.setup_logging()
    try:
        args = resolve_args(args)
        tokenizer = suite_utils.load_tokenizer(args.model, args.revision, args.local_only, args.trust_remote_code)
        train_rows, held_out, detection = load_data(args, tokenizer)
        funcs, weights, names = build_rewards(args)
        if args.dry_run:
            return dry_run(args, tokenizer, train_rows, detection, funcs, weights)
        return train(args, tokenizer, train_rows, held_out, detection, funcs, weights, names)
    except UsageError as err:
        return suite_utils.report_usage_error(err)


if __name__ == "__main__":
    raise SystemExit(main())
