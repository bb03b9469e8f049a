"""The answer instruction: what the suite appends to each prompt so that a model states an answer the reward reads."""

from __future__ import annotations

import json
import shutil

import pytest
from hypothesis import given
from hypothesis import strategies as st

import compare_base_vs_lora as compare
import train_grpo
from grpo_suite import models
from grpo_suite.errors import UsageError
from grpo_suite.prompts import ANSWER_INSTRUCTION, add_instruction, answer_instruction, build_prompt
from grpo_suite.schemas import detect_fields

GSM8K_ROW = {"question": "Tom has 3 pens and buys 4 more. How many pens does he have?", "answer": "3 + 4 = 7\n#### 7"}


def test_default_is_the_instruction_unless_a_system_prompt_or_the_model_folder_says_otherwise():
    assert answer_instruction(None) == ANSWER_INSTRUCTION
    assert answer_instruction(None, system_prompt="You are a tutor.") is None  # the user's own instructions
    assert answer_instruction(None, declared="") is None  # the demo's toy declares none
    assert answer_instruction(None, declared="Answer with a number.") == "Answer with a number."
    assert answer_instruction("") is None and answer_instruction("   ") is None
    # An explicit instruction is kept even beside a --system-prompt.
    assert answer_instruction("Say 'Final answer: N'.", system_prompt="You are a tutor.") == "Say 'Final answer: N'."


def test_the_instruction_ends_the_last_user_turn_and_nothing_else_changes():
    messages = [
        {"role": "user", "content": "What is 2 + 2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "And 3 + 3?  "},
    ]
    out = add_instruction(messages, "End with 'Final answer: N'.")
    assert out[:2] == messages[:2]
    assert out[2] == {"role": "user", "content": "And 3 + 3?\n\nEnd with 'Final answer: N'."}
    assert messages[2]["content"] == "And 3 + 3?  "  # the row itself is not modified
    assert add_instruction("What is 2 + 2?", "Answer briefly.") == "What is 2 + 2?\n\nAnswer briefly."


@pytest.mark.parametrize(
    "prompt",
    [
        "Solve 2x = 4. Please reason step by step, and put your final answer within \\boxed{}.",
        "What is 6 * 7? Give your Final Answer on the last line.",
        "How many legs has a spider? Write the answer after ####.",
        "Which planet is red?\nAnswer:",
        "Return the answer in <answer></answer> tags: 5 + 5?",
        "Answer with a single letter. Which is a fruit? A) car B) apple",
    ],
)
def test_a_prompt_that_asks_for_a_format_of_its_own_keeps_it(prompt):
    counter = {}
    assert add_instruction(prompt, ANSWER_INSTRUCTION, counter) == prompt
    assert counter == {"instruction_skipped": 1}


@pytest.mark.parametrize(
    "prompt",
    ["How many answers did the quiz have? It had 3 pages of 4.", "Is the answer to life 42?", "Tom answered 3 calls."],
)
def test_a_prompt_that_only_mentions_answers_still_gets_the_instruction(prompt):
    counter = {}
    assert add_instruction(prompt, ANSWER_INSTRUCTION, counter).endswith("\n\n" + ANSWER_INSTRUCTION)
    assert counter == {"instruction_added": 1}


def test_an_empty_prompt_stays_empty_and_is_dropped_not_rescued_by_the_instruction():
    detection = detect_fields(["question", "answer"], [GSM8K_ROW])
    assert build_prompt({"question": "  ", "answer": "#### 1"}, detection, instruction=ANSWER_INSTRUCTION) is None
    assert add_instruction([{"role": "user", "content": " "}], ANSWER_INSTRUCTION) == [{"role": "user", "content": " "}]


def test_the_system_prompt_comes_first_and_the_instruction_after_the_question():
    detection = detect_fields(["question", "answer"], [GSM8K_ROW])
    prompt = build_prompt(GSM8K_ROW, detection, "Be brief.", instruction=ANSWER_INSTRUCTION)
    assert prompt == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": GSM8K_ROW["question"] + "\n\n" + ANSWER_INSTRUCTION},
    ]
    plain = build_prompt(GSM8K_ROW, detection, None, chat=False, instruction=ANSWER_INSTRUCTION)
    assert plain == GSM8K_ROW["question"] + "\n\n" + ANSWER_INSTRUCTION


@given(st.text(max_size=200), st.text(min_size=1, max_size=80).filter(str.strip))
def test_adding_an_instruction_never_loses_the_prompt(prompt, instruction):
    out = add_instruction(prompt, instruction)
    if not prompt.strip():
        assert out == prompt  # nothing asked: nothing added
    else:
        assert out in (prompt, prompt.rstrip() + "\n\n" + instruction)


def test_a_model_folder_declares_its_instruction_and_a_bad_declaration_is_one_line(tmp_path):
    assert models.declared_answer_instruction(str(tmp_path)) is None  # no file: nothing declared
    assert models.declared_answer_instruction("HuggingFaceTB/SmolLM2-135M-Instruct") is None  # a hub id
    (tmp_path / models.PROMPTING_FILE).write_text('{"answer_instruction": ""}')
    assert models.declared_answer_instruction(str(tmp_path)) == ""
    (tmp_path / models.PROMPTING_FILE).write_text("{not json")
    with pytest.raises(UsageError, match="grpo_suite.json is not a JSON object"):
        models.declared_answer_instruction(str(tmp_path))
    (tmp_path / models.PROMPTING_FILE).write_text('{"answer_instruction": 3}')
    with pytest.raises(UsageError, match="answer_instruction must be a string"):
        models.declared_answer_instruction(str(tmp_path))


