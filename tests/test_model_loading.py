"""LoRA target discovery across architectures, and the 4-bit (QLoRA) path on CPU."""

from __future__ import annotations

import json

import pytest
import torch

from grpo_suite import models

TINY = dict(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)


def _model(kind: str):
    import transformers as tf

    configs = {
        "llama": lambda: tf.LlamaConfig(**TINY),
        "qwen2": lambda: tf.Qwen2Config(**TINY),
        "mistral": lambda: tf.MistralConfig(**TINY, num_key_value_heads=2),
        "gemma": lambda: tf.GemmaConfig(**TINY, head_dim=8),
        "gpt2": lambda: tf.GPT2Config(vocab_size=64, n_embd=32, n_layer=2, n_head=4),
        "gpt_neox": lambda: tf.GPTNeoXConfig(**TINY),
        "falcon": lambda: tf.FalconConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=4),
        "phi": lambda: tf.PhiConfig(**TINY),
    }
    return tf.AutoModelForCausalLM.from_config(configs[kind]())


LLAMA_LIKE = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


@pytest.mark.parametrize(
    "kind,expected",
    [
        ("llama", LLAMA_LIKE),
        ("qwen2", LLAMA_LIKE),
        ("mistral", LLAMA_LIKE),
        ("gemma", LLAMA_LIKE),
        ("gpt2", {"c_attn", "c_proj", "c_fc"}),
        ("gpt_neox", {"query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"}),
        ("falcon", {"query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"}),
        ("phi", {"q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2"}),
    ],
)
def test_lora_targets_are_every_attention_and_mlp_projection(kind, expected):
    model = _model(kind)
    targets = models.find_lora_targets(model)
    assert set(targets) == expected
    from peft import LoraConfig, get_peft_model

    wrapped = get_peft_model(model, LoraConfig(r=4, target_modules=targets, task_type="CAUSAL_LM"))
    adapted = {name.split(".lora_A")[0].split(".")[-1] for name, _ in wrapped.named_parameters() if "lora_A" in name}
    assert adapted == expected  # every target took an adapter; the LM head did not
    assert not any("lm_head" in name and "lora" in name for name, _ in wrapped.named_parameters())


def test_auto_quantization_is_none_on_cpu():
    assert not torch.cuda.is_available()
    assert models.resolve_quantization("auto") == "none"
    assert models.resolve_quantization("4bit") == "4bit"


@pytest.mark.slow
def test_4bit_path_quantizes_trains_and_saves_on_cpu(demo_assets, tmp_path):
    import train_grpo

    model = models.load_model(str(demo_assets.model_dir), "4bit", "float32", local_only=True)
    kinds = {type(m).__name__ for m in model.modules()}
    assert "Linear4bit" in kinds
    weight = model.model.layers[0].self_attn.q_proj.weight
    assert weight.quant_type == "nf4" and weight.quant_state.nested  # double quantization
    out = tmp_path / "qlora"
    argv = [
        "--model",
        str(demo_assets.model_dir),
        "--dataset",
        str(demo_assets.data_dir),
        "--local-only",
        "--output-dir",
        str(out),
        "--quantization",
        "4bit",
        "--max-steps",
        "2",
        "--max-completion-length",
        "16",
        "--per-device-train-batch-size",
        "8",
        "--num-generations",
        "4",
        "--learning-rate",
        "1e-3",
    ]
    assert train_grpo.main(argv) == 0
    assert (out / "adapter_model.safetensors").exists()
    assert json.loads((out / "run_config.json").read_text())["quantization"] == "4bit"
    from safetensors.torch import load_file

    tensors = load_file(out / "adapter_model.safetensors")
    lora_b = [t for name, t in tensors.items() if "lora_B" in name]
    assert lora_b and any(t.abs().sum() > 0 for t in lora_b)  # B starts at zero: training moved it
