"""Difficulty filtering (--difficulty-filter) and dynamic sampling (--dynamic-sampling)."""

from __future__ import annotations

import json
import random
from types import SimpleNamespace

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import train_grpo
from grpo_suite import difficulty, dynamic_sampling, probe
from grpo_suite.config import GenerationPlan
from grpo_suite.errors import UsageError

# --------------------------------------------------------------------------------------------
# Which groups have spread
# --------------------------------------------------------------------------------------------

WEIGHTS = torch.tensor([1.0, 0.2, 0.1])


def test_a_group_whose_weighted_rewards_are_equal_has_no_spread_even_where_float_sums_round():
    # Eight completions of 0 + 0.2 + 0.1 in float32: their std is ~3e-8, which TRL's
    # torch.isclose(std, 0) (atol 1e-8) counts as spread, so its frac_reward_zero_std misses the group.
    from trl.trainer.utils import nanstd

    same = [[0.0, 1.0, 1.0]] * 8
    mixed = [[1.0, 1.0, 1.0]] + [[0.0, 1.0, 1.0]] * 7
    spread = dynamic_sampling.group_spread(torch.tensor(same + mixed), WEIGHTS, 8)
    assert spread.tolist() == [False, True]
    assert nanstd(torch.tensor(same).matmul(WEIGHTS)).item() > 1e-8  # what TRL's isclose sees


def test_a_reward_of_none_counts_as_nothing_and_an_unscored_completion_is_left_out():
    nan = float("nan")
    rewards = torch.tensor(
        [
            [1.0, nan, 0.0],  # 1.0: None counts as nothing, as TRL sums
            [1.0, 0.0, nan],  # 1.0
            [nan, nan, nan],  # unscored: left out, not 0
            [1.0, 0.0, 0.0],
            # a group with one scored completion has no spread
            [nan, nan, nan],
            [nan, nan, nan],
            [nan, nan, nan],
            [0.0, 0.0, 0.0],
        ]
    )
    assert dynamic_sampling.group_spread(rewards, WEIGHTS, 4).tolist() == [False, False]


def _output(n_rows: int, prompt_width: int, completion_width: int, base: float) -> dict:
    return {
        "prompt_ids": torch.arange(n_rows * prompt_width).view(n_rows, prompt_width) + 100,
        "prompt_mask": torch.ones(n_rows, prompt_width, dtype=torch.long),
        "completion_ids": torch.arange(n_rows * completion_width).view(n_rows, completion_width) + 500,
        "completion_mask": torch.ones(n_rows, completion_width, dtype=torch.long),
        "ref_per_token_logps": torch.full((n_rows, completion_width), -1.0),
        "advantages": torch.arange(n_rows, dtype=torch.float) + base,
        "num_items_in_batch": torch.tensor(float(n_rows * completion_width)),
    }


def test_rows_of_two_rounds_are_padded_to_one_batch_with_each_rows_values_kept():
    first, second = _output(4, 3, 2, 0.0), _output(2, 5, 4, 10.0)
    combined = dynamic_sampling.take_rows([first, second], [(0, 1), (1, 0), (1, 1), (0, 3)], 0, lambda t: t)
    assert combined["advantages"].tolist() == [1.0, 10.0, 11.0, 3.0]
    assert combined["prompt_ids"].shape == (4, 5) and combined["completion_ids"].shape == (4, 4)
    # Prompts are left-padded (mask 0 before the prompt), completions right-padded.
    assert combined["prompt_ids"][0].tolist() == [0, 0, *first["prompt_ids"][1].tolist()]
    assert combined["prompt_mask"][0].tolist() == [0, 0, 1, 1, 1]
    assert combined["completion_ids"][0].tolist() == [*first["completion_ids"][1].tolist(), 0, 0]
    assert combined["completion_mask"].sum(dim=1).tolist() == [2, 4, 4, 2]
    assert combined["ref_per_token_logps"][0].tolist() == [-1.0, -1.0, -1e4, -1e4]  # exp(ref - logp) stays finite
    assert combined["num_items_in_batch"].item() == 12  # the loss's token count, recounted
    assert dynamic_sampling.take_rows([first], [(0, 0)], 0, lambda t: t) is first  # one round: TRL's batch as is


