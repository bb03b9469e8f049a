"""The new flags reach the trainer's GRPOConfig; --grpo-arg is typed from the dataclass; --config
files load with the command line on top; the README's flag table is the parser's."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import train_grpo
from dataset_utils import UsageError
from grpo_suite import config as grpo_config
from grpo_suite import flags as train_flags

README = Path(__file__).resolve().parent.parent / "README.md"
# Every new first-class flag at a value other than its default, and the GRPOConfig value it must give.
NEW_FLAGS = [
    (["--epsilon-high", "0.28"], "epsilon_high", 0.28),
    (["--importance-sampling-level", "sequence"], "importance_sampling_level", "sequence"),
    (["--mask-truncated-completions"], "mask_truncated_completions", True),
    (["--top-entropy-quantile", "0.2"], "top_entropy_quantile", 0.2),
    (["--steps-per-generation", "2"], "steps_per_generation", 2),
    (["--multi-objective-aggregation", "normalize_then_sum"], "multi_objective_aggregation", "normalize_then_sum"),
    (["--top-k", "5"], "top_k", 5),
    (["--min-p", "0.05"], "min_p", 0.05),
    (["--repetition-penalty", "1.1"], "repetition_penalty", 1.1),
    (["--chat-template-kwargs", '{"enable_thinking": false}'], "chat_template_kwargs", {"enable_thinking": False}),
    (["--optim", "adafactor"], "optim", "adafactor"),
    (["--lr-scheduler-type", "cosine"], "lr_scheduler_type", "cosine"),
    (["--warmup-ratio", "0.1"], "warmup_steps", 0.1),
    (["--weight-decay", "0.01"], "weight_decay", 0.01),
    (["--max-grad-norm", "0.5"], "max_grad_norm", 0.5),
    (["--vllm-gpu-memory-utilization", "0.55"], "vllm_gpu_memory_utilization", 0.55),
    (["--vllm-enable-sleep-mode"], "vllm_enable_sleep_mode", True),
    (["--vllm-server-host", "10.0.0.7"], "vllm_server_host", "10.0.0.7"),
    (["--vllm-server-port", "8123"], "vllm_server_port", 8123),
    (["--log-completions"], "log_completions", True),
    (["--num-completions-to-print", "3"], "num_completions_to_print", 3),
    (["--grpo-arg", "entropy_coef=0.01"], "entropy_coef", 0.01),
    (["--grpo-arg", 'generation_kwargs={"suppress_tokens": [3]}'], "generation_kwargs", {"suppress_tokens": [3]}),
    (["--grpo-arg", "delta=4"], "delta", 4.0),
]


def _base(demo_assets, out) -> list[str]:
    return [
        "--model",
        str(demo_assets.model_dir),
        "--dataset",
        str(demo_assets.data_dir),
        "--local-only",
        "--output-dir",
        str(out),
        "--max-completion-length",
        "24",
        "--per-device-train-batch-size",
        "4",
        "--num-generations",
        "4",
        "--max-steps",
        "1",
        "--quantization",
        "none",
        "--max-samples",
        "16",
    ]


def _parse(argv):
    return grpo_config.parse_with_config(train_grpo.build_parser(), argv)


def _value(value):
    return getattr(value, "value", value)  # transformers turns optim and the schedule into enums


@pytest.mark.slow
def test_every_new_flag_reaches_the_built_trainers_config(demo_assets, tmp_path):
    argv = _base(demo_assets, tmp_path / "run") + [token for flags, _, _ in NEW_FLAGS for token in flags]
    trainer = train_grpo.trainer_from_args(train_grpo.resolve_args(train_grpo.build_parser().parse_args(argv)))
    for flags, field, expected in NEW_FLAGS:
        assert _value(getattr(trainer.args, field)) == expected, flags
    assert trainer.args.generation_batch_size == 8  # 4 per device x 2 steps per generation
    assert trainer.epsilon_high == 0.28 and trainer.importance_sampling_level == "sequence"


def test_generation_batch_size_and_report_to_reach_the_config(demo_assets, tmp_path):
    argv = _base(demo_assets, tmp_path / "run") + ["--generation-batch-size", "8", "--report-to", "none"]
    config = train_grpo.grpo_config(train_grpo.resolve_args(_parse(argv)), [1.0])
    assert config.generation_batch_size == 8 and config.steps_per_generation == 2 and config.report_to == []
    # Parsed only: resolving would refuse trackers that are not installed here (wandb, mlflow).
    args = _parse(_base(demo_assets, tmp_path / "r2") + ["--report-to", "wandb, MLflow"])
    assert args.report_to == "wandb,mlflow"
    assert grpo_config.config_fields(args, False, "none")["report_to"] == ["wandb", "mlflow"]


def test_new_flags_default_to_grpo_configs_own_defaults_except_the_suites_choices():
    from trl import GRPOConfig

    defaults = {f.name: f.default for f in dataclasses.fields(GRPOConfig)}
    args = train_grpo.build_parser().parse_args([])
    fields = grpo_config.config_fields(args, on_cuda=False, quantization="none")
    chosen = {"optim": "adamw_torch", "lr_scheduler_type": "constant_with_warmup", "report_to": []}
    for name, value in fields.items():
        assert value == chosen.get(name, defaults[name]), name
    assert set(fields) == set(grpo_config.FIRST_CLASS)


@pytest.mark.parametrize(
    "choice, on_cuda, quantization, expected",
    [
        ("auto", True, "4bit", "paged_adamw_8bit"),
        ("auto", True, "none", "adamw_torch"),
        ("auto", True, "8bit", "adamw_torch"),
        ("auto", False, "4bit", "adamw_torch"),
        ("adamw_torch_fused", True, "4bit", "adamw_torch_fused"),
    ],
)
def test_optim_auto_is_paged_8bit_adamw_only_for_4bit_on_cuda(choice, on_cuda, quantization, expected):
    assert grpo_config.resolve_optim(choice, on_cuda, quantization) == expected


# --- --grpo-arg ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "item, field, expected",
    [
        ("entropy_coef=0.5", "entropy_coef", 0.5),
        ("use_adaptive_entropy=true", "use_adaptive_entropy", True),
        ("sync_ref_model=No", "sync_ref_model", False),
        ("ref_model_sync_steps=64", "ref_model_sync_steps", 64),
        ("delta=none", "delta", None),
        ("pad_to_multiple_of=64", "pad_to_multiple_of", 64),
        ("pad_to_multiple_of=auto", "pad_to_multiple_of", "auto"),
        ('generation_kwargs={"num_beams": 1}', "generation_kwargs", {"num_beams": 1}),
        ("vllm_importance_sampling_mode=token_mask", "vllm_importance_sampling_mode", "token_mask"),
        ("num-generations-eval=4", "num_generations_eval", 4),
    ],
)
def test_grpo_arg_values_are_typed_from_the_dataclass(item, field, expected):
    assert grpo_config.grpo_arg_overrides([item]) == {field: expected}


def test_grpo_arg_last_value_of_a_key_wins():
    assert grpo_config.grpo_arg_overrides(["entropy_coef=0.1", "entropy_coef=0.2"]) == {"entropy_coef": 0.2}


@given(st.integers(min_value=-(10**9), max_value=10**9))
def test_grpo_arg_integers_round_trip(n):
    assert grpo_config.grpo_arg_overrides([f"ref_model_sync_steps={n}"]) == {"ref_model_sync_steps": n}


@given(st.floats(allow_nan=False, allow_infinity=False, width=64))
def test_grpo_arg_floats_round_trip(x):
    assert grpo_config.grpo_arg_overrides([f"entropy_coef={x!r}"]) == {"entropy_coef": x}


@given(st.lists(st.integers(min_value=-1000, max_value=1000), max_size=5))
def test_list_fields_take_json_or_commas(items):
    assert grpo_config.convert(json.dumps(items), list[int]) == items
    assert grpo_config.convert(",".join(map(str, items)), list[int] | None) == items


@given(
    st.dictionaries(st.text(min_size=1, max_size=8), st.integers() | st.booleans() | st.text(max_size=8), max_size=4)
)
def test_dict_fields_take_json_objects(value):
    assert grpo_config.convert(json.dumps(value), dict | str | None) == value


@pytest.mark.parametrize(
    "item, message",
    [
        ("epsilon_hi=0.3", "GRPOConfig has no field 'epsilon_hi'; closest: epsilon_high"),
        ("entropy_cof=0.1", "closest: entropy_coef"),
        ("epsilon_high=0.3", "sets epsilon_high from --epsilon-high; use that instead"),
        ("warmup_steps=10", "from --warmup-ratio"),
        ("bf16=true", "from --dtype"),
        ("learning_rate=1e-4", "from --learning-rate"),
        ("entropy_coef=lots", "'lots' is not a number (GRPOConfig.entropy_coef is float)"),
        ("use_adaptive_entropy=maybe", "'maybe' is not true or false"),
        ("ref_model_sync_steps=1.5", "'1.5' is not an integer"),
        ("generation_kwargs=[1]", "not an object"),
        ("no_equals_sign", "is not KEY=VALUE"),
    ],
)
def test_bad_grpo_args_are_refused_naming_the_fix(item, message):
    with pytest.raises(UsageError, match=None) as err:
        grpo_config.grpo_arg_overrides([item])
    assert message in str(err.value)


def test_cli_refuses_an_unknown_grpo_arg_in_one_line(demo_assets, tmp_path, capsys):
    code = train_grpo.main(_base(demo_assets, tmp_path / "x") + ["--grpo-arg", "mask_truncated=true"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "closest: mask_truncated_completions" in err and not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--epsilon-high", "0.1"], "--epsilon-high (0.1) is below --epsilon (0.2)"),
        (["--generation-batch-size", "8", "--steps-per-generation", "2"], "pass one"),
        (
            ["--generation-batch-size", "12", "--num-generations", "8"],
            "--generation-batch-size 12 must be divisible by --num-generations 8",
        ),
        (
            ["--generation-batch-size", "6"],
            "must be a multiple of the completions of one micro-step "
            "(--per-device-train-batch-size 4 x 1 process(es) = 4)",
        ),
        (
            ["--steps-per-generation", "3", "--per-device-train-batch-size", "2"],
            "--steps-per-generation 3 = 6) must be",
        ),
        (["--min-p", "1.5"], "--min-p must be"),
        (["--warmup-ratio", "1"], "--warmup-ratio must be"),
        (["--optim", "adamw_8bitt"], "closest: adamw_8bit"),
        (["--lr-scheduler-type", "cosin"], "closest: cosine"),
        (["--report-to", "wandbb"], "--report-to 'wandbb' is not one transformers knows; closest: wandb"),
        (["--num-completions-to-print", "2"], "needs --log-completions"),
    ],
)
def test_bad_new_flags_are_one_line_before_any_work(demo_assets, tmp_path, capsys, flags, message):
    assert train_grpo.main(_base(demo_assets, tmp_path / "x") + flags) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "flags, batch, steps_per_generation, prompts_per_round, prompts_per_step",
    [
        ([], 4, 1, 1, 1),
        (["--gradient-accumulation-steps", "2"], 8, 2, 2, 2),
        (["--steps-per-generation", "4"], 16, 4, 4, 1),  # one round serves 4 micro-steps
        (["--generation-batch-size", "8"], 8, 2, 2, 1),
    ],
)
def test_the_generation_plan_is_read_from_trls_built_config(
    demo_assets, tmp_path, flags, batch, steps_per_generation, prompts_per_round, prompts_per_step
):
    """The probe, the row check and the batch refusals read one plan: TRL's own generation_batch_size."""
    args = train_grpo.resolve_args(_parse(_base(demo_assets, tmp_path / "run") + flags))
    plan = grpo_config.generation_plan(args)
    built = train_grpo.grpo_config(args, None)
    assert (plan.batch, plan.steps_per_generation) == (built.generation_batch_size, built.steps_per_generation)
    assert (plan.batch, plan.steps_per_generation, plan.processes) == (batch, steps_per_generation, 1)
    assert plan.prompts_per_process == prompts_per_round and plan.prompts_per_step == prompts_per_step


