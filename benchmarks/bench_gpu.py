"""What a real-sized model costs on a GPU: peak memory, seconds per step and generation speed of
GRPO with 4-bit LoRA (QLoRA) against bf16 LoRA.

    python benchmarks/bench_gpu.py                       # Qwen2.5-0.5B, 1.5B and 7B shapes
    python benchmarks/bench_gpu.py --sizes 0.5b,1.5b --steps 4

Builds random-weight models from the real configurations of Qwen2.5-0.5B, 1.5B and 7B (layers,
widths, heads, vocabulary: the parameter counts and memory of the real ones; nothing is
downloaded), saves each once, then, each in its own process so that peaks do not mix, trains a
few GRPO steps through train_grpo.py's own code (trainer_from_args) with --quantization 4bit and
with --quantization none in bf16. Reports peak GPU memory (torch.cuda.max_memory_allocated over
loading and training), seconds per optimizer step (the first, which warms up kernels, left out
when there are more), generation tokens per second (the trained model's generate on a batch of
prompts, every completion forced to the full length) and the 4-bit/bf16 memory ratio.

Without CUDA it runs a scaled-down shape on the CPU (float32 for the full-precision arm) as a
smoke test of the same path, and says that GPU figures need a GPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# From the models' config.json on the hub (Qwen/Qwen2.5-*-Instruct): the shapes that set memory.
QWEN25 = {
    "0.5b": dict(
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        vocab_size=151936,
        tie_word_embeddings=True,
    ),
    "1.5b": dict(
        hidden_size=1536,
        intermediate_size=8960,
        num_hidden_layers=28,
        num_attention_heads=12,
        num_key_value_heads=2,
        vocab_size=151936,
        tie_word_embeddings=True,
    ),
    "7b": dict(
        hidden_size=3584,
        intermediate_size=18944,
        num_hidden_layers=28,
        num_attention_heads=28,
        num_key_value_heads=4,
        vocab_size=152064,
        tie_word_embeddings=False,
    ),
}
COMMON = dict(max_position_embeddings=32768, rope_theta=1000000.0, rms_norm_eps=1e-6, hidden_act="silu")
# The CPU smoke shape: the same architecture, small enough for two shared cores.
SMOKE = {
    "smoke": dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=512,
        tie_word_embeddings=True,
    )
}
GPU_RUN = dict(steps=3, completion=256, batch=8, generations=8)
CPU_RUN = dict(steps=2, completion=8, batch=4, generations=4)


def build_parser() -> argparse.ArgumentParser:
    from grpo_suite.cli import OneLineParser

    parser = OneLineParser(
        description="GRPO peak GPU memory, step time and generation speed: "
        "4-bit LoRA against bf16 LoRA on Qwen2.5 shapes."
    )
    parser.add_argument("--sizes", default=",".join(QWEN25), help=f"comma-separated, of {', '.join(QWEN25)}")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps per arm (default: 3 on GPU, 2 on CPU)")
    parser.add_argument(
        "--max-completion-length", type=int, default=None, help="tokens per completion (default: 256 on GPU, 8 on CPU)"
    )
    parser.add_argument(
        "--work-dir",
        default=None,
        help="where the random-weight models are saved (default: a temporary folder; a 7B model takes 15 GB)",
    )
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="the scaled-down shape even where CUDA is available (what runs without CUDA)",
    )
    parser.add_argument("--worker", nargs=3, metavar=("MODEL_DIR", "DATA_DIR", "ARM"), help=argparse.SUPPRESS)
    parser.add_argument("--run", default=None, help=argparse.SUPPRESS)  # the worker's settings, as JSON
    return parser


def cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def build_model(shape: dict, folder: Path) -> int:
    """A random-weight Qwen2 model of this shape, saved with the demo's tokenizer; its parameter count."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    import demo

    if (folder / "config.json").exists():
        return json.loads((folder / "params.json").read_text())["params"]
    torch.manual_seed(0)
    tokenizer = demo.build_tokenizer()
    config = Qwen2Config(
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **COMMON,
        **shape,
    )
    # bf16 on disk, as the hub's checkpoints: half the bytes to write and read for the 7B.
    model = Qwen2ForCausalLM(config).to(torch.bfloat16)
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "params.json").write_text(json.dumps({"params": params}))
    del model
    return params