def test_the_demo_model_declares_none(demo_assets):
    assert json.loads((demo_assets.model_dir / models.PROMPTING_FILE).read_text()) == {"answer_instruction": ""}


# --------------------------------------------------------------------------------------------
# Through train_grpo.py and compare_base_vs_lora.py, on the demo's model without its declaration
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plain_model(demo_assets, tmp_path_factory):
    """The demo's model as any other model folder: no grpo_suite.json, so the default applies."""
    folder = tmp_path_factory.mktemp("plain") / "model"
    shutil.copytree(demo_assets.model_dir, folder, ignore=shutil.ignore_patterns(models.PROMPTING_FILE))
    return folder


def _args(model, data, out, *extra):
    return [
        "--model",
        str(model),
        "--dataset",
        str(data),
        "--local-only",
        "--output-dir",
        str(out),
        "--max-completion-length",
        "24",
        "--per-device-train-batch-size",
        "8",
        "--num-generations",
        "4",
        "--logging-steps",
        "1",
        *extra,
    ]


def _shown_prompt(out: str) -> str:
    return out.split("prompt as the model sees it:\n", 1)[1].split("\nreference:", 1)[0]


def test_dry_run_shows_the_instruction_and_the_flag_and_system_prompt_change_it(plain_model, demo_assets, capsys):
    data = demo_assets.data_dir
    assert train_grpo.main(_args(plain_model, data, "unused", "--dry-run")) == 0
    assert f"now?\n\n{ANSWER_INSTRUCTION}</s>" in _shown_prompt(capsys.readouterr().out)
    assert train_grpo.main(_args(plain_model, data, "unused", "--dry-run", "--answer-instruction", "Say N.")) == 0
    assert "now?\n\nSay N.</s>" in _shown_prompt(capsys.readouterr().out)
    for extra in (["--answer-instruction", ""], ["--system-prompt", "Be brief."]):
        assert train_grpo.main(_args(plain_model, data, "unused", "--dry-run", *extra)) == 0
        shown = _shown_prompt(capsys.readouterr().out)
        assert "now?</s>" in shown and ANSWER_INSTRUCTION not in shown
    assert train_grpo.main(_args(demo_assets.model_dir, data, "unused", "--dry-run")) == 0
    assert ANSWER_INSTRUCTION not in _shown_prompt(capsys.readouterr().out)  # the toy declares none


@pytest.fixture(scope="module")
def instructed_run(plain_model, demo_assets, tmp_path_factory):
    out = tmp_path_factory.mktemp("instructed") / "run"
    argv = _args(
        plain_model, demo_assets.data_dir, out, "--max-steps", "1", "--save-steps", "1", "--learning-rate", "1e-3"
    )
    argv += ["--length-target", "5", "--length-max", "60"]  # a reward spread on a toy that never states answers
    assert train_grpo.main(argv) == 0
    return out


def test_the_run_records_the_instruction_it_used(instructed_run):
    recorded = json.loads((instructed_run / "run_config.json").read_text())["args"]
    assert recorded["answer_instruction"] == ANSWER_INSTRUCTION


def test_a_resume_of_a_run_recorded_before_the_flag_uses_none(instructed_run, tmp_path):
    run = tmp_path / "old"
    shutil.copytree(instructed_run, run)
    record = json.loads((run / "run_config.json").read_text())
    del record["args"]["answer_instruction"]
    (run / "run_config.json").write_text(json.dumps(record))
    args = train_grpo.build_parser().parse_args(["--output-dir", str(run), "--resume"])
    train_grpo.adopt_run_record(args, {"output_dir", "resume"})
    assert args.answer_instruction == ""
    args = train_grpo.build_parser().parse_args(["--output-dir", str(instructed_run), "--resume"])
    train_grpo.adopt_run_record(args, {"output_dir", "resume"})
    assert args.answer_instruction == ANSWER_INSTRUCTION


def test_changing_the_instruction_on_resume_is_refused(instructed_run, capsys):
    argv = ["--output-dir", str(instructed_run), "--resume", "--answer-instruction", "Say N.", "--max-steps", "2"]
    assert train_grpo.main(argv) == 2
    err = capsys.readouterr().err
    assert "--answer-instruction is Say N. but the run was started with" in err


def test_compare_renders_the_runs_instruction_and_reports_a_different_one(instructed_run, tmp_path):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"prompt": "Ava has 2 pens and gets 1 more. How many pens now?", "reference": "3"}))
    argv = ["--adapter", str(instructed_run), "--prompts", str(prompts), "--no-forgetting", "--max-new-tokens", "8"]
    assert compare.main(argv + ["--report-dir", str(tmp_path / "a")]) == 0
    row = json.loads((tmp_path / "a" / "comparison.jsonl").read_text().splitlines()[0])
    assert f"How many pens now?\n\n{ANSWER_INSTRUCTION}</s>" in row["prompt"]
    assert compare.main(argv + ["--answer-instruction", "", "--report-dir", str(tmp_path / "b")]) == 0
    row = json.loads((tmp_path / "b" / "comparison.jsonl").read_text().splitlines()[0])
    assert ANSWER_INSTRUCTION not in row["prompt"]
    notes = json.loads((tmp_path / "b" / "summary.json").read_text())["notes"]
    assert any(n.startswith("--answer-instruction '' here; the run used") for n in notes)