def test_probe_plans_its_steps_from_the_generation_plan(demo_assets, tmp_path, capsys):
    """With --steps-per-generation 4 one round of 4 prompts serves 4 optimizer steps of one prompt each:
    16 rows are 16 steps of an epoch, not the 4 a per-round count would plan."""
    out = tmp_path / "probe"
    argv = _base(demo_assets, out) + [
        "--steps-per-generation",
        "4",
        "--max-steps",
        "-1",
        "--num-train-epochs",
        "1",
        "--probe",
        "4",
    ]
    assert train_grpo.main(argv) == 0
    report = json.loads((out / "probe.json").read_text())
    assert report["steps"] == 16


def test_report_to_takes_lists_and_refuses_none_with_others():
    parser = train_grpo.build_parser()
    assert parser.parse_args(["--report-to", "tensorboard,wandb"]).report_to == "tensorboard,wandb"
    with pytest.raises(SystemExit):
        parser.parse_args(["--report-to", "none,wandb"])


@pytest.mark.slow
def test_log_completions_runs_from_the_command_line(demo_assets, tmp_path):
    # TRL writes OUT/completions/ when the trainer is built: the run's folder is taken before that.
    argv = _base(demo_assets, tmp_path / "run") + ["--log-completions", "--per-device-train-batch-size", "16"]
    assert train_grpo.main(argv) == 0
    assert (tmp_path / "run" / "completions").is_dir()
    assert train_grpo.main(argv + ["--overwrite"]) == 0


