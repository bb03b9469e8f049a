"""Bad input to compare_base_vs_lora.py: one line, exit 2, no traceback, nothing generated.

--prompts files (.jsonl lines, .json lists, text), --forgetting-text, --report-dir and a base
model that moved since training.
"""

from __future__ import annotations

import json
import logging
import shutil

import pytest
from hypothesis import given
from hypothesis import strategies as st

import compare_base_vs_lora as compare
from dataset_utils import UsageError
from grpo_suite import compare_inputs


def _one_error(capsys, code):
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2, err
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


@pytest.mark.parametrize(
    "line,needle",
    [
        ("[1, 2]", "line 2: expected an object"),
        ('"just text"', None),  # a JSON string is a prompt
        ("7", 'line 2: expected an object {"prompt": ..., "reference": ...}, got a JSON number'),
        ('{"prompt": null, "reference": "3"}', 'line 2: "prompt" is null'),
        ('{"prompt": "   "}', 'line 2: "prompt" is empty'),
        ('{"prompt": ["a"]}', 'line 2: "prompt" must be a string, got a JSON array'),
        ('{"question": "q", "answer": "3"}', "line 2: no \"prompt\" key (keys: 'question', 'answer')"),
        ('{"prompt": "q", "refernce": "3"}', "line 2: unknown key(s) 'refernce'; allowed: prompt, reference"),
        ('{"prompt": "q", "reference": {"a": 1}}', '"reference" must be a string, a number or a list'),
        ("{broken", "line 2: not valid JSON"),
    ],
)
def test_prompt_lines_are_checked_with_their_line_number(tmp_path, line, needle):
    path = tmp_path / "p.jsonl"
    path.write_text('{"prompt": "fine", "reference": 3}\n' + line + "\n")
    if needle is None:
        assert compare_inputs.read_prompt_items(str(path))[1] == {"prompt": "just text", "reference": None}
        return
    with pytest.raises(UsageError) as err:
        compare_inputs.read_prompt_items(str(path))
    assert str(err.value).startswith(f"{path} ") and needle in str(err.value)


def test_json_prompt_files_are_read_as_json(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(
        json.dumps(
            [
                {"prompt": "Two plus two?", "reference": 4},
                "What is 3 + 1?",
                {"prompt": "Pick", "reference": ["B", "banana"]},
            ],
            indent=2,
        )
    )
    assert compare_inputs.read_prompt_items(str(path)) == [
        {"prompt": "Two plus two?", "reference": "4"},
        {"prompt": "What is 3 + 1?", "reference": None},
        {"prompt": "Pick", "reference": ["B", "banana"]},
    ]
    path.write_text('{"prompt": "a"}\n{"prompt": "b"}\n')
    with pytest.raises(UsageError, match=r"not valid JSON .*must be named \.jsonl"):
        compare_inputs.read_prompt_items(str(path))
    path.write_text(json.dumps({"prompt": "a"}))
    with pytest.raises(UsageError, match="holds a JSON dict; --prompts takes a list"):
        compare_inputs.read_prompt_items(str(path))
    path.write_text(json.dumps(["ok", {"prompt": None}]))
    with pytest.raises(UsageError, match=r'item 2: "prompt" is null'):
        compare_inputs.read_prompt_items(str(path))


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
        max_leaves=6,
    )
)
def test_any_json_line_is_a_prompt_or_one_located_error(value):
    try:
        item = compare_inputs._prompt_item(value, "f.jsonl line 9")
    except UsageError as err:
        assert str(err).startswith("f.jsonl line 9: ") and "\n" not in str(err)
        return
    assert isinstance(item["prompt"], str) and item["prompt"].strip()
    assert item["reference"] is None or isinstance(item["reference"], (str, list))


