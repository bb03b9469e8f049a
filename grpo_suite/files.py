"""Read local dataset files: types, encodings, and JSON that wraps its rows in an object.

JSON files are read with the standard library, so that wrapped layouts can be flattened
(SQuAD's ``data[].paragraphs[].qas[]``, TriviaQA's ``Data[]``, an object holding one list)
and columns that mix types (a number in one row, text in the next) still load.
"""

from __future__ import annotations

import codecs
import json
import logging
import os
from pathlib import Path
from typing import Any

from grpo_suite.errors import UsageError, first_line
from grpo_suite.fields import message_keys

logger = logging.getLogger("dataset_utils")

FILE_BUILDERS = {
    ".json": "json",
    ".jsonl": "json",
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".arrow": "arrow",
}
TEXT_SUFFIXES = (".json", ".jsonl", ".csv", ".tsv")
_COMPRESSED = {".gz": "gzip", ".bz2": "bz2", ".xz": "lzma"}
_PEEK_BYTES = 1 << 20
_LARGE_JSON = 1 << 28  # above this, JSON goes to the datasets loader, which streams it
_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def known_types() -> str:
    return ", ".join(FILE_BUILDERS)


def looks_like_path(source: str) -> bool:
    """A model or dataset the user meant as a file or folder, not a hub id: it exists, is written
    as a path (a ./ / ~ prefix, a backslash, deep nesting), or ends in a data file's suffix.

    Hub ids are ``name`` or ``owner/name``; anything else is a path, and a missing path is
    "file not found", never a hub lookup. The one rule for --model, --dataset and --base-model.
    """
    if source.startswith((".", "/", "~")) or "\\" in source or source.count("/") > 1 or os.path.isabs(source):
        return True
    if os.path.exists(os.path.expanduser(source)):
        return True
    return data_suffix(Path(source))[0] in FILE_BUILDERS or Path(source).suffix.lower() in (
        ".txt",
        ".zip",
        *_COMPRESSED,
    )


def bom_encoding(head: bytes) -> str | None:
    """UTF-16 or UTF-32 where the bytes open with that encoding's byte-order mark."""
    return next((name for bom, name in _BOMS if head.startswith(bom)), None)


def check_encoding(path: Path, head: bytes, what: str = "dataset file") -> None:
    """Refuse a text file that is not UTF-8 (``head`` is its first bytes), naming its encoding: the
    one rule for data files, --config files and the comparison's text files."""
    if (name := bom_encoding(head)) is not None:
        raise _not_utf8(path, name, what=what)
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head, final=len(head) < _PEEK_BYTES)
    except UnicodeDecodeError as err:
        raise _not_utf8(path, guess_encoding(head), err.start, what) from err


def read_utf8(path: Path, what: str) -> str:
    """A small text file (a --config, a prompt list) read whole, after check_encoding; a UTF-8 BOM
    is dropped, a NUL byte (a binary file) refused."""
    data = path.read_bytes()
    check_encoding(path, data[:_PEEK_BYTES], what)
    if b"\x00" in data:
        raise UsageError(f"{what} {path} holds binary data (a NUL byte at offset {data.index(0)}); pass a text file")
    return data.decode("utf-8-sig")


def guess_encoding(data: bytes) -> str:
    for name in ("gb18030", "shift_jis", "cp1252"):
        try:
            data.decode(name)
            return name if name != "cp1252" else "Latin-1/Windows-1252"
        except UnicodeDecodeError:
            continue
    return "an unknown 8-bit encoding"


def _not_utf8(path: Path, encoding: str, offset: int | None = None, what: str = "dataset file") -> UsageError:
    where = f" (first bad byte at offset {offset})" if offset is not None else ""
    if encoding.startswith("an unknown"):  # no encoding to convert from: binary, or text we cannot name
        return UsageError(f"{what} {path} is not text in any encoding recognised here{where}; pass a UTF-8 text file")
    return UsageError(
        f"{what} {path} is not UTF-8 but looks like {encoding}{where}; convert it, e.g. "
        f"iconv -f {encoding.split('/')[0].upper()} -t UTF-8 {path} > {path.stem}.utf8{path.suffix}"
    )


# --------------------------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------------------------


