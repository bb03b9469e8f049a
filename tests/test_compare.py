"""compare_base_vs_lora.py on a trained demo adapter: paired figures recomputed from the JSONL,
reports, the run's contract, prompts without references, sampling metrics, errors, memory."""

from __future__ import annotations

import json
import math
import shutil
import statistics
from html.parser import HTMLParser

import pytest

import compare_base_vs_lora as compare
import rewards
from grpo_suite import compare_stats


def _jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def report(trained_demo, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    assert compare.main(["--adapter", str(trained_demo), "--num-prompts", "40", "--report-dir", str(out)]) == 0
    return out, _jsonl(out / "comparison.jsonl"), json.loads((out / "summary.json").read_text())


def test_trained_adapter_changes_outputs(report):
    _, rows, _ = report
    assert len(rows) == 40
    assert any(r["base"]["outputs"] != r["lora"]["outputs"] for r in rows)


def test_paired_figures_recomputed_from_the_jsonl(report):
    out, rows, summary = report
    base = [r["base"]["scores"][0]["strict"] for r in rows]
    lora = [r["lora"]["scores"][0]["strict"] for r in rows]
    fixed = sum(1 for b, a in zip(base, lora) if a and not b)
    broken = sum(1 for b, a in zip(base, lora) if b and not a)
    p = 2 * sum(math.comb(fixed + broken, i) for i in range(min(fixed, broken) + 1)) / 2 ** (fixed + broken)
    accuracy = next(m for m in summary["metrics"] if m["name"] == "strict accuracy")
    pair = accuracy["pairs"]["lora"]
    assert (pair["fixed"], pair["broken"]) == (fixed, broken)
    assert pair["p"] == pytest.approx(min(1.0, p))
    assert pair["diff"] == pytest.approx((sum(lora) - sum(base)) / 40)
    assert pair["ci"][0] <= pair["diff"] <= pair["ci"][1]
    assert summary["verdicts"]["lora"]["outcome"] == compare_stats.verdict(pair["diff"], pair["ci"], pair["p"])
    markdown = (out / "comparison.md").read_text()
    assert f"{100 * sum(lora) / 40:.1f}%" in markdown and f"{100 * sum(base) / 40:.1f}%" in markdown
    assert f"(fixed {fixed}, broken {broken})" in markdown
    assert summary["verdict_lines"]["lora"] in markdown


def test_every_component_has_a_paired_interval(report):
    _, rows, summary = report
    names = [m["name"] for m in summary["metrics"]]
    assert names[:3] == ["strict accuracy", "lenient accuracy", "total reward"]
    assert set(rewards.DEFAULT_WEIGHTS) <= set(names)
    total = next(m for m in summary["metrics"] if m["name"] == "total reward")
    diffs = [r["lora"]["mean_total"] - r["base"]["mean_total"] for r in rows]
    assert total["pairs"]["lora"]["diff"] == pytest.approx(statistics.fmean(diffs))
    assert compare_stats.paired_bootstrap(
        [r["base"]["mean_total"] for r in rows], [r["lora"]["mean_total"] for r in rows]
    ) == pytest.approx(tuple(total["pairs"]["lora"]["ci"]))


def test_regressions_come_first_with_both_extracted_answers(report):
    out, rows, _ = report
    markdown = (out / "comparison.md").read_text()
    regressions = [r for r in rows if r["lora"]["vs_base"] == "loss"]
    wins = [r for r in rows if r["lora"]["vs_base"] == "win"]
    assert regressions and wins  # the trained demo both fixes and breaks some problems
    assert markdown.index("## Regressions") < markdown.index("## Fixes") < markdown.index("## Unchanged")
    section = markdown[markdown.index("## Regressions") : markdown.index("## Fixes")]
    assert f"## Regressions: base right, adapter wrong ({len(regressions)})" in section
    for row in regressions:
        assert row["base"]["scores"][0]["strict"] and not row["lora"]["scores"][0]["strict"]
        assert f"### Prompt {row['index']}\n" in section
        assert f"answer {row['base']['scores'][0]['answer']} right" in section
        assert f"answer {row['lora']['scores'][0]['answer']} wrong" in section


def test_forgetting_figures_recomputed_from_forgetting_jsonl(report):
    out, rows, summary = report
    texts = _jsonl(out / "forgetting.jsonl")
    assert len(texts) == 40 and texts[0]["text"] == rows[0]["reference"]
    forgetting = summary["forgetting"]
    assert forgetting["base"] == pytest.approx(statistics.fmean(t["base"] for t in texts))
    assert forgetting["pairs"]["lora"][0] == pytest.approx(statistics.fmean(t["lora"] - t["base"] for t in texts))
    assert all(t["base"] < 0 and t["lora"] < 0 for t in texts)


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


def test_html_has_the_verdict_tables_and_one_row_per_prompt(report):
    out, rows, summary = report
    page = (out / "comparison.html").read_text()
    parser = _Tables()
    parser.feed(page)
    assert parser.ids[:2] == ["summary", "forgetting"]
    assert parser.ids.index("regressions") < parser.ids.index("fixes")
    assert sum(parser.rows.values()) == len(rows)
    assert parser.rows["regressions"] == sum(r["lora"]["vs_base"] == "loss" for r in rows)
    assert "<svg" in page and 'class="verdict better"' in page
    assert summary["verdict_lines"]["lora"].replace("->", "-&gt;") in page


def test_base_outputs_use_the_same_weights_with_adapter_disabled(trained_demo):
    """One copy of the base weights: the base side is the adapter-wrapped model with adapters off."""
    import torch

    args = compare.build_parser().parse_args(["--adapter", str(trained_demo), "--local-only"])
    notes = []
    adapters = compare.resolve_adapters(args, notes)
    model, _, _ = compare.load_models(args, adapters, compare.base_model_name(args, adapters, notes), notes)
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


def test_sampling_gives_pass_at_k_and_maj_at_k_recomputed_from_jsonl(trained_demo, tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "\n".join(
            json.dumps({"prompt": f"Ava has {a} pens and gets 1 more. How many pens now?", "reference": str(a + 1)})
            for a in range(4)
        )
    )
    out = tmp_path / "report"
    argv = [
        "--adapter",
        str(trained_demo),
        "--prompts",
        str(prompts),
        "--num-samples-per-prompt",
        "4",
        "--temperature",
        "1.0",
        "--report-dir",
        str(out),
        "--seed",
        "1",
        "--no-forgetting",
    ]
    assert compare.main(argv) == 0
    rows = _jsonl(out / "comparison.jsonl")
    summary = json.loads((out / "summary.json").read_text())
    assert len(rows) == 4
    assert all(len(r[side]["outputs"]) == 4 and len(r[side]["scores"]) == 4 for r in rows for side in ("base", "lora"))
    assert rows[0]["reference"] == "1" and "<|user|>Ava has 0 pens" in rows[0]["prompt"]
    sampling = {m["name"]: m for m in summary["sampling"]}
    assert list(sampling) == ["pass@1", "pass@2", "pass@4", "maj@4"]
    for side in ("base", "lora"):
        correct = [sum(s["strict"] for s in r[side]["scores"]) for r in rows]
        for k in (1, 2, 4):
            closed = statistics.fmean(1 - math.comb(4 - c, k) / math.comb(4, k) for c in correct)
            assert sampling[f"pass@{k}"]["values"][side] == pytest.approx(closed)
        votes = [
            statistics.multimode([s["answer"] for s in r[side]["scores"] if s["answer"] is not None] or [None])
            for r in rows
        ]
        if all(len(v) == 1 for v in votes):  # no tie: the plain mode is the vote
            expected = statistics.fmean(float(v[0] == r["reference"]) for v, r in zip(votes, rows))
            assert sampling["maj@4"]["values"][side] == pytest.approx(expected)
    markdown = (out / "comparison.md").read_text()
    assert "## Sampling (4 samples per prompt)" in markdown and "| pass@4 |" in markdown
    assert compare.main(argv + ["--report-dir", str(tmp_path / "again")]) == 0
    again = _jsonl(tmp_path / "again" / "comparison.jsonl")
    assert [r["lora"]["outputs"] for r in again] == [r["lora"]["outputs"] for r in rows]  # fixed seed


def test_prompts_without_reference_show_na_and_judge_by_reward(trained_demo, tmp_path):
    prompts = tmp_path / "questions.txt"
    prompts.write_text(
        "Ava has 2 pens and gets 1 more. How many pens now?\nBen had 4 cups and lost 1. How many cups now?\n"
    )
    out = tmp_path / "report"
    argv = ["--adapter", str(trained_demo), "--prompts", str(prompts), "--report-dir", str(out)]
    assert compare.main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    markdown = (out / "comparison.md").read_text()
    assert summary["n_reference"] == 0 and summary["verdicts"]["lora"]["metric"] == "total reward"
    assert "| strict accuracy | n/a | n/a | n/a | n/a | n/a | n/a | n/a |" in markdown
    assert "| reference_reward | n/a |" in markdown
    assert "accuracy is n/a and the verdict uses the total reward" in markdown
    assert "0.0%" not in markdown.split("## Forgetting")[0]
    assert summary["forgetting"] is None and "forgetting check skipped" in " ".join(summary["notes"])


def test_run_contract_system_prompt_is_used_and_a_different_flag_is_reported(trained_demo, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_demo, run, ignore=shutil.ignore_patterns("checkpoint-*"))
    config = json.loads((run / "run_config.json").read_text())
    config["args"]["system_prompt"] = "Be brief."
    (run / "run_config.json").write_text(json.dumps(config))
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"prompt": "Ava has 2 pens and gets 1 more. How many pens now?", "reference": "3"}))
    argv = ["--adapter", str(run), "--prompts", str(prompts), "--no-forgetting", "--max-new-tokens", "8"]
    assert compare.main(argv + ["--report-dir", str(tmp_path / "a")]) == 0
    rows = _jsonl(tmp_path / "a" / "comparison.jsonl")
    assert rows[0]["prompt"].startswith("<s><|system|>Be brief.</s><|user|>Ava has 2 pens")
    notes = json.loads((tmp_path / "a" / "summary.json").read_text())["notes"]
    assert any("--max-new-tokens 8 here; the run generated at most 24" in n for n in notes)
    assert compare.main(argv + ["--system-prompt", "Show your work.", "--report-dir", str(tmp_path / "b")]) == 0
    rows = _jsonl(tmp_path / "b" / "comparison.jsonl")
    assert "<|system|>Show your work." in rows[0]["prompt"]
    markdown = (tmp_path / "b" / "comparison.md").read_text()
    top = markdown[: markdown.index("## Verdict")]
    assert "--system-prompt 'Show your work.' here; the run used 'Be brief.'" in top