# --- --config ----------------------------------------------------------------------------------


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_config_file_takes_dashes_or_underscores_and_the_command_line_wins(tmp_path):
    config = _write(
        tmp_path / "c.yaml",
        "lora-r: 8\nlora_alpha: 24\nepsilon_high: 0.3\nmask_truncated_completions: "
        "true\ngradient_checkpointing: false\nchat_template_kwargs: {enable_thinking: false}\n"
        "grpo_arg: [entropy_coef=0.1]\n",
    )
    args = _parse(["--config", config, "--lora-r", "4", "--grpo-arg", "entropy_coef=0.2"])
    assert (args.lora_r, args.lora_alpha, args.epsilon_high) == (4, 24, 0.3)
    assert args.mask_truncated_completions is True and args.gradient_checkpointing is False
    assert args.chat_template_kwargs == {"enable_thinking": False}
    assert grpo_config.grpo_arg_overrides(args.grpo_arg) == {"entropy_coef": 0.2}


def test_json_config_file_loads_the_same_as_yaml(tmp_path):
    yaml_args = _parse(["--config", _write(tmp_path / "c.yaml", "top_k: 20\nloss_type: grpo\n")])
    json_args = _parse(["--config", _write(tmp_path / "c.json", json.dumps({"top-k": 20, "loss_type": "grpo"}))])
    assert vars(yaml_args) | {"config": None} == vars(json_args) | {"config": None}
    assert json_args.top_k == 20 and json_args.loss_type == "grpo"