def read_json_rows(path: Path, text: str) -> list[dict]:
    """The rows of a .json or .jsonl file's ``text``: a list, one object per line, or a known wrapper."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        first = text.lstrip().partition("\n")[0]
        if err.msg == "Extra data" or _parses(first):
            return _json_lines(path, text)
        raise UsageError(
            f"could not load dataset file {path}: not valid JSON at line {err.lineno} column {err.colno} ({err.msg})"
        ) from err
    return flatten_json(data, path)


def _parses(line: str) -> bool:
    try:
        json.loads(line)
        return True
    except json.JSONDecodeError:
        return False


def _json_lines(path: Path, text: str) -> list[dict]:
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise UsageError(
                f"could not load dataset file {path}: line {number} is not valid JSON ({err.msg}); "
                "each line of a .jsonl file must be one object"
            ) from err
    if len(rows) == 1 and isinstance(rows[0], dict):
        return flatten_json(rows[0], path)
    if not all(isinstance(r, dict) for r in rows):
        raise UsageError(f"dataset file {path}: every line must be a JSON object (a row)")
    return rows


def flatten_json(data: Any, path: Path) -> list[dict]:
    """Rows from a parsed JSON file; a wrapper object is flattened, or refused with its list's place."""
    if isinstance(data, list):
        if data and all(isinstance(r, dict) for r in data):
            return data
        raise UsageError(f"dataset file {path} holds a JSON list of {_kind(data)}, not of objects (rows)")
    if not isinstance(data, dict):
        raise UsageError(f"dataset file {path} holds a single JSON {type(data).__name__}, not rows")
    for layout in (_squad, _columnar, _one_list, _keyed_records):
        rows = layout(data)
        if rows:
            logger.warning("%s: %s layout flattened to %d rows", path, layout.__doc__.strip().split(":")[0], len(rows))
            return rows
    lists = _lists_of_objects(data)
    if not lists:  # a single flat record is one row
        return [data]
    where = ", ".join(f"'{p}' ({n} items)" for p, n in lists[:4]) or "nowhere (it holds no list of objects)"
    raise UsageError(
        f"dataset file {path} is one JSON object, not rows: its lists of records are at {where}; "
        "flatten it to one object per line, e.g. jq -c '.PATH[]' FILE > rows.jsonl"
    )


def _kind(values: list) -> str:
    return ", ".join(sorted({type(v).__name__ for v in values})) or "nothing"


def _squad(data: dict) -> list[dict]:
    """SQuAD: data[].paragraphs[].qas[] with the paragraph's context and the article title."""
    articles = data.get("data")
    if not (isinstance(articles, list) and articles and isinstance(articles[0], dict) and "paragraphs" in articles[0]):
        return []
    rows = []
    for article in articles:
        for paragraph in article.get("paragraphs", []):
            for qa in paragraph.get("qas", []):
                answers = qa.get("answers") or []
                rows.append(
                    {
                        "id": str(qa.get("id", "")),
                        "title": article.get("title", ""),
                        "context": paragraph.get("context", ""),
                        "question": qa.get("question", ""),
                        "answers": {
                            "text": [a.get("text", "") for a in answers],
                            "answer_start": [int(a.get("answer_start", -1)) for a in answers],
                        },
                        "is_impossible": bool(qa.get("is_impossible", False)),
                    }
                )
    return rows


def _one_list(data: dict) -> list[dict]:
    """A top-level object holding one list of records (TriviaQA's Data[]): that list."""
    lists = [v for v in data.values() if isinstance(v, list) and v and all(isinstance(r, dict) for r in v)]
    return lists[0] if len(lists) == 1 else []


def _columnar(data: dict) -> list[dict]:
    """Columns: an object of equal-length lists, one per column."""
    if len(data) < 2 or not all(isinstance(v, list) for v in data.values()):
        return []
    lengths = {len(v) for v in data.values()}
    if len(lengths) != 1 or 0 in lengths:
        return []
    names = list(data)
    return [dict(zip(names, values)) for values in zip(*data.values())]


def _keyed_records(data: dict) -> list[dict]:
    """Records keyed by id: an object whose values are objects with the same keys."""
    values = list(data.values())
    if len(values) < 2 or not all(isinstance(v, dict) for v in values):
        return []
    keys = set(values[0])
    if not keys or any(set(v) != keys for v in values[:50]):
        return []
    return [{"id": str(k), **v} for k, v in data.items()]


def _lists_of_objects(data: Any, prefix: str = "", depth: int = 0) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    if depth > 4:
        return found
    if isinstance(data, dict):
        for key, value in data.items():
            found += _lists_of_objects(value, f"{prefix}.{key}" if prefix else str(key), depth + 1)
    elif isinstance(data, list) and data and isinstance(data[0], dict):
        found.append((prefix + "[]", len(data)))
        found += _lists_of_objects(data[0], prefix + "[]", depth + 1)
    return found


def rows_to_dataset(rows: list[dict]):
    """A datasets.Dataset from rows. A column Arrow cannot type (a number in one row and text in
    the next, message content as text here and as parts there) is repaired column by column:
    scalars become text, chat turns get text content, anything else is kept as JSON text."""
    import datasets

    try:
        return datasets.Dataset.from_list(rows)
    except Exception:  # pyarrow refuses mixed types; repair only the columns that need it
        pass
    import pyarrow

    columns = list(dict.fromkeys(k for row in rows for k in row))
    table = {c: [r.get(c) for r in rows] for c in columns}
    for column, values in table.items():
        try:
            pyarrow.array(values)
            continue
        except Exception:
            pass
        table[column] = _repaired(values)
        logger.warning(
            "column %r mixes types across rows: stored as %s",
            column,
            "text" if all(v is None or isinstance(v, str) for v in table[column]) else "chat turns with text content",
        )
    return datasets.Dataset.from_dict(table)


