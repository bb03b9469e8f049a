"""Held-out accuracy gained per CPU-minute: our reward against TRL's, and each training feature against none.

    python benchmarks/bench_learning.py [--steps 60]                                  # --compare rewards
    python benchmarks/bench_learning.py --compare features [--target demo] [--seeds 1,2,3,4,5]
    python benchmarks/bench_learning.py --compare features --target real [--steps 10] [--held-out 100]

Every run trains through train_grpo.py as a subprocess; its CPU time is the children's user+system
time (resource.getrusage) over that subprocess only, evaluation excluded. Held-out points gained:
the adapter's greedy held-out accuracy minus its base's, in percentage points. A run that
train_grpo.py refuses because the adapter never moved ("nothing was learned") gains 0 points.

--compare rewards (the default). Both runs train the demo model on the same data with the same
learning rate, group size, batch and number of steps (the --demo presets). Ours: the composite
reward. Reference: what a careful user of plain TRL would run, TRL's own ``accuracy_reward``
(math_verify, from ``trl.rewards``; see trl_accuracy.py) as the only reward. Prints each run's
greedy held-out accuracy gain, CPU minutes, gain per CPU-minute, and the ratio, whatever it is.

--compare features (issue 24). Arms, each the same model, data, --seed and --max-steps:

- plain: train_grpo.py's defaults;
- filter: ``--difficulty-filter``: before training, a --difficulty-rows sample of the training rows
  is probed (completions sampled and scored) and only rows neither never nor always solved are
  trained on; the probe is part of the run, so its CPU time counts;
- dynamic: ``--dynamic-sampling``: groups whose completions all earn one reward are replaced by
  fresh prompts during training;
- filter-cached: the filter again with the same settings, its rates read from the cache the filter
  arm of that seed filled: what a rerun, a sweep's later runs or a --config replay pay;
- both: the two together.

Each run but filter-cached gets an empty GRPO_SUITE_CACHE of its own, so no other run reuses cached pass rates
(the demo's built model is linked in, not rebuilt). For every seed of --seeds every arm runs once,
arms interleaved. Paired verdict of each feature arm against plain: per seed, the arm's points per
CPU-minute minus plain's; the mean of those differences with its 95% Student t-interval (t, not a
bootstrap: with a handful of seeds a percentile bootstrap is too narrow), whether that interval
excludes zero, and the ratio of the mean rates (arm / plain). Issue 24's goal: a ratio of at least
1.3 with the interval excluding zero on at least one target. The tables are printed whatever the
result; --json writes every run's raw figures, --keep DIR keeps the runs and their logs. Run it on
an otherwise idle machine: a run sharing the cores with another process burns more CPU time for the
same work (a 6-step demo run measured 0.21 CPU-min alone, 0.89 beside another training run).

Targets:

- demo: the demo model and data (demo.ensure_demo_assets(), the --demo presets: 60 steps of 32
  completions), held out: the demo's 200 test problems, scored by demo.greedy_accuracy. A couple of
  CPU minutes per run on 2 cores; the default 5 seeds x 4 arms take about an hour.
- real: SmolLM2-135M-Instruct (grpo_suite.model_cache.ensure_real_model()) on bench_real_model.py's
  data (its write_data: 2,000 word problems, 200 held out) and training settings (learning rate
  5e-5, groups of 4, 8 completions per step, 96 tokens, temperature 0.7, truncated completions
  masked), each adapter evaluated as bench_real_model.py does, through compare_base_vs_lora.py
  (greedy), on the first --held-out test rows. Slow on CPU (estimates for 2 idle cores): a plain run
  of 10 steps takes about 8 minutes (bench_real_model.py's 40 steps took about 30), and evaluating
  it on 100 held-out rows (base and adapter) 5 to 15 more; the feature arms generate more (the
  probe, the extra rounds), so one seed of the 4 arms takes 1 to 1.5 hours, the default 3 seeds 3 to 5.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TRL_REFERENCE = ["--rewards", "", "--extra-reward", "trl_accuracy:trl_accuracy_reward"]

ARMS = ("plain", "filter", "filter-cached", "dynamic", "both")
TARGET_DEFAULTS = {  # steps, seeds, held-out rows (0 = all)
    "demo": {"steps": 60, "seeds": "1,2,3,4,5", "held_out": 0},
    "real": {"steps": 10, "seeds": "1,2,3", "held_out": 100},
}
# bench_real_model.py's defaults (see the reasons there): the real target trains as that benchmark does.
REAL_SETTINGS = {
    "learning_rate": 5e-5,
    "num_generations": 4,
    "per_device_train_batch_size": 8,
    "max_completion_length": 96,
    "temperature": 0.7,
}
# Two-sided 95% Student t quantiles, by degrees of freedom.
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131)
T975 += (2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def cpu_seconds_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def train(cmd: list[str], env: dict | None = None, log: Path | None = None) -> tuple[float, bool]:
    """Run a train_grpo.py command; the CPU seconds it used, and whether the adapter moved at all."""
    before = cpu_seconds_of_children()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "benchmarks"), **(env or {})}  # trl_accuracy.py
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    seconds = cpu_seconds_of_children() - before
    if log is not None:
        log.write_text(result.stdout + result.stderr, encoding="utf-8")
    if result.returncode != 0 and "nothing was learned" in result.stderr:
        return seconds, False  # train_grpo.py refuses to call an unchanged adapter a result: gain 0
    if result.returncode != 0:
        raise SystemExit(f"run failed: {' '.join(cmd)}\n{result.stderr[-2000:]}")
    return seconds, True


def run(
    out: Path, steps: int, extra: list[str], env: dict | None = None, log: Path | None = None
) -> tuple[float, bool]:
    """Train the demo (its presets) through train_grpo.py; the CPU seconds it used, and whether it learned."""
    cmd = [
        sys.executable,
        "train_grpo.py",
        "--demo",
        "--output-dir",
        str(out),
        "--max-steps",
        str(steps),
        "--save-steps",
        str(10 * steps),
        *extra,
    ]
    return train(cmd, env, log)


def t_interval(values: list[float]) -> tuple[float, float]:
    """95% Student t-interval of the mean of ``values``; (nan, nan) under two values."""
    n = len(values)
    if n < 2:
        return (math.nan, math.nan)
    df = n - 1
    z = 1.959964
    t = T975[df - 1] if df <= len(T975) else z + (z**3 + z) / (4 * df)
    half = t * statistics.stdev(values) / math.sqrt(n)
    mean = statistics.fmean(values)
    return (mean - half, mean + half)


# --------------------------------------------------------------------------------------------
# --compare rewards
# --------------------------------------------------------------------------------------------


def compare_rewards(steps: int) -> int:
    import demo

    assets = demo.ensure_demo_assets()
    held_out = demo.make_splits()["test"]
    base = demo.greedy_accuracy(assets.model_dir, held_out)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in (("ours (composite reward)", []), ("TRL accuracy_reward", TRL_REFERENCE)):
            out = Path(tmp) / name.split()[0]
            seconds, learned = run(out, steps, extra)
            gain = demo.greedy_accuracy(assets.model_dir, held_out, adapter_dir=out) - base if learned else 0.0
            if not learned:
                print(f"{name}: the adapter did not move in {steps} steps (every group earned one reward)")
            results[name] = (gain, seconds / 60)
    print(f"base held-out greedy accuracy: {base:.1%} ({len(held_out)} problems), {steps} steps per run")
    for name, (gain, minutes) in results.items():
        print(
            f"{name:<32} gain {100 * gain:+6.1f} points  {minutes:5.2f} CPU-min  {100 * gain / minutes:+7.2f} points/CPU-min"
        )
    (ours_gain, ours_min), (ref_gain, ref_min) = results.values()
    ratio = (ours_gain / ours_min) / (ref_gain / ref_min) if ref_gain > 0 else float("inf")
    note = "" if ref_gain > 0 else "  (the reference gained nothing: no ratio of rates can be formed)"
    print(f"ratio of gain per CPU-minute, ours / reference: {ratio:.1f}{note}")
    return 0


# --------------------------------------------------------------------------------------------
# --compare features
# --------------------------------------------------------------------------------------------


def arm_flags(arm: str, difficulty_rows: int, difficulty_samples: int | None) -> list[str]:
    flags = []
    if arm in ("filter", "filter-cached", "both"):
        flags += ["--difficulty-filter", "--difficulty-rows", str(difficulty_rows)]
        if difficulty_samples:
            flags += ["--difficulty-samples", str(difficulty_samples)]
    if arm in ("dynamic", "both"):
        flags.append("--dynamic-sampling")
    return flags


HARD_OPERANDS = (20, 99)  # far beyond the demo model's warm start (operands up to 5): never solved


def hard_problems(n: int, seed: int = 7) -> list[dict]:
    """Word problems in the demo's schema with two-digit operands, which the demo model never solves."""
    import random
    import re

    import demo

    rng, rows = random.Random(seed), []
    while len(rows) < n:
        row = demo.make_problem(rng, HARD_OPERANDS[1])
        if max(int(x) for x in re.findall(r"\d+", row["question"])) >= HARD_OPERANDS[0]:
            rows.append(row)
    return rows


