"""--judge-model: a local causal LM grades completions by a rubric; unreadable judgements are None."""

from __future__ import annotations

import json
import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

import train_grpo
from grpo_suite import judge
from grpo_suite.errors import UsageError


def test_a_stated_score_is_read_on_a_zero_to_one_scale():
    assert judge.parse_score("Score: 8") == 0.8
    assert judge.parse_score("The reply is fine.\n**Rating:** 7/10") == 0.7
    assert judge.parse_score("score = 3 out of 5") == 0.6
    assert judge.parse_score("The score is 6.") == 0.6
    assert judge.parse_score("Score: 2\nOn reflection the unit is wrong.\nFinal score: 1") == 0.1  # the last one
    assert judge.parse_score("10") == 1.0 and judge.parse_score(" 4/5 ") == 0.8
    assert judge.parse_score("Score: 7/10.") == 0.7 and judge.parse_score("**Score**: 8") == 0.8


def test_a_score_mentioned_after_the_grade_is_not_the_grade():
    for text, grade in [
        ("Score: 7\nA score of 10 means perfect.", 0.7),
        ("Score: 8\n\nNote: a score of 10 would require more detail.", 0.8),
        ("Score: 7\n\nThe reference score of 2 is lower.", 0.7),
        ("Score: 7/10\nThe grade of 3 for clarity is fair.", 0.7),
    ]:
        assert judge.parse_score(text) == grade, text
    # Under the default prompt the reply is begun with "Score:": only the number after it is the grade, even when
    # a small judge goes on to repeat the prompt with another score in it.
    assert judge.parse_score("Score: 8\n\n[Request]\n...\nScore: 3", prefilled=True) == 0.8
    assert judge.parse_score("Score: N, where N is 3", prefilled=True) is None
    assert judge.parse_score("this would score 1 point for style") is None


def test_an_unreadable_judgement_is_none_never_zero():
    for text in ("", "good", "Score: N, where N is a number", "Score: 2+3=5", "Score: 11", "Score: -1", "5/0"):
        assert judge.parse_score(text) is None, text
    assert judge.parse_score("Score: 0") == 0.0  # a real zero is kept


@given(st.integers(0, 10), st.text(alphabet=st.characters(blacklist_categories=("Nd",)), max_size=40))
def test_any_score_from_0_to_10_after_any_text_without_digits_is_read(score, before):
    assert judge.parse_score(f"{before}\nScore: {score}") == pytest.approx(score / 10)


@given(st.integers(0, 1000), st.integers(1, 1000))
def test_a_score_out_of_m_is_its_share_or_none_above_m(value, scale):
    got = judge.parse_score(f"Rating: {value}/{scale}")
    assert got == (pytest.approx(value / scale) if value <= scale else None)


@given(st.text(alphabet=st.characters(blacklist_categories=("Nd",)), max_size=80))
def test_text_without_a_digit_never_scores(text):
    assert judge.parse_score(text) is None


def test_a_rubric_file_is_criteria_or_a_whole_prompt(tmp_path):
    criteria = tmp_path / "criteria.txt"
    criteria.write_text("\ufeffPrefer replies that cite a source. Use {{braces}} literally.\n", encoding="utf-8")
    template = judge.read_rubric(str(criteria))
    filled = judge.Judge("m", "judge_m", template).judge_input("Q?", "A.", None)
    assert "\n\nPrefer replies that cite a source. Use {braces} literally." in filled and "\ufeff" not in filled
    assert "[Request]\nQ?" in filled and "[Response]\nA." in filled and "[Reference answer]" not in filled
    with_reference = judge.Judge("m", "judge_m", template).judge_input("Q?", "A.", "42")
    assert "[Reference answer]\n42" in with_reference
    aliases = judge.Judge("m", "judge_m", template).judge_input("Q?", "A.", ["Paris", "paris, France"])
    assert "[Reference answer]\nParis | paris, France\n" in aliases
    whole = tmp_path / "whole.txt"
    whole.write_text("Grade {completion} for {prompt} (gold {reference}). Say Score: N.")
    filled = judge.Judge("m", "judge_m", judge.read_rubric(str(whole))).judge_input("Q?", "A.", None)
    assert filled == "Grade A. for Q? (gold (none given)). Say Score: N."
    assert judge.uses_reference(judge.read_rubric(str(whole)))
    assert not judge.uses_reference(judge.read_rubric(None))


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "is empty"),
        ("Grade {answer}", "unknown placeholder \\{answer\\}"),
        ("Grade {completion", "write a literal brace as"),
        ("Grade {prompt} well", "uses \\{prompt\\} but not \\{completion\\}"),
        ("Grade {completion!r:>10}", "\\{completion\\} carries a conversion or format"),
    ],
)
def test_a_bad_rubric_is_one_line(tmp_path, text, message):
    path = tmp_path / "rubric.txt"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        judge.read_rubric(str(path))
    with pytest.raises(UsageError, match="cannot be read"):
        judge.read_rubric(str(tmp_path / "missing.txt"))


