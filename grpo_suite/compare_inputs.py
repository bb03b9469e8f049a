"""Files the comparison reads and writes: --prompts, --forgetting-text and --report-dir.

Each bad input is one UsageError naming the file, the line and the fix, raised before any
model is loaded.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from grpo_suite.errors import UsageError
from grpo_suite.files import bom_encoding, check_encoding, guess_encoding

PROMPT_KEYS = ("prompt", "reference")
# Tabular files hold columns to detect, not one prompt per line.
DATASET_SUFFIXES = (".csv", ".tsv", ".parquet", ".arrow")


def read_text(path: str, flag: str) -> str:
    """A file's text as UTF-8 (a byte-order mark is dropped); one line for anything else."""
    file = Path(path)
    if not file.exists():
        raise UsageError(f"{flag} file {path} does not exist")
    if not file.is_file():
        raise UsageError(f"{flag} {path} is not a file")
    try:
        data = file.read_bytes()
    except OSError as err:
        raise UsageError(f"{flag} file {path} cannot be read ({err.strerror})") from err
    if bom_encoding(data) is not None:  # UTF-16/32: named as for data files and --config files
        check_encoding(file, data[:4], f"{flag} file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        guess = guess_encoding(data[: 1 << 20])
        raise UsageError(
            f"{flag} file {path} is not UTF-8 text (byte 0x{data[err.start]:02x} on line {line}; it looks like {guess}); "
            f"convert it, e.g. iconv -f {guess.split('/')[0].upper()} -t UTF-8 {path} > converted{file.suffix}"
        ) from err


# --------------------------------------------------------------------------------------------
# --prompts
# --------------------------------------------------------------------------------------------


def read_prompt_items(path: str, flag: str = "--prompts") -> list[dict]:
    """``prompt`` / ``reference`` items of a prompts file (``flag`` names it in errors): .jsonl, .json,
    or text (a prompt per line)."""
    suffix = Path(path).suffix.lower()
    if suffix in DATASET_SUFFIXES:
        raise UsageError(
            f"{flag} {path} is a {suffix} table; pass it as --dataset {path} (its columns are detected)"
            if flag == "--prompts"
            else f'{flag} {path} is a {suffix} table; pass a .jsonl of {{"prompt": ...}} lines or a prompt per line'
        )
    text = read_text(path, flag)
    if suffix == ".jsonl":
        items = [
            _prompt_item(_json_line(path, number, line), f"{path} line {number}", flag)
            for number, line in enumerate(text.splitlines(), 1)
            if line.strip()
        ]
    elif suffix == ".json":
        items = [
            _prompt_item(value, f"{path} item {number}", flag)
            for number, value in enumerate(_json_list(path, text, flag), 1)
        ]
    else:
        items = [{"prompt": line, "reference": None} for line in text.splitlines() if line.strip()]
    if not items:
        raise UsageError(f"{flag} file {path} holds no prompts")
    return items


def _json_line(path: str, number: int, line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as err:
        raise UsageError(f"{path} line {number}: not valid JSON ({err.msg})") from err


def _json_list(path: str, text: str, flag: str) -> list:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise UsageError(
            f"{path} is not valid JSON ({err.msg}, line {err.lineno}); a file of one object per "
            "line must be named .jsonl"
        ) from err
    if not isinstance(value, list):
        raise UsageError(
            f"{path} holds a JSON {type(value).__name__}; {flag} takes a list of "
            '{"prompt": ..., "reference": ...} objects or of strings'
        )
    return value


def _prompt_item(value: Any, where: str, flag: str = "--prompts") -> dict:
    """One checked item: a string is a prompt; an object has ``prompt`` and maybe ``reference``."""
    if isinstance(value, str):
        return {"prompt": _prompt_text(value, where), "reference": None}
    if not isinstance(value, dict):
        raise UsageError(
            f'{where}: expected an object {{"prompt": ..., "reference": ...}}, got a JSON {_json_type(value)}'
        )
    unknown = [key for key in value if key not in PROMPT_KEYS]
    if "prompt" not in value:
        raise UsageError(
            f'{where}: no "prompt" key (keys: {", ".join(map(repr, value)) or "none"}); {flag} lines '
            'hold "prompt" and optionally "reference"'
            + ("; for a dataset with other columns pass --dataset FILE" if flag == "--prompts" else "")
        )
    if unknown:
        raise UsageError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: prompt, reference")
    return {"prompt": _prompt_text(value["prompt"], where), "reference": _reference(value.get("reference"), where)}


def _prompt_text(value: Any, where: str) -> str:
    if value is None:
        raise UsageError(f'{where}: "prompt" is null; give the prompt text')
    if not isinstance(value, str):
        raise UsageError(f'{where}: "prompt" must be a string, got a JSON {_json_type(value)}')
    if not value.strip():
        raise UsageError(f'{where}: "prompt" is empty')
    return value


def _reference(value: Any, where: str) -> Any:
    """None, a string, a number as text, or a list of acceptable answers."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise UsageError(f'{where}: "reference" is a boolean; write it as a string ("yes" / "no")')
    if isinstance(value, (int, float)):
        return str(value)
    if (
        isinstance(value, list)
        and value
        and all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value)
    ):
        return [str(v) for v in value]
    raise UsageError(
        f'{where}: "reference" must be a string, a number or a list of them, got a JSON {_json_type(value)}'
    )


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


# --------------------------------------------------------------------------------------------
# --forgetting-text
# --------------------------------------------------------------------------------------------


def read_forgetting_texts(path: str) -> list[str]:
    """Texts of a JSONL file's ``text`` field, or the paragraphs (blank-line separated) of any text file."""
    text = read_text(path, "--forgetting-text")
    if Path(path).suffix.lower() == ".jsonl":
        texts = [
            _text_field(_json_line(path, number, line), f"{path} line {number}")
            for number, line in enumerate(text.splitlines(), 1)
            if line.strip()
        ]
    else:
        texts = [block.strip() for block in text.replace("\r\n", "\n").split("\n\n") if block.strip()]
    if not texts:
        raise UsageError(f"--forgetting-text file {path} holds no text")
    return texts


def _text_field(value: Any, where: str) -> str:
    if not isinstance(value, dict) or not isinstance(value.get("text"), str) or not value["text"].strip():
        raise UsageError(f'{where}: expected an object with a non-empty "text" string')
    return value["text"]


# --------------------------------------------------------------------------------------------
# --report-dir
# --------------------------------------------------------------------------------------------


def prepare_report_dir(path: str) -> list[Path]:
    """Create --report-dir and prove it writable before any generation; the folders created.

    The caller removes the returned (still empty) folders if the run fails before writing.
    """
    target = Path(path).expanduser()
    existing = target
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        what = "is a file" if existing == target else f"cannot be created: {existing} is a file"
        raise UsageError(f"--report-dir {path} {what}; pass a folder")
    created = [p for p in [target, *target.parents] if not p.exists()]
    try:
        target.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target, prefix=".write-test-"):
            pass
    except OSError as err:
        remove_empty(created)
        raise UsageError(
            f"--report-dir {path} cannot be written ({err.strerror or err}); pass a writable folder"
        ) from err
    return sorted(created, key=lambda p: len(p.parts), reverse=True)


def remove_empty(folders: list[Path]) -> None:
    """Remove folders this run created, deepest first, where they are still empty."""
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        try:
            folder.rmdir()
        except OSError:  # not empty or already gone: leave it
            pass
