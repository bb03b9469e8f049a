"""Runs that can never lose work: complete checkpoints, resume, changed flags, the lock, --overwrite.

Each test copies one short finished run (two steps, a checkpoint at each) and does something a
careless user would do to it, with the real trainer.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import train_grpo
from dataset_utils import UsageError
from grpo_suite import run_folder

pytestmark = pytest.mark.slow


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
        "12",
        "--per-device-train-batch-size",
        "8",
        "--num-generations",
        "4",
        "--learning-rate",
        "1e-3",
        "--logging-steps",
        "1",
        "--save-steps",
        "1",
        *extra,
    ]


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def finished(demo_assets, tmp_path_factory):
    out = tmp_path_factory.mktemp("finished") / "run"
    assert train_grpo.main(_argv(demo_assets, out, "--max-steps", "2")) == 0
    return out


@pytest.fixture
def run(finished, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(finished, copy)
    return copy


def test_max_steps_is_exact_and_every_checkpoint_is_marked_complete(finished):
    assert [p.name for p in run_folder.checkpoints(finished)] == ["checkpoint-1", "checkpoint-2"]
    assert all((p / run_folder.COMPLETE_MARKER).is_file() for p in run_folder.checkpoints(finished))
    assert run_folder.trainer_state(finished / "checkpoint-2")["global_step"] == 2
    record = json.loads((finished / "run_config.json").read_text())
    assert record["suite"] == run_folder.SUITE
    assert [e["event"] for e in record["history"]] == ["start", "finished"]
    counts = record["history"][-1]["math_verify"]  # the symbolic checks' pairs, retries and timeouts
    assert set(counts) == {"pairs", "retried", "timeouts"} and counts["timeouts"] <= counts["pairs"]
    assert not (finished / run_folder.LOCK_NAME).exists()


def test_resume_of_a_finished_run_says_so_and_leaves_the_adapter(demo_assets, run, capsys):
    before = _digest(run / "adapter_model.safetensors")
    assert train_grpo.main(_argv(demo_assets, run, "--max-steps", "2", "--resume")) == 0
    assert "already complete: step 2 of 2" in capsys.readouterr().out
    assert _digest(run / "adapter_model.safetensors") == before
    assert [p.name for p in run_folder.checkpoints(run)] == ["checkpoint-1", "checkpoint-2"]


def test_resume_of_a_finished_run_restores_a_missing_final_adapter(demo_assets, run):
    (run / "adapter_model.safetensors").unlink()
    assert train_grpo.main(_argv(demo_assets, run, "--max-steps", "2", "--resume")) == 0
    assert _digest(run / "adapter_model.safetensors") == _digest(run / "checkpoint-2" / "adapter_model.safetensors")


def test_half_written_checkpoints_are_skipped_and_named(demo_assets, run, caplog):
    half = run / "checkpoint-2"
    (half / run_folder.COMPLETE_MARKER).unlink()  # killed before the marker
    (half / "optimizer.pt").write_bytes(b"")
    broken = run / "checkpoint-3"
    shutil.copytree(run / "checkpoint-1", broken)
    weights = broken / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # a full disk: marker there, file cut short
    with caplog.at_level(logging.WARNING, logger="train_grpo"):
        assert train_grpo.main(_argv(demo_assets, run, "--max-steps", "2", "--resume")) == 0
    skipped = " ".join(r.getMessage() for r in caplog.records if "skipping" in r.getMessage())
    assert "checkpoint-3: damaged" in skipped and "checkpoint-2: damaged: optimizer.pt" in skipped
    # It resumed from checkpoint-1 and trained step 2 again, which completed checkpoint-2.
    assert run_folder.checkpoint_problem(run / "checkpoint-2") is None
    assert run_folder.trainer_state(run / "checkpoint-2")["global_step"] == 2
    history = json.loads((run / "run_config.json").read_text())["history"]
    assert history[-2]["event"] == "resume" and history[-2]["from_checkpoint"] == "checkpoint-1"


def test_a_checkpoint_without_marker_counts_when_every_file_is_whole(run):
    (run / "checkpoint-2" / run_folder.COMPLETE_MARKER).unlink()  # saved before markers, or by plain TRL
    assert run_folder.checkpoint_problem(run / "checkpoint-2") is None
    (run / "checkpoint-2" / "trainer_state.json").unlink()  # killed before the trainer state was written
    assert "incomplete: no trainer_state.json" in run_folder.checkpoint_problem(run / "checkpoint-2")
    assert run_folder.latest_complete_checkpoint(run).name == "checkpoint-1"


@pytest.mark.parametrize(
    "flag,value,recorded",
    [
        ("--lora-r", "8", "16"),
        ("--num-generations", "8", "4"),
        ("--rewards", "reference_reward", "reference_reward,format_reward"),
    ],
)
def test_resume_refuses_a_changed_fixed_flag_naming_both_values(demo_assets, run, capsys, flag, value, recorded):
    before = (run / "run_config.json").read_text()
    assert train_grpo.main(_argv(demo_assets, run, "--max-steps", "3", "--resume", flag, value)) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(f"error: --resume: {flag} is {value}") and recorded.split(",")[0] in line
    assert (run / "run_config.json").read_text() == before


def test_resume_applies_a_new_learning_rate_and_save_steps_and_records_them(demo_assets, run, caplog):
    with caplog.at_level(logging.WARNING, logger="train_grpo"):
        assert (
            train_grpo.main(
                _argv(demo_assets, run, "--max-steps", "4", "--resume", "--learning-rate", "5e-4", "--save-steps", "2")
            )
            == 0
        )
    assert any("--learning-rate was 0.001 and is 0.0005" in r.getMessage() for r in caplog.records)
    record = json.loads((run / "run_config.json").read_text())
    assert record["args"]["learning_rate"] == 1e-3  # the original record is kept
    resume = [e for e in record["history"] if e["event"] == "resume"][0]
    assert resume["changed"]["learning_rate"] == [1e-3, 5e-4]
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    rates = {row["step"]: row["learning_rate"] for row in logged if "learning_rate" in row}
    assert rates[3] == pytest.approx(5e-4) and rates[4] == pytest.approx(5e-4)
    assert [p.name for p in run_folder.checkpoints(run)] == ["checkpoint-1", "checkpoint-2", "checkpoint-4"]


def test_resume_with_only_the_output_folder_continues_the_run_as_it_was(run, capsys):
    # No --model, --dataset or LoRA flags: the run's own record supplies them, changes included.
    assert train_grpo.main(["--output-dir", str(run), "--resume", "--max-steps", "3", "--learning-rate", "5e-4"]) == 0
    assert run_folder.trainer_state(run / "checkpoint-3")["global_step"] == 3
    assert train_grpo.main(["--output-dir", str(run), "--resume"]) == 0
    assert "already complete: step 3 of 3" in capsys.readouterr().out
    record = json.loads((run / "run_config.json").read_text())
    assert [e["event"] for e in record["history"]] == ["start", "finished", "resume", "finished"]


def test_a_live_lock_refuses_a_second_run_and_a_stale_one_is_taken(demo_assets, run, capsys):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = {"pid": sleeper.pid, "host": os.uname().nodename, "time": time.time()}
        (run / run_folder.LOCK_NAME).write_text(json.dumps(lock))
        assert train_grpo.main(_argv(demo_assets, run, "--max-steps", "3", "--resume")) == 2
        assert f"in use by another training run (process {sleeper.pid}" in capsys.readouterr().err
    finally:
        sleeper.kill()
        sleeper.wait()
    assert run_folder.lock_holder(run) is None  # the process is gone: stale
    held = run_folder.RunLock(run)
    held.acquire()
    assert json.loads((run / run_folder.LOCK_NAME).read_text())["pid"] == os.getpid()
    held.release()
    assert not (run / run_folder.LOCK_NAME).exists()


def test_overwrite_that_fails_in_training_puts_the_earlier_run_back(demo_assets, run, tmp_path, monkeypatch, capsys):
    (tmp_path / "failing_rewards.py").write_text(
        "def explode(completions, **kwargs):\n    raise RuntimeError('reward server down')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    before = {p.relative_to(run): _digest(p) for p in run.rglob("*") if p.is_file()}
    code = train_grpo.main(
        _argv(demo_assets, run, "--max-steps", "2", "--overwrite", "--extra-reward", "failing_rewards:explode")
    )
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    line = [x for x in err.splitlines() if x.startswith("error:")][0]
    assert "failing_rewards:explode" in line and "at step 1 raised RuntimeError: reward server down" in line
    assert {p.relative_to(run): _digest(p) for p in run.rglob("*") if p.is_file()} == before
    assert not [p for p in run.parent.iterdir() if run_folder.ASIDE_INFIX in p.name]


def test_overwrite_replaces_the_earlier_run_once_the_new_one_has_saved(demo_assets, run):
    old = _digest(run / "adapter_model.safetensors")
    assert train_grpo.main(_argv(demo_assets, run, "--max-steps", "1", "--overwrite", "--seed", "7")) == 0
    assert [p.name for p in run_folder.checkpoints(run)] == ["checkpoint-1"]
    assert _digest(run / "adapter_model.safetensors") != old
    assert json.loads((run / "run_config.json").read_text())["args"]["seed"] == 7
    assert not [p for p in run.parent.iterdir() if run_folder.ASIDE_INFIX in p.name]


def test_a_run_that_diverges_is_an_error_and_saves_no_adapter(demo_assets, tmp_path, capsys):
    out = tmp_path / "diverged"
    code = train_grpo.main(_argv(demo_assets, out, "--max-steps", "2", "--learning-rate", "1e30"))
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "diverged" in [x for x in err.splitlines() if x.startswith("error:")][0]
    assert not (out / "adapter_model.safetensors").exists()
    assert (out / "error.log").read_text().startswith("Traceback")


def test_a_crash_before_any_checkpoint_leaves_a_folder_the_next_command_handles(
    demo_assets, tmp_path, monkeypatch, capsys
):
    (tmp_path / "late_rewards.py").write_text(
        "def late(completions, trainer_state=None, **kwargs):\n"
        "    if trainer_state.global_step >= 1:\n        raise ValueError('late failure')\n"
        "    return [0.0] * len(completions)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "crashed"
    argv = _argv(demo_assets, out, "--max-steps", "3", "--save-steps", "10", "--extra-reward", "late_rewards:late")
    assert train_grpo.main(argv) == 1
    assert "at step 2 raised ValueError: late failure" in capsys.readouterr().err
    assert train_grpo.main(_argv(demo_assets, out, "--max-steps", "3")) == 2
    assert "saved no complete checkpoint" in capsys.readouterr().err
    assert train_grpo.main(_argv(demo_assets, out, "--max-steps", "3", "--resume")) == 2
    assert "Start it again with --overwrite" in capsys.readouterr().err
    assert train_grpo.main(_argv(demo_assets, out, "--max-steps", "1", "--overwrite")) == 0


def test_ctrl_c_at_start_up_exits_130_and_keeps_the_earlier_run(demo_assets, run):
    before = _digest(run / "adapter_model.safetensors")
    for delay in (0.5, 3.0):
        proc = subprocess.Popen(
            [sys.executable, "train_grpo.py", *_argv(demo_assets, run, "--overwrite")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=300)
        if "stopped by signal" in err:  # training had begun: a checkpoint of the new run replaced the old
            continue
        assert proc.returncode == train_grpo.EXIT_INTERRUPTED, err[-2000:]
        assert "Traceback" not in err
        assert err.strip().splitlines()[-1].startswith("interrupted:")
        assert _digest(run / "adapter_model.safetensors") == before


def test_check_output_dir_refuses_resume_without_a_run(tmp_path):
    (tmp_path / "notes").mkdir()
    with pytest.raises(UsageError, match="no checkpoint-. folder"):
        run_folder.check_output_dir(tmp_path / "notes", overwrite=False, resume=True)


def test_two_runs_started_at_once_on_one_folder_one_is_refused(demo_assets, tmp_path):
    out = tmp_path / "shared"
    argv = [sys.executable, "train_grpo.py", *_argv(demo_assets, out, "--max-steps", "1")]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], [err[-1500:] for _, err in results]
    refused = [err for code, err in results if code == 2][0]
    assert "Traceback" not in refused
    assert "in use by another training run" in refused or "written by another run" in refused
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines() if '"loss"' in line]
    assert steps == [1]  # one writer


def test_a_run_that_continues_an_adapter_resumes_and_records_where_it_came_from(demo_assets, finished, tmp_path):
    out = tmp_path / "continued"
    assert train_grpo.main(_argv(demo_assets, out, "--adapter", str(finished), "--max-steps", "1")) == 0
    record = json.loads((out / "run_config.json").read_text())
    assert Path(record["args"]["adapter"]) == finished.resolve()  # absolute: the record is read from anywhere
    assert train_grpo.main(["--output-dir", str(out), "--resume", "--max-steps", "2"]) == 0
    assert run_folder.trainer_state(out / "checkpoint-2")["global_step"] == 2