def _repaired(values: list) -> list:
    import pyarrow

    if all(v is None or message_keys(v) for v in values):
        turns = [None if v is None else [_text_turn(m, message_keys(v)) for m in v] for v in values]
        try:
            pyarrow.array(turns)
            return turns
        except Exception:
            pass
    return [_as_text(v) for v in values]


def _text_turn(message: dict, keys: tuple[str, str]) -> dict:
    from grpo_suite.prompts import content_text

    return {keys[0]: str(message.get(keys[0], "")), keys[1]: content_text(message.get(keys[1]))}


def _type_key(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def data_suffix(path: Path) -> tuple[str, str | None]:
    """The data type suffix and the compression of ``train.jsonl.gz``: (".jsonl", "gzip")."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:
        return (suffixes[-2] if len(suffixes) > 1 else ""), _COMPRESSED[suffixes[-1]]
    return (suffixes[-1] if suffixes else ""), None


def _open_bytes(path: Path, compression: str | None):
    if compression is None:
        return path.open("rb")
    import importlib

    handle = importlib.import_module(compression).open(path, "rb")
    try:
        handle.peek(1) if hasattr(handle, "peek") else None  # a file named .gz that is not gzip fails here
    except Exception as err:  # noqa: BLE001 - gzip.BadGzipFile, lzma.LZMAError, bz2's OSError: all "not compressed"
        handle.close()
        raise UsageError(
            f"dataset file {path} is named {path.suffix} but is not "
            f"{path.suffix[1:]}-compressed ({first_line(err)}); rename it without that suffix, "
            "or compress it"
        ) from err
    return handle


def read_file(path: Path):
    """A DatasetDict with one "train" split from a local data file (optionally .gz/.bz2/.xz)."""
    import datasets

    suffix, compression = data_suffix(path)
    builder = FILE_BUILDERS.get(suffix)
    if builder is None:
        raise UsageError(
            f"dataset file {path} has an unknown type; use one of {known_types()} "
            "(optionally compressed .gz, .bz2 or .xz)"
        )
    if path.stat().st_size == 0:
        raise UsageError(f"dataset file {path} is empty")
    if suffix in TEXT_SUFFIXES:
        with _open_bytes(path, compression) as handle:
            check_encoding(path, handle.read(_PEEK_BYTES))
    if builder == "json" and path.stat().st_size < _LARGE_JSON:
        with _open_bytes(path, compression) as handle:
            rows = read_json_rows(path, handle.read().decode("utf-8-sig"))
        if not rows:
            raise UsageError(f"dataset file {path} holds no rows")
        return datasets.DatasetDict({"train": rows_to_dataset(rows)})
    if builder == "parquet" and not compression:
        check_parquet(path)
    kwargs = {"encoding": "utf-8-sig"} if builder == "csv" else {}  # a BOM is not part of the first header
    if suffix == ".tsv":
        kwargs["delimiter"] = "\t"
    try:
        loaded = datasets.load_dataset(builder, data_files=str(path), **kwargs)
    except ValueError as err:  # datasets' words for a file without rows: 'Instruction "train" corresponds to no data!'
        if "corresponds to no data" not in str(err):
            raise
        loaded = None
    if loaded is None or not any(len(split) for split in loaded.values()):
        header = " (only a header line)" if builder == "csv" else ""
        raise UsageError(f"dataset file {path} holds no rows{header}")
    return loaded


def check_parquet(path: Path) -> None:
    """A parquet file's footer, read before datasets does: datasets logs a pyarrow error twice and
    then raises a generic one for a file that is truncated, not parquet, or holds no rows."""
    import pyarrow.parquet

    try:
        rows = pyarrow.parquet.ParquetFile(path).metadata.num_rows
    except Exception as err:  # noqa: BLE001 - pyarrow's error types vary by version; all mean "unreadable"
        raise UsageError(
            f"dataset file {path} is not a readable parquet file ({str(err).strip().splitlines()[0]}); "
            "is it truncated or another format?"
        ) from err
    if rows == 0:
        raise UsageError(f"dataset file {path} holds no rows")


def data_files_in(folder: Path) -> list[Path]:
    """Data files of a known type in a folder (two levels deep), for load_dataset."""
    found = []
    for pattern in ("*", "*/*"):
        found += [p for p in folder.glob(pattern) if p.is_file() and data_suffix(p)[0] in FILE_BUILDERS]
    return found