class DemoTarget:
    """The demo model and data with the --demo presets; held out: the demo's test problems.

    With ``hard_share`` above 0, that share of the 2,000 training rows is replaced by problems the demo
    model never solves (two-digit operands): mixed difficulty, as a real dataset is for a small model.
    The held-out problems stay the demo's own."""

    def __init__(self, held_out: int, hard_share: float = 0.0, work: Path | None = None):
        import demo
        from grpo_suite import flags

        self.demo = demo
        self.assets = demo.ensure_demo_assets()
        splits = demo.make_splits()
        rows = splits["test"]
        self.rows = rows[:held_out] if held_out else rows
        self.base = demo.greedy_accuracy(self.assets.model_dir, self.rows)
        self.batch = flags.PRESETS["per_device_train_batch_size"][1]
        self.group = flags.build_parser().get_default("num_generations")
        self.hard_share = hard_share
        self.data: list[str] = []
        if hard_share > 0:
            import datasets

            train = splits["train"]
            hard = int(round(hard_share * len(train)))
            mixed = train[: len(train) - hard] + hard_problems(hard)
            folder = Path(work) / "mixed-data"
            datasets.DatasetDict(
                {"train": datasets.Dataset.from_list(mixed), "test": datasets.Dataset.from_list(splits["test"])}
            ).save_to_disk(str(folder))
            self.data = ["--dataset", str(folder)]

    def describe(self, steps: int) -> str:
        data = (
            f"training rows {self.hard_share:.0%} two-digit problems it never solves"
            if self.hard_share
            else "the demo's data"
        )
        return f"demo model, --demo presets, {data}, {steps} steps; {len(self.rows)} held-out problems, greedy"

    def prepare_cache(self, cache: Path) -> None:
        # train_grpo.py --demo looks for the built demo in the cache: link it rather than rebuild it.
        folder = self.assets.model_dir.parent
        (cache / folder.name).symlink_to(folder, target_is_directory=True)

    def train(self, out: Path, steps: int, extra: list[str], env: dict, log: Path) -> tuple[float, bool]:
        return run(out, steps, [*self.data, *extra], env, log)

    def evaluate(self, out: Path, work: Path) -> tuple[float, float]:
        """Base and adapter greedy held-out accuracy (fractions)."""
        return self.base, self.demo.greedy_accuracy(self.assets.model_dir, self.rows, adapter_dir=out)


