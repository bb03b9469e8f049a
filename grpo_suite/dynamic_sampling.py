"""Groups that teach nothing, counted per group and, with ``--dynamic-sampling``, replaced.

A group whose completions all earn the same weighted reward has no spread: its advantages are 0,
so it costs a generation and teaches nothing. TRL logs ``frac_reward_zero_std``, which under
``scale_rewards="batch"`` is the whole batch's spread (0 or 1), not the share of such groups.
:class:`SuiteGRPOTrainer` logs the share itself (``groups/zero_spread_frac``) at every generation,
and with ``dynamic_rounds`` set does what DAPO calls dynamic sampling: it drops the groups without
spread and generates groups for fresh prompts (rows of the training set drawn with the run's seed)
until the batch is full, up to ``dynamic_rounds`` extra generation rounds; a batch still short is
filled with groups without spread, so every step has the batch size it was planned with.

It is built on TRL's extension points: it overrides ``_generate_and_score_completions`` (called
once per generation batch by ``_prepare_inputs``, which buffers, shuffles and splits what it
returns) and calls the parent for every round, so generation, rewards, advantages, reference
log-probabilities and TRL's own metrics are TRL's. Advantages are computed within the round that
generated the group (group scaling is unaffected; batch scaling uses that round's spread).

Logged per step: ``dynamic_sampling/dropped_frac`` (the share of generated groups not trained on),
``dynamic_sampling/extra_rounds``, ``dynamic_sampling/extra_completions``,
``dynamic_sampling/extra_seconds`` and ``dynamic_sampling/unfilled_frac`` (groups without spread
left in the batch because the bound was reached).

When ``NO_SPREAD_ROUNDS`` generation rounds in a row hold no group with spread at all, the trainer
records why in ``no_spread`` and the run's callbacks save and stop it (train_grpo.py then reports
the counts; an adapter that never moved is not saved as a result).
"""

from __future__ import annotations

import logging
import math
import random
import time

from grpo_suite.errors import UsageError

logger = logging.getLogger("train_grpo")

NO_SPREAD_ROUNDS = 3  # rounds in a row without one group with spread: the run cannot learn from its data
SPREAD_EPSILON = 1e-6
# Keys of the parent's output dict, by how rows of different rounds are padded to one width.
LEFT_PADDED = {"prompt_ids": "pad", "prompt_mask": 0}
RIGHT_PADDED = {
    "completion_ids": "pad",
    "completion_mask": 0,
    "old_per_token_logps": 0.0,
    # TRL's KL term is exp(ref - logp) at every position before the mask multiplies it: 0.0 under a padded
    # position's very negative logp would overflow to inf, and inf x 0 is NaN. exp(-1e4 - logp) is 0.
    "ref_per_token_logps": -1e4,
    "sampling_per_token_logps": 0.0,
    "importance_sampling_ratio": 1.0,
    "tool_mask": 1,
}


def check_plan(args, plan) -> None:
    """Dynamic sampling keeps whole groups per process: each process's generation batch must hold them."""
    if not args.dynamic_sampling:
        if args.dynamic_sampling_rounds != 2:
            raise UsageError("--dynamic-sampling-rounds needs --dynamic-sampling; add it, or drop the rounds")
        return
    per_process = plan.batch // plan.processes
    if plan.batch % plan.processes or per_process % plan.num_generations:
        raise UsageError(
            f"--dynamic-sampling keeps or drops whole groups, and each of the {plan.processes} processes generates "
            f"{plan.batch / plan.processes:g} completions per round, not a multiple of --num-generations "
            f"{plan.num_generations}; set --per-device-train-batch-size, --steps-per-generation or "
            "--generation-batch-size so that it is a multiple, or drop --dynamic-sampling"
        )
    if getattr(args, "multi_objective_aggregation", None) == "normalize_then_sum":
        raise UsageError(
            "--dynamic-sampling drops groups whose advantages are 0, and under --multi-objective-aggregation "
            "normalize_then_sum a group without spread still gets the batch's advantage; drop one of them"
        )


