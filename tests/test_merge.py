"""merge_adapter.py on the demo: the merged folder loads with plain from_pretrained and answers as the
adapter does, the check catches a wrong base, and no bad input or interruption leaves a folder that
looks like a finished export."""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import pytest

import compare_base_vs_lora as compare
import merge_adapter
from grpo_suite import merge

PROMPTS = ["Kai has 5 eggs and gets 5 more. How many eggs now?", "Ana has 9 pens and loses 4. How many pens now?"]


@pytest.fixture(scope="module")
def exported(trained_demo, tmp_path_factory):
    out = tmp_path_factory.mktemp("exports") / "demo-merged"
    assert merge_adapter.main(["--adapter", str(trained_demo), "--output-dir", str(out), "--local-only"]) == 0
    return out


def _greedy(model, tokenizer, text: str) -> str:
    import torch

    messages = [{"role": "user", "content": text}]
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=16, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def test_the_merged_folder_loads_with_plain_from_pretrained_and_answers_as_the_adapter(trained_demo, exported):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    record = json.loads((trained_demo / "adapter_config.json").read_text())
    base = AutoModelForCausalLM.from_pretrained(record["base_model_name_or_path"])
    adapted = PeftModel.from_pretrained(base, str(trained_demo)).eval()
    merged = AutoModelForCausalLM.from_pretrained(str(exported)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(exported))
    answers = [_greedy(merged, tokenizer, p) for p in PROMPTS]
    assert answers == [_greedy(adapted, tokenizer, p) for p in PROMPTS]
    with adapted.disable_adapter():
        assert answers != [_greedy(adapted, tokenizer, p) for p in PROMPTS]  # the merge changed something
    assert sorted(p.name for p in exported.glob("*.safetensors")) == ["model.safetensors"]
    assert not list(exported.glob("*.bin")) and (exported / "chat_template.jinja").is_file()
    assert (exported / "generation_config.json").is_file()


def test_the_record_says_what_was_merged_and_how_faithful_it_is(trained_demo, exported):
    record = json.loads((exported / merge.MERGE_RECORD).read_text())
    adapter = json.loads((trained_demo / "adapter_config.json").read_text())
    assert record["base_model"] == adapter["base_model_name_or_path"]
    assert record["adapter"] == str(trained_demo.resolve())
    assert record["step"] == json.loads((trained_demo / "run_config.json").read_text())["args"]["max_steps"]
    assert record["dtype"] == "float32" and record["lora"]["r"] == adapter["r"]
    check = record["faithfulness"]
    served = check["served"]
    assert check["faithful"] and served["prompts_identical"] == served["prompts"] == len(merge_adapter.CHECK_PROMPTS)
    assert 0 <= check["merge"]["max_logit_diff"] <= check["merge"]["allowed"] <= 0.01
    assert record["run"]["args"]["demo"] is True  # compare_base_vs_lora.py renders as the run did


def test_the_merged_weights_are_the_base_plus_the_lora_product(trained_demo, exported):
    from safetensors.torch import load_file

    adapter = json.loads((trained_demo / "adapter_config.json").read_text())
    lora = load_file(str(trained_demo / "adapter_model.safetensors"))
    base = load_file(str(Path(adapter["base_model_name_or_path"]) / "model.safetensors"))
    merged = load_file(str(exported / "model.safetensors"))
    name = "model.layers.0.self_attn.q_proj"
    a, b = lora[f"base_model.model.{name}.lora_A.weight"], lora[f"base_model.model.{name}.lora_B.weight"]
    delta = merged[f"{name}.weight"] - base[f"{name}.weight"]
    expected = (adapter["lora_alpha"] / adapter["r"]) * b @ a
    assert float(expected.abs().max()) > 1e-4  # a trained adapter, not a zero one
    assert float((delta - expected).abs().max()) < 1e-5


def test_compare_takes_the_merged_folder_as_a_side_and_gives_the_adapters_verdict(trained_demo, exported, tmp_path):
    verdicts = {}
    for side in (trained_demo, exported):
        report = tmp_path / side.name
        argv = ["--adapter", str(side), "--num-prompts", "30", "--no-forgetting", "--report-dir", str(report)]
        assert compare.main(argv) == 0
        verdict = json.loads((report / "summary.json").read_text())["verdicts"]
        verdicts[side.name] = next(iter(verdict.values()))
    ours, theirs = verdicts.values()
    assert (ours["base"], ours["value"], ours["pair"]["fixed"]) == (
        theirs["base"],
        theirs["value"],
        theirs["pair"]["fixed"],
    )
    assert "merged" in json.loads((tmp_path / exported.name / "summary.json").read_text())["verdicts"]


def test_a_checkpoint_is_merged_beside_the_run_with_its_step(trained_demo, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_demo, run)
    assert merge_adapter.main(["--adapter", str(run / "checkpoint-20"), "--local-only"]) == 0
    out = tmp_path / "run-checkpoint-20-merged"
    assert json.loads((out / merge.MERGE_RECORD).read_text())["step"] == 20
    assert sorted(p.name for p in run.iterdir()) == sorted(p.name for p in trained_demo.iterdir())  # run untouched


