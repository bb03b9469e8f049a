"""train_grpo.py end to end on the tiny demo model: real TRL GRPOTrainer, real peft LoRA."""

from __future__ import annotations

import json

import pytest
import torch

import train_grpo


def _args(demo_assets, out, *extra):
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
        "16",
        "--num-generations",
        "8",
        "--learning-rate",
        "1e-3",
        "--logging-steps",
        "1",
        *extra,
    ]


def _trainer(demo_assets, out, steps=2):
    """The trainer train_grpo.py builds, so the test can look at its model before and after."""
    argv = _args(demo_assets, out, "--max-steps", str(steps))
    return train_grpo.trainer_from_args(train_grpo.resolve_args(train_grpo.build_parser().parse_args(argv)))


@pytest.mark.slow
def test_two_steps_change_lora_weights_and_leave_base_weights(demo_assets, tmp_path):
    trainer = _trainer(demo_assets, tmp_path / "run")
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    after = dict(trainer.model.named_parameters())
    lora = [n for n in before if "lora_" in n]
    base = [n for n in before if "lora_" not in n]
    assert lora and base
    assert all(not after[n].requires_grad for n in base)
    assert all(torch.equal(before[n], after[n]) for n in base)
    changed = [n for n in lora if not torch.equal(before[n], after[n])]
    assert len(changed) > len(lora) // 2


