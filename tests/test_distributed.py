"""Two processes on CPU (gloo) through torchrun: both ranks train, rank 0 alone writes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_torchrun_two_processes_train_and_rank_zero_writes(demo_assets, tmp_path):
    out = tmp_path / "ddp"
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    cmd = [
        torchrun,
        "--nproc_per_node",
        "2",
        "train_grpo.py",
        "--model",
        str(demo_assets.model_dir),
        "--dataset",
        str(demo_assets.data_dir),
        "--local-only",
        "--output-dir",
        str(out),
        "--max-steps",
        "2",
        "--max-completion-length",
        "16",
        "--per-device-train-batch-size",
        "8",
        "--num-generations",
        "4",
        "--logging-steps",
        "1",
        "--save-steps",
        "1",
    ]
    result = subprocess.run(
        cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert "rank 0 of 2 finished at step 2" in log and "rank 1 of 2 finished at step 2" in log
    assert log.count("adapter saved in") == 1
    assert (out / "adapter_model.safetensors").exists() and (out / "checkpoint-2").is_dir()
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines() if '"loss"' in line]
    assert steps == [1, 2]  # one writer: each step logged once
    assert json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())["global_step"] == 2


@pytest.mark.slow
def test_torchrun_two_processes_with_dynamic_sampling_and_difficulty_filter(demo_assets, tmp_path):
    # Each process generates 8 completions, two whole groups of 4: both ranks must agree on every extra
    # round (they call the trainer's collective operations the same number of times) or the run hangs.
    out = tmp_path / "ddp"
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    cmd = [torchrun, "--nproc_per_node", "2", "train_grpo.py", "--model", str(demo_assets.model_dir)]
    cmd += ["--dataset", str(demo_assets.data_dir), "--local-only", "--output-dir", str(out), "--max-steps", "4"]
    cmd += ["--max-completion-length", "16", "--per-device-train-batch-size", "8", "--num-generations", "4"]
    cmd += ["--logging-steps", "1", "--save-steps", "2", "--dynamic-sampling", "--dynamic-sampling-rounds", "3"]
    cmd += ["--difficulty-filter", "--difficulty-rows", "16", "--seed", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GRPO_SUITE_CACHE": str(tmp_path / "cache")}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert "rank 0 of 2 finished at step 4" in log and "rank 1 of 2 finished at step 4" in log
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if '"loss"' in line]
    assert [row["step"] for row in logged] == [1, 2, 3, 4]
    assert all("dynamic_sampling/extra_rounds" in row and "groups/zero_spread_frac" in row for row in logged)
    record = json.loads((out / "difficulty.json").read_text())
    assert record["probed"] == 16 and record["kept"] >= 4
    # The ranks probed half the rows each and exchanged their rates: both train on the same kept rows.
    verdicts = [
        line.split("difficulty filter: ", 1)[1] for line in log.splitlines() if "difficulty filter: kept" in line
    ]
    assert len(verdicts) == 2 and verdicts[0] == verdicts[1] and f"kept {record['kept']} of 16" in verdicts[0]
    assert "split over 2 processes" in log
