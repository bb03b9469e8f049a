"""Know before paying for the GPU: will this run learn?

``train_grpo.py ... --probe [N]`` loads the model exactly as training would, samples a group of
completions for N training prompts with the run's generation settings, scores them with the
run's rewards and weights, and predicts what the first step will log: the reward, the share of
groups with no reward spread (``groups/zero_spread_frac``: such groups teach nothing),
pass@1 and pass@k, truncation, unreadable answers and the time a step will take. Then a verdict
names the flags to change.

The watchdog (:class:`Watchdog`) does the same during training from the logged metrics, and
warns once per cause, quietly when all is well.
"""

from __future__ import annotations

import json
import logging
import math
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from grpo_suite.answers import extract_answer
from grpo_suite.compare_stats import pass_at_k
from grpo_suite.prompts import ANSWER_INSTRUCTION, prompt_ids
from grpo_suite.tools import count_calls, shown_tools, template_kwargs

logger = logging.getLogger("train_grpo")

DEFAULT_PROMPTS = 32
ZERO_SPREAD_LIMIT = 0.9  # at or above this share of groups without spread, the run cannot learn
TRUNCATED_LIMIT = 0.5
UNREADABLE_LIMIT = 0.5
ALWAYS_SOLVED_LIMIT = 0.9
# An answer the completion states (a marker, a tag, a box); a last number or line is a guess.
EXPLICIT_SOURCES = frozenset({"marker", "answer_tag", "boxed", "answer_is"})
# A training step is generation, then a forward pass of the policy over every completion and a
# backward pass; a backward costs about two forwards, so the optimisation part is ~3 forwards.
FORWARD_BACKWARD_FACTOR = 3.0


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return float(ordered[index])


@dataclass
class ProbeResult:
    prompts: int
    group_size: int
    component_means: dict[str, float | None]
    total_mean: float
    reference_rows: int  # prompts with a reference
    pass_at_1: float | None
    pass_at_k: float | None
    zero_spread: float  # share of groups whose weighted reward has no spread
    never_solved: float | None
    always_solved: float | None
    truncated: float
    length_median: float
    length_p90: float
    unreadable: float
    seconds_per_group: float
    seconds_per_step: float
    steps: int | None
    seconds_total: float | None
    verdicts: list[dict] = field(default_factory=list)
    system_prompt: str | None = None  # the run's --system-prompt: a fix does not suggest adding one again
    answer_instruction: str | None = None  # the run's --answer-instruction, resolved ('' or None: none)
    tool_calls: float | None = None  # with --tools: share of completions whose first turn calls a tool

    @property
    def cannot_learn(self) -> bool:
        return any(v["severity"] == "cannot learn" for v in self.verdicts)


def summarise(
    scores: list[list[dict[str, float | None]]],
    weights: dict[str, float],
    has_reference: list[bool],
    lengths: list[int],
    truncated: list[bool],
    unreadable: list[bool],
    seconds_per_group: float,
    seconds_per_step: float,
    steps: int | None,
    system_prompt: str | None = None,
    answer_instruction: str | None = None,
) -> ProbeResult:
    """The probe's figures from per-completion scores, grouped by prompt."""
    names = list(weights)
    group_size = len(scores[0]) if scores else 0
    means: dict[str, float | None] = {}
    for name in names:
        values = [s[name] for group in scores for s in group if s.get(name) is not None]
        means[name] = statistics.fmean(values) if values else None
    totals = [[_total(s, weights) for s in group] for group in scores]
    flat_totals = [t for group in totals for t in group]
    zero_spread = [max(group) - min(group) < 1e-9 for group in totals if group]
    solved = [[is_solved(s) for s in group] for group, ref in zip(scores, has_reference) if ref]
    result = ProbeResult(
        prompts=len(scores),
        group_size=group_size,
        component_means=means,
        total_mean=statistics.fmean(flat_totals) if flat_totals else 0.0,
        reference_rows=len(solved),
        pass_at_1=statistics.fmean(sum(g) / len(g) for g in solved) if solved else None,
        pass_at_k=statistics.fmean(pass_at_k(len(g), sum(g), len(g)) for g in solved) if solved else None,
        zero_spread=sum(zero_spread) / len(zero_spread) if zero_spread else 1.0,
        never_solved=sum(not any(g) for g in solved) / len(solved) if solved else None,
        always_solved=sum(all(g) for g in solved) / len(solved) if solved else None,
        truncated=sum(truncated) / len(truncated) if truncated else 0.0,
        length_median=float(statistics.median(lengths)) if lengths else 0.0,
        length_p90=percentile(lengths, 0.9),
        unreadable=sum(unreadable) / len(unreadable) if unreadable else 0.0,
        seconds_per_group=seconds_per_group,
        seconds_per_step=seconds_per_step,
        steps=steps,
        seconds_total=seconds_per_step * steps if steps else None,
        system_prompt=system_prompt,
        answer_instruction=answer_instruction,
    )
    result.verdicts = verdicts(result, weights)
    return result


