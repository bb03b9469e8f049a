"""Peak memory (RSS) of one GRPO training step with 4-bit weights against full precision.

    python benchmarks/bench_memory.py

Builds a Llama-architecture model of about 110M parameters with random weights (saved locally
with save_pretrained), then, each in its own process, loads it with --quantization 4bit and none
and runs one training step of train_grpo.py's trainer. Prints each process's weight memory
(model.get_memory_footprint), its resident memory after loading and its peak during the step,
the ratios, and the 4-bit weight floor (0.5 byte per parameter). Embeddings, norms and the LM
head stay in full precision under 4-bit, as in QLoRA.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONFIG = dict(
    vocab_size=32000,
    hidden_size=768,
    intermediate_size=2048,
    num_hidden_layers=12,
    num_attention_heads=12,
    num_key_value_heads=12,
    max_position_embeddings=512,
)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakSampler(threading.Thread):
    """Samples this process's RSS every few milliseconds while a block runs."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak, self.running = rss_bytes(), True

    def run(self):
        while self.running:
            self.peak = max(self.peak, rss_bytes())
            time.sleep(0.005)

    def stop(self) -> int:
        self.running = False
        self.join()
        return max(self.peak, rss_bytes())


def build_model(folder: Path) -> int:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    import demo

    torch.manual_seed(0)
    tokenizer = demo.build_tokenizer()
    model = LlamaForCausalLM(
        LlamaConfig(
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            **CONFIG,
        )
    )
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return sum(p.numel() for p in model.parameters())


def worker(model_dir: str, data_dir: str, quantization: str) -> None:
    """One process: load, then one training step; prints a JSON line of measurements."""
    import train_grpo

    out = tempfile.mkdtemp()
    argv = [
        "--model",
        model_dir,
        "--dataset",
        data_dir,
        "--local-only",
        "--output-dir",
        out,
        "--quantization",
        quantization,
        "--max-steps",
        "1",
        "--max-completion-length",
        "16",
        "--per-device-train-batch-size",
        "4",
        "--num-generations",
        "4",
        "--dtype",
        "float32",
        "--save-steps",
        "100",
    ]
    trainer = train_grpo.trainer_from_args(train_grpo.resolve_args(train_grpo.build_parser().parse_args(argv)))
    weights_bytes = trainer.model.get_base_model().get_memory_footprint()
    loaded = rss_bytes()
    sampler = PeakSampler()
    sampler.start()
    trainer.train()
    print(
        json.dumps(
            {"quantization": quantization, "weights": weights_bytes, "loaded": loaded, "step_peak": sampler.stop()}
        )
    )


def measure(model_dir: Path, data_dir: Path, quantization: str) -> dict:
    cmd = [sys.executable, __file__, "--worker", str(model_dir), str(data_dir), quantization]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"worker failed ({quantization}):\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    import demo

    data_dir = demo.ensure_demo_assets().data_dir
    with tempfile.TemporaryDirectory() as tmp:
        n_params = build_model(Path(tmp))
        full = measure(Path(tmp), data_dir, "none")
        quant = measure(Path(tmp), data_dir, "4bit")
    mb = 1 / 2**20
    print(f"model: Llama, {n_params / 1e6:.1f}M parameters, random weights")
    print(f"{'':10}{'weights':>12}{'RSS after load':>16}{'RSS step peak':>16}")
    for row in (full, quant):
        print(
            f"{row['quantization']:<10}{row['weights'] * mb:>10.0f}MB{row['loaded'] * mb:>14.0f}MB"
            f"{row['step_peak'] * mb:>14.0f}MB"
        )
    print(
        f"ratio 4bit / none: weights {quant['weights'] / full['weights']:.2f}, "
        f"RSS step peak {quant['step_peak'] / full['step_peak']:.2f}"
    )
    print(f"4-bit weight floor (0.5 byte/param): {0.5 * n_params * mb:.0f}MB; fp32 weights: {4 * n_params * mb:.0f}MB")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        worker(*sys.argv[2:])
    else:
        raise SystemExit(main())