def test_rounds_that_carry_images_are_not_combined():
    first = {**_output(2, 2, 2, 0.0), "pixel_values": torch.zeros(2, 3)}
    with pytest.raises(RuntimeError, match="pixel_values"):
        dynamic_sampling.take_rows([first, first], [(0, 0), (1, 1)], 0, lambda t: t)


def _args(**kw):
    values = dict(
        dynamic_sampling=True,
        dynamic_sampling_rounds=2,
        difficulty_filter=True,
        difficulty_band="0.01,0.99",
        difficulty_rows=0,
        difficulty_samples=None,
        num_generations=8,
        multi_objective_aggregation="sum_then_normalize",
    )
    values.update(kw)
    return SimpleNamespace(**values)


def test_dynamic_sampling_refuses_processes_whose_generation_batch_splits_a_group():
    ok = GenerationPlan(batch=64, steps_per_generation=1, processes=2, gradient_accumulation_steps=1, num_generations=8)
    dynamic_sampling.check_plan(_args(), ok)
    split = ok._replace(batch=24, processes=2)  # 12 completions a process: a group of 8 would straddle two
    with pytest.raises(UsageError, match="each of the 2 processes generates 12 completions per round"):
        dynamic_sampling.check_plan(_args(), split)
    dynamic_sampling.check_plan(_args(dynamic_sampling=False), split)
    with pytest.raises(UsageError, match="a group without spread still gets the batch's advantage"):
        dynamic_sampling.check_plan(_args(multi_objective_aggregation="normalize_then_sum"), ok)
    with pytest.raises(UsageError, match="--dynamic-sampling-rounds needs --dynamic-sampling"):
        dynamic_sampling.check_plan(_args(dynamic_sampling=False, dynamic_sampling_rounds=5), ok)


# --------------------------------------------------------------------------------------------
# Difficulty filtering: rules
# --------------------------------------------------------------------------------------------


def test_a_band_that_no_measurable_pass_rate_reaches_is_refused():
    difficulty.check_flags(_args(difficulty_band="0.3,0.4"))  # 3/8 = 0.375 lies in it
    with pytest.raises(UsageError, match="holds no pass rate that 8 samples can measure"):
        difficulty.check_flags(_args(difficulty_band="0.3,0.32"))
    difficulty.check_flags(_args(difficulty_band="0.3,0.32", difficulty_samples=25))  # 8/25 = 0.32
    with pytest.raises(UsageError, match="--difficulty-rows needs --difficulty-filter"):
        difficulty.check_flags(_args(difficulty_filter=False, difficulty_rows=10))
    with pytest.raises(UsageError, match="--difficulty-band needs --difficulty-filter"):
        difficulty.check_flags(_args(difficulty_filter=False, difficulty_band="0.2,0.8"))


