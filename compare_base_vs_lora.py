"""Run the base model and base+adapter on the same prompts; a paired verdict with its evidence.

    python compare_base_vs_lora.py --adapter outputs/demo
    python compare_base_vs_lora.py --adapter outputs/gsm8k --num-prompts 200 --report-dir outputs/gsm8k/report
    python compare_base_vs_lora.py --adapter outputs/gsm8k --checkpoints          # every checkpoint-* and the final
    python compare_base_vs_lora.py --adapter runs/a --adapter runs/b              # several adapters, one base

The base model is loaded once and every adapter is attached to it, so one copy of the weights is
in memory; the base side is generated with the adapters disabled. Prompts default to the held-out
split of the training run, rendered with the run's chat template and system prompt
(``run_config.json``). The report says whether the adapter is better on the same prompts (paired
bootstrap interval, McNemar's exact test), lists what it broke before what it fixed, and checks
how much of the base model's language it forgot (log-likelihood of a text sample).
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import dataset_utils
import rewards
from grpo_suite import compare_inputs, compare_summary, merge, model_cache, models, run_folder
from grpo_suite.cli import OneLineParser, add_dataset_args, set_offline_env, setup_logging
from grpo_suite.compare_summary import BASE, Scorer
from grpo_suite.errors import EXIT_INTERRUPTED, UsageError, report_usage_error
from grpo_suite.files import looks_like_path
from grpo_suite.prompts import (
    answer_instruction,
    prompt_ids,
    recorded_instruction,
    recorded_template_kwargs,
    render_prompt,
)

logger = logging.getLogger("compare_base_vs_lora")
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
FORGETTING_WINDOW = 512  # tokens of each text scored; longer texts are cut


EXAMPLES = """examples:
  python compare_base_vs_lora.py --adapter outputs/demo --num-prompts 200 --report-dir outputs/demo/report
  python compare_base_vs_lora.py --adapter outputs/q05 --checkpoints          # which checkpoint to ship
  python compare_base_vs_lora.py --adapter runs/a --adapter runs/b --num-samples-per-prompt 8 --temperature 0.7
