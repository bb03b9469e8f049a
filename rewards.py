"""Composite reward for GRPO: reference match, answer format, length and boilerplate.

The names users import (``from rewards import reference_reward``), and the batch CLI::

    python rewards.py --input pairs.jsonl        # {"completion": ..., "reference": ...} per line

Every component has TRL's reward signature ``(completions, **kwargs) -> list[float | None]``
and a stable ``__name__`` (the log key ``rewards/<name>/mean``); they are defined in
grpo_suite/reward_funcs.py. Answers are read and compared in grpo_suite/answers.py:
:func:`extract_answer` reads the final answer of a completion for every component,
:func:`answers_match` compares it with the reference's answers.
"""

from __future__ import annotations

import json
import sys
from typing import Iterable, Sequence

from grpo_suite.answers import (
    Extraction,
    answers_match,
    clear_caches,
    completion_text,
    extract_answer,
    extract_reference,
    extraction_matches,
    last_number,
    normalize_text,
    numbers_match,
    parse_number,
)
from grpo_suite.cli import OneLineParser
from grpo_suite.errors import EXIT_INTERRUPTED, EXIT_USAGE
from grpo_suite.reward_funcs import (
    BOILERPLATE_PHRASES,
    DEFAULT_LENGTH_MAX,
    DEFAULT_LENGTH_TARGET,
    DEFAULT_WEIGHTS,
    REWARD_COMPONENTS,
    RewardFunc,
    boilerplate_penalty,
    build_reward_funcs,
    combine,
    correct_completion,
    format_reward,
    length_reward,
    make_length_reward,
    parse_weights,
    reference_reward,
    score,
)

__all__ = [
    "BOILERPLATE_PHRASES",
    "DEFAULT_LENGTH_MAX",
    "DEFAULT_LENGTH_TARGET",
    "DEFAULT_WEIGHTS",
    "REWARD_COMPONENTS",
    "RewardFunc",
    "boilerplate_penalty",
    "build_reward_funcs",
    "combine",
    "correct_completion",
    "format_reward",
    "length_reward",
    "make_length_reward",
    "parse_weights",
    "reference_reward",
    "score",
    "Extraction",
    "answers_match",
    "clear_caches",
    "completion_text",
    "extract_answer",
    "extract_reference",
    "extraction_matches",
    "last_number",
    "normalize_text",
    "numbers_match",
    "parse_number",
    "main",
]


# --------------------------------------------------------------------------------------------
# Batch CLI
# --------------------------------------------------------------------------------------------


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog="rewards.py", description="Score completion/reference pairs with the composite reward, one JSON line each."
    )
    group = parser.group("scoring")
    group.add(
        "--input", required=True, metavar="FILE", help='JSONL file of {"completion", "reference"} rows; - for stdin'
    )
    group.add(
        "--weights",
        default="",
        metavar="NAME=W,...",
        help="component weights; named components override the defaults "
        f"({', '.join(f'{k}={v}' for k, v in DEFAULT_WEIGHTS.items())})",
    )
    return parser


def score_row(row: dict, weights: dict[str, float]) -> dict:
    """The CLI's output object for one input row."""
    total, components = score(row.get("completion", ""), row.get("reference"), weights)
    match = reference_reward([row.get("completion", "")], reference=[row.get("reference")])[0]
    return {
        "match": None if match is None else match == 1.0,
        "answer": extract_answer(completion_text(row.get("completion", ""))).answer,
        "total": total,
        "components": components,
    }


def _read_rows(stream, name: str) -> Iterable[tuple[int, dict]]:
    """Rows of a JSONL byte stream, each line decoded strictly: a wrong encoding is named, not guessed."""
    for number, raw in enumerate(stream, 1):
        if number == 1:
            _check_encoding(raw, name)
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as err:
            raise ValueError(
                f"line {number} of {name} is not UTF-8 (byte 0x{raw[err.start]:02x} at column "
                f"{err.start + 1}); save the file as UTF-8"
            ) from err
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(
                f'line {number}: not valid JSON ({err.msg}); expected {{"completion": ..., "reference": ...}}'
            ) from err
        if not isinstance(row, dict) or "completion" not in row:
            raise ValueError(f'line {number}: expected an object with a "completion" key')
        yield number, row


def _check_encoding(first: bytes, name: str) -> None:
    if first.startswith(b"\x1f\x8b"):
        raise ValueError(
            f"{name} is gzip-compressed; decompress it first (gunzip, or zcat FILE | python rewards.py --input -)"
        )
    if first.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ValueError(f"{name} is UTF-16; save it as UTF-8")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    name = "standard input" if args.input == "-" else args.input
    try:
        weights = {**DEFAULT_WEIGHTS, **parse_weights(args.weights)}
        stream = sys.stdin.buffer if args.input == "-" else open(args.input, "rb")
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    scored = 0
    try:
        with stream:
            for _, row in _read_rows(stream, name):
                print(json.dumps(score_row(row, weights), ensure_ascii=False))
                scored += 1
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # "| head": the reader has what it wanted
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"interrupted after {scored} row(s)", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not scored:
        print(
            f'error: {name} holds no rows; expected one JSON object per line, {{"completion": ..., "reference": ...}}',
            file=sys.stderr,
        )
        return EXIT_USAGE
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
