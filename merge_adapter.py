"""Merge a trained LoRA adapter into its base model: a standalone folder, checked to answer as the adapter does.

    python merge_adapter.py --adapter outputs/demo                        # writes outputs/demo-merged
    python merge_adapter.py --adapter outputs/gsm8k/checkpoint-400 --output-dir exports/gsm8k --dtype bfloat16

The base is reloaded in full precision (float32, bfloat16 or float16; never 4-bit, even for a QLoRA
run), the adapter merged into it, and the folder written with safetensors shards, the tokenizer and
its chat template, the generation config and ``merge_record.json`` (base, adapter and step, dtype,
the run's system prompt and answer instruction, the check's figures). Before the folder is called
good, the same prompts go through the adapter on its base and through the merged folder as saved:
greedy-token agreement and the largest logit difference are printed, and an export that differs
beyond what its dtype explains is refused (exit 1). ``compare_base_vs_lora.py --adapter EXPORT``
reruns the paired verdict on exactly what will be served.
"""

from __future__ import annotations

import gc
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Sequence

import dataset_utils
from grpo_suite import compare_inputs, merge, model_cache, models, run_folder
from grpo_suite.cli import OneLineParser, set_offline_env, setup_logging
from grpo_suite.errors import EXIT_INTERRUPTED, UsageError, first_line, report_usage_error
from grpo_suite.prompts import answer_instruction, prompt_ids, recorded_instruction, recorded_template_kwargs

logger = logging.getLogger("merge_adapter")
EXIT_UNFAITHFUL = 1
GGUF_CONVERTER = "convert_hf_to_gguf.py"  # llama.cpp's converter: the gguf package writes files, it does not convert
GGUF_TYPES = ("f32", "f16", "bf16", "q8_0")
SHARD_SIZE_RE = re.compile(r"^\s*\d+(\.\d+)?\s*(KB|MB|GB|TB|KIB|MIB|GIB|TIB)\s*$", re.IGNORECASE)  # transformers' units

# Prompts of several kinds (arithmetic, facts, free text) for the check when --check-prompts is not given.
CHECK_PROMPTS = (
    "What is 7 + 5?",
    "Tom has 12 apples and gives 5 to his sister. How many apples does Tom have now?",
    "A train travels 60 km in 1.5 hours. What is its average speed in km per hour?",
    "Name the capital of France.",
    "Write one sentence about the sea.",
    "List three prime numbers.",
    "A shop sells pencils at 3 dollars each. How much do 4 pencils cost?",
    "Explain in one sentence why the sky looks blue.",
)

EXAMPLES = """examples:
  python merge_adapter.py --adapter outputs/demo
  python merge_adapter.py --adapter outputs/gsm8k --output-dir exports/gsm8k --dtype bfloat16 --gguf
  python compare_base_vs_lora.py --adapter exports/gsm8k --num-prompts 200      # the verdict on the export
"""


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog="merge_adapter.py",
        epilog=EXAMPLES,
        description="Merge a LoRA adapter into its base model, check the merge, export it.",
    )
    model = parser.group("model")
    model.add(
        "--adapter",
        required=True,
        metavar="RUN_OR_CHECKPOINT",
        help="a train_grpo.py --output-dir, or one of its checkpoint-N folders",
    )
    model.add(
        "--base-model",
        default=None,
        metavar="ID_OR_DIR",
        help="base model (unset: the one recorded in the adapter); the check still runs the adapter on the "
        "recorded base where it exists",
    )
    model.add(
        "--dtype",
        choices=["auto", *merge.EXPORT_DTYPES],
        default="auto",
        help="weights of the merged model; auto is the base checkpoint's own float dtype (float32 if unknown)",
    )
    model.add("--trust-remote-code", action="store_true", help="run model code shipped with the checkpoint")
    model.add("--local-only", action="store_true", help="never touch the network (models from local folders)")

    out = parser.group("output")
    out.add("--output-dir", default=None, metavar="DIR", help="unset: RUN-merged beside the run folder")
    out.add("--overwrite", action="store_true", help="replace an earlier export in --output-dir (nothing else)")
    out.add(
        "--inside-run-folder",
        action="store_true",
        help="allow --output-dir inside the adapter's run folder",
    )
    out.add("--max-shard-size", default="5GB", metavar="SIZE", help="largest safetensors shard")
    out.add(
        "--keep-unfaithful",
        action="store_true",
        help="keep an export the check refused, as DIR.unfaithful, for inspection",
    )

    check = parser.group("faithfulness check")
    check.add(
        "--check-prompts",
        default=None,
        metavar="FILE",
        help="prompts for the check (.jsonl/.json of {prompt} or a prompt per line; unset: 8 built-in ones)",
    )
    check.add("--check-tokens", type=int, default=32, metavar="TOKENS", help="greedy new tokens per prompt")

    export = parser.group("export and serving")
    export.add(
        "--gguf",
        action="store_true",
        help=f"also write a GGUF file with llama.cpp's {GGUF_CONVERTER} (on PATH or in --llama-cpp)",
    )
    export.add("--llama-cpp", default=None, metavar="DIR", help=f"llama.cpp checkout holding {GGUF_CONVERTER}")
    export.add("--gguf-type", choices=GGUF_TYPES, default="f16", help="GGUF tensor type")
    export.add("--push-to-hub", default=None, metavar="REPO_ID", help="upload the export to this hub repo (private)")
    return parser