def test_a_conversation_is_shown_to_the_judge_as_text():
    j = judge.Judge("m", "judge_m", judge.read_rubric(None))
    prompt = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}]
    filled = j.judge_input(prompt, [{"role": "assistant", "content": "4"}], None)
    assert "System: Be brief.\nUser: 2+2?" in filled and "[Response]\n4\n" in filled


@pytest.fixture(scope="module")
def demo_judge(demo_assets):
    return judge.Judge(str(demo_assets.model_dir), "judge_demo", judge.read_rubric(None), 8, local_only=True)


def test_the_judge_scores_or_says_none_and_counts_both(demo_judge):
    prompts = ["What is 2+3?"] * 3 + ["What is 7+1?"] * 3
    completions = ["Final answer: 5", "Final answer: 5", "no idea", "Final answer: 8", "8", "9"]
    scores = demo_judge(completions, prompts=prompts, reference=["5"] * 3 + ["8"] * 3)
    assert demo_judge.last_metrics["judge/judge_demo/cached_frac"] == pytest.approx(1 / 6)  # the repeated one
    assert len(scores) == 6 and all(s is None or 0.0 <= s <= 1.0 for s in scores)
    assert scores[0] == scores[1]  # one judgement, cached
    assert len(demo_judge.cache) == 5  # six completions, two of them the same: five judgements
    logged = []
    again = demo_judge(
        completions, prompts=prompts, reference=["5"] * 3 + ["8"] * 3, log_metric=lambda k, v: logged.append((k, v))
    )
    unparsable = sum(s is None for s in scores) / 6
    assert again == scores and len(demo_judge.cache) == 5  # nothing judged twice
    assert logged == [
        ("judge/judge_demo/unparsable_frac", pytest.approx(unparsable)),
        ("judge/judge_demo/cached_frac", 1.0),
    ]
    assert demo_judge(["x"]) == [None]  # no prompt (the dry run): nothing to grade


def test_the_real_model_judges_through_its_chat_template(real_model):
    j = judge.Judge(str(real_model), "judge_smollm2", judge.read_rubric(None), 16, local_only=True)
    prompts = [[{"role": "user", "content": "What is 2+3?"}]] * 4
    replies = ["2+3=5. Final answer: 5", "The answer is 7.", "I don't know.", "Paris is the capital of France."]
    scores = j([[{"role": "assistant", "content": r}] for r in replies], prompts=prompts, reference=["5"] * 4)
    rendered = j._rendered(j.judge_input(prompts[0], replies[0], "5"))
    # SmolLM2's template adds its default system prompt; the reply is begun with "Score:".
    assert rendered.startswith("<|im_start|>system\n") and rendered.endswith("<|im_start|>assistant\nScore:")
    assert all(s is None or 0.0 <= s <= 1.0 for s in scores)
    assert any(s is not None for s in scores)  # the prefix makes even a 135M judge state a number


@pytest.mark.slow
def test_a_run_with_a_judge_trains_logs_it_and_keeps_its_verdicts(demo_assets, tmp_path):
    out = tmp_path / "run"
    argv = ["--model", str(demo_assets.model_dir), "--dataset", str(demo_assets.data_dir), "--local-only"]
    argv += ["--output-dir", str(out), "--max-steps", "2", "--max-completion-length", "16", "--logging-steps", "1"]
    argv += ["--per-device-train-batch-size", "16", "--judge-model", str(demo_assets.model_dir)]
    argv += ["--judge-max-tokens", "6", "--reward-weights", "judge_model=0.5"]
    assert train_grpo.main(argv) == 0
    name = "judge_model"
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if '"loss"' in line]
    assert len(logged) == 2
    for row in logged:
        share = row[f"judge/{name}/unparsable_frac"]
        assert 0.0 <= share <= 1.0
        mean = row[f"rewards/{name}/mean"]
        assert (mean is None) == (share == 1.0) and (mean is None or 0.0 <= mean <= 1.0)
    assert "[Request]" in (out / "judge_prompt.txt").read_text()
    verdicts = [json.loads(line) for line in (out / "judge_verdicts.jsonl").read_text().splitlines()]
    assert len(verdicts) == 2 * judge.SAMPLED_PER_CALL
    for v in verdicts:
        assert v["score"] == judge.parse_score(v["judgement"]) and v["reference"] and v["prompt"]
    record = json.loads((out / "run_config.json").read_text())
    assert record["rewards"][name] == 0.5 and record["args"]["judge_model"] == str(demo_assets.model_dir)
    assert math.isfinite(logged[-1]["loss"])


