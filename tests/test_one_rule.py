"""Rules that were written two or three times and had started to disagree, each now read from one place."""

from __future__ import annotations

import json

import pytest

import rewards
import train_grpo
from grpo_suite import checks, compare_stats, config, flags, models, probe, run_folder
from grpo_suite.files import looks_like_path


def _record(folder, args: dict, suite: str | None = run_folder.SUITE) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    record = {"args": args, "detection": {}, "rewards": {}}
    if suite is not None:
        record["suite"] = suite
    (folder / run_folder.RUN_CONFIG).write_text(json.dumps(record))


def test_a_replay_drops_the_same_per_invocation_flags_a_resume_does_not_adopt(tmp_path):
    """A replayed run_config.json used to re-apply --debug, --force and --probe-before-train."""
    _record(
        tmp_path / "run",
        {
            "lora_r": 8,
            "debug": True,
            "force": True,
            "probe_before_train": 16,
            "probe": 4,
            "output_dir": "x",
            "dry_run": True,
        },
    )
    replayed = config.load_config(str(tmp_path / "run" / run_folder.RUN_CONFIG))
    assert replayed == {"lora_r": 8}
    assert {"debug", "force", "probe_before_train", "probe"} <= flags.PER_INVOCATION
    assert flags.PER_INVOCATION <= checks.NOT_COMPARED  # a resume compares none of them either


def test_resume_adopts_the_runs_flags_but_never_this_invocations(demo_assets, tmp_path):
    out = tmp_path / "run"
    _record(out, {"lora_r": 8, "force": True, "debug": True, "temperature": 0.5})
    args = train_grpo.build_parser().parse_args(["--output-dir", str(out), "--resume"])
    train_grpo.adopt_run_record(args, flags.explicit_flags(train_grpo.build_parser(), ["--resume"]))
    assert (args.lora_r, args.temperature) == (8, 0.5)
    assert args.force is False and args.debug is False


def test_explicit_flags_are_those_on_the_command_line():
    parser = train_grpo.build_parser()
    given = flags.explicit_flags(parser, ["--probe", "--lora-r", "8", "--no-watchdog", "--grpo-arg", "a=1"])
    assert given == {"probe", "lora_r", "watchdog", "grpo_arg"}


def test_the_run_record_of_an_adapter_is_read_by_the_resume_rule(tmp_path):
    """compare_base_vs_lora.py had its own reader: it took another program's run_config.json as
    the run's, and parsed checkpoint names with a regex of its own."""
    _record(tmp_path / "ours", {"system_prompt": "Be brief."})
    (tmp_path / "ours" / "checkpoint-20").mkdir()
    (tmp_path / "ours" / "checkpoint-final").mkdir()
    assert run_folder.run_record_of(tmp_path / "ours")["args"]["system_prompt"] == "Be brief."
    assert run_folder.run_record_of(tmp_path / "ours" / "checkpoint-20")["args"]["system_prompt"] == "Be brief."
    assert run_folder.run_record_of(tmp_path / "ours" / "checkpoint-final") is None  # not a checkpoint name
    _record(tmp_path / "theirs", {"system_prompt": "x"}, suite="another-trainer")
    assert run_folder.run_record_of(tmp_path / "theirs") is None
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / run_folder.RUN_CONFIG).write_text("{not json")
    assert run_folder.run_record_of(tmp_path / "broken") is None
    assert run_folder.checkpoint_step(tmp_path / "checkpoint-7") == 7
    assert run_folder.checkpoint_step(tmp_path / "checkpoint-7b") is None


@pytest.mark.parametrize(
    "source, expected",
    [
        ("Qwen/Qwen2.5-0.5B-Instruct", False),
        ("gpt2", False),
        ("openai/gsm8k", False),
        ("./model", True),
        ("~/models/x", True),
        ("/abs/path", True),
        ("a/b/c", True),
        ("C:\\models\\x", True),
        ("train.jsonl", True),
        ("rows.csv.gz", True),
        ("notes.txt", True),
    ],
)
def test_one_rule_says_whether_a_name_is_a_path_or_a_hub_id(source, expected):
    assert looks_like_path(source) is expected


