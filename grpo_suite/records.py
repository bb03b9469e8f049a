"""The records a training run keeps in its folder: run_config.json (with its history of starts,
resumes and ends) and reward_curves.png."""

from __future__ import annotations

import importlib
import json
import logging
import os
import subprocess
import time
from dataclasses import asdict
from pathlib import Path

from grpo_suite import run_folder

logger = logging.getLogger("train_grpo")

LIBRARIES = ("torch", "trl", "transformers", "peft", "datasets", "accelerate", "bitsandbytes")


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def wait_for_every_process() -> None:
    """A barrier over the launched processes (nothing outside a distributed launch)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def write_run_config(out: Path, args, detection, reward_names, weights, quantization, difficulty=None) -> None:
    versions = {}
    for lib in LIBRARIES:
        try:
            versions[lib] = importlib.import_module(lib).__version__
        except Exception:  # a library that fails to import has no version to record
            versions[lib] = None
    record = {
        "suite": run_folder.SUITE,
        "args": vars(args),
        "quantization": quantization,
        "detection": asdict(detection),
        "rewards": dict(zip(reward_names, weights)),
        # --difficulty-filter's counts (every probed row's rate is in difficulty_rows.jsonl beside it)
        "difficulty": difficulty.counts() if difficulty is not None else None,
        "versions": versions,
        "git_commit": git_commit(),
        "history": [_event("start")],
    }
    _write_json(out / run_folder.RUN_CONFIG, record)


def append_history(out: Path, event: str, **fields) -> None:
    """Add an event (resume, finished, interrupted, failed) to run_config.json; the original record stays."""
    record = run_folder.read_run_config(out)
    if record is None or not is_main_process():
        return
    record.setdefault("history", []).append(_event(event, **fields))
    try:
        _write_json(out / run_folder.RUN_CONFIG, record)
    except OSError as err:  # a full disk must not hide the error being reported
        logger.warning("could not record %r in %s: %s", event, run_folder.RUN_CONFIG, err)


def _event(event: str, **fields) -> dict:
    return {"event": event, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **fields}


def _write_json(path: Path, record: dict) -> None:
    """Written to a temporary name and renamed: a kill never leaves half a record."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def git_commit() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def plot_reward_curves(out: Path, beta: float) -> Path | None:
    """reward_curves.png from metrics.jsonl: total and per-component reward, length, KL."""
    path = out / "metrics.jsonl"
    if not path.exists():
        return None
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if "reward" in r]
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    components = sorted({k for r in rows for k in r if k.startswith("rewards/") and k.endswith("/mean")})
    panels = [
        ("reward (weighted total)", ["reward"]),
        ("reward components", components),
        ("completion length (tokens)", ["completions/mean_length"]),
    ]
    if beta > 0:
        panels.append(("KL to the base model", ["kl"]))
    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 2.6 * len(panels)), sharex=True)
    for ax, (title, keys) in zip(axes, panels):
        for key in keys:
            points = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), (int, float))]
            if points:
                ax.plot(
                    *zip(*points), marker="o", markersize=3, label=key.removeprefix("rewards/").removesuffix("/mean")
                )
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if len(keys) > 1:
            ax.legend(fontsize=8)
    axes[-1].set_xlabel("step")
    fig.tight_layout()
    fig.savefig(out / "reward_curves.png", dpi=110)
    plt.close(fig)
    return out / "reward_curves.png"
