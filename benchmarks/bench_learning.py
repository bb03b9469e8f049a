"""Held-out accuracy gained per CPU-minute: our composite reward against TRL's accuracy_reward.

    python benchmarks/bench_learning.py [--steps 60]

Both runs train the same demo model on the same data through train_grpo.py with the same
learning rate, group size, batch and number of steps (the --demo presets). Ours: the composite
reward. Reference: what a careful user of plain TRL would run, TRL's own ``accuracy_reward``
(math_verify, from ``trl.rewards``; see trl_accuracy.py) as the only reward. Prints each run's
greedy held-out accuracy gain, CPU minutes, gain per CPU-minute, and the ratio, whatever it is.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TRL_REFERENCE = ["--rewards", "", "--extra-reward", "trl_accuracy:trl_accuracy_reward"]


def cpu_seconds_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(out: Path, steps: int, extra: list[str]) -> tuple[float, bool]:
    """Train through train_grpo.py; the CPU seconds it used, and whether the adapter moved at all."""
    before = cpu_seconds_of_children()
    cmd = [
        sys.executable,
        "train_grpo.py",
        "--demo",
        "--output-dir",
        str(out),
        "--max-steps",
        str(steps),
        "--save-steps",
        str(10 * steps),
        *extra,
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "benchmarks")}  # trl_accuracy.py
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    seconds = cpu_seconds_of_children() - before
    if result.returncode != 0 and "nothing was learned" in result.stderr:
        return seconds, False  # train_grpo.py refuses to call an unchanged adapter a result: gain 0
    if result.returncode != 0:
        raise SystemExit(f"run failed: {' '.join(cmd)}\n{result.stderr[-2000:]}")
    return seconds, True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="GRPO steps per run")
    args = parser.parse_args(argv)
    import demo

    assets = demo.ensure_demo_assets()
    held_out = demo.make_splits()["test"]
    base = demo.greedy_accuracy(assets.model_dir, held_out)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in (("ours (composite reward)", []), ("TRL accuracy_reward", TRL_REFERENCE)):
            out = Path(tmp) / name.split()[0]
            seconds, learned = run(out, args.steps, extra)
            gain = demo.greedy_accuracy(assets.model_dir, held_out, adapter_dir=out) - base if learned else 0.0
            if not learned:
                print(f"{name}: the adapter did not move in {args.steps} steps (every group earned one reward)")
            results[name] = (gain, seconds / 60)
    print(f"base held-out greedy accuracy: {base:.1%} ({len(held_out)} problems), {args.steps} steps per run")
    for name, (gain, minutes) in results.items():
        print(
            f"{name:<32} gain {100 * gain:+6.1f} points  {minutes:5.2f} CPU-min  {100 * gain / minutes:+7.2f} points/CPU-min"
        )
    (ours_gain, ours_min), (ref_gain, ref_min) = results.values()
    ratio = (ours_gain / ours_min) / (ref_gain / ref_min) if ref_gain > 0 else float("inf")
    note = "" if ref_gain > 0 else "  (the reference gained nothing: no ratio of rates can be formed)"
    print(f"ratio of gain per CPU-minute, ours / reference: {ratio:.1f}{note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
