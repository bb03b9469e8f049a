"""Several adapters in one comparison: checkpoints of the demo run side by side, and the
forgetting check against an adapter wrecked by a huge learning rate."""

from __future__ import annotations

import json

import pytest

import compare_base_vs_lora as compare


def _summary(out):
    return json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="module")
def wrecked(demo_assets, tmp_path_factory):
    """Two GRPO steps at a learning rate 1000x the demo's: an adapter that forgot its language."""
    import train_grpo

    out = tmp_path_factory.mktemp("wrecked") / "run"
    argv = [
        "--demo",
        "--model",
        str(demo_assets.model_dir),
        "--dataset",
        str(demo_assets.data_dir),
        "--output-dir",
        str(out),
        "--learning-rate",
        "1.0",
        "--max-steps",
        "2",
        "--save-steps",
        "100",
    ]
    assert train_grpo.main(argv) == 0
    return out


def test_the_most_accurate_checkpoint_is_named_best(trained_demo, tmp_path):
    # Which checkpoint of the demo run scores higher depends on the CPU's float rounding (seen:
    # checkpoint-20 ahead of the final adapter on one machine, behind on another), so the test
    # pins the ranking the comparison reports against the accuracies it reports.
    out = tmp_path / "report"
    argv = [
        "--adapter",
        str(trained_demo / "checkpoint-20"),
        "--adapter",
        str(trained_demo),
        "--num-prompts",
        "40",
        "--report-dir",
        str(out),
        "--no-forgetting",
        "--show",
        "0",
    ]
    assert compare.main(argv) == 0
    summary = _summary(out)
    final = trained_demo.name
    assert summary["labels"] == ["checkpoint-20", final]
    accuracy = next(m for m in summary["metrics"] if m["name"] == "strict accuracy")["values"]
    assert min(accuracy["checkpoint-20"], accuracy[final]) > accuracy["base"]
    best, runner_up = summary["best"], summary["runner_up"]
    assert {best, runner_up} == {"checkpoint-20", final}
    assert accuracy[best] == max(accuracy["checkpoint-20"], accuracy[final])
    rows = [json.loads(line) for line in (out / "comparison.jsonl").read_text().splitlines()]
    strict = {side: sum(r[side]["scores"][0]["strict"] for r in rows) / len(rows) for side in summary["labels"]}
    assert summary["best_vs_runner_up"]["pair"]["diff"] == pytest.approx(strict[best] - strict[runner_up])
    markdown = (out / "comparison.md").read_text()
    assert f"| {best} (best) |" in markdown and f"best: {best} (strict accuracy" in markdown
    html = (out / "comparison.html").read_text()
    assert '<table id="adapters">' in html and f"<th>checkpoint-20</th><th>{final}</th>" in html


def test_checkpoints_flag_lists_every_checkpoint_and_the_final_once(trained_demo, tmp_path):
    out = tmp_path / "report"
    argv = [
        "--adapter",
        str(trained_demo),
        "--checkpoints",
        "--num-prompts",
        "4",
        "--max-new-tokens",
        "8",
        "--report-dir",
        str(out),
        "--no-forgetting",
        "--show",
        "0",
    ]
    assert compare.main(argv) == 0
    summary = _summary(out)
    # The demo saves every 20 of 60 steps; the final adapter is checkpoint-60's weights, compared once.
    assert summary["labels"] == ["checkpoint-20", "checkpoint-40", "final (checkpoint-60)"]
    assert any("the final adapter is checkpoint-60" in note for note in summary["notes"])


def test_checkpoints_flag_skips_an_incomplete_checkpoint_loudly(trained_demo, tmp_path):
    notes = []
    run = tmp_path / "run"
    (run / "checkpoint-5").mkdir(parents=True)
    (run / "checkpoint-5" / "adapter_config.json").write_text("{}")
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        (run / name).write_bytes((trained_demo / name).read_bytes())
    paths, labels = compare.checkpoint_adapters(run, notes)
    assert labels == ["final"] and paths == [run]
    assert len(notes) == 1 and notes[0].startswith("skipped checkpoint-5: incomplete: no trainer_state.json")


def test_forgetting_is_lower_for_a_huge_learning_rate(trained_demo, wrecked, tmp_path):
    texts = tmp_path / "texts.jsonl"
    texts.write_text(
        "\n".join(json.dumps({"text": f"{a} + {b} = {a + b}. Answer: {a + b}"}) for a in range(5) for b in range(3))
    )
    out = tmp_path / "report"
    argv = [
        "--adapter",
        str(trained_demo),
        "--adapter",
        str(wrecked),
        "--num-prompts",
        "2",
        "--max-new-tokens",
        "4",
        "--forgetting-text",
        str(texts),
        "--report-dir",
        str(out),
        "--show",
        "0",
    ]
    assert compare.main(argv) == 0
    forgetting = _summary(out)["forgetting"]
    assert forgetting["n_texts"] == 15 and forgetting["source"] == str(texts)
    demo_drop, wrecked_drop = forgetting["pairs"][trained_demo.name][0], forgetting["pairs"]["run"][0]
    assert wrecked_drop < demo_drop
    assert wrecked_drop < -forgetting["threshold"]  # flagged
    texts_scored = [json.loads(line) for line in (out / "forgetting.jsonl").read_text().splitlines()]
    assert wrecked_drop == pytest.approx(sum(t["run"] - t["base"] for t in texts_scored) / 15)
    assert "WARNING: run forgot" in (out / "comparison.md").read_text()