class RealTarget:
    """SmolLM2-135M-Instruct on bench_real_model.py's data and settings, evaluated as it evaluates."""

    def __init__(self, held_out: int, work: Path):
        sys.path.insert(0, str(ROOT / "benchmarks"))
        import bench_real_model

        from grpo_suite.model_cache import ensure_real_model

        self.bench = bench_real_model
        self.model = ensure_real_model()
        self.data = work / "data"
        bench_real_model.write_data(self.data)
        self.held_out = held_out or bench_real_model.N_TEST
        self.base = None  # known after the first evaluation
        self.batch = REAL_SETTINGS["per_device_train_batch_size"]
        self.group = REAL_SETTINGS["num_generations"]

    def describe(self, steps: int) -> str:
        settings = ", ".join(f"{k} {v:g}" for k, v in REAL_SETTINGS.items())
        return (
            f"SmolLM2-135M-Instruct, {steps} steps ({settings}, truncated completions masked); "
            f"{self.held_out} held-out word problems, greedy, through compare_base_vs_lora.py"
        )

    def prepare_cache(self, cache: Path) -> None:
        pass  # the model is passed as a folder: nothing of the cache is needed

    def train(self, out: Path, steps: int, extra: list[str], env: dict, log: Path) -> tuple[float, bool]:
        cmd = [sys.executable, "train_grpo.py", "--model", str(self.model), "--dataset", str(self.data)]
        cmd += ["--output-dir", str(out), "--local-only", "--max-steps", str(steps), "--save-steps", str(10 * steps)]
        for name, value in REAL_SETTINGS.items():
            cmd += ["--" + name.replace("_", "-"), str(value)]
        return train([*cmd, "--mask-truncated-completions", *extra], env, log)

    def evaluate(self, out: Path, work: Path) -> tuple[float, float]:
        """Base and adapter greedy held-out accuracy (fractions), from compare_base_vs_lora.py's verdict."""
        verdict = self.bench.compare(
            out,
            self.model,
            self.data,
            work / f"{out.name}-report",
            REAL_SETTINGS["max_completion_length"],
            ["--num-prompts", str(self.held_out)],  # after bench_real_model's own --num-prompts: this one counts
            work / f"{out.name}-compare.log",
        )
        self.base = verdict["base"]
        return verdict["base"], verdict["value"]


