"""compare_base_vs_lora.py on a trained demo adapter: outputs, reports, errors, memory."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

import compare_base_vs_lora as compare


@pytest.fixture(scope="module")
def report(trained_demo, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    assert compare.main(["--adapter", str(trained_demo), "--num-prompts", "40", "--report-dir", str(out)]) == 0
    rows = [json.loads(line) for line in (out / "comparison.jsonl").read_text().splitlines()]
    return out, rows


def test_trained_adapter_changes_outputs(report):
    _, rows = report
    assert len(rows) == 40
    assert any(r["base"]["outputs"] != r["lora"]["outputs"] for r in rows)


def test_markdown_and_html_agree_with_jsonl(report):
    out, rows = report
    lora_strict = sum(r["lora"]["scores"][0]["strict"] for r in rows) / len(rows)
    base_lenient = sum(r["base"]["scores"][0]["lenient"] for r in rows) / len(rows)
    markdown = (out / "comparison.md").read_text()
    assert f"{100 * lora_strict:.1f}%" in markdown and f"{100 * base_lenient:.1f}%" in markdown
    wins = sum(r["outcome"] == "win" for r in rows)
    losses = sum(r["outcome"] == "loss" for r in rows)
    assert f"{wins} / {40 - wins - losses} / {losses}" in markdown


class _Tables(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.rows, self.current = [], {}, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.current = attrs.get("id")
            self.ids.append(self.current)
            self.rows[self.current] = 0
        elif tag == "tr" and "prompt-row" in (attrs.get("class") or ""):
            self.rows[self.current] += 1


def test_html_parses_with_summary_and_one_row_per_prompt(report):
    out, rows = report
    page = (out / "comparison.html").read_text()
    parser = _Tables()
    parser.feed(page)
    assert parser.ids == ["summary", "outputs"]
    assert parser.rows["outputs"] == len(rows)
    assert "strict accuracy" in page and "<svg" in page


def test_wilson_interval_brackets_the_rate():
    low, high = compare.wilson(30, 100)
    assert low < 0.30 < high and 0.2 < low and high < 0.4
    assert compare.wilson(0, 10)[0] == 0.0


def test_base_outputs_use_the_same_weights_with_adapter_disabled(trained_demo):
    """One copy of the base weights: the base side is the adapter-wrapped model with adapters off."""
    import torch

    args = compare.build_parser().parse_args(["--adapter", str(trained_demo), "--local-only"])
    model, tokenizer, _ = compare.load_models(args, {})
    base_params = [p for n, p in model.named_parameters() if "lora_" not in n]
    total = sum(p.numel() for p in model.parameters())
    assert sum(p.numel() for p in base_params) < total < 1.6 * sum(p.numel() for p in base_params)
    pointers = {p.data_ptr() for p in base_params}
    assert len(pointers) == len(base_params)  # no parameter is duplicated into a second model
    ids = torch.tensor([[1, 5, 60, 61, 2, 6]])
    with torch.no_grad():
        lora = model(ids).logits
        with model.disable_adapter():
            base = model(ids).logits
    assert not torch.allclose(lora, base)


@pytest.mark.parametrize("case", ["missing", "not_adapter", "other_base"])
def test_bad_adapter_folders_give_one_line_errors(trained_demo, tmp_path, capsys, case):
    argv = ["--local-only"]
    if case == "missing":
        argv += ["--adapter", str(tmp_path / "nope")]
        needles = ["does not exist"]
    elif case == "not_adapter":
        argv += ["--adapter", str(tmp_path)]
        needles = ["is not an adapter folder"]
    else:
        other = _other_base(tmp_path)
        argv += ["--adapter", str(trained_demo), "--base-model", str(other)]
        recorded = json.loads((trained_demo / "adapter_config.json").read_text())["base_model_name_or_path"]
        needles = ["does not fit base model", str(other), recorded]
    assert compare.main(argv) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err
    assert all(needle in errors[0] for needle in needles)


def _other_base(tmp_path):
    """A demo-shaped model with a different width, so the adapter's shapes cannot fit."""
    import demo

    tokenizer = demo.build_tokenizer()
    original = dict(demo.MODEL_CONFIG)
    demo.MODEL_CONFIG.update(hidden_size=64, intermediate_size=128)
    try:
        model = demo.build_model(tokenizer)
    finally:
        demo.MODEL_CONFIG.clear()
        demo.MODEL_CONFIG.update(original)
    path = tmp_path / "other-base"
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_prompts_file_and_sampling_k_per_prompt(trained_demo, tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("\n".join(json.dumps({"prompt": f"Ava has {a} pens and gets 1 more. How many pens now?",
                                             "reference": str(a + 1)}) for a in range(4)))
    out = tmp_path / "report"
    argv = ["--adapter", str(trained_demo), "--prompts", str(prompts), "--num-samples-per-prompt", "3",
            "--temperature", "1.0", "--report-dir", str(out), "--seed", "1"]
    assert compare.main(argv) == 0
    rows = [json.loads(line) for line in (out / "comparison.jsonl").read_text().splitlines()]
    assert len(rows) == 4
    assert all(len(r[side]["outputs"]) == 3 and len(r[side]["scores"]) == 3 for r in rows for side in ("base", "lora"))
    assert rows[0]["reference"] == "1" and "<|user|>Ava has 0 pens" in rows[0]["prompt"]
    assert compare.main(argv + ["--report-dir", str(tmp_path / "again")]) == 0
    again = [json.loads(line) for line in (tmp_path / "again" / "comparison.jsonl").read_text().splitlines()]
    assert [r["lora"]["outputs"] for r in again] == [r["lora"]["outputs"] for r in rows]  # fixed seed
