"""Throughput and accuracy of rewards.reference_reward against math_verify on MATH-style pairs.

    python benchmarks/bench_math_rewards.py [--pairs 600]

The pairs carry LaTeX answers (fractions in their several spellings, decimals, roots, degrees,
thousands separators) and a third of them are symbolic (polynomials, intervals, sets, tuples,
equations), written as models write them: boxed, "Final Answer: The final answer is $...$", on a
display line. Whether each completion is right is known by construction, so both checkers are
scored against the truth. Prints both rates (pairs/s, best of --repeats cold runs), their ratio
(the median over runs in which the two take turns on chunks of the pairs), and each checker's
accuracy.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_rewards import compare  # noqa: E402

import rewards  # noqa: E402

WRAPPERS = (
    "Let us compute step by step. {work}\nTherefore the answer is $\\boxed{{{shown}}}$.",
    "{work} Final Answer: The final answer is ${shown}$. I hope it is correct.",
    "{work}\n\nSo we get\n\\[\n\\boxed{{{shown}}}\n\\]",
    "{work}\n**Final answer:** ${shown}$",
)
REFERENCES = ("{work} Hence the result is $\\boxed{{{gold}}}$.", "${gold}$", "{gold}")


def _numeric(rng: random.Random) -> tuple[str, list[str], list[str]]:
    """A LaTeX number: its gold form, equivalent spellings and wrong ones."""
    num, den = rng.randint(1, 40), rng.randint(2, 12)
    kind = rng.randrange(5)
    if kind == 0:
        return (
            f"\\frac{{{num}}}{{{den}}}",
            [f"\\dfrac{{{num}}}{{{den}}}", f"\\frac{{{2 * num}}}{{{2 * den}}}", f"{num}/{den}"],
            [f"\\frac{{{num + 1}}}{{{den}}}", f"\\frac{{{den}}}{{{num}}}" if num != den else f"{num + den}"],
        )
    if kind == 1:
        value = num * 1000 + den
        return (
            f"{value:,}".replace(",", "{,}"),
            [str(value), f"{value:,}", f"{value:,}".replace(",", "\\,")],
            [str(value + 1)],
        )
    if kind == 2:
        return f"{num}^\\circ", [f"{num}^{{\\circ}}", str(num), f"{num}\\text{{ degrees}}"], [f"{num + 5}^\\circ"]
    if kind == 3:
        return f"{num}.{den}", [f"{num}.{den}0", f"{num}.{den}"], [f"{num}.{den + 1}"]
    return (
        f"{num}\\sqrt{{{den}}}",
        [f"{num}\\sqrt{den}" if den < 10 else f"{num} \\sqrt{{{den}}}"],
        [f"{num + 1}\\sqrt{{{den}}}"],
    )


def _symbolic(rng: random.Random) -> tuple[str, list[str], list[str]]:
    """A symbolic answer: polynomial, interval, set, tuple or equation."""
    a, b = rng.randint(1, 9), rng.randint(10, 19)
    kind = rng.randrange(5)
    if kind == 0:
        return (f"(x+{a})^2", [f"x^2+{2 * a}x+{a * a}", f"(x + {a})^{{2}}"], [f"x^2+{a}x+{a * a}", f"(x-{a})^2"])
    if kind == 1:
        return f"[{a}, {b})", [f"[{a},{b})", f"\\left[{a}, {b}\\right)"], [f"({a}, {b})", f"[{a}, {b}]"]
    if kind == 2:
        return f"\\{{{a}, {b}\\}}", [f"\\{{{b},{a}\\}}"], [f"\\{{{a}, {b + 1}\\}}"]
    if kind == 3:
        return f"({a}, {b})", [f"\\left( {a}, {b} \\right)", f"({a},{b})"], [f"({b}, {a})"]
    return f"y = {a}x + {b}", [f"y={a}x+{b}", f"{a}x+{b}"], [f"y = {a}x - {b}"]


def make_pairs(n: int, seed: int = 0) -> list[tuple[str, str, bool]]:
    """(completion, reference, is_correct) triples; a third symbolic, about a third wrong."""
    rng = random.Random(seed)
    pairs = []
    for i in range(n):
        gold, right, wrong = (_symbolic if i % 3 == 0 else _numeric)(rng)
        correct = rng.random() < 0.66
        shown = rng.choice(right + [gold]) if correct else rng.choice(wrong)
        work = f"We simplify the expression in {rng.randint(2, 9)} steps."
        completion = rng.choice(WRAPPERS).format(work=work, shown=shown)
        reference = rng.choice(REFERENCES).format(work="Simplifying gives the result.", gold=gold)
        pairs.append((completion, reference, correct))
    return pairs


def score_ours(pairs) -> list[bool]:
    return [rewards.reference_reward([c], reference=[r])[0] == 1.0 for c, r, _ in pairs]


def score_math_verify(pairs) -> list[bool]:
    from math_verify import parse, verify

    return [bool(verify(parse(r if "$" in r else f"${r}$"), parse(c))) for c, r, _ in pairs]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=600, help="pairs scored by each checker")
    parser.add_argument(
        "--repeats", type=int, default=3, help="interleaved runs of both checkers; rates: the best, ratio: the median"
    )
    args = parser.parse_args(argv)
    pairs = make_pairs(args.pairs)
    truth = [correct for _, _, correct in pairs]
    score_ours(pairs[:3])  # imports math_verify and builds its parser before any timing
    ours_rate, mv_rate, ratio, ours, theirs = compare(pairs, score_ours, score_math_verify, args.repeats)
    symbolic = range(0, len(pairs), 3)

    def accuracy(verdicts, rows=range(len(pairs))):
        return sum(verdicts[i] == truth[i] for i in rows) / len(rows)

    print(f"pairs:                  {len(pairs)} ({len(symbolic)} symbolic, {truth.count(True)} correct)")
    print(f"reference_reward:       {ours_rate:,.0f} pairs/s")
    print(f"math_verify:            {mv_rate:,.0f} pairs/s")
    print(f"ratio (ours / mv):      {ratio:.1f}x  (median of {args.repeats} runs, the two checkers interleaved)")
    print(f"accuracy, all:          ours {accuracy(ours):.2%}  math_verify {accuracy(theirs):.2%}")
    print(f"accuracy, symbolic:     ours {accuracy(ours, symbolic):.2%}  math_verify {accuracy(theirs, symbolic):.2%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