def _total(score: dict[str, float | None], weights: dict[str, float]) -> float:
    """The weighted total as TRL computes it: a None (no reward) counts as nothing."""
    return sum(w * score[n] for n, w in weights.items() if score.get(n) is not None)


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _answer_instruction(r: ProbeResult) -> str:
    """The fix that asks the model for an explicit answer; a run that already asks is told so."""
    if r.answer_instruction:
        return (
            f"the answer instruction ({_shown(r.answer_instruction)}) did not get the model to write "
            "'Final answer: ...': reword it with --answer-instruction, or warm the model up with SFT"
        )
    if r.system_prompt:
        return (
            f"the --system-prompt given ({_shown(r.system_prompt)}) did not get the model to write 'Final "
            f"answer: ...': add --answer-instruction {ANSWER_INSTRUCTION!r} (a --system-prompt drops it), or "
            "drop the --system-prompt"
        )
    return f"ask for the answer: --answer-instruction {ANSWER_INSTRUCTION!r} (this run has none)"


def verdicts(r: ProbeResult, weights: dict[str, float]) -> list[dict]:
    """What wastes runs, in order of harm, each with the flags to change and why."""
    found = []

    def add(severity, cause, fix):
        found.append({"severity": severity, "cause": cause, "fix": fix})

    if r.truncated > TRUNCATED_LIMIT:  # first: cut-off answers cause the other symptoms
        add(
            "cannot learn" if r.zero_spread >= ZERO_SPREAD_LIMIT else "warning",
            f"{r.truncated:.0%} of completions hit --max-completion-length without ending "
            f"(90th percentile {r.length_p90:.0f} tokens), before their answer",
            "raise --max-completion-length so that answers can be finished and read",
        )
    if r.reference_rows and r.never_solved == 1.0:
        add(
            "cannot learn",
            f"no prompt was ever solved ({r.prompts} prompts x {r.group_size} completions): "
            "reference_reward is 0 everywhere, so it gives no signal",
            f"use easier data, {_answer_instruction(r)}, raise --num-generations, or warm the model up with SFT "
            "first; check the references with --dry-run",
        )
    if r.zero_spread >= ZERO_SPREAD_LIMIT:
        add(
            "cannot learn",
            f"{r.zero_spread:.0%} of groups have no reward spread: every completion of the group "
            "earns the same reward, so the advantages are 0 and nothing is learned",
            "raise --temperature, raise --num-generations, or give partial credit (format_reward, length_reward "
            "weights in --reward-weights)",
        )
    if r.unreadable > UNREADABLE_LIMIT:
        add(
            "warning",
            f"{r.unreadable:.0%} of completions state no explicit final answer (the reward falls back "
            "to their last number or line)",
            f"{_answer_instruction(r)}, and raise format_reward's weight in --reward-weights",
        )
    if r.reference_rows and r.always_solved is not None and r.always_solved >= ALWAYS_SOLVED_LIMIT:
        add(
            "warning",
            f"{r.always_solved:.0%} of prompts were solved by every completion: little left to learn",
            "use harder data",
        )
    if r.tool_calls == 0.0:
        add(
            "warning",
            f"no completion called a tool ({r.prompts} prompts x {r.group_size} completions): the tools change "
            "nothing until the model calls one (tools/call_frequency will be 0)",
            "use a model tuned for tool calling, or say in --system-prompt when to call which tool",
        )
    if not found:
        add("ok", "groups have reward spread and some prompts are solved: the run can learn", "")
    return found


# --------------------------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------------------------


def is_solved(score: dict[str, float | None]) -> bool:
    """A completion solves its prompt when it earns the full reference_reward: the one rule for pass
    rates, here and in difficulty filtering."""
    return score.get("reference_reward") == 1.0


