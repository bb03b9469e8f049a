"""The embedded demo: tokenizer, task and model build are exact and deterministic."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

import demo
import rewards


@given(st.text(alphabet=string.printable, max_size=200))
@settings(max_examples=200, deadline=None)
def test_tokenizer_round_trips_any_ascii_text(text):
    tokenizer = _tokenizer()
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text


def test_tokenizer_has_special_tokens_and_chat_template():
    tokenizer = _tokenizer()
    assert {tokenizer.pad_token, tokenizer.bos_token, tokenizer.eos_token} == {demo.PAD, demo.BOS, demo.EOS}
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": "2 + 2?"}], tokenize=False, add_generation_prompt=True
    )
    assert rendered == "<s><|user|>2 + 2?</s><|assistant|>"


def test_saved_tokenizer_loads_back_identical(demo_assets):
    from transformers import AutoTokenizer

    loaded = AutoTokenizer.from_pretrained(demo_assets.model_dir)
    text = "Ava has 3 pens and gets 2 more.\n  3 + 2 = 5. Answer: 5"
    assert loaded(text)["input_ids"] == _tokenizer()(text)["input_ids"]
    assert loaded.decode(loaded(text, add_special_tokens=False)["input_ids"]) == text


def test_dataset_is_deterministic_and_gsm8k_shaped():
    first, second = demo.make_splits(seed=3), demo.make_splits(seed=3)
    assert first == second
    assert first != demo.make_splits(seed=4)
    assert {len(first["train"]), len(first["test"])} == {2000, 200}
    assert not {r["question"] for r in first["train"]} & {r["question"] for r in first["test"]}
    for row in first["test"][:50]:
        assert set(row) == {"question", "answer"}
        assert rewards.reference_reward([demo.solution_text(row)], reference=[row["answer"]]) == [1.0]
        assert rewards.reference_reward([demo.solution_text(row, slip=True)], reference=[row["answer"]]) == [0.0]


def test_model_build_is_deterministic_and_about_half_a_million_parameters():
    tokenizer = _tokenizer()
    a, b = demo.build_model(tokenizer, seed=1), demo.build_model(tokenizer, seed=1)
    c = demo.build_model(tokenizer, seed=2)
    n = sum(p.numel() for p in a.parameters())
    assert 400_000 < n < 800_000
    assert type(a).__name__ == "Qwen2ForCausalLM"
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert (p == q).all(), name
    assert any((p != r).any() for p, r in zip(a.parameters(), c.parameters()))


def test_demo_assets_are_reused_not_rebuilt(demo_assets):
    before = (demo_assets.model_dir / "model.safetensors").stat().st_mtime_ns
    again = demo.ensure_demo_assets(demo_assets.model_dir.parent.parent)
    assert again == demo_assets
    assert (demo_assets.model_dir / "model.safetensors").stat().st_mtime_ns == before


def test_warm_started_base_is_right_sometimes_but_far_from_always(demo_assets):
    accuracy = demo.greedy_accuracy(demo_assets.model_dir, demo.make_splits()["test"])
    assert 0.10 <= accuracy <= 0.60


_TOKENIZER = []


def _tokenizer():
    if not _TOKENIZER:
        _TOKENIZER.append(demo.build_tokenizer())
    return _TOKENIZER[0]


def test_demo_command_builds_the_assets_and_says_where_they_are(demo_assets, capsys):
    cache = demo_assets.model_dir.parent.parent
    assert demo.main(["--cache-dir", str(cache), "--accuracy-rows", "4"]) == 0
    out = capsys.readouterr().out
    assert f"model:   {demo_assets.model_dir}" in out and f"dataset: {demo_assets.data_dir}" in out
    assert "4 held-out problems" in out
    assert demo.main(["--accuracy-rows", "-1"]) == 2
