"""Every --grpo-arg and --config value checked before any weight loads (grpo_suite/preflight.py).

The refusals run against a copy of the demo model whose weights file is garbage: a refusal in our
words (not a safetensors error) shows that it came before the weights were read.
"""

from __future__ import annotations

import json
import shutil
import typing

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import train_grpo
from grpo_suite import config
from grpo_suite.errors import UsageError


@pytest.fixture(scope="module")
def broken_weights(demo_assets, tmp_path_factory):
    """The demo model whose weights are valid safetensors of the wrong shapes: loading them would
    fail loudly with a size mismatch, so a refusal in our words came before they were read."""
    import torch
    from safetensors.torch import load_file, save_file

    folder = tmp_path_factory.mktemp("broken") / "model"
    shutil.copytree(demo_assets.model_dir, folder)
    for weights in folder.glob("*.safetensors"):
        save_file({name: torch.zeros(1) for name in load_file(weights)}, weights, metadata={"format": "pt"})
    return folder


def _argv(model, data, out, *extra):
    return [
        "--model",
        str(model),
        "--dataset",
        str(data),
        "--local-only",
        "--output-dir",
        str(out),
        "--max-steps",
        "1",
        "--max-completion-length",
        "16",
        "--per-device-train-batch-size",
        "8",
        "--num-generations",
        "4",
        *extra,
    ]


# --grpo-arg KEY=VALUE: the words the refusal must say.
REFUSED = {
    "adam_beta1=2.0": "--grpo-arg adam_beta1=2.0: adam_beta1 must be in [0, 1)",
    "adam_beta2=1.5": "adam_beta2 must be in [0, 1)",
    "adam_epsilon=0": "adam_epsilon must be greater than 0",
    "eval_on_start=true": "pass --eval-steps N",
    "metric_for_best_model=reward": "acts only when the run evaluates on held-out data",
    "push_to_hub=true": "push_to_hub needs the network, and this run is offline",
    "hub_model_id=me/run": "hub_model_id needs the network",
    "save_total_limit=0": "save_total_limit must be at least 1",
    "save_only_model=true": "cannot be resumed",
    "local_rank=3": "the launcher (accelerate launch or torchrun) sets it",
    "resume_from_checkpoint=/tmp/x": "use --resume",
    "fsdp=full_shard": "works only in a distributed launch",
    "sync_ref_model=true": "TRL cannot sync a reference model under LoRA",
    "neftune_noise_alpha=-1": "neftune_noise_alpha must be in [0, 100]",
    "optim_args=bogus": "--grpo-arg optim_args=bogus: the optimizer cannot be built",
    "vllm_group_port=99999999999": "vllm_group_port must be in [1, 65535]",
    "dataloader_num_workers=-1": "dataloader_num_workers must be in [0, 256]",
    "ddp_timeout=-5": "ddp_timeout must be at least 1",
    "torch_empty_cache_steps=0": "torch_empty_cache_steps",
    "log_level=loud": "log_level must be one of detail, debug, info",
    "cache_implementation=fast": "cache_implementation must be one of",
    "router_aux_loss_coef=0.5": "is no Mixture-of-Experts model",
    "cast_lm_head_to_fp32=true": "ties its output layer to its embeddings",
    # From a hostile user's trial: each of these used to fail after the weights loaded.
    'generation_kwargs={"max_new_tokens": -5}': "max_new_tokens is set by --max-completion-length",
    'generation_kwargs={"num_beams": "abc"}': "num_beams must be a number",
    'generation_kwargs={"eos_token_id": "x"}': "eos_token_id must be a token id",
    "dataloader_persistent_workers=true": "needs worker processes",
    "torch_compile_mode=bogus": "torch_compile_mode must be one of default",
    "neftune_noise_alpha=1e30": "neftune_noise_alpha must be in [0, 100]",
    "deepspeed=/nonexistent.json": "no such file",
    "load_best_model_at_end=true": "pass --eval-steps N",
}
# Flag combinations, each refused before loading: (flags, words of the refusal).
REFUSED_FLAGS = {
    "metric_not_logged": (
        ["--eval-steps", "1", "--grpo-arg", "metric_for_best_model=bogus"],
        "not a metric the evaluation logs",
    ),
    "negative_polynomial_power": (
        ["--lr-scheduler-type", "polynomial", "--grpo-arg", 'lr_scheduler_kwargs={"power": -1}'],
        "--lr-scheduler-type polynomial: the learning-rate schedule refused its settings",
    ),
    "plateau_without_evaluation": (["--lr-scheduler-type", "reduce_lr_on_plateau"], "needs evaluation"),
    "sync_ref_model_under_lora": (["--beta", "0.04", "--grpo-arg", "sync_ref_model=true"], "under LoRA"),
    "codecarbon_not_installed": (["--report-to", "codecarbon"], "pip install codecarbon"),
    "kubeflow_without_its_server": (["--report-to", "kubeflow"], "set KUBEFLOW_TRAINER_SERVER_URL"),
}


