"""Statistics of a paired comparison: intervals, McNemar's exact test, pass@k and maj@k.

Pure functions on plain numbers (numpy only for the bootstrap), so that the figures of a
comparison report can be recomputed from its JSONL by anyone. Every interval is 95%.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Callable, Sequence

BOOTSTRAP_SAMPLES = 2000
ALPHA = 0.05


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (one side, one sample per prompt)."""
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _percentile_interval(means) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles of sorted bootstrap means (nearest rank)."""
    count = len(means)
    return (float(means[math.floor(0.025 * count)]), float(means[math.ceil(0.975 * count) - 1]))


def bootstrap_mean(values: Sequence[float], seed: int = 0, samples: int = BOOTSTRAP_SAMPLES) -> tuple[float, float]:
    """95% percentile bootstrap interval of a mean; prompts are the resampled unit."""
    import numpy as np

    if len(values) == 0:
        return (math.nan, math.nan)
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = np.sort(data[rng.integers(0, len(data), size=(samples, len(data)))].mean(axis=1))
    return _percentile_interval(means)


def paired_bootstrap(
    base: Sequence[float], other: Sequence[float], seed: int = 0, samples: int = BOOTSTRAP_SAMPLES
) -> tuple[float, float]:
    """95% interval of mean(other - base) resampling prompts, so both sides keep their pairing.

    A prompt that is hard for both models moves both means together; pairing removes that
    shared variance, which is why this interval is far narrower than two separate ones.
    """
    if len(base) != len(other):
        raise ValueError(f"paired samples differ in length: {len(base)} and {len(other)}")
    return bootstrap_mean([y - x for x, y in zip(base, other)], seed, samples)


def mcnemar_exact(fixed: int, broken: int) -> float:
    """Two-sided exact McNemar p-value: the binomial sign test on the discordant pairs.

    ``fixed`` prompts only the adapter gets right, ``broken`` prompts only the base gets right;
    under no difference each discordant pair goes either way with probability 1/2.
    """
    n = fixed + broken
    if n == 0:
        return 1.0
    tail = Fraction(sum(math.comb(n, i) for i in range(min(fixed, broken) + 1)), 2**n)
    return float(min(Fraction(1), 2 * tail))


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``n`` samples of which ``c`` are correct (Chen et al., 2021).

    The product form of 1 - C(n-c, k) / C(n, k), which needs no huge binomials.
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    product = 1.0
    for i in range(n - c + 1, n + 1):
        product *= 1.0 - k / i
    return 1.0 - product


def pass_k_values(samples: int) -> list[int]:
    """The k reported for ``samples`` samples per prompt: powers of two below it, and itself."""
    ks, k = [], 1
    while k < samples:
        ks.append(k)
        k *= 2
    return ks + [samples]


def majority_vote(answers: Sequence[str | None], same: Callable[[str, str], bool]) -> tuple[str | None, bool]:
    """The most frequent answer (equal answers grouped by ``same``) and whether the vote tied.

    Samples without an answer do not vote. A tie goes to the answer seen first; the caller
    reports how many prompts tied, so the rule is never applied silently.
    """
    groups: list[list[str]] = []
    for answer in answers:
        if answer is None:
            continue
        for group in groups:
            if same(answer, group[0]):
                group.append(answer)
                break
        else:
            groups.append([answer])
    if not groups:
        return None, False
    top = max(len(g) for g in groups)
    winners = [g for g in groups if len(g) == top]
    return winners[0][0], len(winners) > 1


def verdict(diff: float, ci: tuple[float, float], p: float | None, alpha: float = ALPHA) -> str:
    """better / worse when the test rejects and the interval agrees; else no detectable difference."""
    significant = p is None or p < alpha
    if significant and ci[0] > 0:
        return "better"
    if significant and ci[1] < 0:
        return "worse"
    return "no detectable difference"


def discordant(base: Sequence[float], other: Sequence[float]) -> tuple[int, int]:
    """Prompts where the adapter scores higher (fixed) and lower (broken) than the base."""
    fixed = sum(1 for x, y in zip(base, other) if y > x + 1e-12)
    broken = sum(1 for x, y in zip(base, other) if y < x - 1e-12)
    return fixed, broken