# --------------------------------------------------------------------------------------------
# Checks before any weight loads
# --------------------------------------------------------------------------------------------


def check_args(args) -> merge.Source:
    if args.check_tokens < 1:
        raise UsageError(f"--check-tokens {args.check_tokens}: must be at least 1")
    if not SHARD_SIZE_RE.match(args.max_shard_size):
        raise UsageError(f"--max-shard-size {args.max_shard_size!r}: give a size such as 5GB, 500MB or 2TB")
    if args.check_prompts:
        compare_inputs.read_prompt_items(args.check_prompts, "--check-prompts")  # a bad file fails before loading
    adapter = Path(args.adapter).expanduser()
    source = merge.read_source(adapter)
    if args.base_model:
        args.base_model = model_cache.local_model(args.base_model, "--base-model")
    args.base = merge.base_of(source, args.base_model)
    models.check_model_source(args.base, "--base-model" if args.base_model else "the adapter's base model")
    args.out = Path(args.output_dir).expanduser() if args.output_dir else merge.default_output(adapter)
    merge.check_output(args.out, adapter, args.overwrite, args.inside_run_folder)
    for stale in merge.leftovers(args.out):
        logger.warning("%s is a partial export of a run that was killed; nothing uses it (remove it)", stale)
    if args.gguf:
        args.converter = gguf_converter(args.llama_cpp)
    if args.push_to_hub:
        offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")
        if args.local_only or offline:
            raise UsageError(f"--push-to-hub {args.push_to_hub} needs the network; drop --local-only / HF_HUB_OFFLINE")
        if "/" not in args.push_to_hub:
            raise UsageError(f"--push-to-hub {args.push_to_hub!r}: give the repo id as OWNER/NAME")
    return source


def gguf_converter(llama_cpp: str | None) -> Path:
    """llama.cpp's converter script, or one line saying how to get it."""
    if llama_cpp:
        candidate = Path(llama_cpp).expanduser() / GGUF_CONVERTER
        if candidate.is_file():
            return candidate
        raise UsageError(f"--llama-cpp {llama_cpp} holds no {GGUF_CONVERTER}; pass the root of a llama.cpp checkout")
    found = shutil.which(GGUF_CONVERTER)
    if found:
        return Path(found)
    raise UsageError(
        f"--gguf needs llama.cpp's {GGUF_CONVERTER}, which is not on PATH: git clone "
        "https://github.com/ggml-org/llama.cpp, pip install -r llama.cpp/requirements/requirements-convert_hf_to_gguf.txt, "
        "and pass --llama-cpp llama.cpp (or drop --gguf)"
    )


# --------------------------------------------------------------------------------------------
# Merging and checking
# --------------------------------------------------------------------------------------------


def serving_prompting(source: merge.Source) -> dict:
    """The run's system prompt, answer instruction and template kwargs: what a server must send too."""
    recorded = source.recorded_args
    system_prompt = recorded.get("system_prompt")
    return {
        "system_prompt": system_prompt,
        "instruction": answer_instruction(recorded_instruction(source.run), system_prompt),
        "template_kwargs": recorded_template_kwargs(recorded),
    }