@pytest.mark.parametrize("name", REFUSED_FLAGS)
def test_a_combination_training_would_reject_is_one_line_before_any_weight_loads(
    name, broken_weights, demo_assets, tmp_path, capsys, monkeypatch
):
    monkeypatch.delenv("KUBEFLOW_TRAINER_SERVER_URL", raising=False)
    extra, words = REFUSED_FLAGS[name]
    out = tmp_path / "run"
    assert train_grpo.main(_argv(broken_weights, demo_assets.data_dir, out, *extra)) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and words in lines[0], err
    assert "could not load the model" not in err and not out.exists()


@pytest.mark.parametrize("item", REFUSED)
def test_a_grpo_arg_training_would_reject_is_one_line_before_any_weight_loads(
    item, broken_weights, demo_assets, tmp_path, capsys
):
    out = tmp_path / "run"
    code = train_grpo.main(_argv(broken_weights, demo_assets.data_dir, out, "--grpo-arg", item))
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and REFUSED[item] in lines[0], err
    assert "Traceback" not in err and "could not load the model" not in err
    assert not out.exists()


def test_the_refused_optimizer_setting_is_the_one_training_would_have_hit(demo_assets, tmp_path):
    # The same value the table refuses is one torch refuses: the table is no stricter than training.
    import torch

    with pytest.raises(ValueError, match="Invalid beta parameter"):
        torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], betas=(2.0, 0.999))


def test_an_accepted_optimizer_setting_reaches_the_trainers_optimizer(demo_assets, tmp_path):
    argv = _argv(
        demo_assets.model_dir,
        demo_assets.data_dir,
        tmp_path / "run",
        "--grpo-arg",
        "adam_beta1=0.85",
        "--grpo-arg",
        "adam_epsilon=1e-6",
    )
    trainer = train_grpo.trainer_from_args(train_grpo.resolve_args(train_grpo.build_parser().parse_args(argv)))
    trainer.create_optimizer_and_scheduler(num_training_steps=1)
    group = trainer.optimizer.param_groups[0]
    assert group["betas"][0] == pytest.approx(0.85) and group["eps"] == pytest.approx(1e-6)


# --- --config files ---------------------------------------------------------------------------------


