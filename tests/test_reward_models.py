"""--reward-model: a sequence classifier built offline, scoring prompt + completion as a reward."""

from __future__ import annotations

import json
import math

import pytest

import train_grpo
from grpo_suite import reward_models
from grpo_suite.errors import UsageError


def _classifier(demo_assets, folder, labels=("score",)):
    """A tiny Llama sequence classifier with the demo's tokenizer (and chat template), saved as safetensors."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(demo_assets.model_dir)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    LlamaForSequenceClassification(config).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def scorer(demo_assets, tmp_path_factory):
    return _classifier(demo_assets, tmp_path_factory.mktemp("rm") / "tiny-rm")


def test_a_reward_model_scores_each_prompt_and_completion_in_batches(scorer):
    rm = reward_models.RewardModel(str(scorer), "reward_model_tiny_rm", local_only=True, trust_remote_code=False)
    prompts = [f"Question {i}: how many?" for i in range(20)]  # more than one batch of 16
    completions = ["Final answer: 3"] * 10 + ["I do not know."] * 10
    scores = rm(completions, prompts=prompts)
    assert len(scores) == 20 and all(math.isfinite(s) for s in scores)
    single = rm(completions[:1], prompts=prompts[:1])[0]
    assert single == pytest.approx(scores[0], abs=1e-4)  # padding in a batch does not change a score
    assert len({round(s, 4) for s in scores}) > 1  # the text matters
    assert rm(["x"]) == [None]  # no prompt (the dry run): no score, and no weights loaded for it


def test_a_conversation_goes_through_the_reward_models_chat_template(scorer):
    rm = reward_models.RewardModel(str(scorer), "r", local_only=True, trust_remote_code=False)
    rm.load()
    text = rm.text([{"role": "user", "content": "2+2?"}], [{"role": "assistant", "content": "4"}])
    assert text == rm.tokenizer.apply_chat_template(
        [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}], tokenize=False
    )
    assert rm.text("Q: 2+2? ", "4") == "Q: 2+2? 4"


def test_bad_reward_models_are_one_line(demo_assets, tmp_path):
    with pytest.raises(UsageError, match="is not a sequence classifier \\(its architecture is Qwen2ForCausalLM\\)"):
        reward_models.RewardModel(str(demo_assets.model_dir), "r", True, False)
    three = _classifier(demo_assets, tmp_path / "sentiment", labels=("negative", "neutral", "positive"))
    with pytest.raises(UsageError, match="has 3 labels \\(negative, neutral, positive\\); choose"):
        reward_models.RewardModel(str(three), "r", True, False)
    assert reward_models.RewardModel(f"{three}@positive", "r", True, False).index == 2
    assert reward_models.RewardModel(f"{three}@1", "r", True, False).index == 1
    with pytest.raises(UsageError, match="has no label 'great'"):
        reward_models.RewardModel(f"{three}@great", "r", True, False)
    with pytest.raises(UsageError, match="missing: no such folder"):
        reward_models.RewardModel(str(tmp_path / "missing"), "r", True, False)
    with pytest.raises(UsageError, match="no model config could be read"):  # a hub id, offline
        reward_models.RewardModel("org/not-cached-rm", "r", True, False)
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text((three / "config.json").read_text())
    (pickled / "pytorch_model.bin").write_bytes(b"not read")
    with pytest.raises(UsageError, match="holds only PyTorch pickle weights"):
        reward_models.RewardModel(str(pickled), "r", True, False)


def test_reward_names_are_the_folder_and_unique():
    assert reward_models.parse_spec("org/rm-deberta@pos") == ("org/rm-deberta", "pos")
    assert reward_models.parse_spec("/a/b/rm") == ("/a/b/rm", None)
    assert reward_models.reward_name("org/RM-Deberta-v3", set()) == "reward_model_rm_deberta_v3"
    assert reward_models.reward_name("x/rm", {"reward_model_rm"}) == "reward_model_rm_2"


@pytest.mark.slow
def test_a_run_with_a_reward_model_trains_and_logs_it(demo_assets, scorer, tmp_path):
    out = tmp_path / "run"
    argv = ["--model", str(demo_assets.model_dir), "--dataset", str(demo_assets.data_dir), "--local-only"]
    argv += ["--output-dir", str(out), "--max-steps", "2", "--max-completion-length", "16", "--logging-steps", "1"]
    argv += ["--per-device-train-batch-size", "16", "--reward-model", str(scorer)]
    argv += ["--reward-weights", "reward_model_tiny_rm=0.5"]
    assert train_grpo.main(argv) == 0
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if '"loss"' in line]
    assert all(math.isfinite(row["rewards/reward_model_tiny_rm/mean"]) for row in logged) and len(logged) == 2
    record = json.loads((out / "run_config.json").read_text())
    assert record["rewards"]["reward_model_tiny_rm"] == 0.5 and record["args"]["reward_model"] == [str(scorer)]


def test_a_reward_model_that_is_not_a_classifier_is_refused_before_training(demo_assets, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["--model", str(demo_assets.model_dir), "--dataset", str(demo_assets.data_dir), "--local-only"]
    argv += ["--output-dir", str(out), "--reward-model", str(demo_assets.model_dir)]
    assert train_grpo.main(argv) == 2
    assert "is not a sequence classifier" in capsys.readouterr().err and not out.exists()