def generation_settings(args, tokenizer) -> dict:
    """The run's sampling settings as ``generate`` takes them."""
    eos = _as_list(tokenizer.eos_token_id)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else next(iter(eos), 0)
    generation = dict(
        do_sample=True,
        temperature=args.temperature,
        top_p=args.top_p,
        max_new_tokens=args.max_completion_length,
        pad_token_id=pad,
    )
    for name in ("top_k", "min_p", "repetition_penalty"):  # the run's own settings where it has them
        if getattr(args, name, None) is not None:
            generation[name] = getattr(args, name)
    return generation


def score_completions(funcs, row: dict, ids: list[list[int]], texts: list[str]) -> list[dict[str, float | None]]:
    """One prompt's completions scored by the run's reward functions, called as TRL calls them."""
    group = len(texts)
    completions = [[{"role": "assistant", "content": t}] for t in texts] if isinstance(row["prompt"], list) else texts
    kwargs = {k: [v] * group for k, v in row.items() if k not in ("prompt", "completion")}
    kwargs.update(prompts=[row["prompt"]] * group, completion_ids=ids, trainer_state=None)
    values = {func.__name__: list(func(completions, **kwargs)) for func in funcs}
    return [{name: values[name][i] for name in values} for i in range(group)]


def sample_rounds(
    args, tokenizer, model, rows: list[dict], group: int, per_round: int, step_time: bool = False, desc: str = "probe"
):
    """Sample ``group`` completions for each row, ``per_round`` prompts at a time, left-padded into one
    batch as the trainer does (batched generation is far faster per completion than one group at a time).

    Yields ``(chunk, completions, seconds)`` per round: the rows, per row a list of ``(token ids up to the
    end token, ended)``, and with ``step_time`` the seconds a training step spends on the round
    (generation plus the policy's forward and backward passes), else None.
    """
    import torch

    generation = generation_settings(args, tokenizer)
    eos, pad = set(_as_list(tokenizer.eos_token_id)), generation["pad_token_id"]
    device = next(model.parameters()).device
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        for first in _progress(range(0, len(rows), per_round), math.ceil(len(rows) / per_round), desc):
            chunk = rows[first : first + per_round]
            ids = [prompt_ids(tokenizer, row["prompt"], template_kwargs(args)) for row in chunk]
            batch = tokenizer.pad(
                {"input_ids": [i for i in ids for _ in range(group)]}, padding=True, return_tensors="pt"
            ).to(device)
            start = time.perf_counter()
            seconds = None
            with torch.no_grad():
                out = model.generate(**batch, **generation)
                if step_time:
                    generated = time.perf_counter() - start
                    start = time.perf_counter()
                    mask = torch.cat(
                        [batch["attention_mask"], (out[:, batch["input_ids"].shape[1] :] != pad).long()], 1
                    )
                    model(input_ids=out, attention_mask=mask)  # the policy's log-probability pass over the batch
                    forward = time.perf_counter() - start
                    seconds = (generated + FORWARD_BACKWARD_FACTOR * forward) * per_round / len(chunk)
            width = batch["input_ids"].shape[1]
            completions = [
                [_until_eos(seq[width:].tolist(), eos, pad) for seq in out[i * group : (i + 1) * group]]
                for i in range(len(chunk))
            ]
            yield chunk, completions, seconds
    finally:
        tokenizer.padding_side = side


def run_probe(args, tokenizer, model, rows, funcs, weights: Sequence[float], n_prompts: int, plan) -> ProbeResult:
    """Sample, score and summarise; the model is used as loaded for training (quantized, adapter).

    ``plan`` is the run's generation plan (config.generation_plan): prompts are generated a
    round at a time, as many as one process generates per round, and the time per optimizer step
    counts the rounds one step takes.
    """
    import torch

    n_prompts = max(1, min(n_prompts, len(rows)))
    group = args.num_generations
    names = [f.__name__ for f in funcs]
    weight_of = dict(zip(names, weights))
    torch.manual_seed(args.seed)
    scores, has_reference, lengths, truncated, unreadable = [], [], [], [], []
    model.eval()
    per_round = plan.prompts_per_process
    round_seconds = []
    sample = rows.select(range(n_prompts)).to_list()
    tools = shown_tools(args) if getattr(args, "tools", None) or getattr(args, "environment", None) else None
    tool_calls = 0
    for chunk, completions, seconds in sample_rounds(args, tokenizer, model, sample, group, per_round, step_time=True):
        round_seconds.append(seconds)
        for row, completion_ids in zip(chunk, completions):
            ids = [c for c, _ in completion_ids]
            if tools:
                tool_calls += count_calls(
                    tokenizer, prompt_ids(tokenizer, row["prompt"], template_kwargs(args)), ids, tools
                )
            texts = tokenizer.batch_decode(ids, skip_special_tokens=True)
            scores.append(score_completions(funcs, row, ids, texts))
            has_reference.append(row.get("reference") is not None and "reference_reward" in names)
            lengths.extend(len(c) for c in ids)
            truncated.extend(not ended and len(c) >= args.max_completion_length for c, ended in completion_ids)
            unreadable.extend(extract_answer(t).source not in EXPLICIT_SOURCES for t in texts)
    per_round_seconds = statistics.fmean(round_seconds)  # processes generate their shares side by side
    steps = planned_steps(args, len(rows), plan.prompts_per_step)
    result = summarise(
        scores,
        weight_of,
        has_reference,
        lengths,
        truncated,
        unreadable,
        seconds_per_group=per_round_seconds / per_round,
        seconds_per_step=per_round_seconds * plan.rounds_per_step,
        steps=steps,
        system_prompt=getattr(args, "system_prompt", None),
        answer_instruction=getattr(args, "answer_instruction", None),
    )
    if tools:
        result.tool_calls = tool_calls / max(1, sum(len(g) for g in scores))
        result.verdicts = verdicts(result, weight_of)
    return result