def _wrong_base(trained_demo, folder: Path) -> Path:
    """The demo's base architecture and tokenizer with other weights: an adapter still fits it."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = json.loads((trained_demo / "adapter_config.json").read_text())["base_model_name_or_path"]
    model = AutoModelForCausalLM.from_pretrained(base)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.save_pretrained(str(folder))
    AutoTokenizer.from_pretrained(base).save_pretrained(str(folder))
    return folder


def test_a_wrong_base_fails_the_check_and_exports_nothing(trained_demo, tmp_path, capsys):
    wrong = _wrong_base(trained_demo, tmp_path / "wrong-base")
    out = tmp_path / "export"
    argv = ["--adapter", str(trained_demo), "--base-model", str(wrong), "--output-dir", str(out), "--local-only"]
    assert merge_adapter.main(argv) == merge_adapter.EXIT_UNFAITHFUL
    captured = capsys.readouterr()
    assert "NOT FAITHFUL" in captured.out and "checked against the adapter on its recorded base" in captured.out
    assert "does not answer as the adapter does (nothing was exported)" in captured.err
    assert not out.exists() and _leftovers(out) == []
    assert merge_adapter.main([*argv, "--keep-unfaithful"]) == merge_adapter.EXIT_UNFAITHFUL
    kept = json.loads((tmp_path / "export.unfaithful" / merge.MERGE_RECORD).read_text())["faithfulness"]
    assert not kept["faithful"] and kept["merge"]["max_logit_diff"] > kept["merge"]["allowed"]
    assert not out.exists()


def _refusal(trained_demo, tmp_path, case):
    out = tmp_path / "export"
    argv = ["--adapter", str(trained_demo), "--output-dir", str(out), "--local-only"]
    if case == "inside the run":
        argv[3] = str(trained_demo / "merged")
        return argv, "is inside the run folder", trained_demo / "merged"
    if case == "the run itself":
        argv[3] = str(trained_demo)
        return argv, "is the adapter's own folder", None
    if case == "foreign files":
        out.mkdir()
        (out / "notes.txt").write_text("mine")
        return argv, "holds files that are not an earlier export (notes.txt)", None
    if case == "gguf without llama.cpp":
        return [*argv, "--gguf"], "needs llama.cpp's convert_hf_to_gguf.py", out
    if case == "llama.cpp folder without the converter":
        return [*argv, "--gguf", "--llama-cpp", str(tmp_path)], "holds no convert_hf_to_gguf.py", out
    if case == "push offline":
        return [*argv, "--push-to-hub", "me/model"], "needs the network", out
    if case == "a merged folder as adapter":
        fake = tmp_path / "m"
        fake.mkdir()
        merge.write_record(fake, {"suite": "grpo-suite", "kind": merge.KIND})
        return ["--adapter", str(fake), "--local-only"], "is a merged model already", None
    if case == "a shard size without a unit":
        return [*argv, "--max-shard-size", "banana"], "--max-shard-size 'banana': give a size such as 5GB", out
    if case == "check prompts of another layout":
        prompts = tmp_path / "rows.jsonl"
        prompts.write_text('{"query": "What is 3+4?", "response": "The answer is: 7"}\n')
        return [*argv, "--check-prompts", str(prompts)], '--check-prompts lines hold "prompt"', out
    if case == "no adapter":
        return ["--adapter", str(tmp_path / "nope")], "does not exist", None
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    [
        "inside the run",
        "the run itself",
        "foreign files",
        "gguf without llama.cpp",
        "llama.cpp folder without the converter",
        "push offline",
        "a merged folder as adapter",
        "a shard size without a unit",
        "check prompts of another layout",
        "no adapter",
    ],
)
def test_bad_inputs_are_one_line_before_any_weight_loads(trained_demo, tmp_path, capsys, monkeypatch, case):
    monkeypatch.setenv("PATH", str(tmp_path))  # no llama.cpp converter to be found
    before = sorted(p.name for p in trained_demo.iterdir())
    argv, message, absent = _refusal(trained_demo, tmp_path, case)
    monkeypatch.setattr(merge_adapter.models, "load_model", lambda *a, **k: pytest.fail("weights loaded"))
    assert merge_adapter.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1
    assert absent is None or not absent.exists()
    assert sorted(p.name for p in trained_demo.iterdir()) == before


def test_an_earlier_export_is_replaced_only_when_asked(trained_demo, exported, tmp_path, capsys):
    out = tmp_path / "again"
    shutil.copytree(exported, out)
    argv = ["--adapter", str(trained_demo), "--output-dir", str(out), "--local-only"]
    assert merge_adapter.main(argv) == 2
    assert "holds an earlier export; pass --overwrite" in capsys.readouterr().err
    before = json.loads((out / merge.MERGE_RECORD).read_text())["time"]
    (out / "merge_record.json").write_text((out / "merge_record.json").read_text().replace(before, "earlier"))
    assert merge_adapter.main([*argv, "--overwrite"]) == 0
    assert json.loads((out / merge.MERGE_RECORD).read_text())["time"] != "earlier"
    assert _leftovers(out) == []


@pytest.mark.parametrize(
    "failure, code, message",
    [
        (KeyboardInterrupt(), 130, "interrupted: nothing was exported"),
        (OSError(errno.ENOSPC, "No space left on device"), 1, "no space left on the device"),
    ],
)
def test_a_failure_while_writing_leaves_no_folder_that_looks_complete(
    trained_demo, tmp_path, capsys, monkeypatch, failure, code, message
):
    out = tmp_path / "export"

    def fail(folder, record):
        (folder / merge.MERGE_RECORD).write_text("{")  # half written when it stops
        raise failure

    monkeypatch.setattr(merge, "write_record", fail)
    assert merge_adapter.main(["--adapter", str(trained_demo), "--output-dir", str(out), "--local-only"]) == code
    assert message in capsys.readouterr().err
    assert not out.exists() and _leftovers(out) == []
