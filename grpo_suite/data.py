"""Load a dataset from anywhere, split it, map its rows, and measure its coverage.

Detection (schemas.py) is a pure function of the column names and a few sample rows, so its
cost does not grow with the dataset; row mapping (prompts.py) composes context, question and
options into the prompt and reads the reference; local files are read by files.py. This
module loads, splits, prepares and measures coverage (the share of rows whose reference a
correct answer can earn). ``dataset_utils.py`` at the root re-exports it and is the inspect CLI.
"""

from __future__ import annotations

import collections
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grpo_suite.errors import UsageError, first_line
from grpo_suite.files import (
    FILE_BUILDERS,
    check_parquet,
    data_files_in,
    data_suffix,
    known_types,
    looks_like_path,
    read_file,
)
from grpo_suite.prompts import fold_system, map_row, template_rejects_system
from grpo_suite.reward_funcs import correct_completion, reference_reward
from grpo_suite.schemas import SAMPLE_ROWS, Detection, detect_fields

logger = logging.getLogger("dataset_utils")

HELD_OUT_FRACTION = 0.05
HELD_OUT_MAX = 500
COVERAGE_SAMPLE = 1000
COVERAGE_WARN = 0.95
COVERAGE_REFUSE = 0.5


# --------------------------------------------------------------------------------------------
# Loading (imports `datasets` only when called)
# --------------------------------------------------------------------------------------------


def load_any(source: str, config: str | None = None, local_only: bool = False):
    """A DatasetDict (or Dataset) from a hub id, a ``save_to_disk`` folder or a data file."""
    import datasets

    datasets.disable_progress_bars()
    path = Path(source).expanduser()
    if config is not None and not config.strip():
        raise UsageError("--dataset-config is empty; pass a configuration name, or drop the flag")
    try:
        if path.is_file():
            if config:
                raise UsageError(
                    f"--dataset-config {config} names a configuration of a hub dataset, but {source} is one "
                    "file, which has none: drop --dataset-config"
                )
            return read_file(path)
        if path.is_dir():
            return _load_folder(path, config)
        if path.exists():  # a device, a pipe or a socket: /dev/null, /dev/stdin
            raise UsageError(f"{source} is not a regular file or folder; pass a data file or a dataset folder")
        if looks_like_path(source):
            raise UsageError(f"file not found: {source} (not on disk: no such file or folder; check the path)")
        if local_only:
            raise UsageError(
                f"dataset {source!r} is not on disk; download it first "
                f"(hf download --repo-type dataset {source}) or pass a local file or folder"
            )
        return datasets.load_dataset(source, config)
    except UsageError:
        raise
    except Exception as err:  # datasets raises many types; all mean the same to the user here
        raise UsageError(f"could not load dataset {source!r}: {first_line(err)}") from err


def _load_folder(path: Path, config: str | None = None):
    import datasets

    if any((path / n).exists() for n in ("dataset_dict.json", "state.json")):
        if config:
            raise UsageError(
                f"--dataset-config {config} names a configuration, but {path} was written by save_to_disk, "
                "which has none: drop --dataset-config"
            )
        return datasets.load_from_disk(str(path))
    files = data_files_in(path)
    if not files:
        raise UsageError(
            f"folder {path} holds no dataset: no save_to_disk files and no data file of a known type ({known_types()})"
        )
    if len(files) == 1 and not config:
        return read_file(files[0])
    # A downloaded hub dataset (hf download --local-dir) declares its configurations in README.md.
    configs = _folder_configs(path)
    if config and config not in configs:
        known = (
            f"its configurations: {', '.join(configs)}"
            if configs
            else "it declares no configurations (no README.md configs)"
        )
        raise UsageError(f"--dataset-config {config} is not a configuration of {path}; {known}")
    if not config and len(configs) > 1:
        raise UsageError(
            f"{path} holds several configurations ({', '.join(configs)}): pick one with --dataset-config NAME"
        )
    if not configs:
        _check_plain_folder(path, files)
    try:
        return datasets.load_dataset(str(path), config)
    except Exception as err:  # noqa: BLE001 - name the file that cannot be read with the others, not datasets' words
        columns = {}
        for file in files:  # a file that cannot be read alone raises its own one-line error
            columns[file] = tuple(sorted(next(iter(read_file(file).values())).column_names))
        common = collections.Counter(columns.values()).most_common(1)[0][0]
        odd = [file for file in files if columns[file] != common]
        if odd:
            raise UsageError(
                f"in folder {path}, {odd[0].relative_to(path)} has other columns ({', '.join(columns[odd[0]])}) "
                f"than the rest ({', '.join(common)}); move it out, or pass one file as --dataset"
            ) from err
        raise UsageError(
            f"could not load the files of {path} together ({first_line(err)}); pass one file as --dataset"
        ) from err