def check_prompt_ids(args, tokenizer, serving: dict) -> list[list[int]]:
    """The check's prompts as the run rendered its own: its system prompt, instruction and template."""
    texts = (
        [item["prompt"] for item in compare_inputs.read_prompt_items(args.check_prompts, "--check-prompts")]
        if args.check_prompts
        else list(CHECK_PROMPTS)
    )
    detection = dataset_utils.Detection("file", ("prompt",), None)
    chat = tokenizer.chat_template is not None
    return [
        prompt_ids(
            tokenizer,
            dataset_utils.build_prompt(
                {"prompt": text}, detection, serving["system_prompt"], chat, None, serving["instruction"]
            ),
            serving["template_kwargs"],
        )
        for text in texts
    ]


def load_adapted(args, base: str, adapter: Path, dtype: str):
    model = models.load_model(base, "none", dtype, local_only=args.local_only, trust_remote_code=args.trust_remote_code)
    return models.attach_adapter(model, adapter, base, base_flag="--base-model").eval()


def merged_model(args, source: merge.Source, tokenizer, encoded, dtype: str, notes: list[str]):
    """The references (the adapter on the base it was trained on) and the merged model."""
    reference_base, note = merge.reference_base(source, args.base)
    if note:
        notes.append(note)
        logger.info(note)
    logger.info("running the adapter on %s (%s) for the check's references", reference_base, dtype)
    try:
        model = load_adapted(args, reference_base, source.adapter, dtype)
    except UsageError as err:
        if reference_base == args.base:
            raise
        notes[-1] = (
            f"the adapter's recorded base {reference_base} cannot be loaded here ({err}): the check compares with "
            f"the adapter on --base-model {args.base}, so it shows the merge is faithful, not that this is its base"
        )
        logger.warning(notes[-1])
        reference_base = args.base
        model = load_adapted(args, reference_base, source.adapter, dtype)
    refs = merge.greedy_references(model, tokenizer, encoded, args.check_tokens)
    if reference_base != args.base:
        del model
        gc.collect()
        model = load_adapted(args, args.base, source.adapter, dtype)
    logger.info("merging the adapter into %s (%s)", args.base, dtype)
    return refs, model.merge_and_unload()


def cast_weights(model, dtype: str) -> None:
    """The weights (not the buffers) in ``dtype``, as ``from_pretrained(dtype=...)`` loads them: rotary
    frequencies and other computed buffers stay float32 there, and a whole-model ``.to()`` would round them."""
    torch_dtype = models.resolve_dtype(dtype)
    for param in model.parameters():
        param.data = param.data.to(torch_dtype)
    model.config.dtype = torch_dtype


def save_export(model, tokenizer, folder: Path, max_shard_size: str) -> None:
    """Weights as safetensors shards, the tokenizer with its chat template, and a generation config
    that stops at the tokenizer's end of turn."""
    generation = model.generation_config
    eos = generation.eos_token_id
    eos_ids = [] if eos is None else (list(eos) if isinstance(eos, (list, tuple)) else [eos])
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in eos_ids:
        generation.eos_token_id = [*eos_ids, tokenizer.eos_token_id] if eos_ids else tokenizer.eos_token_id
    model.save_pretrained(str(folder), max_shard_size=max_shard_size)
    tokenizer.save_pretrained(str(folder))