def group_spread(rewards, weights, num_generations: int):
    """Per group: whether its completions' weighted rewards differ (TRL's sum, a None counting as nothing;
    a completion no reward scored is left out, as TRL leaves it out of the baseline)."""
    import torch

    weighted = (rewards * weights.to(rewards.device).unsqueeze(0)).nansum(dim=1)
    weighted[torch.isnan(rewards).all(dim=1)] = torch.nan
    grouped = weighted.view(-1, num_generations)
    finite = ~torch.isnan(grouped)
    high = torch.where(finite, grouped, torch.full_like(grouped, -math.inf)).max(dim=1).values
    low = torch.where(finite, grouped, torch.full_like(grouped, math.inf)).min(dim=1).values
    return (finite.sum(dim=1) >= 2) & (high - low > SPREAD_EPSILON)


def take_rows(
    outputs: list[dict], picks: list[tuple[int, int]], pad_id: int, gather, per_sequence: bool = False
) -> dict:
    """One output dict of the rows ``(output, row)`` picked from several rounds' outputs. ``per_sequence``:
    the importance sampling ratio has one value per sequence (TRL's sequence_* modes), not per token."""
    import torch

    if len(outputs) == 1:  # no extra round: every group of the batch is kept, as TRL built it
        return outputs[0]
    keys = set(outputs[0])
    for key in keys - set(LEFT_PADDED) - set(RIGHT_PADDED) - {"advantages", "num_items_in_batch"}:
        raise RuntimeError(f"dynamic sampling cannot combine rounds whose batches carry {key!r} (images)")
    combined = {}
    for key in keys & (set(LEFT_PADDED) | set(RIGHT_PADDED) | {"advantages"}):
        rows = [outputs[o][key][r] for o, r in picks]
        if key == "advantages" or rows[0].dim() == 0 or (key == "importance_sampling_ratio" and per_sequence):
            combined[key] = torch.stack(rows)
            continue
        fill = {**LEFT_PADDED, **RIGHT_PADDED}[key]
        fill = pad_id if fill == "pad" else fill
        width = max(r.shape[0] for r in rows)
        padded = []
        for r in rows:
            extra = r.new_full((width - r.shape[0],), fill)
            padded.append(torch.cat([extra, r] if key in LEFT_PADDED else [r, extra]))
        combined[key] = torch.stack(padded)
    loss_mask = (
        combined["completion_mask"] * combined["tool_mask"] if "tool_mask" in combined else combined["completion_mask"]
    )
    combined["num_items_in_batch"] = gather(loss_mask.sum()).sum()
    return combined