_SPLIT_FOLDERS = frozenset({"train", "test", "validation", "valid", "dev", "eval", "data"})


def _check_plain_folder(path: Path, files: list[Path]) -> None:
    """Files that load_dataset would read in part (one file type of several) or merge although
    they are configurations of their own (one subfolder each, as hf download --include leaves them)."""
    suffixes = sorted({data_suffix(file)[0] for file in files})
    if len({FILE_BUILDERS[suffix] for suffix in suffixes}) > 1:  # .json and .jsonl are read together
        raise UsageError(
            f"folder {path} mixes data file types ({', '.join(suffixes)}) and only one type would be read; "
            "keep one type in it, or pass one file as --dataset"
        )
    subfolders = sorted({file.parent.name for file in files if file.parent != path})
    if len(subfolders) > 1 and not _SPLIT_FOLDERS.issuperset(subfolders):
        raise UsageError(
            f"folder {path} holds data in several subfolders ({', '.join(subfolders)}), which look like "
            f"separate configurations; pass one of them, e.g. --dataset {path / subfolders[0]}"
        )
    for file in files:
        if data_suffix(file) == (".parquet", None):
            check_parquet(file)  # before datasets logs a pyarrow error twice


def _folder_configs(path: Path) -> list[str]:
    """The configurations a folder's README.md declares (a hub dataset's download), else []."""
    readme = path / "README.md"
    if not readme.is_file():
        return []
    import datasets

    try:
        names = datasets.get_dataset_config_names(str(path))
    except Exception as err:  # noqa: BLE001 - yaml, permission and datasets errors alike
        raise UsageError(
            f"the README.md of {path} cannot be read for its configurations ({first_line(err)}); fix its "
            "YAML header, or move README.md out to load the data files as they are"
        ) from err
    return [name for name in names if name != "default"]


def select_split(loaded, split: str = "train"):
    """The split as stored: ``split``, or the only split there is when "train" was not named."""
    import datasets

    if isinstance(loaded, datasets.Dataset):
        return loaded
    if split not in loaded:
        if split == "train" and len(loaded) == 1:
            only = next(iter(loaded))
            logger.warning("no 'train' split: using the only split, %r", only)
            return loaded[only]
        raise UsageError(f"split {split!r} not found; available splits: {', '.join(loaded)}. Pass --split NAME")
    return loaded[split]


def pick_splits(loaded, split: str = "train", seed: int = 0):
    """The training split and a held-out split (test, validation, or a deterministic carve)."""
    import datasets

    train = select_split(loaded, split)
    if isinstance(loaded, datasets.DatasetDict):
        for name in ("test", "validation", "valid", "eval", "dev"):
            if name in loaded and loaded[name] is not train:
                return train, loaded[name]
    if len(train) < 2:
        raise UsageError(f"split {split!r} has {len(train)} row(s); at least 2 are needed")
    size = min(HELD_OUT_MAX, max(1, int(len(train) * HELD_OUT_FRACTION)))
    carved = train.train_test_split(test_size=size, seed=seed)
    logger.info("no test split: held out %d of %d rows (seed %d) for evaluation", size, len(train), seed)
    return carved["train"], carved["test"]


