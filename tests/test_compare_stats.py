"""compare_stats.py against hand-computed values and closed forms."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

import rewards
from grpo_suite import compare_stats as stats


def _same(a, b):
    return rewards.answers_match(a, [b])


@pytest.mark.parametrize(
    "fixed,broken,expected",
    [
        (1, 9, 2 * (1 + 10) / 1024),  # n = 10: 2 * P(X <= 1), X ~ Bin(10, 1/2)
        (9, 1, 2 * (1 + 10) / 1024),
        (0, 5, 2 / 32),
        (2, 12, 2 * (1 + 14 + 91) / 2**14),
        (3, 3, 1.0),  # the doubled tail exceeds 1 and is capped
        (0, 0, 1.0),
    ],
)
def test_mcnemar_exact_matches_the_binomial_tail(fixed, broken, expected):
    assert stats.mcnemar_exact(fixed, broken) == pytest.approx(expected, rel=1e-12)


@given(st.integers(0, 300), st.integers(0, 300))
def test_mcnemar_is_symmetric_and_a_probability(fixed, broken):
    p = stats.mcnemar_exact(fixed, broken)
    assert p == stats.mcnemar_exact(broken, fixed)
    assert 0.0 < p <= 1.0


@given(st.integers(1, 60).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
def test_pass_at_k_matches_the_closed_form(case):
    n, c, k = case
    closed = 1 - math.comb(n - c, k) / math.comb(n, k)
    assert stats.pass_at_k(n, c, k) == pytest.approx(closed, abs=1e-12)


def test_pass_at_k_hand_values():
    assert stats.pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert stats.pass_at_k(4, 1, 2) == pytest.approx(0.5)  # 1 - C(3,2)/C(4,2) = 1 - 3/6
    assert stats.pass_at_k(5, 2, 2) == pytest.approx(0.7)  # 1 - C(3,2)/C(5,2) = 1 - 3/10
    assert stats.pass_at_k(4, 0, 4) == 0.0 and stats.pass_at_k(4, 1, 4) == 1.0
    with pytest.raises(ValueError):
        stats.pass_at_k(4, 1, 5)


def test_pass_k_values_are_powers_of_two_and_the_sample_count():
    assert stats.pass_k_values(1) == [1]
    assert stats.pass_k_values(4) == [1, 2, 4]
    assert stats.pass_k_values(6) == [1, 2, 4, 6]


def test_paired_bootstrap_removes_the_shared_prompt_variance():
    base = [float(i % 10) for i in range(100)]  # prompts of very different difficulty
    other = [x + 0.5 for x in base]  # the adapter adds exactly 0.5 everywhere
    assert stats.paired_bootstrap(base, other) == pytest.approx((0.5, 0.5))
    low, high = stats.bootstrap_mean(other)
    assert high - low > 1.0  # an unpaired interval would say nothing


def test_paired_bootstrap_of_plus_minus_one_is_the_normal_interval():
    base = [0.0] * 100
    other = [1.0, -1.0] * 50  # mean 0, sd 1: 95% interval about 0 -/+ 1.96 / sqrt(100)
    low, high = stats.paired_bootstrap(base, other)
    assert low == pytest.approx(-0.196, abs=0.03) and high == pytest.approx(0.196, abs=0.03)


def test_bootstrap_of_two_values_spans_both():
    # Resampled means of {0, 1}: 0, 0.5 or 1 with probabilities 1/4, 1/2, 1/4.
    assert stats.paired_bootstrap([0.0, 0.0], [0.0, 1.0]) == (0.0, 1.0)
    with pytest.raises(ValueError):
        stats.paired_bootstrap([0.0], [0.0, 1.0])


def test_wilson_interval_hand_value():
    low, high = stats.wilson(30, 100)
    assert low == pytest.approx(0.2189, abs=1e-4) and high == pytest.approx(0.3958, abs=1e-4)
    assert stats.wilson(0, 10)[0] == 0.0 and math.isnan(stats.wilson(0, 0)[0])


def test_majority_vote_groups_equal_answers_and_reports_ties():
    assert stats.majority_vote(["7", "7.0", "8", None, None], _same) == ("7", False)
    assert stats.majority_vote(["8", "7", "7", "8"], _same) == ("8", True)
    assert stats.majority_vote([None, None], _same) == (None, False)


def test_discordant_counts_and_verdict():
    assert stats.discordant([1, 0, 1, 0, 0.5], [1, 1, 0, 1, 0.5]) == (2, 1)
    assert stats.verdict(0.3, (0.1, 0.5), 0.001) == "better"
    assert stats.verdict(-0.3, (-0.5, -0.1), 0.001) == "worse"
    assert stats.verdict(0.3, (0.1, 0.5), 0.2) == "no detectable difference"
    assert stats.verdict(0.1, (-0.1, 0.3), 0.01) == "no detectable difference"
