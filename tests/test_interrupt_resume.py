"""Never lose work: Ctrl-C saves the adapter and a checkpoint; --resume continues the count."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

import train_grpo


def _argv(demo_assets, out, *extra):
    return [
        "--model",
        str(demo_assets.model_dir),
        "--dataset",
        str(demo_assets.data_dir),
        "--local-only",
        "--output-dir",
        str(out),
        "--max-completion-length",
        "16",
        "--per-device-train-batch-size",
        "8",
        "--num-generations",
        "4",
        "--learning-rate",
        "1e-3",
        "--logging-steps",
        "1",
        *extra,
    ]


def _logged_steps(out) -> list[int]:
    path = out / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["step"] for line in path.read_text().splitlines() if '"loss"' in line]


@pytest.mark.slow
def test_sigint_saves_adapter_and_checkpoint_then_resume_continues(demo_assets, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "train_grpo.py", *_argv(demo_assets, out, "--max-steps", "500", "--save-steps", "1000")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.time() + 240
    while len(_logged_steps(out)) < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=240)
    assert proc.returncode == train_grpo.EXIT_INTERRUPTED, output[-2000:]
    assert "Traceback" not in output
    assert (out / "adapter_model.safetensors").exists()
    checkpoint = train_grpo.latest_checkpoint(out)
    assert checkpoint is not None and (checkpoint / "optimizer.pt").exists()
    stopped_at = int(checkpoint.name.split("-")[1])
    assert 3 <= stopped_at < 500

    assert (
        train_grpo.main(_argv(demo_assets, out, "--resume", "--max-steps", str(stopped_at + 2), "--save-steps", "1000"))
        == 0
    )
    steps = _logged_steps(out)
    assert steps[-2:] == [stopped_at + 1, stopped_at + 2]
    state = json.loads((train_grpo.latest_checkpoint(out) / "trainer_state.json").read_text())
    assert state["global_step"] == stopped_at + 2