def detect_dataset(dataset, prompt_field: str | None = None, reference_field: str | None = None) -> Detection:
    """Detection on a ``datasets.Dataset``: its columns and first rows only."""
    if len(dataset) == 0:
        raise UsageError("the dataset has no rows")
    rows = dataset.select(range(min(SAMPLE_ROWS, len(dataset)))).to_list()
    return detect_fields(dataset.column_names, rows, prompt_field, reference_field)


def prepare(
    dataset,
    detection: Detection,
    system_prompt: str | None = None,
    chat: bool = True,
    tokenizer=None,
    instruction: str | None = None,
):
    """Map rows to ``prompt`` and ``reference`` columns; drop rows with an empty prompt, loudly.

    Tool and function turns are dropped from chat prompts, with a logged count. Given the
    ``tokenizer``, a system message its chat template rejects is folded into the first user turn.
    The answer ``instruction`` follows each prompt that does not ask for a format of its own.
    """
    counter: dict[str, int] = {}
    fold = bool(
        chat
        and tokenizer is not None
        and getattr(tokenizer, "chat_template", None)
        and template_rejects_system(tokenizer)
    )

    def mapping(row):
        mapped = map_row(dict(row), detection, system_prompt, chat, counter, instruction)
        if fold and isinstance(mapped["prompt"], list):
            mapped["prompt"] = fold_system(mapped["prompt"])
        return mapped

    mapped = dataset.map(mapping, remove_columns=dataset.column_names, desc="mapping rows")
    if counter.get("tool_turns"):
        logger.warning(
            "dropped %d tool/function turns from chat prompts: the chat template sees user and assistant turns only",
            counter["tool_turns"],
        )
    if instruction:
        logger.info(
            "answer instruction %r added to %d prompts; %d already ask for an answer format and keep their own "
            "(--answer-instruction '' for none)",
            instruction,
            counter.get("instruction_added", 0),
            counter.get("instruction_skipped", 0),
        )
    if fold:
        logger.warning("the chat template rejects system messages: folded them into the first user turn")
    kept = mapped.filter(lambda row: row["prompt"] is not None and len(row["prompt"]) > 0)
    if len(kept) < len(mapped):
        logger.warning("dropped %d of %d rows with an empty prompt", len(mapped) - len(kept), len(mapped))
    if len(kept) == 0:
        raise UsageError(f"every row has an empty prompt in field {detection.prompt_field!r}; pass --prompt-field")
    return kept


# --------------------------------------------------------------------------------------------
# Coverage: how many rows can ever earn the reference reward
# --------------------------------------------------------------------------------------------


@dataclass
class Coverage:
    """Shares of sampled rows with a prompt, with a reference, and whose reference a correct
    completion ("Final answer: X") earns reference_reward 1 with; two example rows per failure."""

    rows: int
    with_prompt: float
    with_reference: float
    earns_reward: float
    failures: dict[str, list[dict]] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "rows": self.rows,
            "with_prompt": round(self.with_prompt, 4),
            "with_reference": round(self.with_reference, 4),
            "earns_reward": round(self.earns_reward, 4),
            "failures": self.failures,
        }


def _earns(reference: Any) -> bool:
    completion = correct_completion(reference)
    return completion is not None and reference_reward([completion], reference=[reference]) == [1.0]