def test_text_prompts_are_lines_and_tables_are_refused(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("\ufeffWhat is 2 + 2?\n\n  \nName a colour.\n", encoding="utf-8")  # a BOM is dropped
    assert [i["prompt"] for i in compare_inputs.read_prompt_items(str(path))] == ["What is 2 + 2?", "Name a colour."]
    table = tmp_path / "p.csv"
    table.write_text("question,answer\nq,1\n")
    with pytest.raises(UsageError, match=r"is a \.csv table; pass it as --dataset"):
        compare_inputs.read_prompt_items(str(table))


def test_forgetting_text_paragraphs_and_jsonl(tmp_path):
    prose = tmp_path / "t.md"
    prose.write_text("First paragraph\nstill first.\n\n\nSecond one.\n")
    assert compare_inputs.read_forgetting_texts(str(prose)) == ["First paragraph\nstill first.", "Second one."]
    lines = tmp_path / "t.jsonl"
    lines.write_text('{"text": "a"}\n{"body": "b"}\n')
    with pytest.raises(UsageError, match='line 2: expected an object with a non-empty "text" string'):
        compare_inputs.read_forgetting_texts(str(lines))


@pytest.fixture
def latin1(tmp_path):
    path = tmp_path / "prompts.txt"
    path.write_bytes("Combien coûte un café ?\n".encode("latin-1"))
    return path


@pytest.mark.parametrize("flag", ["--prompts", "--forgetting-text"])
def test_non_utf8_files_give_one_line(trained_demo, latin1, capsys, flag):
    error = _one_error(capsys, compare.main(["--adapter", str(trained_demo), flag, str(latin1)]))
    assert f"{flag} file {latin1} is not UTF-8 text (byte 0xfb on line 1; it looks like Latin-1/Windows-1252)" in error
    assert "iconv -f LATIN-1 -t UTF-8" in error


def test_bad_prompt_line_through_main_is_one_line_before_loading(trained_demo, tmp_path, capsys, caplog):
    path = tmp_path / "p.jsonl"
    path.write_text('{"prompt": "ok"}\n{"prompt": null}\n')
    with caplog.at_level(logging.INFO):
        error = _one_error(capsys, compare.main(["--adapter", str(trained_demo), "--prompts", str(path)]))
    assert error == f'error: {path} line 2: "prompt" is null; give the prompt text'
    assert "generating" not in caplog.text


@pytest.mark.parametrize("case", ["is a file", "under a file"])
def test_unwritable_report_dir_is_refused_before_generation(trained_demo, tmp_path, capsys, caplog, case):
    blocker = tmp_path / "taken"
    blocker.write_text("user data")
    target = blocker if case == "is a file" else blocker / "report"
    with caplog.at_level(logging.INFO):
        error = _one_error(capsys, compare.main(["--adapter", str(trained_demo), "--report-dir", str(target)]))
    assert f"--report-dir {target}" in error and "pass a folder" in error
    assert "generating" not in caplog.text
    assert blocker.read_text() == "user data"


def test_report_dir_created_for_a_run_that_fails_is_removed(trained_demo, tmp_path, capsys):
    target = tmp_path / "new" / "report"
    _one_error(
        capsys,
        compare.main(
            ["--adapter", str(trained_demo), "--report-dir", str(target), "--prompts", str(tmp_path / "missing.txt")]
        ),
    )
    assert not (tmp_path / "new").exists()


def test_moved_base_model_suggests_base_model(trained_demo, demo_assets, tmp_path, capsys):
    moved = tmp_path / "adapter"
    shutil.copytree(trained_demo, moved, ignore=shutil.ignore_patterns("checkpoint-*"))
    config = json.loads((moved / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = str(tmp_path / "gone" / "model")
    (moved / "adapter_config.json").write_text(json.dumps(config))
    error = _one_error(capsys, compare.main(["--adapter", str(moved)]))
    assert f"base model {tmp_path / 'gone' / 'model'}" in error and "no longer exists" in error
    assert "pass --base-model" in error
    prompts = tmp_path / "p.txt"
    prompts.write_text("Ava has 1 pens and gets 1 more. How many pens now?\n")
    argv = [
        "--adapter",
        str(moved),
        "--base-model",
        str(demo_assets.model_dir),
        "--prompts",
        str(prompts),
        "--max-new-tokens",
        "4",
        "--no-forgetting",
        "--show",
        "0",
    ]
    assert compare.main(argv) == 0


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["--temperature", "nan"], "--temperature must be a finite number >= 0"),
        (["--forgetting-threshold", "-1"], "--forgetting-threshold must be a finite number >= 0"),
        (["--num-prompts", "0"], "--num-prompts must be at least 1"),
        (["--max-new-tokens", "0"], "--max-new-tokens must be at least 1"),
        (["--prompts", "a.txt", "--dataset", "d.jsonl"], "--prompts and --dataset both name the prompts"),
        (["--adapter", "y", "--checkpoints"], "--checkpoints takes one --adapter"),
        (["--base-model", "./nowhere/model"], "--base-model ./nowhere/model does not exist"),
    ],
)
def test_bad_flags_are_one_line(trained_demo, capsys, argv, needle):
    assert needle in _one_error(capsys, compare.main(["--adapter", str(trained_demo), *argv]))


def test_a_utf16_prompts_file_is_named_as_utf16(trained_demo, tmp_path, capsys):
    """It used to suggest converting from latin1; the encoding is named as for data and --config files."""
    path = tmp_path / "prompts.txt"
    path.write_bytes("What is 2 + 2?\n".encode("utf-16"))
    error = _one_error(capsys, compare.main(["--adapter", str(trained_demo), "--prompts", str(path)]))
    assert f"--prompts file {path} is not UTF-8 but looks like UTF-16; convert it, e.g. iconv -f UTF-16" in error