def trainer_class():
    """The GRPOTrainer subclass (built on first use: importing TRL is slow and needs torch)."""
    from trl import GRPOTrainer

    class SuiteGRPOTrainer(GRPOTrainer):
        """TRL's GRPOTrainer with the share of groups without spread logged and, when asked, dynamic sampling."""

        def __init__(self, *args, dynamic_rounds: int | None = None, seed: int = 0, **kwargs):
            super().__init__(*args, **kwargs)
            self.dynamic_rounds = dynamic_rounds  # None: no dynamic sampling
            self.no_spread: tuple[int, str] | None = None
            self._rounds_without_spread = self._groups_without_spread = 0
            self._rewards = None
            self._draws = random.Random(seed)

        def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
            self._rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
            return self._rewards  # every process's rewards (TRL gathers them): the groups as TRL forms them

        def _generate_and_score_completions(self, inputs):
            if not self.model.training:
                return super()._generate_and_score_completions(inputs)
            output = super()._generate_and_score_completions(inputs)
            spread = self._local_spread(len(inputs), record=True)
            if self.dynamic_rounds is None:
                self._note_spread(spread, rounds=1)
                return output
            return self._fill(inputs, output, spread)

        def _local_spread(self, n_local: int, record: bool = False) -> list[bool]:
            """Whether each of this process's groups has spread; logs the share over every process."""
            g = self.num_generations
            spread = group_spread(self._rewards, self.reward_weights, g)
            if record:
                self._metrics["train"]["groups/zero_spread_frac"].append(1.0 - spread.float().mean().item())
            first = self.accelerator.process_index * n_local // g
            return spread[first : first + n_local // g].tolist()

        def _fill(self, inputs, output, spread):
            g = self.num_generations
            target = len(inputs) // g  # groups this process trains on per generation batch
            outputs, found = [output], [(0, i) for i, s in enumerate(spread) if s]
            flat = [(0, i) for i, s in enumerate(spread) if not s]
            generated, rounds, extra_completions, started = len(spread), 0, 0, time.perf_counter()
            any_spread = self._global_max(len(found)) > 0
            while rounds < self.dynamic_rounds and self._global_max(target - len(found)) > 0:
                rate = max(len(found) / generated, 1.0 / target)
                # Fresh prompts for the missing groups at the rate seen so far, all processes the same count.
                count = int(self._global_max(min(target, math.ceil((target - len(found)) / rate))))
                fresh = self._fresh_inputs(count)
                outputs.append(super()._generate_and_score_completions(fresh))
                more = self._local_spread(len(fresh))
                found += [(len(outputs) - 1, i) for i, s in enumerate(more) if s]
                flat += [(len(outputs) - 1, i) for i, s in enumerate(more) if not s]
                any_spread = any_spread or self._global_max(sum(more)) > 0
                generated += len(more)
                rounds += 1
                extra_completions += count * g * self.accelerator.num_processes
            picked = (found + flat)[:target]
            unfilled = max(0, target - len(found))
            rows = [(o, i * g + j) for o, i in picked for j in range(g)]
            seconds = time.perf_counter() - started if rounds else 0.0
            generated, total, unfilled, seconds = self._summed(generated, target, unfilled, seconds)  # all processes
            metrics = self._metrics["train"]
            metrics["dynamic_sampling/dropped_frac"].append((generated - total) / generated)
            metrics["dynamic_sampling/extra_rounds"].append(float(rounds))
            metrics["dynamic_sampling/extra_completions"].append(float(extra_completions))
            metrics["dynamic_sampling/extra_seconds"].append(seconds / self.accelerator.num_processes)
            metrics["dynamic_sampling/unfilled_frac"].append(unfilled / total)
            if any_spread:
                self._rounds_without_spread = self._groups_without_spread = 0
            else:
                self._stop_without_spread(1 + rounds, int(generated))
            per_sequence = str(getattr(self, "vllm_importance_sampling_mode", "")).startswith("sequence")
            return take_rows(outputs, rows, self._tokenizer.pad_token_id, self.accelerator.gather, per_sequence)

        def _summed(self, *values: float) -> list[float]:
            if self.accelerator.num_processes == 1:
                return [float(v) for v in values]
            import torch

            local = torch.tensor([float(v) for v in values], device=self.accelerator.device)
            return self.accelerator.gather(local).view(-1, len(values)).sum(dim=0).tolist()

        def _note_spread(self, spread: list[bool], rounds: int) -> None:
            if self._global_max(sum(spread)) > 0:
                self._rounds_without_spread = self._groups_without_spread = 0
            else:
                self._stop_without_spread(rounds, len(spread) * self.accelerator.num_processes)

        def _stop_without_spread(self, rounds: int, groups: int) -> None:
            self._rounds_without_spread += rounds
            self._groups_without_spread += groups
            if self._rounds_without_spread >= NO_SPREAD_ROUNDS and self.no_spread is None:
                self.no_spread = (
                    self.state.global_step,
                    f"no group had any reward spread in the last {self._rounds_without_spread} generation rounds "
                    f"({self._groups_without_spread} groups of {self.num_generations} completions, each earning one "
                    "reward for all its completions), so nothing could be learned from them; run --probe to see why "
                    "(raise --temperature, give partial credit with --reward-weights, or use --difficulty-filter)",
                )

        def _global_max(self, value: int) -> int:
            if self.accelerator.num_processes == 1:
                return int(value)
            import torch

            return int(self.accelerator.gather(torch.tensor([value], device=self.accelerator.device)).max().item())

        def _fresh_inputs(self, count: int) -> list[dict]:
            """``count`` prompts of the training set, each repeated once per completion of its group. The
            draw uses the run's seed and the process's index, so every process gets its own prompts."""
            data = self.train_dataset
            start = self.accelerator.process_index
            picks = [self._draws.randrange(len(data)) for _ in range(count * self.accelerator.num_processes)]
            rows = [data[i] for i in picks[start :: self.accelerator.num_processes]]
            return [row for row in rows for _ in range(self.num_generations)]

    return SuiteGRPOTrainer