def _short(value: Any, limit: int = 160) -> Any:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def measure_coverage(rows, sample_size: int = COVERAGE_SAMPLE) -> Coverage:
    """Coverage over the first ``sample_size`` mapped rows (``{"prompt", "reference"}`` dicts or
    a prepared ``datasets.Dataset``)."""
    if hasattr(rows, "select"):
        rows = rows.select(range(min(sample_size, len(rows)))).to_list()
    rows = list(rows)[:sample_size]
    failures: dict[str, list[dict]] = {"no_prompt": [], "no_reference": [], "reference_not_earned": []}
    counts = {"prompt": 0, "reference": 0, "earned": 0}
    for index, row in enumerate(rows):
        prompt, reference = row.get("prompt"), row.get("reference")
        example = {"row": index, "prompt": _short(prompt), "reference": _short(reference)}
        if prompt:
            counts["prompt"] += 1
        elif len(failures["no_prompt"]) < 2:
            failures["no_prompt"].append(example)
        if reference is None or reference == []:
            if len(failures["no_reference"]) < 2:
                failures["no_reference"].append(example)
            continue
        counts["reference"] += 1
        if _earns(reference):
            counts["earned"] += 1
        elif len(failures["reference_not_earned"]) < 2:
            failures["reference_not_earned"].append({**example, "completion": correct_completion(reference)})
    total = max(1, len(rows))
    return Coverage(
        len(rows),
        counts["prompt"] / total,
        counts["reference"] / total,
        counts["earned"] / total,
        {k: v for k, v in failures.items() if v},
    )


def coverage_of(
    dataset,
    detection: Detection,
    system_prompt: str | None = None,
    chat: bool = True,
    sample_size: int = COVERAGE_SAMPLE,
    instruction: str | None = None,
) -> Coverage:
    """Coverage of a raw (unprepared) split: its first rows mapped, empty prompts included."""
    sample = dataset.select(range(min(sample_size, len(dataset)))).to_list()
    rows = [map_row(row, detection, system_prompt, chat, instruction=instruction) for row in sample]
    return measure_coverage(rows, sample_size)


def coverage_lines(coverage: Coverage) -> list[str]:
    """The coverage report: one line per figure, and WARNING lines below 95%."""
    lines = [
        f"coverage over {coverage.rows} rows: prompt {coverage.with_prompt:.1%}, reference "
        f"{coverage.with_reference:.1%}, reference earns reference_reward 1 {coverage.earns_reward:.1%}"
    ]
    figures = (
        ("have a prompt", coverage.with_prompt, "no_prompt"),
        ("have a reference", coverage.with_reference, "no_reference"),
        ("can earn reference_reward", coverage.earns_reward, "reference_not_earned"),
    )
    for what, share, key in figures:
        if share < COVERAGE_WARN and coverage.with_reference > 0 or (key == "no_prompt" and share < COVERAGE_WARN):
            examples = "; ".join(json.dumps(e, ensure_ascii=False) for e in coverage.failures.get(key, []))
            lines.append(
                f"WARNING: ONLY {share:.1%} OF ROWS {what.upper()} (below {COVERAGE_WARN:.0%}); e.g. {examples}"
            )
    return lines


def check_coverage(coverage: Coverage, allow_low: bool = False) -> list[str]:
    """Warn loudly below 95%; refuse (UsageError) when under half the rows can ever earn the
    reference reward, unless ``allow_low``. Data with no reference at all only warns: it trains
    on the other rewards. Returns the report lines, already logged."""
    lines = coverage_lines(coverage)
    for line in lines:
        (logger.warning if line.startswith("WARNING") else logger.info)(line)
    if coverage.with_reference == 0:
        logger.warning(
            "no row has a reference: reference_reward is skipped; pass --reference-field if the data has answers"
        )
        return lines
    if coverage.earns_reward < COVERAGE_REFUSE and not allow_low:
        failed = coverage.failures.get("reference_not_earned") or coverage.failures.get("no_reference") or []
        example = f"; e.g. row {failed[0]['row']} reference {failed[0]['reference']!r}" if failed else ""
        raise UsageError(
            f"only {coverage.earns_reward:.0%} of {coverage.rows} sampled rows have a reference that a correct answer "
            f"can earn reference_reward with{example}; point --reference-field at the short final answer, or pass "
            "--allow-low-coverage to train anyway"
        )
    return lines
