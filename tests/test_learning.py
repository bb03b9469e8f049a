"""Proof that GRPO learns: the demo run with its default presets lifts held-out accuracy."""

from __future__ import annotations

import json
import statistics

import demo


def test_demo_grpo_raises_held_out_greedy_accuracy_by_15_points(demo_assets, trained_demo):
    held_out = demo.make_splits()["test"]
    base = demo.greedy_accuracy(demo_assets.model_dir, held_out)
    tuned = demo.greedy_accuracy(demo_assets.model_dir, held_out, adapter_dir=trained_demo)
    print(f"held-out greedy accuracy: base {base:.1%}, after GRPO {tuned:.1%}")
    assert tuned - base >= 0.15


def test_demo_grpo_raises_mean_reference_reward_over_training(trained_demo):
    logged = [json.loads(line) for line in (trained_demo / "metrics.jsonl").read_text().splitlines()]
    curve = [row["rewards/reference_reward/mean"] for row in logged if "rewards/reference_reward/mean" in row]
    third = max(1, len(curve) // 3)
    first, last = statistics.fmean(curve[:third]), statistics.fmean(curve[-third:])
    print(f"mean reference_reward: first third {first:.3f}, last third {last:.3f}")
    assert len(curve) >= 6 and last > first
    assert max(row.get("frac_reward_zero_std", 0) for row in logged[:3]) < 1.0
