"""Wall time of train_grpo.py against a minimal hand-written TRL script doing the same run.

    python benchmarks/bench_overhead.py [--steps 40] [--repeats 2]

Same tiny demo model, data, steps, generations, lengths, learning rate, LoRA and seed. Each side
runs as its own process (start-up and saving included), alternating, and the medians are
compared. Goal: train_grpo.py / hand-written <= 1.05.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HAND_WRITTEN = """
import sys
from datasets import load_from_disk
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import GRPOConfig, GRPOTrainer
sys.path.insert(0, {root!r})
import rewards

model_dir, data_dir, out, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
tokenizer = AutoTokenizer.from_pretrained(model_dir)
model = AutoModelForCausalLM.from_pretrained(model_dir)
data = load_from_disk(data_dir)["train"].map(
    lambda r: {{"prompt": [{{"role": "user", "content": r["question"]}}], "reference": r["answer"]}},
    remove_columns=["question", "answer"])
funcs, weights = rewards.build_reward_funcs()
config = GRPOConfig(output_dir=out, use_cpu=True, bf16=False, gradient_checkpointing=False, learning_rate=1e-3,
                    num_generations=8, per_device_train_batch_size=32, max_completion_length=24, max_steps=steps,
                    reward_weights=weights, beta=0.0, seed=0, logging_steps=5, save_strategy="no", report_to=[])
lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM")
trainer = GRPOTrainer(model=model, processing_class=tokenizer, reward_funcs=funcs, args=config, train_dataset=data,
                      peft_config=lora)
trainer.train()
trainer.save_model(out)
"""


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"benchmark run failed: {' '.join(cmd)}\n{result.stderr[-2000:]}")
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="GRPO steps per run")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each side, alternating")
    args = parser.parse_args(argv)
    import demo

    assets = demo.ensure_demo_assets()
    ours, theirs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "hand_written.py"
        script.write_text(HAND_WRITTEN.format(root=str(ROOT)))
        for i in range(args.repeats):
            theirs.append(
                timed(
                    [
                        sys.executable,
                        str(script),
                        str(assets.model_dir),
                        str(assets.data_dir),
                        f"{tmp}/hand{i}",
                        str(args.steps),
                    ]
                )
            )
            ours.append(
                timed(
                    [
                        sys.executable,
                        "train_grpo.py",
                        "--demo",
                        "--output-dir",
                        f"{tmp}/ours{i}",
                        "--max-steps",
                        str(args.steps),
                        "--save-steps",
                        str(10 * args.steps),
                    ]
                )
            )
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"steps per run:        {args.steps} (x{args.repeats} each)")
    print(f"train_grpo.py:        {a:.1f} s  {[round(t, 1) for t in ours]}")
    print(f"hand-written TRL:     {b:.1f} s  {[round(t, 1) for t in theirs]}")
    print(f"ratio ours / theirs:  {a / b:.3f}  (goal <= 1.05)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