def _config_error(path, demo_assets, tmp_path, capsys) -> str:
    out = tmp_path / "run"
    argv = ["--model", str(demo_assets.model_dir), "--dataset", str(demo_assets.data_dir), "--local-only"]
    code = train_grpo.main([*argv, "--output-dir", str(out), "--config", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and not out.exists(), err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


CONFIG_CASES = {
    "absurd_steps.yaml": (
        "max_steps: 99999999999999999999999\n",
        "--max-steps must be at most 10,000,000 (got 99999999999999999999999)",
    ),
    "absurd_length.yaml": ("max_completion_length: 100000000\n", "--max-completion-length must be at most"),
    "absurd_batch.json": ('{"per_device_train_batch_size": 1000000}', "--per-device-train-batch-size must be at most"),
    "optimizer.yaml": ("grpo_arg:\n  - adam_beta1=2.0\n", "--grpo-arg adam_beta1=2.0: adam_beta1 must be in [0, 1)"),
    "nested.json": (
        json.dumps({"chat_template_kwargs": {"a": {"b": {"c": {"d": 1}}}}}),
        "'chat_template_kwargs' is nested more than 3 levels deep",
    ),
    "bomb.json": ('{"seed": ' + "[" * 50000 + "]" * 50000 + "}", "nested too deep to read"),
}


@pytest.mark.parametrize("name", CONFIG_CASES)
def test_a_config_file_value_training_would_reject_is_one_line_naming_the_file(name, demo_assets, tmp_path, capsys):
    text, words = CONFIG_CASES[name]
    path = tmp_path / name
    path.write_text(text)
    line = _config_error(path, demo_assets, tmp_path, capsys)
    assert line.startswith(f"error: --config {path}: ") and words in line, line


def test_a_bad_file_value_that_the_command_line_replaces_is_not_refused(demo_assets, tmp_path):
    path = tmp_path / "override.yaml"
    path.write_text("max_steps: 1e23\nlora_r: abc\nseed: 5\n")
    argv = ["--config", str(path), "--demo", "--max-steps", "2", "--lora-r", "8"]
    args = config.parse_with_config(train_grpo.build_parser(), argv)
    assert (args.max_steps, args.lora_r, args.seed) == (2, 8, 5)


def test_a_bad_grpo_arg_of_the_file_is_blamed_on_it_beside_one_of_the_command_line(demo_assets, tmp_path, capsys):
    path = tmp_path / "ga.yaml"
    path.write_text("grpo_arg:\n  - adam_beta1=1.5\n")
    argv = ["--model", str(demo_assets.model_dir), "--dataset", str(demo_assets.data_dir), "--local-only"]
    argv += ["--output-dir", str(tmp_path / "run"), "--config", str(path), "--grpo-arg", "entropy_coef=0.01"]
    assert train_grpo.main(argv) == 2
    assert f"error: --config {path}: --grpo-arg adam_beta1=1.5" in capsys.readouterr().err


def test_a_value_given_on_the_command_line_is_not_blamed_on_the_config_file(demo_assets, tmp_path, capsys):
    path = tmp_path / "fine.yaml"
    path.write_text("seed: 3\n")
    out = tmp_path / "run"
    argv = _argv(demo_assets.model_dir, demo_assets.data_dir, out, "--config", str(path), "--max-steps", str(10**12))
    assert train_grpo.main(argv) == 2
    err = capsys.readouterr().err
    assert "error: --max-steps must be at most" in err and "--config" not in err


def test_a_config_file_with_a_utf8_byte_order_mark_is_read(demo_assets, tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufeffmax_steps: 3\nseed: 7\n".encode("utf-8"))
    args = config.parse_with_config(train_grpo.build_parser(), ["--config", str(path), "--demo"])
    assert (args.max_steps, args.seed) == (3, 7)


# --- property: random --grpo-arg keys and typed values ------------------------------------------------

_SAMPLES = {
    bool: ["true", "false"],
    int: ["-1", "0", "1", "3", "1000000000000"],
    float: ["-1.0", "0", "0.5", "1", "2.5", "1e30"],
    str: ["", "x", "steps", "no", "auto"],
    dict: ["{}", '{"a": 1}'],
    list: ["[]", '["x"]'],
}


def _texts(tp) -> list[str]:
    """Command-line texts for a GRPOConfig field's type: valid ones, edge values and junk."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, __import__("types").UnionType):
        return sorted({t for member in typing.get_args(tp) for t in _texts(member)} | {"none"})
    if origin is typing.Literal:
        return [str(c) for c in typing.get_args(tp)] + ["bogus"]
    if isinstance(tp, type) and issubclass(tp, __import__("enum").Enum):
        return [str(m.value) for m in tp][:4] + ["bogus"]
    for kind, texts in _SAMPLES.items():
        if tp is kind or origin is kind:
            return texts
    return ["x"]


_FIELDS = config.grpo_fields()
_ITEMS = st.sampled_from(sorted(_FIELDS)).flatmap(
    lambda key: st.sampled_from(_texts(_FIELDS[key])).map(lambda text: f"{key}={text}")
)


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(item=_ITEMS)
def test_any_grpo_arg_is_refused_before_loading_or_builds_a_trainer_and_its_optimizer(item, demo_assets, tmp_path):
    import torch

    out = tmp_path / f"run-{abs(hash(item))}"
    argv = _argv(demo_assets.model_dir, demo_assets.data_dir, out, "--grpo-arg", item)
    try:
        args = train_grpo.resolve_args(train_grpo.build_parser().parse_args(argv))
        train_grpo.check_model(args)  # as main() does, before the tokenizer and the weights
    except UsageError as err:
        assert "\n" not in str(err) and str(err), item
        return
    try:
        # Past the pre-flight check, building the trainer and its optimizer must not fail.
        trainer = train_grpo.trainer_from_args(args)
        trainer.create_optimizer_and_scheduler(num_training_steps=2)
    finally:
        torch.use_deterministic_algorithms(False)  # full_determinism=true sets it for the process
        shutil.rmtree(out, ignore_errors=True)


def test_the_broken_weights_fail_when_a_run_does_load_them(broken_weights, demo_assets, tmp_path, capsys):
    # The control for the refusals above: without a bad setting, the run reaches the weights and fails.
    assert train_grpo.main(_argv(broken_weights, demo_assets.data_dir, tmp_path / "run")) != 0
    assert "could not load the model" in capsys.readouterr().err
