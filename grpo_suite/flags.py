"""train_grpo.py's command line: every flag in its help group, the --demo presets, the flags of one
invocation, and the README's flag table.

    python -m grpo_suite.flags --readme README.md      # regenerate the README's flag table
    python -m grpo_suite.flags --readme README.md --check

The flags are defined here once; their checks and the GRPOConfig they build are in config.py
(GRPO fields, --config, --grpo-arg) and checks.py (ranges, rewards, LoRA, resume).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any, Sequence

from grpo_suite.cli import OneLineParser, add_dataset_args
from grpo_suite.errors import UsageError, report_usage_error
from grpo_suite.probe import DEFAULT_PROMPTS
from grpo_suite.reward_funcs import DEFAULT_LENGTH_MAX, DEFAULT_LENGTH_TARGET, DEFAULT_WEIGHTS, REWARD_COMPONENTS

TABLE_START = "<!-- flags:start -->"
TABLE_END = "<!-- flags:end -->"
TRACKER_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
KEY_VALUE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*=(.*)$", re.S)

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
    # A composite reward's weights keep their meaning only with the batch's std: the group's turns
    # format_reward's 0.2 spread in a group that nothing solved into the full advantage of a right
    # answer. Seen on SmolLM2-135M (benchmarks/bench_real_model.py): with "group" it learned to
    # write a bare "Final answer: N" and held-out accuracy fell 35.5% -> 14.5%. The demo's lift was
    # measured with "group".
    "scale_rewards": ("batch", "group"),
}

# The one table of flags that belong to one invocation, not to the run: a --resume never adopts
# them from the run's record, a --config replay of a run_config.json never re-applies them, and
# a resume never compares them with the run's.
PER_INVOCATION = frozenset(
    {"output_dir", "overwrite", "resume", "dry_run", "debug", "probe", "probe_before_train", "force", "config"}
)
# Of the run (a resume adopts them), but where and how it runs rather than what it trains: a
# resume may change them without a note.
FREE_ON_RESUME = frozenset(
    {
        "local_only",
        "demo",
        "report_to",
        "allow_low_coverage",
        "vllm_gpu_memory_utilization",
        "vllm_enable_sleep_mode",
        "vllm_server_host",
        "vllm_server_port",
    }
)

EXAMPLES = """examples:
  python train_grpo.py --demo --output-dir outputs/demo                      # CPU, offline, minutes
  python train_grpo.py --model Qwen/Qwen2.5-0.5B-Instruct --dataset openai/gsm8k --dataset-config main --dry-run
  python train_grpo.py --model Qwen/Qwen2.5-0.5B-Instruct --dataset openai/gsm8k --dataset-config main --probe
  python train_grpo.py --config recipes/qwen2.5-0.5b-gsm8k-qlora.yaml --output-dir outputs/q05
  python train_grpo.py --output-dir outputs/q05 --resume                     # after Ctrl-C or a crash
  python compare_base_vs_lora.py --adapter outputs/q05 --num-prompts 200     # the paired verdict
"""


# --------------------------------------------------------------------------------------------
# Value types
# --------------------------------------------------------------------------------------------


def json_object(text: str) -> dict:
    """A flag value that is a JSON object, e.g. '{"enable_thinking": false}'."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not JSON ({err.msg}); write an object such as '{{\"enable_thinking\": false}}'"
        ) from err
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"{text!r} is a JSON {type(value).__name__}, not an object {{...}}")
    return value