def test_rows_in_the_band_are_kept_and_every_count_adds_up():
    args = SimpleNamespace(
        difficulty_band="0.25,0.75", difficulty_samples=4, num_generations=8, seed=0, model="m", revision=None
    )
    args.__dict__.update(adapter=None, quantization="none", dtype="auto")
    args.__dict__.update({name: None for name in difficulty.GENERATION_FIELDS if name != "seed"})
    rates = {0: (0, 4), 1: (1, 4), 2: (2, 4), 3: (3, 4), 4: (4, 4)}  # row 5: no reference, never measured
    train = [{"prompt": f"q{i}", "reference": None if i == 5 else str(i)} for i in range(6)]
    keys = {i: difficulty.row_key(r) for i, r in enumerate(train)}
    result = difficulty.decide(args, train, list(range(6)), keys, rates, cached={0, 1})
    assert result.kept_indices == [1, 2, 3]
    assert (result.kept, result.below_band, result.above_band, result.no_reference) == (3, 1, 1, 1)
    assert (result.never_solved, result.always_solved, result.from_cache) == (1, 1, 2)
    assert result.kept + result.below_band + result.above_band + result.no_reference == result.probed == 6
    assert [r["pass_rate"] for r in result.rows] == [0.0, 0.25, 0.5, 0.75, 1.0, None]
    assert [r["cached"] for r in result.rows] == [True, True, False, False, False, False]
    # Every count recounts from the rows as written, whatever the band: here one that starts at 0.
    args.difficulty_band = "0,0.5"
    result = difficulty.decide(args, train, list(range(6)), keys, rates, cached=set())
    rows, (low, high) = result.rows, result.band
    measured = [r for r in rows if r["reference"]]
    assert result.kept == sum(low <= r["pass_rate"] <= high for r in measured) == 3  # the never-solved row too
    assert result.no_reference == sum(not r["reference"] for r in rows) == 1
    assert result.never_solved == sum(r["solved"] == 0 for r in measured) == 1
    assert result.always_solved == sum(r["solved"] == r["samples"] for r in measured) == 1


@given(
    st.integers(2, 24).flatmap(
        lambda k: st.tuples(st.just(k), st.integers(0, k), st.floats(0, 1), st.floats(0, 1), st.data())
    )
)
def test_a_row_settled_early_gets_the_verdict_every_full_count_would_give(case):
    k, drawn, a, b, data = case
    low, high = min(a, b), max(a, b)
    solved = data.draw(st.integers(0, drawn))
    if not difficulty.settled(solved, drawn, k, low, high):
        assert drawn < k  # all k drawn always settles
        return
    if drawn == 0:
        return
    early = low <= solved / drawn <= high
    finals = {low <= (solved + extra) / k <= high for extra in range(k - drawn + 1)}
    assert finals == {early}


def test_the_probe_draws_half_then_the_rest_only_for_unsettled_rows():
    assert difficulty.stages(8) == [4, 4] and difficulty.stages(5) == [3, 2] and difficulty.stages(3) == [3]
    assert difficulty.settled(1, 4, 8, 0.01, 0.99)  # solved once and failed: kept, whatever comes
    assert not difficulty.settled(0, 4, 8, 0.01, 0.99)  # never yet: 1 of 8 would keep it
    assert not difficulty.settled(4, 4, 8, 0.01, 0.99)
    assert difficulty.settled(0, 4, 8, 0.6, 1.0)  # at most 4 of 8: below the band already


def test_a_row_key_changes_with_the_prompt_or_the_reference():
    row = {"prompt": [{"role": "user", "content": "2+2?"}], "reference": "4", "other": 1}
    assert difficulty.row_key(row) == difficulty.row_key({**row, "other": 2})
    assert difficulty.row_key(row) != difficulty.row_key({**row, "reference": "5"})
    assert difficulty.row_key(row) != difficulty.row_key({**row, "prompt": [{"role": "user", "content": "2+3?"}]})


def test_the_cache_skips_a_line_cut_short_by_a_kill(tmp_path):
    path = tmp_path / "rates.jsonl"
    path.write_text('{"key": "a", "solved": 2, "samples": 8}\n{"key": "b", "solved": 5, "samp')
    assert difficulty.read_cache(path) == {"a": (2, 8)}
    assert difficulty.read_cache(tmp_path / "missing.jsonl") == {}


