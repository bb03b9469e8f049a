"""Scores and paired figures of a comparison: per prompt, per side, and each adapter against base.

A *side* is the base model or one adapter; every adapter is compared with the base on the same
prompts. Accuracy counts only prompts with a reference ("n/a" where none has one); without any
reference the verdict falls back on the total reward of the components that apply.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

from grpo_suite import compare_stats as stats
from grpo_suite.answers import answers_match, extract_answer, extract_reference, last_number
from grpo_suite.reward_funcs import DEFAULT_LENGTH_MAX, DEFAULT_LENGTH_TARGET, build_reward_funcs, combine

BASE = "base"
PRIMARY_ACCURACY = "strict accuracy"
PRIMARY_REWARD = "total reward"


# --------------------------------------------------------------------------------------------
# Scoring one completion
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scorer:
    """The run's reward: its components, weights and length settings."""

    weights: dict[str, float]
    length_target: int = DEFAULT_LENGTH_TARGET
    length_max: int = DEFAULT_LENGTH_MAX

    def funcs(self):
        return build_reward_funcs(list(self.weights), self.weights, self.length_target, self.length_max)


def score_output(text: str, reference: Any, funcs, weights) -> dict:
    """Total and components as the trainer computes them; strict and lenient correctness.

    strict: the explicitly marked final answer matches; lenient: that, or the last number does.
    ``answer`` is the marked answer (None when the completion marks none), ``last`` the
    extraction ``reference_reward`` reads.
    """
    total, components = combine(funcs, weights, text, reference)
    accepted = extract_reference(reference)
    marked = extract_answer(text, last_number=False).answer
    last = extract_answer(text).answer
    strict = bool(accepted) and marked is not None and answers_match(marked, accepted)
    lenient = bool(accepted) and (strict or answers_match(last, accepted) or _last_number_matches(text, accepted))
    return {
        "total": total,
        "components": components,
        "strict": strict,
        "lenient": lenient,
        "length": len(text),
        "answer": marked,
        "last": last,
    }


def _last_number_matches(text: str, accepted: list[str]) -> bool:
    number = last_number(text)
    return number is not None and answers_match(number, accepted)


def build_rows(
    prompts: list[dict], rendered: list[str], outputs: dict[str, list[list[str]]], scorer: Scorer
) -> list[dict]:
    """One record per prompt: its text as the model saw it, the reference, and every side's outputs."""
    funcs, weights = scorer.funcs()
    rows = []
    for i, item in enumerate(prompts):
        row = {
            "index": i,
            "prompt": rendered[i],
            "reference": item["reference"],
            "has_reference": bool(extract_reference(item["reference"])),
        }
        for side, texts in outputs.items():
            scores = [score_output(text, item["reference"], funcs, weights) for text in texts[i]]
            row[side] = {
                "outputs": texts[i],
                "scores": scores,
                "mean_total": statistics.fmean(s["total"] for s in scores),
            }
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


@dataclass
class Pair:
    """An adapter minus the base on one metric, paired by prompt."""

    diff: float
    ci: tuple[float, float]
    p: float
    fixed: int
    broken: int
    test: str  # "McNemar exact" for one 0/1 outcome per prompt, else "sign test"


@dataclass
class Metric:
    name: str
    kind: str  # "rate" (shown as %) or "mean"
    n: int  # prompts it applies to
    values: dict[str, float | None] = field(default_factory=dict)
    cis: dict[str, tuple[float, float]] = field(default_factory=dict)
    pairs: dict[str, Pair] = field(default_factory=dict)


@dataclass
class Verdict:
    label: str
    outcome: str  # better / worse / no detectable difference
    metric: str
    base: float
    value: float
    pair: Pair
    n: int

    def text(self) -> str:
        kind = "rate" if self.metric != PRIMARY_REWARD else "mean"
        unit = " points" if kind == "rate" else ""
        if self.outcome == "no detectable difference":
            head, tail = f"{self.label}: no detectable difference from base at n = {self.n} prompts", ""
        else:
            head, tail = f"{self.label} is {self.outcome} than base", f", n = {self.n} prompts"
        return (
            f"{head}: {self.metric} {fmt(self.base, kind)} -> {fmt(self.value, kind)}, "
            f"{fmt_diff(self.pair.diff, kind)}{unit} (95% CI {fmt_diff(self.pair.ci[0], kind)} to "
            f"{fmt_diff(self.pair.ci[1], kind)}), {self.pair.test} p = {fmt_p(self.pair.p)} "
            f"(fixed {self.pair.fixed}, broken {self.pair.broken}){tail}"
        )


@dataclass
class Forgetting:
    """Mean log-likelihood per token of a text sample under base and each adapter."""

    source: str
    n_texts: int
    threshold: float
    base: float
    values: dict[str, float] = field(default_factory=dict)
    pairs: dict[str, tuple[float, tuple[float, float]]] = field(default_factory=dict)
    skipped: int = 0
    texts: list[dict] = field(default_factory=list, repr=False)  # per text: its text and each side's value

    def flagged(self, label: str) -> bool:
        return self.pairs[label][0] < -self.threshold


