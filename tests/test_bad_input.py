"""Bad input: every invocation exits non-zero with one line naming the fix, no traceback, and
leaves earlier output untouched."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import torch

import compare_base_vs_lora
import train_grpo


@pytest.fixture(scope="module")
def files(tmp_path_factory, demo_assets):
    root = tmp_path_factory.mktemp("bad")
    (root / "empty.jsonl").write_text("")
    (root / "corrupt.jsonl").write_text('{"question": "a", "answer": "1"}\n{broken\n')
    (root / "numbers.jsonl").write_text("\n".join(json.dumps({"x": i, "y": [i]}) for i in range(10)))
    (root / "long.jsonl").write_text(
        "\n".join(json.dumps({"question": "why " * 200, "answer": "#### 1"}) for _ in range(4))
    )
    earlier = root / "earlier-run"
    earlier.mkdir()
    (earlier / "adapter_model.safetensors").write_bytes(b"precious")
    (root / "two.jsonl").write_text(
        "\n".join(json.dumps({"question": f"What is {i} + 1?", "answer": f"#### {i + 1}"}) for i in range(2))
    )
    (root / "user-files").mkdir()
    (root / "user-files" / "thesis.tex").write_text("precious")
    (root / "clone").mkdir()
    (root / "clone" / ".git").mkdir()
    (root / "clone" / "run_config.json").write_text("{}")
    (root / "clash_rewards.py").write_text(
        "def format_reward(completions, **kwargs):\n    return [0.0] * len(completions)\n"
    )
    (root / "broken_rewards.py").write_text("x = 1 / 0\n")
    models = root / "models"
    (models / "empty").mkdir(parents=True)
    for name in ("bin-only", "no-weights", "truncated", "no-tokenizer"):
        shutil.copytree(demo_assets.model_dir, models / name)
        for weights in (models / name).glob("*.safetensors"):
            if name == "truncated":
                weights.write_bytes(weights.read_bytes()[:5000])
            elif name != "no-tokenizer":
                weights.unlink()
    for tokenizer_file in (models / "no-tokenizer").glob("tokenizer*"):
        tokenizer_file.unlink()
    (models / "bin-only" / "pytorch_model.bin").write_bytes(b"pickle")
    (models / "adapter").mkdir()
    (models / "adapter" / "adapter_config.json").write_text("{}")
    # Adapters trained on other models: one layer 7 inputs wide, one layer the demo model lacks.
    from safetensors.torch import save_file

    for name, key in (
        ("narrow-adapter", "model.layers.0.self_attn.q_proj"),
        ("alien-adapter", "transformer.h.0.attn.c_attn"),
    ):
        (models / name).mkdir()
        (models / name / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4}))
        save_file(
            {f"base_model.model.{key}.lora_A.weight": torch.zeros(4, 7)}, models / name / "adapter_model.safetensors"
        )
    return root


def _train(demo_assets, files, *extra, output="fresh"):
    base = [
        "--model",
        str(demo_assets.model_dir),
        "--dataset",
        str(demo_assets.data_dir),
        "--local-only",
        "--output-dir",
        str(files / output),
        "--max-completion-length",
        "24",
    ]
    return base + list(extra)


def _case(name, argv_of):
    return pytest.param(argv_of, id=name)


TRAIN_CASES = [
    ("missing dataset file", lambda d, f: _train(d, f, "--dataset", str(f / "nope.jsonl")), "not on disk"),
    ("empty dataset file", lambda d, f: _train(d, f, "--dataset", str(f / "empty.jsonl")), "is empty"),
    ("corrupt dataset file", lambda d, f: _train(d, f, "--dataset", str(f / "corrupt.jsonl")), "could not load"),
    ("unknown column override", lambda d, f: _train(d, f, "--prompt-field", "stem"), "column 'stem'"),
    (
        "no text column",
        lambda d, f: _train(d, f, "--dataset", str(f / "numbers.jsonl")),
        "no column looks like a prompt",
    ),
    ("one generation", lambda d, f: _train(d, f, "--num-generations", "1"), "--num-generations must be at least 2"),
    ("batch not divisible", lambda d, f: _train(d, f, "--per-device-train-batch-size", "6"), "must be divisible by"),
    (
        "negative reward weight",
        lambda d, f: _train(d, f, "--reward-weights", "format_reward=-1"),
        "must be a number >= 0",
    ),
    ("unknown reward weight", lambda d, f: _train(d, f, "--reward-weights", "speed=1"), "valid names"),
    ("unknown reward component", lambda d, f: _train(d, f, "--rewards", "accuracy"), "valid names"),
    ("bad extra reward", lambda d, f: _train(d, f, "--extra-reward", "nosuchmodule:f"), "--extra-reward"),
    ("output folder exists", lambda d, f: _train(d, f, output="earlier-run"), "is not empty"),
    ("resume without checkpoint", lambda d, f: _train(d, f, "--resume", output="earlier-run"), "no checkpoint"),
    ("model id not on disk", lambda d, f: _train(d, f, "--model", "someone/not-downloaded"), "not-downloaded"),
    ("vllm with 4-bit", lambda d, f: _train(d, f, "--use-vllm", "--quantization", "4bit"), "cannot be combined"),
    (
        "prompt longer than context",
        lambda d, f: _train(d, f, "--dataset", str(f / "long.jsonl")),
        "exceeds the model's context",
    ),
    ("no model", lambda d, f: ["--dataset", str(d.data_dir), "--output-dir", str(f / "x")], "no model given"),
    # Every float flag is finite, every flag in its range.
    (
        "nan learning rate",
        lambda d, f: _train(d, f, "--learning-rate", "nan"),
        "--learning-rate must be a finite number",
    ),
    (
        "inf learning rate",
        lambda d, f: _train(d, f, "--learning-rate", "inf"),
        "--learning-rate must be a finite number",
    ),
    ("inf temperature", lambda d, f: _train(d, f, "--temperature", "inf"), "--temperature must be a finite"),
    ("nan beta", lambda d, f: _train(d, f, "--beta", "nan"), "--beta must be a finite"),
    ("top-p zero", lambda d, f: _train(d, f, "--top-p", "0"), "--top-p must be in (0, 1]"),
    ("top-p above one", lambda d, f: _train(d, f, "--top-p", "1.5"), "--top-p must be in (0, 1]"),
    ("lora dropout one", lambda d, f: _train(d, f, "--lora-dropout", "1"), "--lora-dropout must be in [0, 1)"),
    ("epsilon zero", lambda d, f: _train(d, f, "--epsilon", "0"), "--epsilon must be greater than 0"),
    ("negative beta", lambda d, f: _train(d, f, "--beta", "-0.1"), "--beta must be at least 0"),
    ("lora alpha zero", lambda d, f: _train(d, f, "--lora-alpha", "0"), "does nothing"),
    ("negative seed", lambda d, f: _train(d, f, "--seed", "-1"), "--seed must be in [0, 4294967295]"),
    (
        "minus inf learning rate",
        lambda d, f: _train(d, f, "--learning-rate", "-inf"),
        "--learning-rate must be a finite",
    ),
    ("tracker not installed", lambda d, f: _train(d, f, "--report-to", "wandb"), "pip install wandb"),
    (
        "zero batch",
        lambda d, f: _train(d, f, "--per-device-train-batch-size", "0"),
        "--per-device-train-batch-size must be at least 1",
    ),
    (
        "zero accumulation",
        lambda d, f: _train(d, f, "--gradient-accumulation-steps", "0"),
        "--gradient-accumulation-steps must be at least 1",
    ),
    ("zero logging steps", lambda d, f: _train(d, f, "--logging-steps", "0"), "--logging-steps must be at least 1"),
    ("zero save steps", lambda d, f: _train(d, f, "--save-steps", "0"), "--save-steps must be at least 1"),
    ("zero iterations", lambda d, f: _train(d, f, "--num-iterations", "0"), "--num-iterations must be at least 1"),
    ("zero max samples", lambda d, f: _train(d, f, "--max-samples", "0"), "--max-samples must be at least 1"),
    ("zero max steps", lambda d, f: _train(d, f, "--max-steps", "0"), "a run of zero steps trains nothing"),
    ("zero epochs", lambda d, f: _train(d, f, "--max-steps", "-1", "--num-train-epochs", "0"), "zero epochs"),
    ("lm_head target", lambda d, f: _train(d, f, "--lora-target-modules", "q_proj,lm_head"), "lm_head"),
    (
        "all reward weights zero",
        lambda d, f: _train(
            d,
            f,
            "--rewards",
            "reference_reward,format_reward",
            "--reward-weights",
            "reference_reward=0,format_reward=0",
        ),
        "every reward weight is 0",
    ),
    (
        "weight for an unselected component",
        lambda d, f: _train(d, f, "--rewards", "reference_reward", "--reward-weights", "format_reward=1"),
        "--rewards does not select it",
    ),
    ("component listed twice", lambda d, f: _train(d, f, "--rewards", "format_reward,format_reward"), "twice"),
    (
        "extra reward named like a built-in",
        lambda d, f: _train(d, f, "--extra-reward", "clash_rewards:format_reward"),
        "name of a built-in component",
    ),
    (
        "extra reward module that fails to import",
        lambda d, f: _train(d, f, "--extra-reward", "broken_rewards:f"),
        "importing broken_rewards failed (ZeroDivisionError",
    ),
    (
        "extra reward that is missing",
        lambda d, f: _train(d, f, "--extra-reward", "clash_rewards:nothing"),
        "has no 'nothing'",
    ),
    (
        "fewer rows than one step",
        lambda d, f: _train(
            d, f, "--dataset", str(f / "two.jsonl"), "--per-device-train-batch-size", "16", "--num-generations", "4"
        ),
        "usable training row(s) but one step needs 4 prompt(s)",
    ),
    (
        "unknown lora target",
        lambda d, f: _train(d, f, "--lora-target-modules", "q_proj,c_attn"),
        "no layer named c_attn; its linear layers are down_proj",
    ),
    (
        "lora flags with an adapter",
        lambda d, f: _train(d, f, "--adapter", str(f / "models" / "adapter"), "--lora-r", "4"),
        "--lora-r cannot change an existing adapter",
    ),
    (
        "adapter inside the output folder",
        lambda d, f: _train(d, f, "--adapter", str(f / "models" / "adapter"), "--overwrite", output="models"),
        "is inside --output-dir",
    ),
    ("peft's all-linear", lambda d, f: _train(d, f, "--lora-target-modules", "all-linear"), "pass auto alone"),
    ("auto mixed with names", lambda d, f: _train(d, f, "--lora-target-modules", "auto,q_proj"), "pass auto alone"),
    ("empty dataset config", lambda d, f: _train(d, f, "--dataset-config", ""), "--dataset-config is empty"),
    (
        "adapter of a narrower model",
        lambda d, f: _train(d, f, "--adapter", str(f / "models" / "narrow-adapter"), "--dry-run"),
        "does not fit --model",
    ),
    (
        "adapter of another architecture",
        lambda d, f: _train(d, f, "--adapter", str(f / "models" / "alien-adapter"), "--dry-run"),
        "which the model lacks",
    ),
    (
        "lora rank above every layer",
        lambda d, f: _train(d, f, "--lora-r", "100000"),
        "--lora-r 100000 is larger than any target layer allows (rank at most",
    ),
    # Model folders that cannot load, each named with its problem.
    (
        "model folder without config",
        lambda d, f: _train(d, f, "--model", str(f / "models" / "empty")),
        "has no config.json",
    ),
    ("pickle-only model", lambda d, f: _train(d, f, "--model", str(f / "models" / "bin-only")), "safetensors only"),
    (
        "model without weights",
        lambda d, f: _train(d, f, "--model", str(f / "models" / "no-weights")),
        "no weights (*.safetensors)",
    ),
    ("truncated weights", lambda d, f: _train(d, f, "--model", str(f / "models" / "truncated")), "truncated"),
    (
        "model without tokenizer",
        lambda d, f: _train(d, f, "--model", str(f / "models" / "no-tokenizer")),
        "has no tokenizer files",
    ),
    ("model is a file", lambda d, f: _train(d, f, "--model", str(f / "corrupt.jsonl")), "is a file"),
    ("model path missing", lambda d, f: _train(d, f, "--model", str(f / "models" / "gone")), "no such folder"),
    (
        "adapter given as model",
        lambda d, f: _train(d, f, "--model", str(f / "models" / "adapter")),
        "is a LoRA adapter, not a model",
    ),
    # Output folders: never the user's files.
    (
        "overwrite a folder of user files",
        lambda d, f: _train(d, f, "--overwrite", output="user-files"),
        "is not a run of this suite",
    ),
    ("overwrite a git working tree", lambda d, f: _train(d, f, "--overwrite", output="clone"), "is a git working tree"),
    ("output folder is a file", lambda d, f: _train(d, f, output="corrupt.jsonl"), "is a file, not a folder"),
]

COMPARE_CASES = [
    ("missing adapter folder", lambda d, f: ["--adapter", str(f / "nope")], "does not exist"),
    ("folder that is not an adapter", lambda d, f: ["--adapter", str(f / "earlier-run")], "not an adapter folder"),
    (
        "samples without temperature",
        lambda d, f: ["--adapter", str(f / "nope"), "--num-samples-per-prompt", "3"],
        "--temperature",
    ),
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
def test_train_bad_input_is_one_line_error(demo_assets, files, capsys, monkeypatch, name, argv_of, needle):
    monkeypatch.syspath_prepend(str(files))  # the --extra-reward modules
    _check(capsys, train_grpo.main(argv_of(demo_assets, files)), needle, files)
    assert (files / "user-files" / "thesis.tex").read_text() == "precious"


@pytest.mark.parametrize("name,argv_of,needle", COMPARE_CASES, ids=[c[0] for c in COMPARE_CASES])
def test_compare_bad_input_is_one_line_error(demo_assets, files, capsys, name, argv_of, needle):
    _check(capsys, compare_base_vs_lora.main(argv_of(demo_assets, files)), needle, files)


def test_a_real_process_exits_2_with_no_traceback(demo_assets, files):
    result = subprocess.run(
        [sys.executable, "train_grpo.py", *_train(demo_assets, files, "--num-generations", "1")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: --num-generations")
    assert "Traceback" not in result.stderr


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    return errors[0]


@pytest.mark.parametrize("where", ["home", "cwd", "parent of cwd"])
def test_overwrite_never_takes_home_the_current_folder_or_above(demo_assets, tmp_path, monkeypatch, capsys, where):
    place = tmp_path / "place"
    (place / "inner").mkdir(parents=True)
    (place / "run_config.json").write_text(json.dumps({"suite": "grpo-suite", "args": {}}))  # looks like a run
    (place / "inner" / "keep.txt").write_text("mine")
    if where == "home":
        monkeypatch.setenv("HOME", str(place))
        target, expected = place, "is your home folder"
    elif where == "cwd":
        monkeypatch.chdir(place)
        target, expected = ".", "is the current folder"
    else:
        monkeypatch.chdir(place / "inner")
        target, expected = "..", "holds the current folder"
    argv = [
        "--model",
        str(demo_assets.model_dir),
        "--dataset",
        str(demo_assets.data_dir),
        "--local-only",
        "--output-dir",
        str(target),
        "--overwrite",
    ]
    assert train_grpo.main(argv) == 2
    assert expected in _error_line(capsys)
    assert (place / "inner" / "keep.txt").read_text() == "mine"


def test_not_empty_suggests_overwrite_only_where_it_is_allowed(demo_assets, files, capsys):
    run = files / "looks-like-run"
    (run / "checkpoint-3").mkdir(parents=True)
    (run / "checkpoint-3" / "trainer_state.json").write_text("{}")
    assert train_grpo.main(_train(demo_assets, files, output="looks-like-run")) == 2
    assert "--overwrite to replace it" in _error_line(capsys)
    assert train_grpo.main(_train(demo_assets, files, output="user-files")) == 2
    line = _error_line(capsys)
    assert "thesis.tex" in line and "--overwrite" not in line
    mixed = files / "run-with-notes"
    (mixed / "checkpoint-3").mkdir(parents=True)
    (mixed / "checkpoint-3" / "trainer_state.json").write_text("{}")
    (mixed / "notes.md").write_text("mine")
    assert train_grpo.main(_train(demo_assets, files, "--overwrite", output="run-with-notes")) == 2
    assert "notes.md" in _error_line(capsys) and (mixed / "notes.md").exists()
    # User files hidden inside a checkpoint, the report or tracker folders are found too.
    (mixed / "notes.md").unlink()
    for hidden in ("checkpoint-3/thesis.docx", "report/mine.txt", "runs/mine.txt"):
        (mixed / hidden).parent.mkdir(exist_ok=True)
        (mixed / hidden).write_text("mine")
        assert train_grpo.main(_train(demo_assets, files, "--overwrite", output="run-with-notes")) == 2
        assert hidden in _error_line(capsys) and (mixed / hidden).read_text() == "mine"
        (mixed / hidden).unlink()
    # A folder whose only "checkpoint" holds a user's file is not a run at all.
    fake = files / "fake-run"
    (fake / "checkpoint-7").mkdir(parents=True)
    (fake / "checkpoint-7" / "thesis.docx").write_text("mine")
    (fake / "README.md").write_text("mine")
    assert train_grpo.main(_train(demo_assets, files, "--overwrite", output="fake-run")) == 2
    assert "is not a run of this suite" in _error_line(capsys)
    assert (fake / "checkpoint-7" / "thesis.docx").read_text() == "mine"


def test_overwrite_refuses_a_symlink(demo_assets, files, capsys):
    (files / "link").symlink_to(files / "earlier-run")
    assert train_grpo.main(_train(demo_assets, files, "--overwrite", output="link")) == 2
    assert "symbolic link" in _error_line(capsys)
    assert (files / "earlier-run" / "adapter_model.safetensors").read_bytes() == b"precious"


def test_a_bad_flag_value_is_one_line_without_usage_block(demo_assets, files):
    result = subprocess.run([sys.executable, "train_grpo.py", "--lora-r", "abc"], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: argument --lora-r: invalid int value: 'abc' (see train_grpo.py --help)"
    ]


def test_user_reward_misbehaviour_is_named_with_the_fix():
    import functools

    from grpo_suite import checks

    def scorer(completions, scale=1.0, **kwargs):
        return [scale] * len(completions)

    partial = checks.guard_user_reward(functools.partial(scorer, scale=2.0), "m:double", "double")
    assert partial.__name__ == "double" and partial(["a", "b"]) == [2.0, 2.0]
    assert checks.reward_name(functools.partial(scorer), "m:double") == "double"
    cases = {
        "wrong length": (lambda c, **k: [1.0], "returned 1 values for 2 completions"),
        "None": (lambda c, **k: None, "returned NoneType"),
        "string": (lambda c, **k: "1.0", "returned str"),
        "strings inside": (lambda c, **k: ["1", "2"], "returned '1' (str)"),
        "raises": (lambda c, **k: 1 / 0, "raised ZeroDivisionError: division by zero"),
        "all inf": (lambda c, **k: [float("inf")] * len(c), "non-finite value (NaN or inf) for every completion"),
    }
    for name, (func, needle) in cases.items():
        guarded = checks.guard_user_reward(func, "m:f", "f")
        with pytest.raises(checks.RewardError, match=None) as info:
            guarded(["a", "b"])
        assert needle in str(info.value), name
    some_nan = checks.guard_user_reward(lambda c, **k: [float("nan"), 0.5], "m:f", "f")
    assert some_nan(["a", "b"]) == [None, 0.5]
