"""The learnability probe and the training watchdog."""

from __future__ import annotations

import json
import logging
import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

import train_grpo
from grpo_suite import probe
from grpo_suite.prompts import ANSWER_INSTRUCTION


@given(st.integers(1, 12).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
def test_pass_at_k_is_the_chance_that_k_draws_without_replacement_hit_a_correct_one(nck):
    n, c, k = nck
    # Closed form by counting: the share of k-subsets of n samples that contain no correct one.
    misses = math.comb(n - c, k) if n - c >= k else 0
    assert probe.pass_at_k(n, c, k) == pytest.approx(1 - misses / math.comb(n, k))
    assert probe.pass_at_k(n, 0, k) == 0.0
    assert probe.pass_at_k(n, n, k) == 1.0


WEIGHTS = {"reference_reward": 1.0, "format_reward": 0.2}


def _scores(table):
    """Rows of (reference_reward, format_reward) per completion, one list per prompt."""
    return [[{"reference_reward": r, "format_reward": f} for r, f in group] for group in table]


def _summary(table, **kw):
    args = dict(
        has_reference=[True] * len(table),
        lengths=[10] * 8,
        truncated=[False] * 8,
        unreadable=[False] * 8,
        seconds_per_group=1.0,
        seconds_per_step=4.0,
        steps=10,
    )
    args.update(kw)
    return probe.summarise(_scores(table), WEIGHTS, **args)


def test_summary_figures_and_a_learnable_verdict():
    result = _summary([[(1.0, 1.0), (0.0, 1.0)], [(0.0, 1.0), (0.0, 1.0)], [(1.0, 1.0), (1.0, 1.0)]])
    assert result.pass_at_1 == pytest.approx((0.5 + 0 + 1) / 3)
    assert result.pass_at_k == pytest.approx(2 / 3)
    assert result.zero_spread == pytest.approx(2 / 3)  # the all-wrong and the all-right groups
    assert result.never_solved == pytest.approx(1 / 3) and result.always_solved == pytest.approx(1 / 3)
    assert result.total_mean == pytest.approx((3 * 1.2 + 3 * 0.2) / 6)
    assert result.seconds_total == 40.0
    assert not result.cannot_learn


def test_never_solved_is_cannot_learn_and_names_the_fix():
    result = _summary([[(0.0, 1.0), (0.0, 0.5)]] * 4)
    causes = [v for v in result.verdicts if v["severity"] == "cannot learn"]
    assert result.cannot_learn and "no prompt was ever solved" in causes[0]["cause"]
    assert f"--answer-instruction {ANSWER_INSTRUCTION!r} (this run has none)" in causes[0]["fix"]


def test_groups_without_spread_are_cannot_learn():
    result = _summary([[(1.0, 1.0), (1.0, 1.0)]] * 9 + [[(1.0, 1.0), (0.0, 1.0)]])
    assert result.zero_spread == pytest.approx(0.9)
    assert any("no reward spread" in v["cause"] and "--temperature" in v["fix"] for v in result.verdicts)
    assert any("harder data" in v["fix"] for v in result.verdicts)


def test_truncation_and_unreadable_answers_are_named():
    result = _summary([[(1.0, 1.0), (0.0, 1.0)]], truncated=[True] * 6 + [False] * 2, unreadable=[True] * 7 + [False])
    text = probe.format_report(result)
    assert "--max-completion-length" in text and "75.0%" in text
    assert "format_reward" in text and "87.5%" in text


def test_truncation_that_flattens_every_group_comes_first_as_the_cause():
    result = _summary([[(0.0, 0.0), (0.0, 0.0)]] * 3 + [[(1.0, 0.0), (1.0, 0.0)]], truncated=[True] * 8)
    first = result.verdicts[0]
    assert first["severity"] == "cannot learn" and "--max-completion-length" in first["fix"]
    assert any("no reward spread" in v["cause"] for v in result.verdicts[1:])


def test_none_rewards_count_as_nothing_in_the_total():
    result = probe.summarise(
        [[{"reference_reward": None, "format_reward": 1.0}] * 2],
        WEIGHTS,
        [False],
        [5, 5],
        [False, False],
        [False, False],
        1.0,
        1.0,
        None,
    )
    assert result.total_mean == pytest.approx(0.2) and result.pass_at_1 is None


def test_watchdog_warns_once_after_the_condition_holds_and_can_stop(caplog):
    dog = probe.Watchdog(warn_after=3, stop_after=5)
    logs = {"loss": 0.0, "reward": 0.5, "frac_reward_zero_std": 0.95}
    with caplog.at_level(logging.WARNING, logger="train_grpo"):
        stuck = [dog.check(dict(logs, reward=0.5 + i / 10)) for i in range(6)]
    warnings = [r.getMessage() for r in caplog.records if "frac_reward_zero_std" in r.getMessage()]
    assert len(warnings) == 1 and "--temperature" in warnings[0]
    assert [bool(s) for s in stuck] == [False, False, False, False, True, True]


def test_watchdog_is_quiet_when_all_is_well_and_names_each_cause(caplog):
    dog = probe.Watchdog(warn_after=2)
    with caplog.at_level(logging.WARNING, logger="train_grpo"):
        for i in range(12):
            dog.check(
                {
                    "loss": 0.1,
                    "reward": 0.2 + 0.05 * i,
                    "frac_reward_zero_std": 0.2,
                    "entropy": 1.0,
                    "completions/clipped_ratio": 0.1,
                }
            )
    assert not caplog.records
    flat, clipped, collapse, nan = probe.Watchdog(), probe.Watchdog(warn_after=1), probe.Watchdog(), probe.Watchdog()
    with caplog.at_level(logging.WARNING, logger="train_grpo"):
        for _ in range(8):
            flat.check({"reward": 0.3})
        clipped.check({"completions/clipped_ratio": 0.8})
        collapse.check({"entropy": 2.0})
        for _ in range(3):
            collapse.check({"entropy": 0.05})
        nan.check({"reward": float("nan")})
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "has stayed at 0.300" in text and "cut off at --max-completion-length" in text
    assert "collapsed" in text and "the reward is NaN" in text


def test_watchdog_names_a_run_that_learns_the_format_instead_of_the_answers(caplog):
    """The logged figures of SmolLM2-135M's collapse (bench_real_model.py, --scale-rewards group, temperature 1.0)."""
    seen = [(67.9, 0.0), (64.1, 0.0125), (44.7, 0.05), (15.8, 0.0625), (7.0, 0.075), (6.5, 0.075)]
    dog = probe.Watchdog(warn_after=2)
    with caplog.at_level(logging.WARNING, logger="train_grpo"):
        for length, reference in seen:
            dog.check({"completions/mean_length": length, "rewards/reference_reward/mean": reference})
    shortcut = [r.getMessage() for r in caplog.records if "shrank" in r.getMessage()]
    assert shortcut == [
        "watchdog: completions shrank from 68 to 7 tokens while reference_reward stayed at 0.07 (from 0.00): the "
        "model is learning the format and length rewards, not the answers; lower --learning-rate or "
        "format_reward's weight (--reward-weights), or use --scale-rewards batch"
    ]
    learning = probe.Watchdog(warn_after=1)  # shorter answers that are right more often: no warning
    with caplog.at_level(logging.WARNING, logger="train_grpo"):
        caplog.clear()
        for length, reference in [(80.0, 0.1), (40.0, 0.2), (15.0, 0.3), (12.0, 0.35)]:
            learning.check({"completions/mean_length": length, "rewards/reference_reward/mean": reference})
    assert not caplog.records


# --------------------------------------------------------------------------------------------
# On the demo model: the probe's prediction against the first step of real training
# --------------------------------------------------------------------------------------------


def _argv(demo_assets, *extra):
    return [
        "--model",
        str(demo_assets.model_dir),
        "--dataset",
        str(demo_assets.data_dir),
        "--local-only",
        "--max-completion-length",
        "24",
        "--num-generations",
        "8",
        "--seed",
        "3",
        *extra,
    ]


@pytest.mark.slow
def test_probe_predicts_the_first_training_step(demo_assets, tmp_path, capsys):
    # The same 48 prompts: --max-samples 48 and one step of 48 groups of 8 uses each prompt once.
    # Group scaling: with batch scaling TRL's frac_reward_zero_std is the whole batch's (0 or 1),
    # not the share of groups without spread that the probe predicts. 48 groups, not 16: the share
    # of groups without spread is a proportion over groups, whose sampling noise over 16 groups
    # (about 0.11 a side) let a 0.25 tolerance fail on one machine's rounding.
    common = _argv(
        demo_assets, "--max-samples", "48", "--per-device-train-batch-size", "384", "--scale-rewards", "group"
    )
    assert train_grpo.main(common + ["--probe", "48", "--output-dir", str(tmp_path / "probe")]) == 0
    predicted = json.loads((tmp_path / "probe" / "probe.json").read_text())
    assert "verdict:" in capsys.readouterr().out
    out = tmp_path / "run"
    assert train_grpo.main(common + ["--output-dir", str(out), "--max-steps", "1", "--logging-steps", "1"]) == 0
    first = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()][0]
    # Tolerance: 384 completions a side, so sampling noise alone is about 0.04 on a mean reward.
    assert abs(predicted["component_means"]["reference_reward"] - first["rewards/reference_reward/mean"]) <= 0.2
    # groups/zero_spread_frac: the share of groups without spread (grpo_suite/dynamic_sampling.py). TRL's
    # frac_reward_zero_std misses groups whose float32 std rounds to ~3e-8 (its isclose has atol 1e-8).
    assert abs(predicted["zero_spread"] - first["groups/zero_spread_frac"]) <= 0.25
    assert predicted["truncated"] == pytest.approx(first["completions/clipped_ratio"], abs=0.2)
    assert not predicted["cannot_learn"]


