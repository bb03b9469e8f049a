"""Every recipe in recipes/ trains one step (model and data swapped for the demo's), and a run's
own run_config.json replays it: the same resolved flags and the same GRPOConfig."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

import train_grpo
from grpo_suite import config as grpo_config
from grpo_suite import run_folder

RECIPES = sorted((Path(__file__).resolve().parent.parent / "recipes").glob("*.yaml"))
# One step, tiny: 2 shared CPU cores. 4-bit and bf16 are GPU settings (bench_gpu.py runs them).
# One step must move the adapter (an unchanged one is an error): no warm-up, answers long enough to read.
TINY = [
    "--max-steps",
    "1",
    "--warmup-ratio",
    "0",
    "--max-completion-length",
    "24",
    "--per-device-train-batch-size",
    "8",
    "--num-generations",
    "4",
    "--gradient-accumulation-steps",
    "1",
    "--logging-steps",
    "1",
    "--save-steps",
    "1",
    "--eval-steps",
    "0",
    "--quantization",
    "none",
    "--dtype",
    "float32",
    "--max-samples",
    "16",
]


def _on_demo(recipe: Path, demo_assets, tmp_path: Path) -> Path:
    """The recipe with its model and dataset swapped for the demo's (same GSM8K schema)."""
    values = yaml.safe_load(recipe.read_text())
    if not values.get("demo"):
        values.update(model=str(demo_assets.model_dir), dataset=str(demo_assets.data_dir), local_only=True)
        values.pop("dataset_config", None)  # a local save_to_disk folder has no configs
    path = tmp_path / recipe.name
    path.write_text(yaml.safe_dump(values))
    return path


def _record(out: Path) -> dict:
    return json.loads((out / "run_config.json").read_text())


def test_there_are_recipes_for_each_setting_the_issue_names():
    names = {p.stem for p in RECIPES}
    assert {
        "demo",
        "qwen2.5-0.5b-gsm8k-qlora",
        "qwen2.5-1.5b-gsm8k-qlora",
        "qwen2.5-7b-gsm8k-4gpu",
        "dapo",
        "gspo",
    } <= names


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_every_recipe_holds_only_known_flags_of_valid_values(recipe):
    values = grpo_config.load_config(str(recipe))
    tokens = grpo_config.config_tokens(train_grpo.build_parser(), values, str(recipe))
    args = train_grpo.build_parser().parse_args(tokens)
    for key, value in values.items():
        assert getattr(args, key) == value, key


@pytest.mark.slow
@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_every_recipe_trains_one_step_on_the_demo_model(recipe, demo_assets, tmp_path, monkeypatch):
    monkeypatch.setenv("GRPO_SUITE_CACHE", str(demo_assets.model_dir.parent.parent))  # demo: true finds it
    out = tmp_path / "run"
    config = _on_demo(recipe, demo_assets, tmp_path)
    assert train_grpo.main(["--config", str(config), "--output-dir", str(out), *TINY]) == 0
    assert (out / "adapter_model.safetensors").is_file()
    recorded = _record(out)["args"]
    written = yaml.safe_load(recipe.read_text())
    overridden = {a.lstrip("-").replace("-", "_") for a in TINY if a.startswith("--")}
    for key, value in written.items():
        if key not in overridden | {"model", "dataset", "dataset_config"}:
            assert recorded[key] == value, key  # the recipe's own settings reached the run
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert max(steps) == 1


@pytest.mark.slow
def test_a_run_replayed_from_its_run_config_resolves_to_the_same_configuration(demo_assets, tmp_path):
    gspo = next(p for p in RECIPES if p.stem == "gspo")
    first = tmp_path / "first"
    argv = [
        "--config",
        str(_on_demo(gspo, demo_assets, tmp_path)),
        "--output-dir",
        str(first),
        *TINY,
        "--grpo-arg",
        "entropy_coef=0.001",
        "--chat-template-kwargs",
        '{"enable_thinking": false}',
    ]
    assert train_grpo.main(argv) == 0
    record = _record(first)

    again = grpo_config.parse_with_config(
        train_grpo.build_parser(), ["--config", str(first / "run_config.json"), "--output-dir", str(tmp_path / "again")]
    )
    again = train_grpo.resolve_args(again)
    replayed = json.loads(json.dumps(vars(again), default=str))
    for key in set(record["args"]) | set(replayed):
        if key not in ("output_dir", "config"):
            assert replayed[key] == record["args"][key], key
    assert replayed["importance_sampling_level"] == "sequence" and replayed["grpo_arg"] == ["entropy_coef=0.001"]

    fresh = [str(tmp_path / "fresh") if a == str(first) else a for a in argv]  # the first folder is taken now
    original = train_grpo.resolve_args(grpo_config.parse_with_config(train_grpo.build_parser(), fresh))
    weights = list(record["rewards"].values())
    a, b = train_grpo.grpo_config(original, weights).to_dict(), train_grpo.grpo_config(again, weights).to_dict()
    differ = {k for k in a if a[k] != b[k]} - {"output_dir", "logging_dir"}
    assert not differ
    assert b["entropy_coef"] == 0.001 and b["epsilon_high"] == 4.0e-4 and b["steps_per_generation"] == 4


def test_a_replay_ignores_how_the_recorded_run_was_invoked(tmp_path):
    record = {
        "suite": run_folder.SUITE,
        "args": {
            "output_dir": "/x",
            "overwrite": True,
            "resume": False,
            "lora_r": 8,
            "dry_run": False,
            "config": "/old.yaml",
        },
    }
    (tmp_path / "run_config.json").write_text(json.dumps(record))
    assert grpo_config.load_config(str(tmp_path / "run_config.json")) == {"lora_r": 8}


# --- the GPU benchmark's smoke run (the scaled-down shape; on a machine without CUDA it is the default) ---


@pytest.mark.slow
def test_bench_gpu_smoke_run_trains_both_arms_and_says_gpu_figures_need_a_gpu(
    demo_assets, tmp_path, monkeypatch, capsys
):
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import bench_gpu

    monkeypatch.setenv("GRPO_SUITE_CACHE", str(demo_assets.model_dir.parent.parent))
    result = tmp_path / "rows.json"
    argv = [
        "--smoke",
        "--steps",
        "1",
        "--max-completion-length",
        "4",
        "--work-dir",
        str(tmp_path),
        "--json",
        str(result),
    ]
    assert bench_gpu.main(argv) == 0
    out = capsys.readouterr().out
    assert "GPU figures need a GPU" in out and "| smoke |" in out
    rows = json.loads(result.read_text())["rows"]
    assert [r["arm"] for r in rows] == ["4bit", "bf16"]
    for row in rows:
        assert row["steps"] == 1 and row["s_per_step"] > 0 and row["gen_tokens_per_s"] > 0
        assert (row["peak_bytes"] is None) == (not torch.cuda.is_available())
    assert (tmp_path / "smoke" / "config.json").is_file()