@dataclass
class Summary:
    labels: list[str]
    n_prompts: int
    n_reference: int
    samples: int
    metrics: list[Metric] = field(default_factory=list)
    sampling: list[Metric] = field(default_factory=list)
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    best: str | None = None
    runner_up: str | None = None
    best_vs_runner_up: Verdict | None = None
    majority_ties: dict[str, int] = field(default_factory=dict)
    forgetting: Forgetting | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def primary(self) -> str:
        return PRIMARY_ACCURACY if self.n_reference else PRIMARY_REWARD

    def metric(self, name: str) -> Metric | None:
        return next((m for m in self.metrics + self.sampling if m.name == name), None)

    def as_dict(self) -> dict:
        record = asdict(self)
        if record["forgetting"]:
            del record["forgetting"]["texts"]  # in forgetting.jsonl
        record["verdict_lines"] = {label: v.text() for label, v in self.verdicts.items()}
        return record


def _per_prompt(rows: list[dict], side: str, get: Callable[[dict], Any]) -> list[float | None]:
    """Each prompt's mean over its samples; None where the value does not apply."""
    values = []
    for row in rows:
        got = [get(s) for s in row[side]["scores"]]
        values.append(None if any(v is None for v in got) else statistics.fmean(float(v) for v in got))
    return values


def _metric(name: str, kind: str, per_side: dict[str, list[float | None]], binary: bool, seed: int) -> Metric | None:
    """Side means with intervals, and each adapter's paired difference to the base."""
    applies = [i for i in range(len(per_side[BASE])) if all(v[i] is not None for v in per_side.values())]
    if not applies:
        return None
    metric = Metric(name, kind, len(applies))
    base = [per_side[BASE][i] for i in applies]
    for side, values in per_side.items():
        kept = [values[i] for i in applies]
        metric.values[side] = statistics.fmean(kept)
        metric.cis[side] = stats.wilson(round(sum(kept)), len(kept)) if binary else stats.bootstrap_mean(kept, seed)
        if side != BASE:
            fixed, broken = stats.discordant(base, kept)
            metric.pairs[side] = Pair(
                metric.values[side] - metric.values[BASE],
                stats.paired_bootstrap(base, kept, seed),
                stats.mcnemar_exact(fixed, broken),
                fixed,
                broken,
                "McNemar exact" if binary else "sign test",
            )
    return metric


def summarize(rows: list[dict], labels: list[str], samples: int, seed: int = 0) -> Summary:
    """Every figure of the report, from the rows alone."""
    sides = [BASE, *labels]
    n_reference = sum(r["has_reference"] for r in rows)
    summary = Summary(labels, len(rows), n_reference, samples)
    binary = samples == 1

    def add(name, kind, get, is_binary=False, into=None):
        per_side = {side: _per_prompt(rows, side, get) for side in sides}
        metric = _metric(name, kind, per_side, is_binary, seed)
        if metric is not None:
            (summary.metrics if into is None else into).append(metric)
        return metric

    with_reference = [r for r in rows if r["has_reference"]]  # accuracy applies only where there is a reference
    for name in ("strict", "lenient"):
        per_side = {side: _per_prompt(with_reference, side, lambda s, name=name: s[name]) for side in sides}
        metric = _metric(f"{name} accuracy", "rate", per_side, binary, seed) if with_reference else None
        summary.metrics.append(metric or Metric(f"{name} accuracy", "rate", 0))
    add(PRIMARY_REWARD, "mean", lambda s: s["total"])
    add("length (chars)", "mean", lambda s: s["length"])
    components = list(dict.fromkeys(k for r in rows for s in r[BASE]["scores"] for k in s["components"]))
    for component in components:
        metric = add(component, "mean", lambda s, c=component: s["components"].get(c))
        if metric is None:
            summary.metrics.append(Metric(component, "mean", 0))
    if samples > 1 and n_reference:
        _sampling(summary, rows, sides, samples, seed)
    _verdicts(summary, rows, sides, seed)
    _outcomes(summary, rows)
    return summary


def _sampling(summary: Summary, rows, sides, samples: int, seed: int) -> None:
    """pass@1, unbiased pass@k and maj@k over the prompts with a reference."""
    kept = [r for r in rows if r["has_reference"]]
    correct = {side: [sum(s["strict"] for s in r[side]["scores"]) for r in kept] for side in sides}
    for k in stats.pass_k_values(samples):
        per_side = {side: [stats.pass_at_k(samples, c, k) for c in correct[side]] for side in sides}
        summary.sampling.append(_metric(f"pass@{k}", "rate", per_side, False, seed))
    majority, ties = {}, {}
    for side in sides:
        votes = [stats.majority_vote([s["answer"] for s in r[side]["scores"]], _same_answer) for r in kept]
        majority[side] = [
            float(answer is not None and answers_match(answer, extract_reference(r["reference"])))
            for (answer, _), r in zip(votes, kept)
        ]
        ties[side] = sum(tied for _, tied in votes)
    summary.sampling.append(_metric(f"maj@{samples}", "rate", majority, True, seed))
    summary.majority_ties = ties