@pytest.fixture(scope="module")
def unearnable(demo_assets, tmp_path_factory):
    """The demo's questions with references of random words: no completion can ever earn them."""
    import datasets

    rows = datasets.load_from_disk(str(demo_assets.data_dir))["train"].select(range(64))
    words = ["harbour", "violet", "granite", "lantern", "meadow", "saffron", "quartz", "thimble"]
    rng = random.Random(0)
    path = tmp_path_factory.mktemp("unearnable") / "random_words.jsonl"
    path.write_text(
        "\n".join(
            json.dumps({"question": r["question"], "answer": f"{rng.choice(words)} {rng.choice(words)}"}) for r in rows
        )
    )
    return path


@pytest.mark.slow
def test_probe_says_a_dataset_of_unearnable_references_cannot_learn(demo_assets, unearnable, tmp_path, capsys):
    argv = _argv(
        demo_assets,
        "--dataset",
        str(unearnable),
        "--per-device-train-batch-size",
        "16",
        "--max-completion-length",
        "16",
    )
    assert train_grpo.main(argv + ["--probe", "6"]) == 0  # --probe exits 0 whatever it finds
    text = capsys.readouterr().out
    assert "[cannot learn] no prompt was ever solved" in text and "pass@1 0.0%" in text
    out = tmp_path / "refused"
    assert train_grpo.main(argv + ["--probe-before-train", "4", "--output-dir", str(out), "--max-steps", "1"]) == 2
    assert "the probe says this run cannot learn" in capsys.readouterr().err
    assert not out.exists()
    assert (
        train_grpo.main(argv + ["--probe-before-train", "4", "--force", "--output-dir", str(out), "--max-steps", "1"])
        == 0
    )
    assert json.loads((out / "probe.json").read_text())["cannot_learn"] is True