def planned_steps(args, rows: int, prompts_per_step: float) -> int | None:
    if args.max_steps and args.max_steps > 0:
        return args.max_steps
    if prompts_per_step <= 0:
        return None
    return math.ceil(rows * args.num_train_epochs / prompts_per_step)


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _until_eos(ids: list[int], eos: set[int], pad: int) -> tuple[list[int], bool]:
    """The completion up to its end token, and whether it ended (not cut off by the length limit)."""
    for i, token in enumerate(ids):
        if token in eos:
            return ids[:i], True
    while ids and ids[-1] == pad and pad not in eos:
        ids = ids[:-1]
    return ids, False


def _progress(rows, total: int, desc: str = "probe"):
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return rows
    return tqdm(rows, total=total, desc=desc, unit="round")


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def format_report(r: ProbeResult) -> str:
    def pct(x):
        return "n/a" if x is None else f"{x:.1%}"

    lines = [f"probe: {r.prompts} prompts x {r.group_size} completions"]
    for name, mean in r.component_means.items():
        lines.append(f"  {name:<28} mean {'n/a' if mean is None else f'{mean:.3f}'}")
    lines += [
        f"  {'weighted total':<28} mean {r.total_mean:.3f}",
        f"  pass@1 {pct(r.pass_at_1)}   pass@{r.group_size} {pct(r.pass_at_k)}   "
        f"(reference_reward, {r.reference_rows} prompts with a reference)",
        f"  groups with no reward spread  {pct(r.zero_spread)}   (groups/zero_spread_frac at the first step)",
        f"  prompts never solved {pct(r.never_solved)}   always solved {pct(r.always_solved)}",
        f"  completions truncated {pct(r.truncated)}   length median {r.length_median:.0f}, "
        f"p90 {r.length_p90:.0f} tokens",
        f"  no explicit final answer (Final answer:, <answer>, \\boxed) {pct(r.unreadable)}",
        f"  {r.seconds_per_group:.2f} s per group here; about {r.seconds_per_step:.1f} s per step"
        + (f", {_duration(r.seconds_total)} for {r.steps} steps" if r.seconds_total else ""),
        "verdict:",
    ]
    if r.tool_calls is not None:
        lines.insert(-1, f"  completions calling a tool in their first turn {pct(r.tool_calls)}")
        lines.insert(-1, "  (the rewards above score first replies, before any tool runs; training scores them after)")
    for v in r.verdicts:
        lines.append(f"  [{v['severity']}] {v['cause']}" + (f"\n      fix: {v['fix']}" if v["fix"] else ""))
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def write_json(r: ProbeResult, path: Path) -> None:
    record = asdict(r)
    record["cannot_learn"] = r.cannot_learn
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2), encoding="utf-8")
    tmp.replace(path)


# --------------------------------------------------------------------------------------------
# Watchdog
# --------------------------------------------------------------------------------------------


