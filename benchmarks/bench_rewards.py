"""Throughput of rewards.score against math_verify on realistic completion/reference pairs.

    python benchmarks/bench_rewards.py [--pairs 10000]

Prints both rates (pairs/s, best of --repeats runs), their ratio (the median over the runs, in each of
which the two scorers take turns on chunks of the pairs, so that both meet the same machine load), how
often the two agree on "correct", and the worst time of rewards.score on adversarial megabyte inputs.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import rewards  # noqa: E402

FORMATS = (
    "{work}\nFinal answer: {shown}",
    "{work}\nAnswer: {shown}",
    "{work} So the answer is {shown}.",
    "{work} Therefore the result is $\\boxed{{{shown}}}$.",
    "{work} The total is {shown}.",
    "{work}\n**Answer:** {shown}",
)


def _shown(value: int, rng: random.Random) -> str:
    style = rng.randrange(5)
    if style == 0:
        return f"{value:,}"
    if style == 1:
        return f"${value}"
    if style == 2:
        return f"{value}.0"
    if style == 3 and value % 2 == 0:
        return f"\\frac{{{value * 2}}}{{2}}"
    return str(value)


def make_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """GSM8K- and MATH-style pairs; about a third of the completions are wrong."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        a, b = rng.randint(2, 999), rng.randint(2, 999)
        value = a * b
        answer = value if rng.random() < 0.66 else value + rng.choice([-10, -1, 1, 10, value])
        work = f"We have {a} boxes with {b} items each, so {a} * {b} = {answer}."
        completion = rng.choice(FORMATS).format(work=work, shown=_shown(answer, rng))
        reference = f"{a} * {b} = {value}\n#### {value:,}" if rng.random() < 0.5 else f"$\\boxed{{{value}}}$"
        pairs.append((completion, reference))
    return pairs


def score_ours(pairs) -> list[bool]:
    return [rewards.score(c, r)[1]["reference_reward"] == 1.0 for c, r in pairs]


def score_math_verify(pairs) -> list[bool]:
    from math_verify import parse, verify

    verdicts = []
    for completion, reference in pairs:
        gold_text = reference.rsplit("####", 1)[-1].strip().replace(",", "") if "####" in reference else reference
        verdicts.append(bool(verify(parse(gold_text), parse(completion))))
    return verdicts


def interleaved(pairs, ours, theirs, chunks: int = 20) -> tuple[float, float, list[bool], list[bool]]:
    """One cold run of each scorer over ``pairs``, chunk by chunk in turn, so that both meet the
    same machine load: (our seconds, their seconds, our verdicts, their verdicts)."""
    rewards.clear_caches()  # a cold start: nothing is remembered from an earlier repeat
    size = max(1, len(pairs) // chunks)
    times, verdicts = [0.0, 0.0], ([], [])
    for i in range(0, len(pairs), size):
        for side, scorer in enumerate((ours, theirs)):
            start = time.perf_counter()
            verdicts[side].extend(scorer(pairs[i : i + size]))
            times[side] += time.perf_counter() - start
    return times[0], times[1], verdicts[0], verdicts[1]


def compare(pairs, ours, theirs, repeats: int) -> tuple[float, float, float, list[bool], list[bool]]:
    """Best rates of each scorer and the median of the interleaved ratios, over ``repeats`` runs."""
    runs = [interleaved(pairs, ours, theirs) for _ in range(repeats)]
    ratios = sorted(theirs_s / ours_s for ours_s, theirs_s, _, _ in runs)
    ours_rate = len(pairs) / min(run[0] for run in runs)
    theirs_rate = len(pairs) / min(run[1] for run in runs)
    return ours_rate, theirs_rate, ratios[len(ratios) // 2], runs[0][2], runs[0][3]


def worst_adversarial_ms() -> float:
    texts = [
        "x" * 1_000_000 + " Answer: 5",
        "9" * 10_000,
        "answer " * 150_000,
        "\\boxed{" * 100_000,
        "1," * 500_000,
        "as \n" * 300_000,
        "the answer is " * 70_000,
        "<answer>" * 120_000,
        "</think>x" * 100_000,
        "$" * 1_000_000,
        "Answer: " + "Mr. " * 250_000,
        "(1, " * 250_000,
        "\\boxed{1} and " * 70_000,
        "<|im_end|>" * 100_000,
        "Answer: " + "x^2+" * 250_000,
        "B) " * 330_000,
        "option is " * 100_000,
        "Answer: " + "forty two " * 100_000,
        "Answer: " + "1;" * 500_000,
        "Answer: " + "1 and " * 170_000,
    ]
    worst = 0.0
    for text in texts:
        runs = []
        for _ in range(3):  # each input's best of three cold runs, after a collection: its cost, not a GC pause's
            rewards.clear_caches()
            gc.collect()
            start = time.perf_counter()
            rewards.score(text, "5")
            runs.append(time.perf_counter() - start)
        worst = max(worst, min(runs))
    return 1000 * worst


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10_000, help="pairs scored by each scorer")
    parser.add_argument(
        "--repeats", type=int, default=3, help="interleaved runs of both scorers; rates: the best, ratio: the median"
    )
    args = parser.parse_args(argv)
    pairs = make_pairs(args.pairs)
    ours_rate, mv_rate, ratio, ours, theirs = compare(pairs, score_ours, score_math_verify, args.repeats)
    agree = sum(a == b for a, b in zip(ours, theirs)) / len(pairs)
    print(f"pairs:                  {len(pairs)}")
    print(f"rewards.score:          {ours_rate:,.0f} pairs/s  ({sum(ours)} judged correct)")
    print(f"math_verify:            {mv_rate:,.0f} pairs/s  ({sum(theirs)} judged correct)")
    print(f"ratio (ours / mv):      {ratio:.1f}x  (median of {args.repeats} runs, the two scorers interleaved)")
    print(f"agreement:              {agree:.2%}")
    print(f"worst adversarial 1 MB: {worst_adversarial_ms():.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
