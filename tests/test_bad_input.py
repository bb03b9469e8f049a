"""Bad input: every invocation exits non-zero with one line naming the fix, no traceback, and
leaves earlier output untouched."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import compare_base_vs_lora
import train_grpo


@pytest.fixture(scope="module")
def files(tmp_path_factory, demo_assets):
    root = tmp_path_factory.mktemp("bad")
    (root / "empty.jsonl").write_text("")
    (root / "corrupt.jsonl").write_text('{"question": "a", "answer": "1"}\n{broken\n')
    (root / "numbers.jsonl").write_text("\n".join(json.dumps({"x": i, "y": [i]}) for i in range(10)))
    (root / "long.jsonl").write_text("\n".join(json.dumps({"question": "why " * 200, "answer": "#### 1"}) for _ in range(4)))
    earlier = root / "earlier-run"
    earlier.mkdir()
    (earlier / "adapter_model.safetensors").write_bytes(b"precious")
    return root


def _train(demo_assets, files, *extra, output="fresh"):
    base = ["--model", str(demo_assets.model_dir), "--dataset", str(demo_assets.data_dir), "--local-only",
            "--output-dir", str(files / output), "--max-completion-length", "24"]
    return base + list(extra)


def _case(name, argv_of):
    return pytest.param(argv_of, id=name)


TRAIN_CASES = [
    ("missing dataset file", lambda d, f: _train(d, f, "--dataset", str(f / "nope.jsonl")), "not on disk"),
    ("empty dataset file", lambda d, f: _train(d, f, "--dataset", str(f / "empty.jsonl")), "is empty"),
    ("corrupt dataset file", lambda d, f: _train(d, f, "--dataset", str(f / "corrupt.jsonl")), "could not load"),
    ("unknown column override", lambda d, f: _train(d, f, "--prompt-field", "stem"), "column 'stem'"),
    ("no text column", lambda d, f: _train(d, f, "--dataset", str(f / "numbers.jsonl")), "no column looks like a prompt"),
    ("one generation", lambda d, f: _train(d, f, "--num-generations", "1"), "--num-generations must be at least 2"),
    ("batch not divisible", lambda d, f: _train(d, f, "--per-device-train-batch-size", "6"), "must be divisible by"),
    ("negative reward weight", lambda d, f: _train(d, f, "--reward-weights", "format_reward=-1"), "must be a number >= 0"),
    ("unknown reward weight", lambda d, f: _train(d, f, "--reward-weights", "speed=1"), "valid names"),
    ("unknown reward component", lambda d, f: _train(d, f, "--rewards", "accuracy"), "valid names"),
    ("bad extra reward", lambda d, f: _train(d, f, "--extra-reward", "nosuchmodule:f"), "--extra-reward"),
    ("output folder exists", lambda d, f: _train(d, f, output="earlier-run"), "is not empty"),
    ("resume without checkpoint", lambda d, f: _train(d, f, "--resume", output="earlier-run"), "no checkpoint"),
    ("model id not on disk", lambda d, f: _train(d, f, "--model", "someone/not-downloaded"), "not-downloaded"),
    ("vllm with 4-bit", lambda d, f: _train(d, f, "--use-vllm", "--quantization", "4bit"), "cannot be combined"),
    ("prompt longer than context", lambda d, f: _train(d, f, "--dataset", str(f / "long.jsonl")), "exceeds the model's context"),
    ("no model", lambda d, f: ["--dataset", str(d.data_dir), "--output-dir", str(f / "x")], "no model given"),
]

COMPARE_CASES = [
    ("missing adapter folder", lambda d, f: ["--adapter", str(f / "nope")], "does not exist"),
    ("folder that is not an adapter", lambda d, f: ["--adapter", str(f / "earlier-run")], "not an adapter folder"),
    ("samples without temperature", lambda d, f: ["--adapter", str(f / "nope"), "--num-samples-per-prompt", "3"],
     "--temperature"),
]


def _check(capsys, code, needle, files):
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code != 0
    assert len(errors) == 1, err
    assert needle in errors[0]
    assert "Traceback" not in err
    assert (files / "earlier-run" / "adapter_model.safetensors").read_bytes() == b"precious"
    assert not (files / "fresh").exists()


@pytest.mark.parametrize("name,argv_of,needle", TRAIN_CASES, ids=[c[0] for c in TRAIN_CASES])
def test_train_bad_input_is_one_line_error(demo_assets, files, capsys, name, argv_of, needle):
    _check(capsys, train_grpo.main(argv_of(demo_assets, files)), needle, files)


@pytest.mark.parametrize("name,argv_of,needle", COMPARE_CASES, ids=[c[0] for c in COMPARE_CASES])
def test_compare_bad_input_is_one_line_error(demo_assets, files, capsys, name, argv_of, needle):
    _check(capsys, compare_base_vs_lora.main(argv_of(demo_assets, files)), needle, files)


def test_a_real_process_exits_2_with_no_traceback(demo_assets, files):
    result = subprocess.run([sys.executable, "train_grpo.py", *_train(demo_assets, files, "--num-generations", "1")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: --num-generations")
    assert "Traceback" not in result.stderr