def test_bad_judges_and_rubrics_are_one_line_before_the_run_folder(demo_assets, tmp_path, capsys):
    base = ["--model", str(demo_assets.model_dir), "--dataset", str(demo_assets.data_dir), "--local-only"]
    out = tmp_path / "run"
    base += ["--output-dir", str(out)]
    rubric = tmp_path / "rubric.txt"
    rubric.write_text("Grade {reply}")
    from test_reward_models import _classifier

    classifier = _classifier(demo_assets, tmp_path / "rm")
    capsys.readouterr()  # building it printed a progress bar
    for extra, message in [
        (["--judge-rubric", str(rubric)], "--judge-rubric needs --judge-model"),
        (["--judge-model", str(demo_assets.model_dir), "--judge-rubric", str(rubric)], "unknown placeholder {reply}"),
        (["--judge-model", str(classifier)], "is not a causal LM (its model type is 'llama', architecture "),
        (["--judge-max-tokens", "8"], "--judge-max-tokens needs --judge-model"),
        (["--judge-model", " "], "--judge-model is empty"),
        (
            ["--judge-model", str(demo_assets.model_dir), "--reward-weights", "judge_typo=1"],
            "valid names: reference_reward, format_reward, length_reward, boilerplate_penalty, judge_model",
        ),
        (["--judge-model", str(tmp_path / "nowhere")], "no such folder"),
        (["--judge-model", str(demo_assets.model_dir), "--judge-max-tokens", "0"], "--judge-max-tokens"),
    ]:
        assert train_grpo.main(base + extra) == 2, extra
        err = capsys.readouterr().err.strip()
        assert re.search(re.escape(message), err) and len(err.splitlines()) == 1, err
        assert not out.exists()


def test_the_dry_run_shows_what_the_judge_reads(demo_assets, capsys):
    argv = ["--demo", "--model", str(demo_assets.model_dir), "--dataset", str(demo_assets.data_dir), "--dry-run"]
    assert train_grpo.main(argv + ["--judge-model", str(demo_assets.model_dir)]) == 0
    out = capsys.readouterr().out
    assert "judge_model reads, for each completion (shown here as <completion>):" in out
    assert "[Response]\n<completion>" in out and "[Reference answer]\n" in out


def test_a_rubric_showing_the_reference_is_refused_on_data_without_one(demo_assets, tmp_path, capsys):
    rows = [
        {"instruction": f"Describe {city} in two sentences.", "input": "", "output": f"{city} is a city. " * 12}
        for city in ("Oslo", "Lima", "Pune", "Kyiv") * 10
    ]
    data = tmp_path / "alpaca.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    rubric = tmp_path / "rubric.txt"
    rubric.write_text("Compare {completion} with the gold answer {reference}. Say Score: N.")
    out = tmp_path / "run"
    argv = ["--model", str(demo_assets.model_dir), "--dataset", str(data), "--local-only", "--output-dir", str(out)]
    argv += ["--judge-model", str(demo_assets.model_dir)]
    assert train_grpo.main(argv + ["--judge-rubric", str(rubric)]) == 2
    err = capsys.readouterr().err
    assert "shows {reference}, and this data has no reference column" in err and not out.exists()
    # The default rubric shows a reference only where a row has one: the judge is the reward that fits here.
    assert train_grpo.main(argv + ["--dry-run", "--max-completion-length", "64"]) == 0  # the demo's context: 512
    printed = capsys.readouterr().out
    assert "[Reference answer]" not in printed and "judge_model reads, for each completion" in printed
    assert "TRAINING WOULD BE REFUSED" not in printed