def tracker_list(text: str) -> str:
    """``none``, ``all`` or comma-separated tracker names, normalised; the names are checked later."""
    names = [n.strip().lower() for n in str(text).split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("empty; pass none, all, or tracker names such as wandb,tensorboard")
    bad = [n for n in names if not TRACKER_NAME.match(n)]
    if bad:
        raise argparse.ArgumentTypeError(f"{bad[0]!r} is not a tracker name")
    if len(names) > 1 and ({"none", "all"} & set(names)):
        raise argparse.ArgumentTypeError("none and all stand alone; pass one of them, or a list of trackers")
    return ",".join(names)


DEFAULT_DIFFICULTY_BAND = "0.01,0.99"


def pass_rate_band(text: str) -> str:
    """``LOW,HIGH``: two pass rates, 0 <= LOW <= HIGH <= 1, normalised to ``LOW,HIGH``."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        low, high = (float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not two pass rates LOW,HIGH (e.g. 0.01,0.99: neither never nor always solved)"
        ) from None
    if not (0.0 <= low <= high <= 1.0):
        raise argparse.ArgumentTypeError(f"{text!r}: the rates must satisfy 0 <= LOW <= HIGH <= 1")
    return f"{low:g},{high:g}"


def key_value(text: str) -> str:
    """A --grpo-arg: KEY=VALUE (VALUE may be empty or contain '='); its type is checked later."""
    if not KEY_VALUE.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE (e.g. --grpo-arg entropy_coef=0.001)")
    return text


def preset_help(name: str, text: str) -> str:
    default, demo = PRESETS[name]
    return f"{text} (default: {default}; with --demo: {demo})"


# --------------------------------------------------------------------------------------------
# The parser
# --------------------------------------------------------------------------------------------


DEFAULT_REWARDS = ",".join(REWARD_COMPONENTS)


def build_parser() -> OneLineParser:
    """train_grpo.py's flags, grouped as a user meets them: start here, then each stage of a run."""
    parser = OneLineParser(
        prog="train_grpo.py",
        description="GRPO fine-tuning of a causal LM with a LoRA adapter.",
        usage="%(prog)s (--model ID_OR_DIR --dataset SOURCE | --demo) --output-dir DIR [flags]",
        epilog=EXAMPLES,
    )
    start = parser.group("start here", "what to train, on what, and where; look before you train")
    start.add(
        "--model",
        metavar="ID_OR_DIR",
        help="hub id or local folder of a causal LM, or a .gguf file (converted once into a cached safetensors folder); required unless --demo",
    )
    data = parser.group("data", "where the rows come from and how they become prompts and references")
    add_dataset_args(parser, group=data, source=start)
    start.add("--output-dir", metavar="DIR", help="folder for the adapter, logs and checkpoints")
    start.add("--demo", action="store_true", help="use the embedded tiny model and arithmetic task (CPU, offline)")
    start.add(
        "--config",
        metavar="FILE",
        default=None,
        help="YAML or JSON file of flags by long name (dashes or underscores), or a run's run_config.json to "
        "replay it; the command line overrides the file",
    )
    start.add(
        "--dry-run",
        action="store_true",
        help="load only data and tokenizer, show the prompt, reference and reward, then exit",
    )
    start.add(
        "--probe",
        type=int,
        nargs="?",
        const=DEFAULT_PROMPTS,
        default=None,
        metavar="N",
        help=f"sample a group for N training prompts (N defaults to {DEFAULT_PROMPTS}) with the run's model, "
        "generation settings and rewards, predict whether training can learn, write probe.json, and "
        "exit without training",
    )
    data.add("--max-samples", type=int, default=None, metavar="N", help="train on at most this many rows")
    data.add(
        "--eval-steps", type=int, default=0, metavar="N", help="evaluate on the held-out split every N steps; 0 = never"
    )
    data.add("--max-eval-samples", type=int, default=64, metavar="N", help="held-out rows used for evaluation")
    data.add(
        "--chat-template-kwargs",
        type=json_object,
        default=None,
        metavar="JSON",
        help="keyword arguments of apply_chat_template, e.g. '{\"enable_thinking\": false}' for Qwen3; the dry "
        "run, the probe and the comparison render prompts with them too",
    )

    model = parser.group("model")
    model.add("--revision", default=None, metavar="REV", help="hub revision (branch, tag or commit) of the model")
    model.add("--trust-remote-code", action="store_true", help="run model code shipped with the checkpoint")
    model.add(
        "--quantization",
        choices=["auto", "4bit", "8bit", "none"],
        default="auto",
        help="weight quantization: auto is 4bit (nf4, double quant) on CUDA and none on CPU",
    )
    model.add(
        "--dtype",
        choices=["auto", "float32", "bfloat16", "float16"],
        default="auto",
        help="compute dtype: auto is bfloat16 where supported on CUDA, else float16; float32 on CPU",
    )
    model.add("--attn-implementation", default=None, metavar="NAME", help="e.g. sdpa, eager, flash_attention_2")
    model.add(
        "--gradient-checkpointing",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="recompute activations to save memory (unset: on with CUDA, off on CPU)",
    )

    lora = parser.group("LoRA")
    lora.add("--lora-r", type=int, default=16, metavar="R", help="LoRA rank")
    lora.add("--lora-alpha", type=int, default=32, metavar="ALPHA", help="LoRA scaling alpha")
    lora.add("--lora-dropout", type=float, default=0.05, metavar="P", help="LoRA dropout")
    lora.add(
        "--lora-target-modules",
        default="auto",
        metavar="NAMES",
        help="comma-separated module names; auto finds every attention and MLP projection",
    )
    lora.add(
        "--adapter",
        default=None,
        metavar="DIR",
        help="continue training this existing adapter folder (its "
        "rank, alpha, dropout and layers are kept; it may not lie inside --output-dir)",
    )

    reward = parser.group("rewards")
    reward.add(
        "--rewards",
        default=DEFAULT_REWARDS,
        metavar="NAMES",
        help=f"reward components to use, comma-separated; valid: {', '.join(REWARD_COMPONENTS)}",
    )
    reward.add(
        "--reward-weights",
        default="",
        metavar="NAME=W,...",
        help="weights overriding the defaults "
        f"({', '.join(f'{k}={v}' for k, v in DEFAULT_WEIGHTS.items())}); extra rewards default to 1",
    )
    reward.add(
        "--length-target",
        type=int,
        default=DEFAULT_LENGTH_TARGET,
        metavar="CHARS",
        help="length_reward is 1 up to this many characters",
    )
    reward.add(
        "--length-max",
        type=int,
        default=DEFAULT_LENGTH_MAX,
        metavar="CHARS",
        help="length_reward falls to 0 at this many characters",
    )
    reward.add(
        "--extra-reward",
        action="append",
        default=[],
        metavar="MODULE:FUNCTION",
        help="a user reward function (completions, **kwargs) -> list[float|None]; repeatable",
    )
    reward.add(
        "--reward-model",
        action="append",
        default=[],
        metavar="PATH_OR_ID[@LABEL]",
        help="a classifier scoring prompt+completion; repeatable",
    )
    reward.add(
        "--judge-model",
        metavar="PATH_OR_ID",
        help="a causal LM (or .gguf) grading each completion 0-10 by the rubric",
    )
    reward.add("--judge-rubric", metavar="FILE", help="criteria, or a whole prompt with {completion}")
    reward.add("--judge-max-tokens", type=int, default=None, metavar="N", help="judgement length (default: 32)")

    gen = parser.group("generation", "how each group of completions is sampled")
    gen.add("--num-generations", type=int, default=8, metavar="G", help="completions sampled per prompt (group size)")
    gen.add(
        "--max-completion-length",
        type=int,
        default=None,
        metavar="TOKENS",
        help=preset_help("max_completion_length", "max new tokens per completion"),
    )
    gen.add("--temperature", type=float, default=1.0, metavar="T", help="sampling temperature")
    gen.add("--top-p", type=float, default=1.0, metavar="P", help="nucleus sampling probability")
    gen.add("--top-k", type=int, default=0, metavar="K", help="sample from the k most likely tokens; 0 = all")
    gen.add(
        "--min-p",
        type=float,
        default=None,
        metavar="P",
        help="drop tokens below this fraction of the top token's probability (0.01-0.2)",
    )
    gen.add(
        "--repetition-penalty",
        type=float,
        default=1.0,
        metavar="X",
        help="above 1 discourages repeating tokens of the prompt and completion",
    )
    gen.add("--tools", metavar="MODULE:FUNC,...", help="typed, documented functions the model may call")
    gen.add("--environment", metavar="MODULE:FACTORY", help="a class with reset() whose public methods are tools")
    gen.add("--chat-template", metavar="NAME_OR_FILE", help="a .jinja file or TRL's template name, e.g. qwen2_5")

    opt = parser.group("optimisation")
    opt.add(
        "--learning-rate",
        type=float,
        default=None,
        metavar="LR",
        help=preset_help("learning_rate", "AdamW learning rate; LoRA wants ~10x full fine-tuning's"),
    )
    opt.add(
        "--max-steps",
        type=int,
        default=None,
        metavar="N",
        help=preset_help("max_steps", "optimizer steps; -1 = by epochs"),
    )
    opt.add("--num-train-epochs", type=float, default=None, metavar="N", help=preset_help("num_train_epochs", "epochs"))
    opt.add(
        "--optim",
        default="auto",
        metavar="NAME",
        help="optimizer (any of transformers' OptimizerNames): auto is paged_adamw_8bit for 4-bit on CUDA "
        "(QLoRA) and adamw_torch otherwise",
    )
    opt.add(
        "--lr-scheduler-type",
        default="constant_with_warmup",
        metavar="NAME",
        help="learning-rate schedule (transformers' SchedulerType: linear, cosine, constant, ...)",
    )
    opt.add(
        "--warmup-ratio",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="fraction of the planned steps spent warming the learning rate up from 0",
    )
    opt.add("--weight-decay", type=float, default=0.0, metavar="X", help="AdamW weight decay")
    opt.add("--max-grad-norm", type=float, default=1.0, metavar="X", help="gradient clipping norm; 0 = no clipping")
    opt.add("--seed", type=int, default=0, metavar="N", help="random seed (data order, sampling, held-out split)")

    batch = parser.group("batching", "completions per step: batch x processes x accumulation, G per prompt")
    batch.add(
        "--per-device-train-batch-size",
        type=int,
        default=None,
        metavar="N",
        help=preset_help("per_device_train_batch_size", "completions per device per step"),
    )
    batch.add("--gradient-accumulation-steps", type=int, default=1, metavar="N", help="steps accumulated per update")
    batch.add(
        "--generation-batch-size",
        type=int,
        default=None,
        metavar="N",
        help="completions generated at once (unset: the per-device batch x processes x --steps-per-generation); "
        "not with --steps-per-generation",
    )
    batch.add(
        "--steps-per-generation",
        type=int,
        default=None,
        metavar="N",
        help="optimizer micro-steps per generation batch (unset: --gradient-accumulation-steps)",
    )
    batch.add(
        "--num-iterations", type=int, default=1, metavar="MU", help="optimisation passes per generation batch (mu)"
    )

    loss = parser.group("loss", "how advantages and token losses are computed")
    loss.add(
        "--loss-type",
        default="dapo",
        choices=["grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo"],
        help="token-loss aggregation (see TRL's GRPOConfig)",
    )
    loss.add("--beta", type=float, default=0.0, metavar="X", help="KL coefficient against the base model; 0 = no KL")
    loss.add("--epsilon", type=float, default=0.2, metavar="EPS", help="PPO clipping range")
    loss.add(
        "--epsilon-high",
        type=float,
        default=None,
        metavar="EPS",
        help="upper clipping bound (DAPO's clip-higher, e.g. 0.28); unset: the same as --epsilon",
    )
    loss.add(
        "--scale-rewards",
        default=None,
        choices=["group", "batch", "none"],
        help=preset_help(
            "scale_rewards",
            "divide advantages by the reward std of the batch (weights keep their meaning), the group, or not at all",
        ),
    )
    loss.add(
        "--importance-sampling-level",
        choices=["token", "sequence"],
        default="token",
        help="importance ratio per token, or one per sequence (GSPO)",
    )
    loss.add(
        "--mask-truncated-completions",
        action="store_true",
        help="leave completions cut at --max-completion-length out of the loss (DAPO)",
    )
    loss.add(
        "--top-entropy-quantile",
        type=float,
        default=1.0,
        metavar="FRACTION",
        help="train only on this top fraction of tokens by entropy (0.2 in 'Beyond the 80/20 rule'); 1 = all tokens",
    )
    loss.add(
        "--multi-objective-aggregation",
        default="sum_then_normalize",
        choices=["sum_then_normalize", "normalize_then_sum"],
        help="normalise the weighted sum of rewards, or each reward before summing (GDPO)",
    )

    vllm = parser.group("vLLM", "generation with vLLM (pip install vllm; not with 4-bit or 8-bit weights)")
    vllm.add("--use-vllm", action="store_true", help="generate with vLLM")
    vllm.add("--vllm-mode", default="colocate", choices=["colocate", "server"], help="vLLM placement")
    vllm.add(
        "--vllm-gpu-memory-utilization",
        type=float,
        default=0.3,
        metavar="FRACTION",
        help="with --vllm-mode colocate: fraction of GPU memory vLLM may take",
    )
    vllm.add(
        "--vllm-enable-sleep-mode",
        action="store_true",
        help="with --vllm-mode colocate: offload vLLM's weights and cache during the optimizer step",
    )
    vllm.add("--vllm-server-host", default="0.0.0.0", metavar="HOST", help="with --vllm-mode server: the server's host")
    vllm.add("--vllm-server-port", type=int, default=8000, metavar="PORT", help="with --vllm-mode server: its port")

    out = parser.group("output and resume")
    out.add(
        "--overwrite",
        action="store_true",
        help="replace an earlier run of this suite in --output-dir; it is kept aside until the new run saves its "
        "first checkpoint, and put back if the new run fails before then",
    )
    out.add("--resume", action="store_true", help="continue from the latest checkpoint in --output-dir")
    out.add(
        "--save-steps", type=int, default=None, metavar="N", help=preset_help("save_steps", "checkpoint every N steps")
    )
    out.add(
        "--logging-steps", type=int, default=None, metavar="N", help=preset_help("logging_steps", "log every N steps")
    )
    out.add(
        "--report-to",
        default="none",
        type=tracker_list,
        metavar="NAMES",
        help="experiment trackers, comma-separated: any transformers accepts (wandb, tensorboard, trackio, "
        "mlflow, comet_ml, ...), all, or none",
    )
    out.add(
        "--log-completions",
        action="store_true",
        help="log a table of prompts, completions and rewards every --logging-steps",
    )
    out.add(
        "--num-completions-to-print",
        type=int,
        default=None,
        metavar="N",
        help="with --log-completions: completions printed to the console (unset: all)",
    )
    out.add("--debug", action="store_true", help="print the full traceback of an unexpected error")

    watch = parser.group("probe and watchdog", "whether the run can learn, before and while it trains")
    watch.add(
        "--probe-before-train",
        type=int,
        nargs="?",
        const=DEFAULT_PROMPTS,
        default=None,
        metavar="N",
        help="run the probe first, and refuse to train when its verdict is 'cannot learn'",
    )
    watch.add("--force", action="store_true", help="train even when --probe-before-train says it cannot learn")
    watch.add(
        "--watchdog",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="warn during training when the run stops learning (no reward spread, flat reward, clipped "
        "completions, entropy collapse, NaN reward)",
    )
    watch.add(
        "--stop-when-stuck",
        type=int,
        default=0,
        metavar="LOGS",
        help="save and stop when a watchdog condition has held for this many logged steps; 0 = never",
    )

    learn = parser.group("learning signal", "spend generation on prompts that teach (groups with reward spread)")
    learn.add(
        "--difficulty-filter",
        action="store_true",
        help="train only on rows whose pass rate, measured before training (cached, recorded in difficulty.json), "
        "lies in --difficulty-band",
    )
    learn.add(
        "--difficulty-band",
        type=pass_rate_band,
        default=DEFAULT_DIFFICULTY_BAND,
        metavar="LOW,HIGH",
        help="pass rates kept, bounds included (default: 0.01,0.99: neither never nor always solved)",
    )
    learn.add("--difficulty-rows", type=int, default=0, metavar="N", help="probe a seeded sample of N rows; 0 = all")
    learn.add(
        "--difficulty-samples", type=int, default=None, metavar="K", help="completions per probed row (default: G)"
    )
    learn.add(
        "--dynamic-sampling",
        action="store_true",
        help="replace groups whose completions all earn one reward by groups of fresh prompts (DAPO); logged as "
        "dynamic_sampling/*",
    )
    learn.add(
        "--dynamic-sampling-rounds", type=int, default=2, metavar="N", help="extra generation rounds allowed per batch"
    )

    advanced = parser.group("advanced", "any other GRPOConfig field")
    advanced.add(
        "--grpo-arg",
        action="append",
        default=[],
        type=key_value,
        metavar="KEY=VALUE",
        help="set any other GRPOConfig field, typed from TRL's dataclass (lists and dicts as JSON); "
        "repeatable, the last value of a key wins",
    )
    return parser


def explicit_flags(parser: OneLineParser, argv: Sequence[str]) -> set[str]:
    """The flags given on the command line (as dests), not left at their defaults."""
    # A default that is no string (argparse would convert it) and a list (an append action copies
    # its default and appends): any value that is still this very object was not given.
    unset = type("Unset", (list,), {})()
    parser.set_defaults(**{action.dest: unset for action in parser.flag_actions()})
    given, _ = parser.parse_known_args(list(argv))
    return {name for name, value in vars(given).items() if value is not unset}


# --------------------------------------------------------------------------------------------
# README flag table
# --------------------------------------------------------------------------------------------


def flag_table(parser: OneLineParser) -> str:
    """Markdown tables of every flag by group, from the parser: the README cannot drift from --help."""
    lines = []
    for group in parser.layout:
        lines += [
            "",
            f"**{group.title}**" + (f": {group.description}" if group.description else ""),
            "",
            "| flag | default | what it does |",
            "|---|---|---|",
        ]
        for action in group.actions:
            flag = ", ".join(f"`{s}`" for s in action.option_strings)
            if action.metavar or action.choices:
                flag += f" `{action.metavar or '{' + ','.join(map(str, action.choices)) + '}'}`"
            default = _table_default(action)
            text = re.sub(r" \(default: [^()]*\)$", "", " ".join((action.help or "").replace("%%", "%").split()))
            lines.append(f"| {flag} | {default} | {text.replace('|', chr(92) + '|')} |")
    return "\n".join(lines).strip() + "\n"


def _table_default(action: argparse.Action) -> str:
    """The default column: what the help says, a preset's two values, 'on' for a switch that is on."""
    if action.dest in PRESETS:
        default, demo = PRESETS[action.dest]
        return f"`{default}` (`--demo`: `{demo}`)"
    value = action.default
    if value is None or value is False or value is argparse.SUPPRESS or (isinstance(value, (str, list)) and not value):
        return ""  # identity, not ==: 0 and 0.0 are real defaults
    return "on" if value is True else f"`{value}`"


def replace_table(readme: str, table: str) -> str:
    """The README with the text between the flag markers replaced by ``table``."""
    start, end = readme.find(TABLE_START), readme.find(TABLE_END)
    if start < 0 or end < start:
        raise UsageError(f"the README has no {TABLE_START} ... {TABLE_END} markers to put the flag table between")
    return readme[: start + len(TABLE_START)] + "\n" + table + readme[end:]


def build_table_parser() -> OneLineParser:
    parser = OneLineParser(
        prog="python -m grpo_suite.flags", description="Write train_grpo.py's flag table into the README."
    )
    table = parser.group("flag table")
    table.add("--readme", default="README.md", metavar="FILE", help="the README to update between the flag markers")
    table.add("--check", action="store_true", help="only check that the table is current; exit 1 if not")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_table_parser().parse_args(argv)
    try:
        path = Path(args.readme)
        old = path.read_text(encoding="utf-8")
        new = replace_table(old, flag_table(build_parser()))
    except (UsageError, OSError) as err:
        return report_usage_error(err)
    if args.check:
        print(
            "the flag table is current"
            if new == old
            else f"the flag table in {path} is stale: run python -m grpo_suite.flags --readme {path}"
        )
        return 0 if new == old else 1
    if new != old:
        path.write_text(new, encoding="utf-8")
    print(f"flag table written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