def trainer_argv(model_dir: str, data_dir: str, arm: str, run: dict, out: str, on_cuda: bool) -> list[str]:
    """train_grpo.py's own flags for one arm: 4-bit LoRA, or full-precision (bf16 on GPU) LoRA."""
    quantization, dtype = ("4bit", "bfloat16") if arm == "4bit" else ("none", "bfloat16" if on_cuda else "float32")
    if not on_cuda and arm == "4bit":
        dtype = "float32"
    return [
        "--model",
        model_dir,
        "--dataset",
        data_dir,
        "--local-only",
        "--output-dir",
        out,
        "--quantization",
        quantization,
        "--dtype",
        dtype,
        "--max-steps",
        str(run["steps"]),
        "--max-completion-length",
        str(run["completion"]),
        "--per-device-train-batch-size",
        str(run["batch"]),
        "--num-generations",
        str(run["generations"]),
        "--save-steps",
        "100000",
        "--logging-steps",
        "1",
        "--learning-rate",
        "1e-5",
        "--gradient-checkpointing" if on_cuda else "--no-gradient-checkpointing",
    ]


def worker(model_dir: str, data_dir: str, arm: str, run: dict) -> dict:
    """One arm in this process: train, then generate; the measurements as a dict."""
    import torch
    from transformers import TrainerCallback

    import dataset_utils
    import train_grpo

    on_cuda = torch.cuda.is_available()
    times: list[float] = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            self.start = _now(on_cuda)

        def on_step_end(self, args, state, control, **kwargs):
            times.append(_now(on_cuda) - self.start)

    if on_cuda:
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as tmp:
        argv = trainer_argv(model_dir, data_dir, arm, run, str(Path(tmp) / "run"), on_cuda)
        args = train_grpo.resolve_args(train_grpo.build_parser().parse_args(argv))
        trainer = train_grpo.trainer_from_args(args, callbacks=[StepTimer()])
        trainer.train()
        peak_train = torch.cuda.max_memory_allocated() if on_cuda else None
        prompts = [
            dataset_utils.render_prompt(trainer.processing_class, row["prompt"])
            for row in trainer.train_dataset.select(range(run["batch"]))
        ]
        tokens_per_s = generation_speed(trainer.model, trainer.processing_class, prompts, run["completion"], on_cuda)
    steady = times[1:] if len(times) > 1 else times
    return {
        "arm": arm,
        "steps": len(times),
        "s_per_step": statistics.median(steady),
        "gen_tokens_per_s": tokens_per_s,
        "peak_bytes": peak_train,
        "device": torch.cuda.get_device_name() if on_cuda else "cpu",
    }


def _now(on_cuda: bool) -> float:
    if on_cuda:
        import torch

        torch.cuda.synchronize()
    return time.perf_counter()


def generation_speed(model, tokenizer, prompts: list[str], length: int, on_cuda: bool) -> float:
    """New tokens per second of sampling ``length`` tokens for every prompt at once."""
    import torch

    tokenizer.padding_side = "left"
    batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
    model.eval()
    with torch.no_grad():
        start = _now(on_cuda)
        # use_cache: training with gradient checkpointing turned the KV cache off in the model's config
        out = model.generate(
            **batch,
            max_new_tokens=length,
            min_new_tokens=length,
            do_sample=True,
            use_cache=True,
            pad_token_id=tokenizer.pad_token_id,
        )
        seconds = _now(on_cuda) - start
    new = (out.shape[1] - batch["input_ids"].shape[1]) * out.shape[0]
    return new / seconds