def base_config(args):
    """The base's config (for its dtype), or None where it cannot be read before loading."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(
            args.base, local_files_only=args.local_only, trust_remote_code=args.trust_remote_code
        )
    except Exception as err:  # noqa: BLE001 - only the default dtype depends on it; loading names real problems
        logger.debug("no config for %s: %s", args.base, err)
        return None


def tokenizer_source(source: merge.Source, base: str) -> str:
    has_own = any((source.adapter / name).is_file() for name in models.TOKENIZER_MARKERS)
    return str(source.adapter) if has_own else base


def write_gguf(args, folder: Path) -> Path:
    target = folder / f"model-{args.gguf_type}.gguf"
    cmd = [sys.executable, str(args.converter), str(folder), "--outfile", str(target), "--outtype", args.gguf_type]
    logger.info("writing %s with %s", target.name, args.converter)
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0 or not target.is_file():
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise UsageError(f"{GGUF_CONVERTER} failed (exit {result.returncode}): {tail[0]}")
    return target


def serve_commands(args, source: merge.Source, serving: dict) -> list[str]:
    rank = source.config.get("r") or 16
    lines = [
        f"serve the merged model:   vllm serve {args.out}",
        f"serve the adapter:        vllm serve {args.base} --enable-lora --lora-modules "
        f"adapter={source.adapter.resolve()} --max-lora-rank {max(16, rank)}",
    ]
    if serving["system_prompt"] or serving["instruction"]:
        lines.append(
            f"the run's prompts carried system prompt {serving['system_prompt']!r} and answer instruction "
            f"{serving['instruction']!r}: send them with each request (both are in {merge.MERGE_RECORD})"
        )
    if shutil.which("vllm") is None:
        lines.append("(vllm is not installed here: pip install vllm on the serving machine)")
    return lines


def push(args) -> None:
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(args.push_to_hub, private=True, exist_ok=True)
    api.upload_folder(folder_path=str(args.out), repo_id=args.push_to_hub)
    print(f"uploaded {args.out} to {args.push_to_hub} (private)")


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def export(args) -> int:
    notes: list[str] = []
    source = check_args(args)
    tokenizer = models.load_tokenizer(
        tokenizer_source(source, args.base), local_only=args.local_only, trust_remote_code=args.trust_remote_code
    )
    serving = serving_prompting(source)
    encoded = check_prompt_ids(args, tokenizer, serving)
    dtype = merge.export_dtype(args.dtype, base_config(args))
    if source.run.get("quantization") not in (None, "none"):
        notes.append(
            f"trained with {source.run['quantization']} quantization; merged into full-precision weights "
            "(float32), checked against the adapter on the float32 base"
        )
    # Reference and merge in float32 whatever the export's dtype: the merge is then checked without a
    # rounding excuse, and a 16-bit export rounds each merged weight once instead of W and B@A apart.
    refs, model = merged_model(args, source, tokenizer, encoded, "float32", notes)
    merged_check, cast_refs = None, refs
    if dtype != "float32":
        merged_check = merge.check_faithful(model, tokenizer, refs, "float32", args.check_tokens)
        cast_weights(model, dtype)
        cast_refs = merge.greedy_references(model, tokenizer, encoded, args.check_tokens)
    with merge.Staging(args.out) as staging:
        save_export(model, tokenizer, staging.tmp, args.max_shard_size)
        del model
        gc.collect()
        logger.info("reloading the export from disk for the check")
        reloaded = models.load_model(str(staging.tmp), "none", dtype, local_only=True).eval()
        # The folder as saved must give what the merged weights gave in memory (float32 or cast).
        saved = merge.check_faithful(reloaded, tokenizer, cast_refs, "float32", args.check_tokens)
        served = merge.check_faithful(reloaded, tokenizer, refs, dtype, args.check_tokens) if merged_check else saved
        del reloaded
        report = merge.Verdict(dtype, merged_check or saved, saved, served)
        revision = source.recorded_args.get("revision") if args.base == source.recorded_base else None
        record = merge.build_record(source, args.base, revision, dtype, serving, report, notes)
        merge.write_record(staging.tmp, record)
        for line in [*notes, *report.lines()]:
            print(line)
        if not report.faithful:
            kept = staging.keep_as(f"{args.out.name}.unfaithful") if args.keep_unfaithful else None
            where = f"kept in {kept}" if kept else "nothing was exported"
            print(
                f"error: the merged model does not answer as the adapter does ({where}); check --base-model "
                "(the adapter's base is recorded in its adapter_config.json) and --dtype",
                file=sys.stderr,
            )
            return EXIT_UNFAITHFUL
        gguf = write_gguf(args, staging.tmp) if args.gguf else None
        staging.publish()
    print(f"merged model written to {args.out} ({dtype}{', ' + gguf.name if gguf else ''})")
    for line in serve_commands(args, source, serving):
        print(line)
    if args.push_to_hub:
        push(args)
    return 0


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.local_only:
        set_offline_env()
    setup_logging()
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return export(args)
    except UsageError as err:
        return report_usage_error(err)
    except KeyboardInterrupt:
        print("interrupted: nothing was exported (the partial folder was removed)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as err:
        hint = run_folder.os_error_hint(err, getattr(args, "out", None))
        print(
            f"error: {hint or first_line(err)}; nothing was exported (the partial folder was removed)", file=sys.stderr
        )
        return 1
    except Exception as err:  # anything a library raised while merging: one line, nothing exported
        print(f"error: merging failed: {type(err).__name__}: {first_line(err)}; nothing was exported", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    raise SystemExit(main())