"""


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog="compare_base_vs_lora.py",
        epilog=EXAMPLES,
        description="Compare a base model and its LoRA adapter(s) on the same prompts.",
    )
    model = parser.group("model")
    model.add(
        "--adapter",
        action="append",
        required=True,
        metavar="DIR",
        help="adapter folder written by train_grpo.py, or a merged model folder written by merge_adapter.py; "
        "repeat to compare several on the same prompts",
    )
    model.add(
        "--checkpoints",
        action="store_true",
        help="compare every checkpoint-* of the one --adapter run folder, and its final adapter",
    )
    model.add(
        "--base-model", default=None, metavar="ID_OR_DIR", help="base model (unset: the one recorded in the adapter)"
    )
    model.add(
        "--quantization",
        choices=["auto", "4bit", "8bit", "none"],
        default="auto",
        help="as in train_grpo.py: auto is 4bit on CUDA, none on CPU",
    )
    model.add("--dtype", choices=["auto", "float32", "bfloat16", "float16"], default="auto", help="compute dtype")
    model.add("--trust-remote-code", action="store_true", help="run model code shipped with the checkpoint")

    prompts = add_dataset_args(parser)
    prompts.add(
        "--prompts",
        default=None,
        metavar="FILE",
        help='.jsonl of {"prompt", "reference"} lines, .json list of them, or a text file (a prompt per line)',
    )
    prompts.add("--num-prompts", type=int, default=50, metavar="N", help="prompts to compare")

    gen = parser.group("generation")
    gen.add(
        "--max-new-tokens", type=int, default=None, metavar="TOKENS", help="unset: the run's --max-completion-length"
    )
    gen.add(
        "--num-samples-per-prompt",
        type=int,
        default=1,
        metavar="K",
        help="K samples per prompt for pass@k and maj@k (needs --temperature > 0); 1 = greedy",
    )
    gen.add("--temperature", type=float, default=0.0, metavar="T", help="0 = greedy decoding")
    gen.add("--batch-size", type=int, default=16, metavar="N", help="prompts generated at once")
    gen.add("--seed", type=int, default=0, metavar="N", help="sampling and bootstrap seed")

    forget = parser.group("forgetting check")
    forget.add(
        "--forgetting-text",
        default=None,
        metavar="FILE",
        help="text file (paragraphs) or JSONL with a text field (unset: the prompts' references)",
    )
    forget.add("--forgetting-max-texts", type=int, default=200, metavar="N", help="texts scored at most")
    forget.add(
        "--forgetting-threshold",
        type=float,
        default=0.1,
        metavar="NATS",
        help="flag an adapter whose mean log-likelihood per token drops by more than this (nats)",
    )
    forget.add("--no-forgetting", action="store_true", help="skip the forgetting check")

    out = parser.group("output")
    out.add(
        "--report-dir",
        default=None,
        metavar="DIR",
        help="write comparison.jsonl, .md, .html, summary.json and forgetting.jsonl here",
    )
    out.add("--show", type=int, default=5, metavar="N", help="prompts printed side by side in the terminal")
    return parser


def check_args(args) -> None:
    """Numbers and combinations, before anything is read."""
    for flag in ("temperature", "forgetting_threshold"):
        value = getattr(args, flag)
        if not math.isfinite(value) or value < 0:
            raise UsageError(f"--{flag.replace('_', '-')} must be a finite number >= 0 (got {value})")
    if args.num_samples_per_prompt > 1 and args.temperature <= 0:
        raise UsageError("--num-samples-per-prompt > 1 needs sampling; pass --temperature 0.7 (or another value > 0)")
    for flag in ("num_prompts", "num_samples_per_prompt", "batch_size", "forgetting_max_texts"):
        if getattr(args, flag) < 1:
            raise UsageError(f"--{flag.replace('_', '-')} must be at least 1 (got {getattr(args, flag)})")
    if args.max_new_tokens is not None and args.max_new_tokens < 1:
        raise UsageError(f"--max-new-tokens must be at least 1 (got {args.max_new_tokens})")
    for flag in ("seed", "show"):
        if getattr(args, flag) < 0:
            raise UsageError(f"--{flag} must be >= 0 (got {getattr(args, flag)})")
    if args.prompts and args.dataset:
        raise UsageError("--prompts and --dataset both name the prompts; pass one")
    if args.checkpoints and len(args.adapter) != 1:
        raise UsageError(
            "--checkpoints takes one --adapter: the run's output folder that holds the checkpoint-* folders"
        )
    if args.forgetting_text and args.no_forgetting:
        raise UsageError("--forgetting-text and --no-forgetting contradict each other; pass one")


# --------------------------------------------------------------------------------------------
# Adapters and the run's contract
# --------------------------------------------------------------------------------------------


@dataclass
class Adapter:
    label: str
    path: Path
    config: dict
    run: dict  # run_config.json of the training run, {} if none was found
    name: str = "default"  # its name inside the PeftModel
    merged: bool = False  # a merge_adapter.py export: a full model of its own, not an adapter


def resolve_adapters(args, notes: list[str]) -> list[Adapter]:
    if args.checkpoints:
        paths, labels = checkpoint_adapters(Path(args.adapter[0]), notes)
    else:
        paths = [Path(p) for p in args.adapter]
        labels = adapter_labels(paths)
    adapters = [_adapter(label, path) for label, path in zip(labels, paths)]
    if len({a.path.resolve() for a in adapters}) < len(adapters):
        raise UsageError("the same --adapter folder is given twice; pass each adapter once")
    if len(adapters) == 1 and adapters[0].merged:
        adapters[0].label = "merged"
    return adapters


def _adapter(label: str, path: Path) -> Adapter:
    """An adapter folder, or a merged model folder (merge_adapter.py's export, which records its base and run)."""
    record = merge.read_record(path) if path.is_dir() else None
    if record is not None:
        return Adapter(
            label, path, {"base_model_name_or_path": record.get("base_model")}, record.get("run") or {}, merged=True
        )
    return Adapter(label, path, models.read_adapter_config(path), run_folder.run_record_of(path) or {})


def checkpoint_adapters(run_dir: Path, notes: list[str]) -> tuple[list[Path], list[str]]:
    """Every complete checkpoint-N of a run, oldest first, then the final adapter if there is one."""
    if not run_dir.is_dir():
        what = "is a file" if run_dir.exists() else "does not exist"
        raise UsageError(
            f"--adapter {run_dir} {what}; with --checkpoints pass the --output-dir folder of a training run"
        )
    paths = []
    for path in run_folder.checkpoints(run_dir):
        problem = run_folder.checkpoint_problem(path)  # the rule --resume uses: complete, with readable weights
        if problem:
            notes.append(f"skipped {path.name}: {problem}")
            logger.warning("skipping %s: %s", path, problem)
        else:
            paths.append(path)
    labels = [p.name for p in paths]
    if (run_dir / "adapter_config.json").is_file():
        if paths and _same_weights(paths[-1], run_dir):
            notes.append(f"the final adapter is {paths[-1].name}: compared once, as 'final ({paths[-1].name})'")
            labels[-1] = f"final ({paths[-1].name})"
        else:
            paths.append(run_dir)
            labels.append("final")
    if not paths:
        raise UsageError(f"--checkpoints: {run_dir} holds no checkpoint-* adapter and no final adapter")
    return paths, labels


def _same_weights(a: Path, b: Path) -> bool:
    """Whether two adapter folders hold byte-identical weights (the last checkpoint and the final)."""
    for name in ADAPTER_WEIGHTS:
        x, y = a / name, b / name
        if x.is_file() and y.is_file():
            return x.stat().st_size == y.stat().st_size and x.read_bytes() == y.read_bytes()
    return False


def adapter_labels(paths: list[Path]) -> list[str]:
    """ "lora" for a single adapter; else the folder names, with their parents where names repeat."""
    if len(paths) == 1:
        return ["lora"]
    labels = [p.resolve().name for p in paths]
    if len(set(labels)) < len(labels):
        labels = [f"{p.resolve().parent.name}/{p.resolve().name}" for p in paths]
    labels = [f"{label} (adapter)" if label == BASE else label for label in labels]
    if len(set(labels)) < len(labels):
        labels = [f"{label} #{i + 1}" for i, label in enumerate(labels)]
    return labels


@dataclass
class Contract:
    """How the run rendered and scored prompts, and where this comparison departs from it."""

    system_prompt: str | None
    instruction: str | None  # the run's --answer-instruction, resolved
    template_kwargs: dict
    max_new_tokens: int
    scorer: Scorer
    notes: list[str] = field(default_factory=list)


def run_contract(args, adapters: list[Adapter], notes: list[str]) -> Contract:
    """The first adapter's run decides; flags given here that differ are noted at the top of the report."""
    run = adapters[0].run
    recorded = run.get("args", {})
    if not run:
        notes.append(
            f"no run_config.json for {adapters[0].path}: the run's system prompt, template and reward "
            "weights are unknown; defaults are used"
        )
    system_prompt = recorded.get("system_prompt")
    if args.system_prompt is not None and args.system_prompt != system_prompt:
        notes.append(f"--system-prompt {args.system_prompt!r} here; the run used {system_prompt!r}")
        system_prompt = args.system_prompt
    instruction = recorded_instruction(run)
    if args.answer_instruction is not None and args.answer_instruction != instruction:
        notes.append(f"--answer-instruction {args.answer_instruction!r} here; the run used {instruction!r}")
        instruction = args.answer_instruction
    instruction = answer_instruction(instruction, system_prompt)
    run_tokens = recorded.get("max_completion_length")
    if args.max_new_tokens and run_tokens and args.max_new_tokens != run_tokens:
        notes.append(f"--max-new-tokens {args.max_new_tokens} here; the run generated at most {run_tokens} tokens")
    for flag in ("dataset", "dataset_config", "prompt_field", "reference_field"):
        given, used = getattr(args, flag), recorded.get(flag)
        if args.dataset and given != used and recorded:
            notes.append(f"--{flag.replace('_', '-')} {given!r} here; the run trained with {used!r}")
    if args.prompts:
        notes.append(f"prompts from --prompts {args.prompts}, not the run's held-out split")
    used_tools = ", ".join(filter(None, (recorded.get("tools"), recorded.get("environment"))))
    if used_tools:
        notes.append(
            f"the run trained with tools ({used_tools}); here prompts are rendered without them and no tool is "
            "called, so both models answer without tools"
        )
    for other in adapters[1:]:
        theirs = other.run.get("args", {}).get("system_prompt")
        if other.run and theirs != system_prompt:
            notes.append(
                f"{other.label} was trained with system prompt {theirs!r}; compared here with {system_prompt!r}"
            )
    return Contract(
        system_prompt,
        instruction,
        recorded_template_kwargs(recorded),
        args.max_new_tokens or run_tokens or 256,
        _scorer(run, notes),
        notes,
    )


def _scorer(run: dict, notes: list[str]) -> Scorer:
    """The run's reward components and weights; its user rewards cannot be scored here."""
    recorded = run.get("args", {})
    weights = {k: float(v) for k, v in run.get("rewards", {}).items() if k in rewards.REWARD_COMPONENTS}
    extras = [k for k in run.get("rewards", {}) if k not in rewards.REWARD_COMPONENTS]
    if extras:
        notes.append(
            f"the run's extra rewards ({', '.join(extras)}) are not scored here: the total reward covers "
            "the built-in components only"
        )
    return Scorer(
        weights or dict(rewards.DEFAULT_WEIGHTS),
        recorded.get("length_target", rewards.DEFAULT_LENGTH_TARGET),
        recorded.get("length_max", rewards.DEFAULT_LENGTH_MAX),
    )


def base_model_name(args, adapters: list[Adapter], notes: list[str]) -> str:
    """--base-model, or the base every adapter records; a moved local base suggests --base-model."""
    if args.base_model:
        args.base_model = model_cache.local_model(args.base_model, "--base-model")  # a .gguf: its converted folder
        if looks_like_path(args.base_model) and not Path(args.base_model).expanduser().exists():
            raise UsageError(f"--base-model {args.base_model} does not exist; pass the folder the base model is in")
        recorded = adapters[0].config.get("base_model_name_or_path")
        if recorded != args.base_model:
            notes.append(f"--base-model {args.base_model} here; the adapter records {recorded}")
        return args.base_model
    recorded = {a.label: a.config.get("base_model_name_or_path") for a in adapters}
    if not all(recorded.values()):
        missing = next(label for label, base in recorded.items() if not base)
        raise UsageError(f"adapter {missing} does not record its base model; pass --base-model")
    if len(set(recorded.values())) > 1:
        listing = "; ".join(f"{label}: {base}" for label, base in recorded.items())
        raise UsageError(
            f"the adapters were trained on different base models ({listing}); compare them in separate "
            "runs, or pass --base-model to load them all on one"
        )
    base = next(iter(recorded.values()))
    if looks_like_path(base) and not Path(base).expanduser().exists():
        raise UsageError(
            f"the adapter's base model {base} (recorded in {adapters[0].path / 'adapter_config.json'}) "
            "no longer exists; pass --base-model PATH where it is now"
        )
    return base


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


def load_models(args, adapters: list[Adapter], base: str, notes: list[str]):
    """One base model with every adapter attached, the run's tokenizer, and each merged model (by label)."""
    tokenizer_source = next((str(a.path) for a in adapters if (a.path / "tokenizer_config.json").exists()), None)
    if tokenizer_source is None:
        notes.append("the adapter folder holds no tokenizer: the base model's tokenizer and chat template are used")
        tokenizer_source = base
    try:
        tokenizer = models.load_tokenizer(
            tokenizer_source, local_only=args.local_only, trust_remote_code=args.trust_remote_code
        )
        quantization = models.resolve_quantization(args.quantization)
        model = models.load_model(
            base, quantization, args.dtype, local_only=args.local_only, trust_remote_code=args.trust_remote_code
        )
    except UsageError as err:
        if args.base_model:
            raise
        raise UsageError(
            f"{err}. The base model was read from the adapter's adapter_config.json; if it moved, pass --base-model"
        ) from err
    recorded = adapters[0].run.get("quantization")
    if recorded and recorded != quantization:
        notes.append(f"the base model is loaded with quantization {quantization}; the run trained with {recorded}")
    attached = [a for a in adapters if not a.merged]
    for i, adapter in enumerate(attached):
        adapter.name = f"a{i}" if i else "default"
    if attached:
        model = models.attach_adapter(model, attached[0].path, base, base_flag="--base-model")
    for adapter in attached[1:]:
        load_extra_adapter(model, adapter, base)
    model.eval()
    merged = {
        a.label: models.load_model(
            str(a.path), quantization, args.dtype, local_only=args.local_only, trust_remote_code=args.trust_remote_code
        ).eval()
        for a in adapters
        if a.merged
    }
    return model, tokenizer, merged


def load_extra_adapter(model, adapter: Adapter, base: str) -> None:
    try:
        model.load_adapter(str(adapter.path), adapter_name=adapter.name)
    except (RuntimeError, ValueError, KeyError) as err:
        raise UsageError(
            f"adapter {str(adapter.path)!r} does not fit base model {base!r} ({type(err).__name__}: "
            "shape or layer mismatch); compare adapters of one base model"
        ) from err


def side_context(model, side: str, adapters: list[Adapter]):
    """The model as one side: adapters disabled for the base, else that adapter active (a merged
    side is a model of its own, used as it is)."""
    if side == BASE:
        return model.disable_adapter() if hasattr(model, "disable_adapter") else contextlib.nullcontext()
    adapter = next(a for a in adapters if a.label == side)
    if not adapter.merged:
        model.set_adapter(adapter.name)
    return contextlib.nullcontext()


def generate(model, tokenizer, encoded: list[list[int]], args, max_new_tokens: int) -> list[list[str]]:
    """K completions per prompt (token ids as prompts.prompt_ids encodes them for training), batched,
    with the same decoding and seed for every side."""
    import torch
    from tqdm.auto import tqdm

    tokenizer.padding_side = "left"
    sampling = args.temperature > 0
    k = args.num_samples_per_prompt
    outputs: list[list[str]] = []
    torch.manual_seed(args.seed)
    with torch.no_grad():
        for start in tqdm(range(0, len(encoded), args.batch_size), leave=False):
            chunk = {"input_ids": encoded[start : start + args.batch_size]}
            batch = tokenizer.pad(chunk, padding=True, return_tensors="pt").to(model.device)
            generated = model.generate(
                **batch,
                max_new_tokens=max_new_tokens,
                do_sample=sampling,
                temperature=args.temperature if sampling else None,
                top_p=None,
                top_k=None,
                num_return_sequences=k,
                pad_token_id=tokenizer.pad_token_id,
            )
            decoded = tokenizer.batch_decode(generated[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
            outputs += [decoded[i : i + k] for i in range(0, len(decoded), k)]
    return outputs


def token_ids(
    tokenizer, texts: list[tuple[str, str]], window: int
) -> tuple[list[tuple[list[int], int]], list[str], int]:
    """Each (context, text) as token ids and the position its scored tokens start at.

    A raw text is scored after BOS (where the tokenizer has one); a reference is scored after
    its prompt as the model sees it. Sequences are cut to ``window`` tokens; those with no
    scored token left are counted as skipped. Returns the sequences, their texts, and the count skipped.
    """
    bos = tokenizer.bos_token_id
    kept, kept_texts, skipped = [], [], 0
    for context, text in texts:
        head = (
            tokenizer(context, add_special_tokens=False)["input_ids"] if context else ([bos] if bos is not None else [])
        )
        ids = (head + tokenizer(text, add_special_tokens=False)["input_ids"])[:window]
        start = max(1, len(head))
        if len(ids) <= start:
            skipped += 1
        else:
            kept.append((ids, start))
            kept_texts.append(text)
    return kept, kept_texts, skipped


def mean_log_likelihoods(model, tokenizer, sequences: list[tuple[list[int], int]], batch_size: int) -> list[float]:
    """Mean log-probability per scored token of each sequence, teacher-forced."""
    import torch

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    result = []
    with torch.no_grad():
        for begin in range(0, len(sequences), batch_size):
            chunk = sequences[begin : begin + batch_size]
            width = max(len(ids) for ids, _ in chunk)
            ids = torch.tensor([s + [pad] * (width - len(s)) for s, _ in chunk], device=model.device)
            mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s, _ in chunk], device=model.device)
            scored = torch.tensor(
                [[start <= i < len(s) for i in range(1, width)] for s, start in chunk],
                device=model.device,
                dtype=torch.float32,
            )
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
            logp = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
            result += ((logp * scored).sum(1) / scored.sum(1)).tolist()
    return result


# --------------------------------------------------------------------------------------------
# Prompts and texts
# --------------------------------------------------------------------------------------------


_TEXT_PROMPT = dataset_utils.Detection("file", ("prompt",), None)


def load_prompts(
    args, items: list[dict] | None, adapters: list[Adapter], contract: Contract, chat: bool, notes: list[str]
) -> list[dict]:
    """Rows of ``prompt`` and ``reference``: from --prompts, --dataset, or the run's held-out split."""
    if items is not None:
        rows = [
            {
                "prompt": dataset_utils.build_prompt(
                    {"prompt": i["prompt"]}, _TEXT_PROMPT, contract.system_prompt, chat, None, contract.instruction
                ),
                "reference": i["reference"],
            }
            for i in items
        ]
    else:
        source = run_dataset_args(args, adapters[0].run, contract.system_prompt)
        loaded = dataset_utils.load_any(source["dataset"], source["dataset_config"], args.local_only)
        train, held_out = dataset_utils.pick_splits(loaded, source["split"], source["seed"])
        detection = dataset_utils.detect_dataset(train, source["prompt_field"], source["reference_field"])
        rows = dataset_utils.prepare(
            held_out, detection, contract.system_prompt, chat, instruction=contract.instruction
        ).to_list()
    if len(rows) < args.num_prompts and args.num_prompts != build_parser().get_default("num_prompts"):
        notes.append(f"only {len(rows)} prompts available; --num-prompts {args.num_prompts} asked for more")
        logger.warning("only %d prompts available; --num-prompts %d asked for more", len(rows), args.num_prompts)
    return rows[: args.num_prompts]


def run_dataset_args(args, run: dict, system_prompt: str | None) -> dict:
    """The dataset flags: --dataset and its flags if given, else those the training run recorded."""
    keys = ("dataset", "dataset_config", "split", "prompt_field", "reference_field")
    recorded = run.get("args", {})
    source = {k: getattr(args, k) for k in keys} if args.dataset else {k: recorded.get(k) for k in keys}
    source["split"] = source["split"] or "train"
    source["seed"] = recorded.get("seed", 0)  # the seed that carved the run's held-out split
    source["system_prompt"] = system_prompt
    if not source["dataset"]:
        raise UsageError(
            "no prompts: the adapter has no run_config.json naming its dataset; pass --dataset or --prompts"
        )
    return source


def forgetting_texts(args, texts: list[str] | None, prompts: list[dict], rendered: list[str]):
    """(context, text) pairs of the forgetting check, and where they came from.

    A --forgetting-text is scored as raw text; by default each compared prompt's reference is
    scored as the answer to its prompt, which is how the model meets such text.
    """
    if texts is not None:
        pairs, source = [("", t) for t in texts], args.forgetting_text
    else:
        pairs = [(r, _reference_text(p["reference"])) for p, r in zip(prompts, rendered)]
        pairs, source = [(c, t) for c, t in pairs if t], "the references of the compared prompts, each after its prompt"
    return pairs[: args.forgetting_max_texts], source


def _reference_text(reference: Any) -> str | None:
    if isinstance(reference, list):
        reference = reference[0] if reference else None
    return reference if isinstance(reference, str) and reference.strip() else None


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def compare(args, created: list[Path]) -> int:
    from grpo_suite import compare_report

    notes: list[str] = []
    adapters = resolve_adapters(args, notes)
    items = compare_inputs.read_prompt_items(args.prompts) if args.prompts else None
    # Read before the model loads, so that a bad file fails at once.
    texts = compare_inputs.read_forgetting_texts(args.forgetting_text) if args.forgetting_text else None
    contract = run_contract(args, adapters, notes)
    args.local_only = args.local_only or bool(adapters[0].run.get("args", {}).get("demo", False))
    base = base_model_name(args, adapters, notes)
    model, tokenizer, merged = load_models(args, adapters, base, notes)
    prompts = load_prompts(args, items, adapters, contract, tokenizer.chat_template is not None, notes)
    # The one renderer of the suite, with the run's chat template kwargs and system-prompt fold.
    rendered = [render_prompt(tokenizer, p["prompt"], contract.template_kwargs) for p in prompts]
    encoded = [prompt_ids(tokenizer, p["prompt"], contract.template_kwargs) for p in prompts]
    sides = [BASE, *(a.label for a in adapters)]
    outputs = {}
    for side in sides:
        logger.info("generating %s on %d prompts", side, len(rendered))
        with side_context(model, side, adapters):
            outputs[side] = generate(merged.get(side, model), tokenizer, encoded, args, contract.max_new_tokens)
    forgetting = (
        None
        if args.no_forgetting
        else forgetting_check(args, texts, model, tokenizer, prompts, rendered, adapters, sides, notes, merged)
    )
    rows = compare_summary.build_rows(prompts, rendered, outputs, contract.scorer)
    summary = compare_summary.summarize(rows, [a.label for a in adapters], args.num_samples_per_prompt, args.seed)
    summary.forgetting = forgetting
    summary.notes = notes
    header = compare_report.Header(
        base,
        {a.label: str(a.path) for a in adapters},
        args.temperature,
        args.num_samples_per_prompt,
        contract.max_new_tokens,
        contract.system_prompt,
    )
    compare_report.print_report(rows, summary, header, args.show)
    if args.report_dir:
        compare_report.write_reports(Path(args.report_dir), rows, summary, header)
        created.clear()
    return 0


def forgetting_check(args, texts, model, tokenizer, prompts, rendered, adapters, sides, notes, merged):
    texts, source = forgetting_texts(args, texts, prompts, rendered)
    window = min(FORGETTING_WINDOW, getattr(model.config, "max_position_embeddings", None) or FORGETTING_WINDOW)
    sequences, kept, skipped = token_ids(tokenizer, texts, window)
    if not sequences:
        notes.append("forgetting check skipped: no reference texts to score; pass --forgetting-text FILE")
        return None
    per_side = {}
    for side in sides:
        with side_context(model, side, adapters):
            per_side[side] = mean_log_likelihoods(merged.get(side, model), tokenizer, sequences, args.batch_size)
    return compare_summary.summarize_forgetting(source, args.forgetting_threshold, kept, per_side, skipped, args.seed)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.local_only:
        set_offline_env()

    setup_logging()
    created: list[Path] = []
    try:
        check_args(args)
        if args.report_dir:
            created = compare_inputs.prepare_report_dir(args.report_dir)
        return compare(args, created)
    except UsageError as err:
        return report_usage_error(err)
    except KeyboardInterrupt:
        print("interrupted: no report written", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        compare_inputs.remove_empty(created)


if __name__ == "__main__":
    raise SystemExit(main())