@pytest.mark.slow
def test_cli_run_writes_adapter_that_plain_peft_loads(demo_assets, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = tmp_path / "run"
    assert train_grpo.main(_args(demo_assets, out, "--max-steps", "2", "--save-steps", "1")) == 0
    for name in (
        "adapter_model.safetensors",
        "adapter_config.json",
        "run_config.json",
        "metrics.jsonl",
        "reward_curves.png",
        "tokenizer.json",
        "checkpoint-2",
    ):
        assert (out / name).exists(), name
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(demo_assets.model_dir)
    assert {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"} == set(
        config["target_modules"]
    )
    run = json.loads((out / "run_config.json").read_text())
    assert run["detection"]["family"] == "gsm8k" and run["versions"]["trl"] == "1.16.0"
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert any("rewards/reference_reward/mean" in row and "rewards/format_reward/mean" in row for row in logged)

    base = AutoModelForCausalLM.from_pretrained(demo_assets.model_dir)
    ids = torch.tensor([[1, 5, 60, 61, 62, 2, 6]])
    with torch.no_grad():
        base_logits = base(ids).logits
        tuned = PeftModel.from_pretrained(base, str(out))
        tuned_logits = tuned(ids).logits
    assert not torch.allclose(base_logits, tuned_logits)


def test_dry_run_shows_prompt_and_reference_reward_without_loading_weights(demo_assets, tmp_path, capsys):
    assert train_grpo.main(_args(demo_assets, tmp_path / "never", "--dry-run")) == 0
    out = capsys.readouterr().out
    assert "<|assistant|>" in out and "final answer:  ['" in out
    assert '"reference_reward": 1.0' in out and "WARNING" not in out
    assert not (tmp_path / "never").exists()


def test_dry_run_warns_loudly_when_the_reference_cannot_score(demo_assets, tmp_path, capsys):
    # Worked solutions whose final answer is missing: no completion can ever match one.
    data = tmp_path / "proofs.jsonl"
    data.write_text(
        "\n".join(
            json.dumps({"question": f"What is {i} plus 1?", "answer": "Add one to it.\n#### "}) for i in range(40)
        )
    )
    argv = _args(demo_assets, tmp_path / "x", "--dry-run", "--dataset", str(data))
    assert train_grpo.main(argv) == 0
    out = capsys.readouterr().out
    assert "DOES NOT EARN reference_reward 1.0" in out
    assert "TRAINING WOULD BE REFUSED" in out and "--allow-low-coverage" in out
    assert not (tmp_path / "x").exists()


def test_training_refuses_data_whose_references_cannot_be_earned(demo_assets, tmp_path, capsys):
    data = tmp_path / "proofs.jsonl"
    data.write_text(
        "\n".join(
            json.dumps({"question": f"What is {i} plus 1?", "answer": "Add one to it.\n#### "}) for i in range(40)
        )
    )
    assert train_grpo.main(_args(demo_assets, tmp_path / "x", "--dataset", str(data))) == 2
    assert "--allow-low-coverage" in capsys.readouterr().err and not (tmp_path / "x").exists()


def _write_jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


_HH_PAIRS = [
    {
        "chosen": f"\n\nHuman: How do I keep {plant} alive?\n\nAssistant: Water it weekly and give it bright, indirect light.",
        "rejected": f"\n\nHuman: How do I keep {plant} alive?\n\nAssistant: Plants are boring.",
    }
    for plant in ("a fern", "a cactus", "basil", "a palm") * 10
]


def test_preference_data_dry_run_says_there_is_no_reference_and_which_reward_fits(demo_assets, tmp_path, capsys):
    from grpo_suite.prompts import ANSWER_INSTRUCTION

    data = _write_jsonl(tmp_path / "hh.jsonl", _HH_PAIRS)
    assert train_grpo.main(_args(demo_assets, tmp_path / "x", "--dry-run", "--dataset", str(data))) == 0
    out = capsys.readouterr().out
    assert "family preference_transcript" in out and "reference None" in out
    assert "no reference: 'chosen' and 'rejected' are replies ranked by people" in out
    assert "--extra-reward MODULE:FUNCTION" in out and "TRAINING WOULD BE REFUSED" in out
    assert "DOES NOT EARN" not in out and "WARNING: no reference column" not in out
    assert "How do I keep a fern alive?" in out and ANSWER_INSTRUCTION not in out
    assert not (tmp_path / "x").exists()


def test_sft_data_without_a_reward_that_fits_is_refused_before_any_weight_loads(demo_assets, tmp_path, capsys):
    rows = [
        {"instruction": f"Describe {city} in two sentences.", "input": "", "output": f"{city} is a city. " * 12}
        for city in ("Oslo", "Lima", "Pune", "Kyiv") * 10
    ]
    data = _write_jsonl(tmp_path / "alpaca.jsonl", rows)
    assert train_grpo.main(_args(demo_assets, tmp_path / "x", "--dataset", str(data))) == 2
    err = capsys.readouterr().err
    assert "sft data has no answer a completion can be checked against" in err
    assert "--extra-reward" in err and "--allow-low-coverage" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_preference_data_trains_with_a_reward_of_the_users_and_records_no_instruction(
    demo_assets, tmp_path, monkeypatch
):
    (tmp_path / "my_judge.py").write_text(
        "def brevity(completions, **kwargs):\n"
        "    return [1.0 / (1 + len(c[-1]['content'] if isinstance(c, list) else str(c))) for c in completions]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    data = _write_jsonl(tmp_path / "hh.jsonl", _HH_PAIRS)
    out = tmp_path / "run"
    argv = _args(demo_assets, out, "--dataset", str(data), "--extra-reward", "my_judge:brevity", "--max-steps", "1")
    assert train_grpo.main(argv) == 0
    run = json.loads((out / "run_config.json").read_text())
    assert (run["detection"]["family"], run["detection"]["reference_field"]) == ("preference_transcript", None)
    assert run["args"]["answer_instruction"] == ""
    # No 'Final answer:' to state, so no format_reward: the components recorded are the ones used.
    assert run["args"]["rewards"] == "reference_reward,length_reward,boilerplate_penalty"
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert any("rewards/brevity/mean" in row for row in logged)
    assert (out / "adapter_model.safetensors").exists()


def test_extra_reward_is_loaded_by_import_path_and_weighted(demo_assets, tmp_path, capsys, monkeypatch):
    (tmp_path / "my_rewards.py").write_text(
        "def brevity(completions, **kwargs):\n    return [1.0 if len(str(c)) < 50 else 0.0 for c in completions]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    argv = _args(
        demo_assets,
        tmp_path / "x",
        "--dry-run",
        "--extra-reward",
        "my_rewards:brevity",
        "--reward-weights",
        "brevity=2,format_reward=0",
    )
    assert train_grpo.main(argv) == 0
    out = capsys.readouterr().out
    assert '"brevity": 1.0' in out and '"format_reward": 1.0' in out
    assert "total 3.100" in out  # reference 1 + format 0 x 1 + length 0.1 + brevity 2 x 1


@pytest.mark.slow
def test_adapter_flag_continues_an_existing_adapter(demo_assets, trained_demo, tmp_path):
    from safetensors.torch import load_file

    out = tmp_path / "continued"
    assert train_grpo.main(_args(demo_assets, out, "--adapter", str(trained_demo), "--max-steps", "1")) == 0
    before = load_file(trained_demo / "adapter_model.safetensors")
    after = load_file(out / "adapter_model.safetensors")
    assert before.keys() == after.keys()
    lora_b = [k for k in before if "lora_B" in k]
    # It started from the trained adapter (B is far from its zero init) and moved a little.
    assert all(torch.allclose(before[k], after[k], atol=0.05) for k in lora_b)
    assert any(not torch.equal(before[k], after[k]) for k in lora_b)
    assert max(after[k].abs().max().item() for k in lora_b) > 0.01


def test_dry_run_prompt_is_byte_identical_to_what_the_trainer_tokenizes(demo_assets, tmp_path, capsys):
    """The dry run, the length check, the probe and the trainer render one prompt: with
    --chat-template-kwargs, the template's own switch (Qwen3's enable_thinking) shows in all."""
    import shutil

    from grpo_suite.prompts import prompt_ids

    model = tmp_path / "model"
    shutil.copytree(demo_assets.model_dir, model)
    template = (model / "chat_template.jinja").read_text()
    (model / "chat_template.jinja").write_text(
        template.replace(
            "{{ '<|assistant|>' }}",
            "{{ '<|assistant|>' }}{% if enable_thinking is defined and "
            "not enable_thinking %}{{ '<|no_think|>' }}{% endif %}",
        )
    )
    kwargs = '{"enable_thinking": false}'
    argv = [
        "--model",
        str(model),
        "--dataset",
        str(demo_assets.data_dir),
        "--local-only",
        "--output-dir",
        str(tmp_path / "run"),
        "--max-completion-length",
        "24",
        "--per-device-train-batch-size",
        "8",
        "--num-generations",
        "8",
        "--max-steps",
        "1",
        "--system-prompt",
        "Be brief.",
        "--chat-template-kwargs",
        kwargs,
    ]
    assert train_grpo.main([*argv, "--dry-run"]) == 0
    out = capsys.readouterr().out
    shown = out.split("prompt as the model sees it:\n", 1)[1].split("\nreference:", 1)[0]
    assert shown.endswith("<|assistant|><|no_think|>") and "Be brief." in shown

    args = train_grpo.resolve_args(train_grpo.build_parser().parse_args(argv))
    trainer = train_grpo.trainer_from_args(args)
    first = trainer.train_dataset[0]["prompt"]
    trained = trainer._tokenize_prompts([first])[0][0]  # TRL's own tokenization of a batch's prompts
    tokenizer = trainer.processing_class
    assert tokenizer.decode(trained) == shown  # the same prompt, byte for byte
    assert prompt_ids(tokenizer, first, args.chat_template_kwargs) == list(trained)  # what probe and length check count