def test_the_cache_key_follows_the_model_files_and_the_sampling_settings(demo_assets, tmp_path):
    import shutil

    base = dict(model=str(demo_assets.model_dir), revision=None, adapter=None, quantization="none", dtype="auto")
    base.update({name: None for name in difficulty.GENERATION_FIELDS}, temperature=1.0, seed=0)
    base.update(difficulty_samples=None, num_generations=8)
    key = difficulty.settings_key(SimpleNamespace(**base))
    copy = tmp_path / "copy"
    shutil.copytree(demo_assets.model_dir, copy)
    assert difficulty.settings_key(SimpleNamespace(**{**base, "model": str(copy)})) == key  # same files
    assert difficulty.settings_key(SimpleNamespace(**{**base, "temperature": 0.7})) != key
    assert difficulty.settings_key(SimpleNamespace(**{**base, "num_generations": 4})) != key  # samples follow G
    template = tmp_path / "t.jinja"
    template.write_text("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    with_template = difficulty.settings_key(SimpleNamespace(**{**base, "chat_template": str(template)}))
    assert with_template != key
    template.write_text("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}{% endfor %}")  # edited in place
    assert difficulty.settings_key(SimpleNamespace(**{**base, "chat_template": str(template)})) != with_template
    weights = next(copy.glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1  # one byte of the weights changed
    weights.write_bytes(bytes(data))
    assert difficulty.settings_key(SimpleNamespace(**{**base, "model": str(copy)})) != key


def test_the_watchdog_reads_the_share_of_groups_without_spread_over_trls_batch_figure(caplog):
    dog = probe.Watchdog(warn_after=1)
    with caplog.at_level("WARNING", logger="train_grpo"):
        dog.check({"loss": 0.0, "reward": 0.5, "frac_reward_zero_std": 0.0, "groups/zero_spread_frac": 0.95})
    assert any("groups/zero_spread_frac is 0.95" in r.getMessage() for r in caplog.records)


# --------------------------------------------------------------------------------------------
# On the demo model
# --------------------------------------------------------------------------------------------


def _argv(demo_assets, out, *extra):
    return [
        "--model",
        str(demo_assets.model_dir),
        "--dataset",
        str(demo_assets.data_dir),
        "--local-only",
        "--output-dir",
        str(out),
        "--max-completion-length",
        "24",
        "--per-device-train-batch-size",
        "16",
        "--learning-rate",
        "1e-3",
        "--logging-steps",
        "1",
        "--save-steps",
        "1",
        "--seed",
        "1",
        *extra,
    ]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GRPO_SUITE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.slow
def test_difficulty_filter_records_rates_that_recount_and_a_rerun_and_a_resume_pay_nothing(
    demo_assets, tmp_path, cache, caplog, capsys
):
    out = tmp_path / "run"
    argv = _argv(demo_assets, out, "--difficulty-filter", "--difficulty-rows", "24", "--max-steps", "2")
    with caplog.at_level("INFO", logger="train_grpo"):
        assert train_grpo.main(argv) == 0
    record = json.loads((out / difficulty.RECORD).read_text())
    rows = [json.loads(line) for line in (out / difficulty.ROWS_RECORD).read_text().splitlines()]
    low, high = record["band"]
    assert record["probed"] == len(rows) == 24 and record["from_cache"] == 0
    assert (
        record["kept"] == sum(low <= r["solved"] / r["samples"] <= high for r in rows) == sum(r["kept"] for r in rows)
    )
    assert record["below_band"] + record["above_band"] == 24 - record["kept"]
    assert record["never_solved"] == sum(r["solved"] == 0 for r in rows)
    assert 0 < record["kept"] < 24  # the demo model solves some rows sometimes, and some never or always
    assert json.loads((out / "run_config.json").read_text())["difficulty"] == {
        k: v for k, v in record.items() if k != "rows_file"
    }
    assert "sampling up to 8 completions for each of 24 rows" in caplog.text

    assert (
        train_grpo.main(_argv(demo_assets, tmp_path / "dry", *argv[argv.index("--difficulty-filter") :], "--dry-run"))
        == 0
    )
    assert (
        "24 of 2000 training rows probed with up to 8 completions each (24 rates cached, 0 rows to sample)"
        in capsys.readouterr().out
    )

    caplog.clear()
    again = tmp_path / "again"
    with caplog.at_level("INFO", logger="train_grpo"):
        assert train_grpo.main(_argv(demo_assets, again, *argv[argv.index("--difficulty-filter") :])) == 0
    assert "sampling" not in caplog.text  # every rate from the cache
    assert json.loads((again / difficulty.RECORD).read_text())["from_cache"] == 24
    first_rows = [{**r, "cached": True} for r in rows]
    assert [json.loads(line) for line in (again / difficulty.ROWS_RECORD).read_text().splitlines()] == first_rows

    # Another band: rows whose rate was settled early for the first band but not for this one draw the rest.
    unsettled = [r for r in rows if not difficulty.settled(r["solved"], r["samples"], 8, 0.5, 1.0)]
    caplog.clear()
    other = tmp_path / "other-band"
    with caplog.at_level("INFO", logger="train_grpo"):
        rerun = _argv(demo_assets, other, *argv[argv.index("--difficulty-filter") :], "--difficulty-band", "0.5,1")
        assert train_grpo.main(rerun) == 0
    assert (f"sampling up to 8 completions for each of {len(unsettled)} rows" in caplog.text) == bool(unsettled)
    banded = [json.loads(line) for line in (other / difficulty.ROWS_RECORD).read_text().splitlines()]
    assert all(difficulty.settled(r["solved"], r["samples"], 8, 0.5, 1.0) for r in banded)
    assert sum(r["kept"] for r in banded) == sum(0.5 <= r["pass_rate"] <= 1.0 for r in banded)
    assert json.loads((other / difficulty.RECORD).read_text())["from_cache"] == 24 - len(unsettled)

    caplog.clear()
    for path in cache.rglob("*.jsonl"):
        path.unlink()  # a resume reads the run folder, not the cache
    assert train_grpo.main(["--output-dir", str(out), "--resume", "--difficulty-band", "0.2,0.8"]) == 2
    assert "--difficulty-band is 0.2,0.8 but the run was started with 0.01,0.99" in capsys.readouterr().err
    with caplog.at_level("INFO", logger="train_grpo"):
        assert train_grpo.main(["--output-dir", str(out), "--resume", "--max-steps", "3"]) == 0
    assert f"{record['kept']} rows kept when the run started" in caplog.text and "sampling" not in caplog.text
    assert (out / "checkpoint-3").is_dir()


@pytest.mark.slow
def test_difficulty_filter_that_keeps_too_few_rows_is_refused_with_the_counts_before_training(
    demo_assets, tmp_path, cache, capsys
):
    out = tmp_path / "run"
    argv = _argv(demo_assets, out, "--difficulty-filter", "--difficulty-rows", "8", "--difficulty-band", "1,1")
    assert train_grpo.main(argv + ["--max-steps", "2"]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert len(lines) == 1  # one line (the progress bars aside), no traceback
    err = lines[0]
    assert err.startswith("error: difficulty filter: kept ") and "of 8 probed rows" in err
    assert "cannot fill one generation batch of 2 prompts" in err and "--difficulty-band" in err
    assert not out.exists()  # nothing trained, no run folder


def test_difficulty_filter_needs_reference_reward(demo_assets, tmp_path, capsys):
    out = tmp_path / "run"
    argv = _argv(demo_assets, out, "--difficulty-filter", "--rewards", "format_reward,length_reward")
    assert train_grpo.main(argv) == 2
    assert "--difficulty-filter measures pass rates with reference_reward" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.slow
def test_dynamic_sampling_logs_its_cost_and_keeps_the_batch_full(demo_assets, tmp_path, cache):
    out = tmp_path / "run"
    # 8 groups a step: about a fifth of the demo's groups have no spread, so some step has one.
    argv = _argv(demo_assets, out, "--dynamic-sampling", "--dynamic-sampling-rounds", "3", "--max-steps", "4")
    assert train_grpo.main(argv + ["--per-device-train-batch-size", "64"]) == 0
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [row for row in logged if "loss" in row]
    assert len(steps) == 4
    for row in steps:
        assert 0.0 <= row["dynamic_sampling/dropped_frac"] < 1.0
        assert 0 <= row["dynamic_sampling/extra_rounds"] <= 3
        # Extra rounds generate whole groups of 8, and only when some group had no spread.
        assert row["dynamic_sampling/extra_completions"] % 8 == 0
        if row["groups/zero_spread_frac"] == 0:
            assert row["dynamic_sampling/extra_rounds"] == 0 and row["dynamic_sampling/dropped_frac"] == 0
    assert any(row["dynamic_sampling/extra_rounds"] > 0 for row in steps)  # the demo has groups without spread
    record = json.loads((out / "run_config.json").read_text())["args"]
    assert record["dynamic_sampling"] is True and record["dynamic_sampling_rounds"] == 3


@pytest.fixture(scope="module")
def unearnable(demo_assets, tmp_path_factory):
    """The demo's questions with references no completion of the demo model can earn."""
    import datasets

    rows = datasets.load_from_disk(str(demo_assets.data_dir))["train"].select(range(32))
    rng = random.Random(0)
    path = tmp_path_factory.mktemp("unearnable") / "words.jsonl"
    words = ["harbour", "violet", "granite", "lantern"]
    path.write_text("\n".join(json.dumps({"question": r["question"], "answer": rng.choice(words)}) for r in rows))
    return path


@pytest.mark.slow
def test_a_run_whose_every_group_has_no_spread_stops_with_the_counts_and_saves_nothing(
    demo_assets, unearnable, tmp_path, capsys
):
    out = tmp_path / "run"
    argv = _argv(demo_assets, out, "--dataset", str(unearnable), "--rewards", "reference_reward")
    argv += ["--dynamic-sampling", "--max-steps", "20"]
    assert train_grpo.main(argv) == 1
    err = capsys.readouterr().err
    assert "no group had any reward spread in the last 3 generation rounds" in err
    assert "nothing was learned" in err and "after 1 step(s)" in err
    assert not (out / "adapter_model.safetensors").exists()


@pytest.mark.slow
def test_dynamic_sampling_hands_the_trainer_only_groups_with_spread_while_it_finds_them(demo_assets, tmp_path):
    # The real trainer and model, one generation batch of 16 groups of 8 through the override TRL calls.
    argv = _argv(demo_assets, tmp_path / "run", "--dynamic-sampling", "--dynamic-sampling-rounds", "4")
    args = train_grpo.resolve_args(
        train_grpo.build_parser().parse_args(argv + ["--per-device-train-batch-size", "128"])
    )
    trainer = train_grpo.trainer_from_args(args)
    trainer.model.train()
    rows = [trainer.train_dataset[i] for i in range(16)]
    output = trainer._generate_and_score_completions([row for row in rows for _ in range(8)])
    metrics = {k: v[-1] for k, v in trainer._metrics["train"].items() if v}
    assert output["completion_ids"].shape[0] == output["advantages"].shape[0] == 128
    assert metrics["groups/zero_spread_frac"] > 0  # a fifth of the demo's groups: some of 16 are dropped
    assert metrics["dynamic_sampling/extra_rounds"] >= 1
    groups = output["advantages"].view(-1, 8)
    without = int((groups.abs().max(dim=1).values < 1e-3).sum())  # rounding leaves ~1e-8 in flat groups
    assert without == round(metrics["dynamic_sampling/unfilled_frac"] * 16)  # only the unfilled ones lack spread
    mask = output["completion_mask"]
    assert int(output["num_items_in_batch"]) == int(mask.sum())  # the loss's token count, of the rows kept