@pytest.mark.parametrize(
    "text, message",
    [
        ("lora_rank: 8\n", "unknown flag 'lora_rank'; closest: --lora-r"),
        ("lora_r: eight\n", "argument --lora-r: invalid int value: 'eight'"),
        ("loss_type: ppo\n", "invalid choice: 'ppo'"),
        ("mask_truncated_completions: 1\n", "--mask-truncated-completions is on or off: write true or false"),
        ("lora_r: [1, 2]\n", "--lora-r takes one value, not a list"),
        ("- lora_r\n", "holds a list"),
        ("lora_r: 8\nlora-r: 9\n", "is given twice"),
        ("lora_r: [8\n", "not valid YAML"),
        ("config: other.yaml\n", "config files do not nest"),
    ],
)
def test_bad_config_files_are_one_line_naming_the_file(tmp_path, text, message):
    config = _write(tmp_path / "bad.yaml", text)
    with pytest.raises(UsageError) as err:
        _parse(["--config", config])
    assert message in str(err.value) and config in str(err.value)


def test_missing_config_file_is_one_line(tmp_path, capsys):
    assert train_grpo.main(["--config", str(tmp_path / "nope.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err


# --- README -------------------------------------------------------------------------------------


def test_readme_flag_table_is_generated_from_the_parser():
    readme = README.read_text()
    table = train_flags.flag_table(train_grpo.build_parser())
    assert train_flags.replace_table(readme, table) == readme, "run: python -m grpo_suite.flags --readme README.md"
    for flag in ("--epsilon-high", "--grpo-arg", "--config", "--vllm-server-port", "--report-to"):
        assert f"`{flag}`" in table
    assert "**advanced**" in table


def test_help_starts_with_the_flags_a_new_user_needs_and_splits_grpo_by_stage():
    parser = train_grpo.build_parser()
    groups = {g.title: [a.dest for a in g.actions] for g in parser.layout}
    assert list(groups)[0] == "start here"
    assert groups["start here"] == ["model", "dataset", "output_dir", "demo", "config", "dry_run", "probe"]
    assert {"temperature", "top_k", "num_generations", "max_completion_length"} <= set(groups["generation"])
    assert {"learning_rate", "optim", "warmup_ratio", "max_steps"} <= set(groups["optimisation"])
    assert {"per_device_train_batch_size", "steps_per_generation", "generation_batch_size"} <= set(groups["batching"])
    assert {"beta", "epsilon", "epsilon_high", "loss_type", "importance_sampling_level"} <= set(groups["loss"])
    assert {"use_vllm", "vllm_mode", "vllm_server_port"} <= set(groups["vLLM"])
    assert groups["advanced"] == ["grpo_arg"]
    every = [dest for dests in groups.values() for dest in dests]
    assert len(every) == len(set(every)), "a flag is listed in two groups"


def test_help_prints_no_empty_default_and_ends_with_examples(capsys):
    with pytest.raises(SystemExit):
        train_grpo.main(["--help"])
    text = capsys.readouterr().out
    flat = " ".join(text.split())  # argparse wraps help lines
    assert "(default: None)" not in flat and "(default: )" not in flat and "(default: [])" not in flat
    assert "(default: 512; with --demo: 24)" in flat  # the preset text, not followed by argparse's own
    assert "(default: 8)" in flat  # --num-generations: a real default is still shown
    assert text.rstrip().splitlines()[-1].startswith("  python compare_base_vs_lora.py")
    # A budget for --help, not a property: 260 lines until the learning-signal group's six flags (17 lines),
    # 280 until the judge's three and the tools' three (11 lines).
    assert "examples:" in text and text.count("\n") < 292