def _same_answer(a: str, b: str) -> bool:
    return answers_match(a, [b])


def _verdicts(summary: Summary, rows, sides, seed: int) -> None:
    """Each adapter against base on the primary metric; the best adapter and its margin."""
    primary = summary.metric(summary.primary)
    for label in summary.labels:
        pair = primary.pairs[label]
        summary.verdicts[label] = Verdict(
            label,
            stats.verdict(pair.diff, pair.ci, pair.p),
            primary.name,
            primary.values[BASE],
            primary.values[label],
            pair,
            primary.n,
        )
    if len(summary.labels) < 2:
        summary.best = summary.labels[0]
        return
    ranked = sorted(summary.labels, key=lambda label: primary.values[label], reverse=True)
    summary.best, summary.runner_up = ranked[0], ranked[1]
    kept = [r for r in rows if r["has_reference"]] if summary.primary == PRIMARY_ACCURACY else rows
    key = "strict" if summary.primary == PRIMARY_ACCURACY else "total"
    runner = _per_prompt(kept, ranked[1], lambda s: s[key])
    best = _per_prompt(kept, ranked[0], lambda s: s[key])
    fixed, broken = stats.discordant(runner, best)
    pair = Pair(
        primary.values[ranked[0]] - primary.values[ranked[1]],
        stats.paired_bootstrap(runner, best, seed),
        stats.mcnemar_exact(fixed, broken),
        fixed,
        broken,
        primary.pairs[ranked[0]].test,
    )
    summary.best_vs_runner_up = Verdict(
        ranked[0],
        stats.verdict(pair.diff, pair.ci, pair.p),
        primary.name,
        primary.values[ranked[1]],
        primary.values[ranked[0]],
        pair,
        primary.n,
    )


def _outcomes(summary: Summary, rows) -> None:
    """Each adapter's result on each prompt: win, loss or tie against base.

    By accuracy where the prompt has a reference, else by total reward.
    """
    for row in rows:
        key = "strict" if row["has_reference"] else "total"
        base = statistics.fmean(float(s[key]) for s in row[BASE]["scores"])
        for label in summary.labels:
            value = statistics.fmean(float(s[key]) for s in row[label]["scores"])
            row[label]["vs_base"] = "win" if value > base + 1e-9 else "loss" if value < base - 1e-9 else "tie"


def summarize_forgetting(
    source: str, threshold: float, texts: list[str], per_side: dict[str, list[float]], skipped: int, seed: int = 0
) -> Forgetting:
    """Mean per-token log-likelihood of each side, and each adapter's paired difference."""
    base = per_side[BASE]
    result = Forgetting(source, len(base), threshold, statistics.fmean(base), skipped=skipped)
    result.texts = [
        {"text": text, **{side: values[i] for side, values in per_side.items()}} for i, text in enumerate(texts)
    ]
    for label, values in per_side.items():
        if label == BASE:
            continue
        result.values[label] = statistics.fmean(values)
        result.pairs[label] = (result.values[label] - result.base, stats.paired_bootstrap(base, values, seed))
    return result


# --------------------------------------------------------------------------------------------
# Number formats (one place, for every report)
# --------------------------------------------------------------------------------------------


def fmt(value: float | None, kind: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{100 * value:.1f}%" if kind == "rate" else f"{value:.3f}"


def fmt_diff(value: float, kind: str) -> str:
    return f"{100 * value:+.1f}" if kind == "rate" else f"{value:+.3f}"


def fmt_ci(ci: tuple[float, float] | None, kind: str) -> str:
    if ci is None or any(math.isnan(x) for x in ci):
        return "n/a"
    return f"[{fmt(ci[0], kind)}, {fmt(ci[1], kind)}]"


def fmt_diff_ci(ci: tuple[float, float] | None, kind: str) -> str:
    return "n/a" if ci is None else f"[{fmt_diff(ci[0], kind)}, {fmt_diff(ci[1], kind)}]"


def fmt_p(p: float | None) -> str:
    if p is None:
        return "n/a"
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


def order_for_report(rows: Sequence[dict], label: str) -> list[dict]:
    """Regressions first, then wins, then the rest: what the adapter broke comes before what it fixed."""
    rank = {"loss": 0, "win": 1, "tie": 2}
    return sorted(rows, key=lambda r: (rank[r[label]["vs_base"]], r["index"]))