def run_arm(model_dir: Path, data_dir: Path, arm: str, run: dict) -> dict:
    """The arm in a fresh process: its peak is its own, and a crash is reported, not fatal."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        str(model_dir),
        str(data_dir),
        arm,
        "--run",
        json.dumps(run),
    ]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        tail = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"arm": arm, "error": f"exit {result.returncode}: {tail}"}
    return json.loads(lines[-1])


def table(rows: list[dict]) -> str:
    head = [
        "| model | params | arm | peak memory | s/step | gen tokens/s | 4-bit/bf16 memory |",
        "|---|---|---|---|---|---|---|",
    ]
    body = []
    for row in rows:
        if "error" in row:
            body.append(f"| {row['size']} | {_count(row['params'])} | {row['arm']} | failed: {row['error']} | | | |")
            continue
        peak = f"{row['peak_bytes'] / 2**30:.2f} GiB" if row["peak_bytes"] is not None else "n/a (no CUDA)"
        ratio = f"{row['ratio']:.2f}" if row.get("ratio") is not None else ""
        body.append(
            f"| {row['size']} | {_count(row['params'])} | {row['arm']} | {peak} | {row['s_per_step']:.2f} | "
            f"{row['gen_tokens_per_s']:.0f} | {ratio} |"
        )
    return "\n".join(head + body)


def _count(params: int) -> str:
    return f"{params / 1e9:.2f}B" if params >= 1e8 else f"{params / 1e6:.2f}M"


def add_ratios(rows: list[dict]) -> None:
    """The 4-bit row of each size carries its peak over the bf16 row's."""
    by = {(r["size"], r["arm"]): r for r in rows if "error" not in r}
    for (size, arm), row in by.items():
        full = by.get((size, "bf16"))
        if arm == "4bit" and full and row["peak_bytes"] and full["peak_bytes"]:
            row["ratio"] = row["peak_bytes"] / full["peak_bytes"]


def main(argv: Sequence[str] | None = None) -> int:
    from dataset_utils import UsageError
    from grpo_suite.errors import report_usage_error

    args = build_parser().parse_args(argv)
    if args.worker:
        from dataset_utils import set_offline_env

        set_offline_env()  # local folders only; before transformers is imported
        print(json.dumps(worker(*args.worker, json.loads(args.run))))
        return 0
    import demo

    on_cuda = cuda()
    smoke = args.smoke or not on_cuda
    run = dict(CPU_RUN if smoke else GPU_RUN)
    run["steps"] = args.steps or run["steps"]
    run["completion"] = args.max_completion_length or run["completion"]
    try:
        shapes = SMOKE if smoke else pick_shapes(args.sizes)
    except UsageError as err:
        return report_usage_error(err)
    if smoke:
        print(
            ("" if on_cuda else "no CUDA GPU here: ") + "running the scaled-down smoke shape (hidden 64, 2 layers); "
            "GPU figures need a GPU: run this script on one without --smoke"
        )
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="bench_gpu-"))
    assets = demo.ensure_demo_assets()
    rows = []
    for size, shape in shapes.items():
        params = build_model(shape, work / size)
        for arm in ("4bit", "bf16"):
            row = run_arm(work / size, assets.data_dir, arm, run)
            rows.append({"size": size, "params": params, **row})
            print(f"{size} {arm}: {json.dumps(row)}", flush=True)
    add_ratios(rows)
    device = next((r["device"] for r in rows if "device" in r), "cpu")
    print(
        f"\n{device}, {time.strftime('%Y-%m-%d')}, {run['steps']} steps of {run['batch']} completions x "
        f"{run['completion']} tokens (group {run['generations']}), LoRA r=16 on every projection"
        + ("" if on_cuda else "; bf16 arm in float32 on CPU")
    )
    print(table(rows))
    if smoke:
        print("\nno GPU figures: this was the smoke shape; GPU figures need a CUDA GPU and the Qwen2.5 shapes")
    if args.json:
        Path(args.json).write_text(json.dumps({"device": device, "run": run, "rows": rows}, indent=2))
    return 1 if any("error" in r for r in rows) else 0


def pick_shapes(sizes: str) -> dict:
    from dataset_utils import UsageError

    names = [s.strip().lower() for s in sizes.split(",") if s.strip()]
    unknown = [n for n in names if n not in QWEN25]
    if unknown or not names:
        raise UsageError(f"--sizes {sizes!r}: valid sizes are {', '.join(QWEN25)}")
    return {n: QWEN25[n] for n in names}


if __name__ == "__main__":
    raise SystemExit(main())