def compare_features(args) -> int:
    defaults = TARGET_DEFAULTS[args.target]
    steps = defaults["steps"] if args.steps is None else args.steps
    seeds = [int(s) for s in (args.seeds or defaults["seeds"]).split(",") if s.strip()]
    held_out = defaults["held_out"] if args.held_out is None else args.held_out
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = sorted(set(arms) - set(ARMS))
    if unknown:
        raise SystemExit(f"--arms: unknown arm(s) {', '.join(unknown)}; choose from {', '.join(ARMS)}")
    if "plain" not in arms:
        print("--arms: plain added, the arm every other one is compared with")
    if "filter-cached" in arms and "filter" not in arms:
        print("--arms: filter added, whose cached pass rates filter-cached reuses")
        arms.append("filter")
    arms = [a for a in ARMS if a in arms or a == "plain"]
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.keep) if args.keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        target = DemoTarget(held_out, args.hard_share, work) if args.target == "demo" else RealTarget(held_out, work)
        # A probe sized to the run: about the prompts it draws (steps x batch / group size), in 32s.
        rows = args.difficulty_rows or 32 * max(1, math.ceil(steps * target.batch / target.group / 32))
        print(f"{target.describe(steps)}; seeds {','.join(map(str, seeds))}; arms {', '.join(arms)}", flush=True)
        for seed in seeds:
            for arm in arms:
                slug = f"{arm}-seed{seed}"
                out, cache = work / slug, work / f"{slug}-cache"
                if arm == "filter-cached":  # a rerun: the filter arm of this seed measured the rates
                    cache = work / f"filter-seed{seed}-cache"
                else:
                    cache.mkdir(parents=True)
                    target.prepare_cache(cache)
                extra = ["--seed", str(seed), *arm_flags(arm, rows, args.difficulty_samples)]
                print(f"training {slug}: {' '.join(extra)} ...", flush=True)
                seconds, learned = target.train(
                    out, steps, extra, {"GRPO_SUITE_CACHE": str(cache)}, work / f"{slug}-train.log"
                )
                base, after = target.evaluate(out, work) if learned else (target.base, None)
                gain = 100 * (after - base) if learned else 0.0
                runs.append(
                    {
                        "seed": seed,
                        "arm": arm,
                        "flags": extra,
                        "learned": learned,
                        "base_accuracy": base,
                        "accuracy": after,
                        "points_gained": gain,
                        "cpu_seconds": seconds,
                        "points_per_cpu_minute": gain / (seconds / 60),
                    }
                )
                note = "" if learned else " (the adapter never moved: 0 points)"
                print(f"  {gain:+.1f} points in {seconds / 60:.2f} CPU-min{note}", flush=True)
    verdicts = {arm: paired_verdict(runs, arm) for arm in arms if arm != "plain"}
    probe = f"; filter arms probe {rows} training rows" if {"filter", "both"} & set(arms) else ""
    print_features(target.describe(steps) + probe, runs, verdicts)
    if args.json:
        settings = {"target": args.target, "steps": steps, "seeds": seeds, "held_out": held_out}
        settings |= {"difficulty_rows": rows, "difficulty_samples": args.difficulty_samples}
        for v in verdicts.values():
            v["interval"] = [None if math.isnan(x) else x for x in v["interval"]]
        record = {"settings": settings, "runs": runs, "verdicts": verdicts}
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        print(f"raw figures written to {args.json}")
    return 0


def paired_verdict(runs: list[dict], arm: str) -> dict:
    """The arm against plain, seed by seed: mean rates, their ratio, and the paired difference's t-interval."""
    rate = {(r["arm"], r["seed"]): r["points_per_cpu_minute"] for r in runs}
    seeds = [r["seed"] for r in runs if r["arm"] == arm and ("plain", r["seed"]) in rate]
    ours = [rate[(arm, s)] for s in seeds]
    plain = [rate[("plain", s)] for s in seeds]
    diffs = [a - p for a, p in zip(ours, plain)]
    low, high = t_interval(diffs)
    mean_ours, mean_plain = statistics.fmean(ours), statistics.fmean(plain)
    return {
        "seeds": seeds,
        "mean_rate": mean_ours,
        "plain_mean_rate": mean_plain,
        "ratio": mean_ours / mean_plain if mean_plain > 0 else None,  # no ratio against a plain run that lost
        "mean_difference": statistics.fmean(diffs),
        "interval": [low, high],  # nan, nan under two seeds (written as null)
        "excludes_zero": bool(low > 0 or high < 0),  # False when undefined (one seed)
    }


