"""Load a dataset from anywhere and find its prompt and reference, whatever its schema.

The names users import (``dataset_utils.load_any``, ``detect_fields``, ``map_row``, ...), and
the inspect CLI, which shows what detection found before anything trains::

    python dataset_utils.py openai/gsm8k --dataset-config main --split train
    python dataset_utils.py data/train.jsonl --json --local-only

The work is done in grpo_suite/: files.py reads local files, schemas.py detects the fields,
prompts.py maps a row to its prompt and reference, data.py loads, splits and measures coverage.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Sequence

from grpo_suite.answers import extract_reference
from grpo_suite.cli import OneLineParser, add_dataset_args, set_offline_env
from grpo_suite.data import (
    COVERAGE_REFUSE,
    COVERAGE_SAMPLE,
    COVERAGE_WARN,
    HELD_OUT_FRACTION,
    HELD_OUT_MAX,
    Coverage,
    check_coverage,
    coverage_lines,
    coverage_of,
    detect_dataset,
    load_any,
    measure_coverage,
    pick_splits,
    prepare,
    select_split,
)
from grpo_suite.errors import EXIT_USAGE, UsageError, first_line, report_usage_error
from grpo_suite.fields import LETTERS, describe_columns, get_path, norm
from grpo_suite.files import (
    FILE_BUILDERS,
    check_parquet,
    data_files_in,
    data_suffix,
    known_types,
    looks_like_path,
    read_file,
)
from grpo_suite.no_reference import has_no_reference
from grpo_suite.prompts import (
    ANSWER_INSTRUCTION,
    add_instruction,
    answer_instruction,
    build_prompt,
    build_reference,
    fold_system,
    instruction_for,
    map_row,
    render_prompt,
    template_rejects_system,
)
from grpo_suite.reward_funcs import correct_completion
from grpo_suite.schemas import SAMPLE_ROWS, Detection, detect_fields

__all__ = [
    "ANSWER_INSTRUCTION",
    "add_instruction",
    "answer_instruction",
    "Detection",
    "has_no_reference",
    "instruction_for",
    "UsageError",
    "LETTERS",
    "SAMPLE_ROWS",
    "FILE_BUILDERS",
    "COVERAGE_SAMPLE",
    "COVERAGE_REFUSE",
    "COVERAGE_WARN",
    "HELD_OUT_FRACTION",
    "HELD_OUT_MAX",
    "check_parquet",
    "data_files_in",
    "data_suffix",
    "known_types",
    "looks_like_path",
    "read_file",
    "template_rejects_system",
    "build_prompt",
    "build_reference",
    "map_row",
    "render_prompt",
    "describe_columns",
    "detect_fields",
    "get_path",
    "norm",
    "load_any",
    "select_split",
    "pick_splits",
    "detect_dataset",
    "prepare",
    "measure_coverage",
    "coverage_of",
    "coverage_lines",
    "check_coverage",
    "correct_completion",
    "Coverage",
    "add_dataset_args",
    "set_offline_env",
    "fold_system",
    "main",
]

logger = logging.getLogger("dataset_utils")


# --------------------------------------------------------------------------------------------
# Inspect CLI
# --------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(description="Show how a dataset's prompt and reference are detected and mapped.")
    add_dataset_args(parser, positional=True)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    return parser


def _examples(
    dataset, detection: Detection, system_prompt: str | None, instruction: str | None, count: int = 3
) -> list[dict]:
    examples = []
    for row in dataset.select(range(min(count, len(dataset)))).to_list():
        mapped = map_row(row, detection, system_prompt, instruction=instruction)
        answers = extract_reference(mapped["reference"])
        answer = answers[0] if len(answers) == 1 else (answers or None)
        examples.append({**mapped, "answer": answer})
    return examples


def inspect(args) -> tuple[Detection, list[dict], Coverage]:
    """Detection, the first rows of the split as stored, and coverage over its first 1,000 rows."""
    dataset = select_split(load_any(args.dataset, args.dataset_config, args.local_only), args.split)
    detection = detect_dataset(dataset, args.prompt_field, args.reference_field)
    instruction = instruction_for(answer_instruction(args.answer_instruction, args.system_prompt), detection)
    return (
        detection,
        _examples(dataset, detection, args.system_prompt, instruction),
        coverage_of(dataset, detection, args.system_prompt, instruction=instruction),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.local_only:
        set_offline_env()
    try:
        detection, examples, coverage = inspect(args)
    except UsageError as err:
        return report_usage_error(err)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:  # a schema we read wrongly
        logger.debug("reading %s failed", args.dataset, exc_info=True)
        print(
            f"error: could not read the rows of {args.dataset}: {type(err).__name__}: {first_line(err)}; "
            "pass --prompt-field and --reference-field to choose the fields",
            file=sys.stderr,
        )
        return EXIT_USAGE
    lines = coverage_lines(coverage)
    for line in lines[1:]:
        print(line, file=sys.stderr)
    if args.json:
        print(
            json.dumps(
                {
                    "prompt_field": detection.prompt_field,
                    "reference_field": detection.reference_field,
                    "conversational": detection.conversational,
                    "examples": examples,
                    "family": detection.family,
                    "reasons": list(detection.reasons),
                    "coverage": coverage.as_dict(),
                },
                ensure_ascii=False,
                default=str,
            )
        )
        return 0
    print(f"family:          {detection.family}")
    print(f"prompt field:    {detection.prompt_field} ({detection.prompt_kind})")
    kind = f" ({detection.reference_kind})" if detection.reference_field else ""
    print(f"reference field: {detection.reference_field}{kind}")
    print(f"conversational:  {detection.conversational}")
    for reason in detection.reasons:
        print(f"  because {reason}")
    print(lines[0])
    for i, example in enumerate(examples, 1):
        print(
            f"\n--- row {i}\nprompt:    {example['prompt']!r}\nreference: {example['reference']!r}\nanswer:    {example['answer']!r}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