def test_an_existing_folder_without_a_slash_is_a_path_for_models_and_datasets(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mymodel").mkdir()
    assert looks_like_path("mymodel")
    assert models.looks_like_path is looks_like_path  # --model and --dataset read the same rule


def test_pass_at_k_is_the_checked_estimator_everywhere():
    """probe.py had an unchecked copy that gave a number for impossible counts."""
    assert probe.pass_at_k is compare_stats.pass_at_k
    with pytest.raises(ValueError):
        probe.pass_at_k(4, 5, 2)
    assert probe.pass_at_k(4, 1, 4) == 1.0 and probe.pass_at_k(4, 0, 4) == 0.0


def test_checkpoint_entries_cover_every_tokenizer_file():
    """run_folder and models listed tokenizer files twice; a sentencepiece tokenizer's spiece.model
    was a user file inside a checkpoint for one of them."""
    assert set(models.TOKENIZER_FILES) <= set(run_folder.CHECKPOINT_ENTRIES)
    assert set(models.TOKENIZER_MARKERS) <= set(models.TOKENIZER_FILES)


@pytest.mark.parametrize(
    "reference, completion",
    [
        ("Natalia sold 48 clips in April.\n#### 72", "Final answer: 72"),
        (True, "Final answer: yes"),
        (["Paris", "paris"], "Final answer: Paris"),
        (None, None),
        ([], None),
    ],
)
def test_one_correct_completion_for_the_dry_run_and_coverage(reference, completion):
    """train_grpo.py's dry run wrote 'Answer: X' after the whole reference, coverage 'Final answer: X'."""
    assert rewards.correct_completion(reference) == completion
    if completion is not None:
        assert rewards.reference_reward([completion], reference=[reference]) == [1.0]


def test_another_programs_run_record_is_neither_a_run_nor_a_replay(tmp_path):
    _record(tmp_path / "theirs", {"lora_r": 8}, suite="another-trainer")
    assert run_folder.read_run_config(tmp_path / "theirs") is None
    with pytest.raises(config.UsageError, match="written by another program .suite 'another-trainer'"):
        config.load_config(str(tmp_path / "theirs" / run_folder.RUN_CONFIG))


@pytest.mark.parametrize(
    "data, needle",
    [
        (
            "lora_r: 8\n".encode("utf-16"),
            "--config file {path} is not UTF-8 but looks like UTF-16; convert it, e.g. iconv",
        ),
        (b"lora_r: 8\x00\x01", "--config file {path} holds binary data (a NUL byte at offset 9)"),
        (b"lora_r: 8\n\xff\xfe", "--config file {path} is not UTF-8"),
    ],
)
def test_a_config_file_in_another_encoding_is_one_line_naming_it(tmp_path, capsys, data, needle):
    """A UTF-16 --config used to end in 'while checking the flags: UnicodeDecodeError', exit 1."""
    path = tmp_path / "flags.yaml"
    path.write_bytes(data)
    assert train_grpo.main(["--demo", "--config", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert needle.format(path=path) in err and err.count("\n") == 1


def test_a_config_file_with_a_utf8_bom_is_read(tmp_path):
    path = tmp_path / "flags.json"
    path.write_bytes(b'\xef\xbb\xbf{"lora_r": 8}')
    assert config.load_config(str(path)) == {"lora_r": 8}


def test_the_readme_table_shows_every_default_the_help_shows():
    """Preset defaults and zeros used to be blank in the table: 0 == False in Python."""
    table = flags.flag_table(train_grpo.build_parser())
    rows = {line.split(" | ")[0].strip("| "): line for line in table.splitlines() if line.startswith("| `--")}
    assert "| `1e-05` (`--demo`: `0.001`) |" in rows["`--learning-rate` `LR`"]
    assert "| `0` |" in rows["`--seed` `N`"] and "| `0.0` |" in rows["`--beta` `X`"]
    assert "| on |" in rows["`--watchdog`, `--no-watchdog`"]