def print_features(description: str, runs: list[dict], verdicts: dict) -> None:
    print(f"\n{description}")
    print("| seed | arm | held-out accuracy | points gained | CPU-min | points per CPU-min |")
    print("|---|---|---|---|---|---|")
    for r in runs:
        after = "unchanged" if r["accuracy"] is None else f"{r['accuracy']:.1%}"
        base = "?" if r["base_accuracy"] is None else f"{r['base_accuracy']:.1%}"
        print(
            f"| {r['seed']} | {r['arm']} | {base} -> {after} | {r['points_gained']:+.1f} | "
            f"{r['cpu_seconds'] / 60:.2f} | {r['points_per_cpu_minute']:+.2f} |"
        )
    print(
        "\nPaired verdict per feature arm against plain (per seed: arm's points/CPU-min minus plain's; 95% t-interval)"
    )
    print(
        "| arm | points/CPU-min | plain's | ratio | mean difference (95% CI) | excludes 0 | goal (>= 1.3x, CI excludes 0) |"
    )
    print("|---|---|---|---|---|---|---|")
    for arm, v in verdicts.items():
        ratio = "n/a" if v["ratio"] is None else f"{v['ratio']:.2f}x"
        low, high = v["interval"]
        ci = "n/a (one seed)" if math.isnan(low) else f"{low:+.2f} to {high:+.2f}"
        met = v["ratio"] is not None and v["ratio"] >= 1.3 and low > 0  # nan (one seed) is never > 0
        print(
            f"| {arm} | {v['mean_rate']:+.2f} | {v['plain_mean_rate']:+.2f} | {ratio} | "
            f"{v['mean_difference']:+.2f} ({ci}) | {'yes' if v['excludes_zero'] else 'no'} | {'met' if met else 'not met'} |"
        )


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--compare",
        choices=("rewards", "features"),
        default="rewards",
        help="rewards: our composite reward against TRL's accuracy_reward on the demo; features: each of "
        "--difficulty-filter and --dynamic-sampling against neither (default: rewards)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        metavar="N",
        help="GRPO steps per run, the budget (default: 60; --compare features --target real: 10)",
    )
    features = parser.add_argument_group("--compare features")
    features.add_argument(
        "--target",
        choices=("demo", "real"),
        default="demo",
        help="demo: the demo model and data; real: SmolLM2-135M-Instruct, hours on a CPU (default: demo)",
    )
    features.add_argument(
        "--seeds",
        metavar="S1,S2,...",
        help="train_grpo.py --seed of each paired round; every arm runs once per seed "
        "(default: 1,2,3,4,5 on demo, 1,2,3 on real)",
    )
    features.add_argument(
        "--arms",
        default=",".join(ARMS),
        metavar="ARM,...",
        help=f"arms to run, of {', '.join(ARMS)}; plain is always run (default: all)",
    )
    features.add_argument(
        "--held-out",
        type=int,
        metavar="N",
        help="held-out rows evaluated, the first N of the test split; 0 = all (default: all 200 on demo, 100 on real)",
    )
    features.add_argument(
        "--difficulty-rows",
        type=int,
        metavar="N",
        help="training rows the filter arms probe (train_grpo.py --difficulty-rows) (default: about the "
        "prompts a run draws, steps x batch / group size rounded up to 32s: 256 on demo at 60 steps, 32 on real at 10)",
    )
    features.add_argument(
        "--difficulty-samples",
        type=int,
        metavar="K",
        help="completions per probed row (train_grpo.py --difficulty-samples) (default: train_grpo.py's, "
        "its --num-generations)",
    )
    features.add_argument(
        "--hard-share",
        type=float,
        default=0.0,
        metavar="F",
        help="demo: replace this share of the training rows by two-digit problems the demo model never "
        "solves (mixed difficulty); held out stays the demo's (default: 0)",
    )
    features.add_argument("--json", metavar="PATH", help="write every run's raw figures here (default: none)")
    features.add_argument(
        "--keep", metavar="DIR", help="keep the runs, their logs and reports in DIR (default: a temp folder)"
    )
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.compare == "rewards":
        return compare_rewards(60 if args.steps is None else args.steps)
    return compare_features(args)


if __name__ == "__main__":
    raise SystemExit(main())
