"""Difficulty filtering: train on the prompts the model solves sometimes, not never or always.

A prompt that the model never solves, or always solves, gives groups whose completions earn one
reward: their advantages are 0 and they teach nothing, yet each costs a full generation.
``--difficulty-filter`` samples K completions per training row with the run's model and generation
settings (the probe's sampling, :func:`grpo_suite.probe.sample_rounds`), counts the ones that
earn the full reference_reward (:func:`grpo_suite.probe.is_solved`), and keeps the rows whose pass
rate lies in ``--difficulty-band``.

The rates are cached per row under the suite's cache, keyed by the model's files, the generation
settings and the seed, so a rerun (or a ``--config`` replay) pays only for rows it has not probed;
an interrupted probe keeps what it measured. The run folder records the counts
(``difficulty.json``) and every probed row's rate (``difficulty_rows.jsonl``); ``--resume`` takes
the kept rows from there without probing again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grpo_suite import config, model_cache, probe, tools
from grpo_suite.errors import UsageError
from grpo_suite.flags import DEFAULT_DIFFICULTY_BAND

logger = logging.getLogger("train_grpo")

RECORD = "difficulty.json"
ROWS_RECORD = "difficulty_rows.jsonl"
# What changes a row's sampled completions, and so its pass rate (with the model's files and the row).
GENERATION_FIELDS = (
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "repetition_penalty",
    "max_completion_length",
    "chat_template_kwargs",
    "seed",
    "length_target",
    "length_max",
)
FINGERPRINT_BYTES = 1 << 16  # read from each end of a weight file: size and both ends tell copies apart


def band(args) -> tuple[float, float]:
    low, high = (float(x) for x in args.difficulty_band.split(","))
    return low, high


def samples(args) -> int:
    return args.difficulty_samples or args.num_generations


def check_flags(args) -> None:
    """The band must hold some rate k/K that K samples can measure; flags that need the filter need it."""
    if not args.difficulty_filter:
        if args.difficulty_band != DEFAULT_DIFFICULTY_BAND:
            raise UsageError("--difficulty-band needs --difficulty-filter; add it, or drop --difficulty-band")
        given = [
            f
            for f, on in (
                ("--difficulty-rows", args.difficulty_rows),
                ("--difficulty-samples", args.difficulty_samples),
            )
            if on
        ]
        if given:
            raise UsageError(f"{given[0]} needs --difficulty-filter; add it, or drop {given[0]}")
        return
    if getattr(args, "tools", None) or getattr(args, "environment", None):
        raise UsageError(
            "--difficulty-filter measures pass rates on first replies, without running tools, so with --tools or "
            "--environment its rates would not be the run's; drop one of them"
        )
    low, high = band(args)
    k = samples(args)
    if not any(low <= solved / k <= high for solved in range(k + 1)):
        raise UsageError(
            f"--difficulty-band {args.difficulty_band} holds no pass rate that {k} samples can measure "
            f"(0, 1/{k}, ..., 1); widen the band, or raise --difficulty-samples"
        )


def check_reward(args, names: list[str]) -> None:
    """The filter counts completions that earn the full reference_reward: the run must use it."""
    if args.difficulty_filter and "reference_reward" not in names:
        raise UsageError(
            "--difficulty-filter measures pass rates with reference_reward, which this run does not use (--rewards "
            f"{args.rewards!r}); add it to --rewards, or drop --difficulty-filter"
        )


def select_rows(args, tokenizer, model, train, funcs, resume_from: Path | None):
    """The rows to train on, and what was measured: ``(rows, Filtered)``, or ``(rows, None)`` on a resume,
    which takes the rows kept when the run started from its folder and probes nothing."""
    if resume_from is not None:
        kept = recorded(Path(args.output_dir), train)
        if kept is not None:
            logger.info("difficulty filter: %d rows kept when the run started (%s)", len(kept), ROWS_RECORD)
            return train.select(kept), None
    plan = config.generation_plan(args)
    result = measure(args, tokenizer, model, train, funcs, plan)
    logger.info(result.summary())
    steps = args.max_steps if args.max_steps > 0 else None
    check_enough(result, plan.batch // args.num_generations, steps, plan.prompts_per_step)
    return train.select(result.kept_indices), result


def row_key(row: dict) -> str:
    """A training row's identity: its prompt as the model sees it and its reference."""
    text = json.dumps([row["prompt"], row.get("reference")], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def model_fingerprint(path: str, revision: str | None = None) -> str:
    """The model's identity: a folder's config and weight files (size and both ends), else its hub id."""
    folder = Path(path)
    if not folder.is_dir():
        return f"{path}@{revision or 'main'}"
    digest = hashlib.sha256()
    for file in sorted(folder.iterdir()):
        if not file.is_file() or not (
            file.suffix in (".safetensors", ".json", ".bin") or file.name == "tokenizer.model"
        ):
            continue
        size = file.stat().st_size
        digest.update(f"{file.name}:{size}".encode())
        with open(file, "rb") as f:
            digest.update(f.read(FINGERPRINT_BYTES))
            if size > 2 * FINGERPRINT_BYTES:
                f.seek(-FINGERPRINT_BYTES, os.SEEK_END)
                digest.update(f.read())
    return digest.hexdigest()


def settings_key(args) -> str:
    """What a cached pass rate depends on, besides the row: model, adapter, sampling, samples, rewards."""
    parts = {
        "model": model_fingerprint(args.model, args.revision),
        "adapter": model_fingerprint(args.adapter) if args.adapter else None,
        "quantization": args.quantization,
        "dtype": args.dtype,
        "samples": samples(args),
        **{name: getattr(args, name, None) for name in GENERATION_FIELDS},
    }
    if getattr(args, "chat_template", None):  # the template's text: a file may be edited under one name
        parts["chat_template"] = hashlib.sha256(tools.chat_template_text(args.chat_template).encode()).hexdigest()
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def cache_file(args) -> Path:
    return model_cache.cache_root() / "pass-rates" / f"{settings_key(args)}.jsonl"


def read_cache(path: Path) -> dict[str, tuple[int, int]]:
    """row key -> (solved, samples); a line cut short by a kill is skipped."""
    found: dict[str, tuple[int, int]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return found
    for line in lines:
        try:
            item = json.loads(line)
            found[str(item["key"])] = (int(item["solved"]), int(item["samples"]))
        except (ValueError, KeyError, TypeError):
            continue
    return found


@dataclass
class Filtered:
    """What the filter measured and kept; written to the run folder as difficulty.json."""

    band: tuple[float, float]
    samples: int
    rows_in_data: int
    probed: int
    kept: int
    below_band: int
    above_band: int
    never_solved: int
    always_solved: int
    no_reference: int
    from_cache: int
    settings_key: str
    kept_indices: list[int] = field(default_factory=list, repr=False)
    rows: list[dict] = field(
        default_factory=list, repr=False
    )  # per probed row: index, key, solved, samples, rate, kept

    def counts(self) -> dict:
        """The record without the rows: what difficulty.json and run_config.json hold."""
        return {k: v for k, v in asdict(self).items() if k not in ("kept_indices", "rows")}

    def summary(self) -> str:
        low, high = self.band
        return (
            f"difficulty filter: kept {self.kept} of {self.probed} probed rows (pass rate in [{low:g}, {high:g}] over up "
            f"to {self.samples} samples); dropped {self.below_band} below the band, {self.above_band} above it and "
            f"{self.no_reference} without a reference; {self.never_solved} never solved, {self.always_solved} always "
            f"solved; {self.from_cache} rates from the cache"
        )


def stages(k: int) -> list[int]:
    """Completions drawn per row at each stage: half, then the rest for the rows still unsettled."""
    first = (k + 1) // 2 if k >= 4 else k
    return [first, k - first] if first < k else [k]


def settled(solved: int, drawn: int, k: int, low: float, high: float) -> bool:
    """Whether the band's verdict on a row is known after ``drawn`` of ``k`` samples: every count the
    remaining samples could add gives a rate on the same side. Then ``solved / drawn`` lies on that side
    too (it is between the lowest and highest final rates), so it is recorded as the row's rate. With the
    default band, a row solved some times and failed some times is settled after the first half."""
    if drawn >= k:
        return True
    if drawn == 0:
        return False
    finals = [(solved + extra) / k for extra in range(k - drawn + 1)]
    return (
        all(low <= rate <= high for rate in finals)
        or all(rate < low for rate in finals)
        or all(rate > high for rate in finals)
    )


def rows_to_probe(args, n_rows: int) -> list[int]:
    """Every row, or the seed's sample of --difficulty-rows rows, in the data's order."""
    if not args.difficulty_rows or args.difficulty_rows >= n_rows:
        return list(range(n_rows))
    return sorted(random.Random(args.seed).sample(range(n_rows), args.difficulty_rows))


def measure(args, tokenizer, model, train, funcs, plan) -> Filtered:
    """Pass rates of the rows to probe (cached ones read, the rest sampled and cached), then the band."""
    import torch

    reference = [f for f in funcs if f.__name__ == "reference_reward"]  # there is one: check_reward
    k = samples(args)
    indices = rows_to_probe(args, len(train))
    keys = {i: row_key(train[i]) for i in indices}
    path = cache_file(args)
    cached = read_cache(path)
    rates: dict[int, tuple[int, int]] = {i: cached[keys[i]] for i in indices if keys[i] in cached}
    low, high = band(args)
    todo = pending(train, indices, rates, k, low, high)
    from_cache = {i for i in rates if i not in todo}
    rank, world = _world()
    if todo:
        logger.info(
            "difficulty filter: sampling up to %d completions for each of %d rows (%d rates cached in %s)%s",
            k,
            len(todo),
            len(from_cache),
            path,
            f", split over {world} processes" if world > 1 else "",
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(args.seed + rank)
        model.eval()
        drawn = 0
        for n in stages(k):
            # The rows at this stage: unsettled, with every sample of the stages before and none of this one.
            # Every process reads the same rates, so all take the same list and sample their share of it.
            todo = pending(train, todo, rates, k, low, high)
            stage = [i for i in todo if rates.get(i, (0, 0))[1] == drawn]
            drawn += n
            if not stage:
                continue
            measured = {}
            rows = [dict(train[i], _index=i) for i in stage[rank::world]]
            for chunk, completions, _ in probe.sample_rounds(
                args, tokenizer, model, rows, n, plan.prompts_per_process, desc="difficulty"
            ):
                for row, group in zip(chunk, completions):
                    ids = [c for c, _ in group]
                    texts = tokenizer.batch_decode(ids, skip_special_tokens=True)
                    index = row.pop("_index")
                    solved = sum(probe.is_solved(s) for s in probe.score_completions(reference, row, ids, texts))
                    measured[index] = solved
                if world == 1:
                    _record(path, rates, measured, keys, n, k, low, high)  # a kill keeps every row settled so far
                    measured = {}
            for part in _gather(measured, world):
                _record(path if rank == 0 else None, rates, part, keys, n, k, low, high)
    return decide(args, train, indices, keys, rates, from_cache)


def pending(train, indices, rates: dict, k: int, low: float, high: float) -> list[int]:
    """Rows with a reference whose band verdict is not yet known (a cached early stop settled another band)."""
    return [
        i for i in indices if train[i].get("reference") is not None and not settled(*rates.get(i, (0, 0)), k, low, high)
    ]


def _record(path: Path | None, rates: dict, measured: dict[int, int], keys, n: int, k: int, low: float, high: float):
    """Add a stage's solved counts to the rates; rows now settled go to the cache (one writer)."""
    lines = []
    for index, solved in measured.items():
        before = rates.get(index, (0, 0))
        rates[index] = (before[0] + solved, before[1] + n)
        if settled(*rates[index], k, low, high):
            lines.append(json.dumps({"key": keys[index], "solved": rates[index][0], "samples": rates[index][1]}) + "\n")
    if path is not None and lines:
        with open(path, "a", encoding="utf-8") as cache:
            cache.write("".join(lines))


def _world() -> tuple[int, int]:
    """This process's rank and the number of processes (1 outside a distributed launch)."""
    try:
        import torch.distributed as dist
    except ImportError:
        return 0, 1
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _gather(measured: dict[int, int], world: int) -> list[dict[int, int]]:
    """Every process's share of a stage, on every process (each probed a slice of the same rows)."""
    if world == 1:
        return [measured]
    import torch.distributed as dist

    parts: list = [None] * world
    dist.all_gather_object(parts, measured)
    return parts


def decide(args, train, indices: list[int], keys: dict[int, str], rates: dict, cached: set[int]) -> Filtered:
    """The band's verdict on every probed row, and the counts; each count can be recounted from ``rows``:
    ``kept``, ``below_band``, ``above_band`` and ``no_reference`` partition the probed rows, and
    ``never_solved`` / ``always_solved`` count measured rows that no / every drawn sample solved."""
    low, high = band(args)
    result = Filtered(
        band=(low, high),
        samples=samples(args),
        rows_in_data=len(train),
        probed=len(indices),
        kept=0,
        below_band=0,
        above_band=0,
        never_solved=0,
        always_solved=0,
        no_reference=0,
        from_cache=len(cached),
        settings_key=settings_key(args),
    )
    for i in indices:
        measured = i in rates  # a row without a reference is never measured, and never kept
        solved, drawn = rates.get(i, (0, 0))
        rate = solved / drawn if measured else None
        kept = measured and low <= rate <= high
        result.rows.append(
            {
                "index": i,
                "key": keys[i],
                "reference": measured,
                "solved": solved,
                "samples": drawn,
                "pass_rate": rate,
                "kept": kept,
                "cached": i in cached,
            }
        )
        if not measured:
            result.no_reference += 1
        elif kept:
            result.kept += 1
            result.kept_indices.append(i)
        elif rate < low:
            result.below_band += 1
        else:
            result.above_band += 1
        result.never_solved += measured and solved == 0
        result.always_solved += measured and solved == drawn
    return result


def write(out: Path, result: Filtered) -> None:
    """difficulty.json (the counts) and difficulty_rows.jsonl (each probed row), written aside and renamed."""
    record = {**result.counts(), "rows_file": ROWS_RECORD}
    for name, text in (
        (RECORD, json.dumps(record, indent=2)),
        (ROWS_RECORD, "".join(json.dumps(r) + "\n" for r in result.rows)),
    ):
        tmp = out / (name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out / name)


def recorded(out: Path, train) -> list[int] | None:
    """The kept rows of a run being resumed, from its folder; None when it has no record. A record whose
    rows are not this data's is refused: the run would continue on other rows than it started with."""
    path = out / ROWS_RECORD
    if not path.is_file():
        return None
    kept = []
    try:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        rows = [(int(row["index"]), str(row["key"]), bool(row["kept"])) for row in rows]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UsageError(
            f"{path} is damaged ({type(err).__name__}): the rows this run kept cannot be read; start a new run "
            "with --overwrite (the pass rates are cached, so the filter costs nothing again)"
        ) from err
    for i, key, is_kept in rows:
        if i >= len(train) or row_key(train[i]) != key:
            raise UsageError(
                f"{path} records row {i}, which this data does not hold as it did when the run started; resume with "
                "the run's own --dataset and flags, or start a new run with --overwrite"
            )
        if is_kept:
            kept.append(i)
    return kept


def plan_line(args, train) -> str:
    """What --dry-run says the filter will do: rows, samples, the band, and how many rates are cached."""
    indices = rows_to_probe(args, len(train))
    cached = read_cache(cache_file(args))
    rates = {i: cached[row_key(train[i])] for i in indices if row_key(train[i]) in cached}
    low, high = band(args)
    todo = pending(train, indices, rates, samples(args), low, high)
    known = sum(i not in todo for i in rates)
    return (
        f"difficulty filter: {len(indices)} of {len(train)} training rows probed with up to {samples(args)} "
        f"completions each ({known} rates cached, {len(todo)} rows to sample), rows with a pass rate in [{low:g}, "
        f"{high:g}] kept"
    )


def check_enough(result: Filtered, needed: int, steps: int | None, per_step: float) -> None:
    """Refuse, with the counts, a filter that leaves fewer rows than one generation batch takes."""
    if result.kept < needed:
        raise UsageError(
            f"{result.summary()}: {result.kept} rows cannot fill one generation batch of {needed} prompts. Widen "
            "--difficulty-band, probe more rows (--difficulty-rows), or drop --difficulty-filter"
        )
    if steps and per_step and result.kept < steps * per_step:
        logger.warning(
            "difficulty filter: the run's %d steps take %d prompts and %d rows were kept: each kept row is seen about "
            "%d times",
            steps,
            math.ceil(steps * per_step),
            result.kept,
            math.ceil(steps * per_step / result.kept),
        )