class Watchdog:
    """Reads each logged step and warns once per cause, naming the flag; can stop a stuck run."""

    ENTROPY_COLLAPSE = 0.1  # entropy below this share of its first logged value
    # Completions under this share of their first logged length, with reference_reward no better
    # than at the start plus SHORTCUT_GAIN: the shaping rewards are being learned, not the answers
    # (seen on SmolLM2-135M: a bare "Final answer: N", held-out accuracy 35.5% -> 14.5%).
    SHORTCUT_LENGTH = 0.25
    SHORTCUT_GAIN = 0.1

    def __init__(self, warn_after: int = 3, stop_after: int = 0):
        self.warn_after = warn_after  # logged steps a condition must hold before the warning
        self.stop_after = stop_after  # ... before the run is stopped (0: never)
        self.rewards: list[float] = []
        self.first_entropy: float | None = None
        self.first_length: float | None = None
        self.first_reference: float | None = None
        self.streak: dict[str, int] = {}
        self.warned: set[str] = set()

    def conditions(self, logs: dict) -> dict[str, str]:
        found = {}
        reward = logs.get("reward")
        if isinstance(reward, (int, float)):
            if not math.isfinite(reward):
                found["nan_reward"] = (
                    "the reward is NaN: every reward function returned None or NaN for a whole "
                    "batch; check the references (--dry-run) and your --extra-reward functions"
                )
            else:
                self.rewards.append(float(reward))
        # The share of groups without spread (grpo_suite/dynamic_sampling.py); TRL's frac_reward_zero_std
        # is that share only under --scale-rewards group (under batch, it is the whole batch's spread).
        key = "groups/zero_spread_frac" if "groups/zero_spread_frac" in logs else "frac_reward_zero_std"
        zero = logs.get(key)
        if isinstance(zero, (int, float)) and zero >= ZERO_SPREAD_LIMIT:
            found["zero_spread"] = (
                f"{key} is {zero:.2f}: most groups earn one reward, so nothing is "
                "learned; raise --temperature or --num-generations, or give partial credit "
                "(--reward-weights)"
            )
        clipped = logs.get("completions/clipped_ratio")
        if isinstance(clipped, (int, float)) and clipped > TRUNCATED_LIMIT:
            found["clipped"] = (
                f"{clipped:.0%} of completions are cut off at --max-completion-length; raise it "
                "so that answers can be finished"
            )
        entropy = logs.get("entropy")
        if isinstance(entropy, (int, float)) and math.isfinite(entropy):
            if self.first_entropy is None:
                self.first_entropy = float(entropy)
            elif self.first_entropy > 0 and entropy < self.ENTROPY_COLLAPSE * self.first_entropy:
                found["entropy"] = (
                    f"entropy fell to {entropy:.3g} from {self.first_entropy:.3g}: the policy has "
                    "collapsed onto one answer; lower --learning-rate, raise --temperature or "
                    "--beta"
                )
        shortcut = self._shortcut(logs)
        if shortcut:
            found["shortcut"] = shortcut
        quarter = len(self.rewards) // 4
        if len(self.rewards) >= 8 and quarter >= 2 and "nan_reward" not in found:
            recent = self.rewards[-quarter:]
            if max(recent) - min(recent) < 1e-6:
                found["flat_reward"] = (
                    f"the reward has stayed at {recent[-1]:.3f} over the last {quarter} logged "
                    "steps; check --learning-rate and the probe (--probe)"
                )
        return found

    def _shortcut(self, logs: dict) -> str | None:
        length, reference = logs.get("completions/mean_length"), logs.get("rewards/reference_reward/mean")
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (length, reference)):
            return None
        if self.first_length is None:
            self.first_length, self.first_reference = float(length), float(reference)
            return None
        if length < self.SHORTCUT_LENGTH * self.first_length and reference <= self.first_reference + self.SHORTCUT_GAIN:
            return (
                f"completions shrank from {self.first_length:.0f} to {length:.0f} tokens while reference_reward "
                f"stayed at {reference:.2f} (from {self.first_reference:.2f}): the model is learning the format "
                "and length rewards, not the answers; lower --learning-rate or format_reward's weight "
                "(--reward-weights), or use --scale-rewards batch"
            )
        return None

    def check(self, logs: dict) -> list[str]:
        """Warn once per cause that has held long enough; return the causes that should stop the run."""
        found = self.conditions(logs)
        for key in list(self.streak):
            if key not in found:
                self.streak[key] = 0
        stuck = []
        for key, message in found.items():
            self.streak[key] = self.streak.get(key, 0) + 1
            needed = 1 if key in ("nan_reward", "flat_reward") else self.warn_after
            if key not in self.warned and self.streak[key] >= needed:
                self.warned.add(key)
                logger.warning("watchdog: %s", message)
            if self.stop_after and self.streak[key] >= self.stop_after:
                stuck.append(message)
        return stuck