@pytest.mark.slow
def test_stop_when_stuck_saves_and_stops_a_run_that_cannot_learn(demo_assets, unearnable, tmp_path, capsys):
    out = tmp_path / "stuck"
    argv = _argv(
        demo_assets,
        "--dataset",
        str(unearnable),
        "--per-device-train-batch-size",
        "16",
        "--max-completion-length",
        "16",
        "--rewards",
        "reference_reward",
        "--output-dir",
        str(out),
        "--max-steps",
        "20",
        "--logging-steps",
        "1",
        "--save-steps",
        "100",
        "--stop-when-stuck",
        "3",
    )
    assert train_grpo.main(argv) == 1  # stopped, and since nothing moved, not called a result
    err = capsys.readouterr().err
    assert "nothing was learned: the adapter is unchanged after 3 step(s)" in err
    assert "no group had any reward spread in the last 3 generation rounds" in err
    assert (out / "checkpoint-3").is_dir() and not (out / "checkpoint-4").exists()
    assert not (out / "adapter_model.safetensors").exists()


def test_a_run_that_already_asks_for_a_final_answer_is_not_told_to_add_a_system_prompt():
    """Seen on SmolLM2-135M: a --system-prompt asking for 'Final answer:' made it worse, and the fix said to add one."""
    table = [[(0.0, 0.0), (0.0, 1.0), (0.0, 0.0), (0.0, 1.0)]] * 2  # never solved, some format credit
    plain = _summary(table, unreadable=[True] * 8)
    asked = _summary(table, unreadable=[True] * 8, system_prompt="End with a line 'Final answer: N'.")
    plain_fixes = " ".join(v["fix"] for v in plain.verdicts)
    asked_fixes = " ".join(v["fix"] for v in asked.verdicts)
    assert f"ask for the answer: --answer-instruction {ANSWER_INSTRUCTION!r}" in plain_fixes
    assert "add a --system-prompt" not in asked_fixes + plain_fixes
    assert "the --system-prompt given (\"End with a line 'Final answer: N'.\") did not get the model" in asked_fixes
    assert "(a --system-prompt drops it)" in asked_fixes


def test_a_run_whose_answer_instruction_did_not_work_is_told_to_reword_it_not_to_add_one():
    table = [[(0.0, 0.0), (0.0, 1.0), (0.0, 0.0), (0.0, 1.0)]] * 2
    told = _summary(table, unreadable=[True] * 8, answer_instruction=ANSWER_INSTRUCTION)
    fixes = " ".join(v["fix"] for v in told.verdicts)
    assert "the answer instruction (\"End your reply with a line 'Final answer: ' followed by y...\") did not" in fixes
    assert "reword it with --answer-instruction" in fixes and "ask for the answer" not in fixes
