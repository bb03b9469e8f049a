"""Real files in: wrapped JSON, CSV headers with spaces, verl parquet, encodings, missing paths,
folders, the inspect CLI's --json report, coverage, and chat templates that reject roles."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess

import pytest

import dataset_utils
from dataset_utils import ANSWER_INSTRUCTION, UsageError


def _cli(*args):
    """The inspect CLI in this process (the subprocess form is tested in test_dataset_utils.py)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = dataset_utils.main([*args, "--local-only"])
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def _report(path, *args) -> dict:
    result = _cli(str(path), "--json", *args)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout)


def _one_line_error(result, *needles):
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


# --- wrapped JSON ---------------------------------------------------------------------------

SQUAD_V2 = {
    "version": "v2.0",
    "data": [
        {
            "title": "Normans",
            "paragraphs": [
                {
                    "context": "The Normans gave their name to Normandy, a region in France.",
                    "qas": [
                        {
                            "question": "In what country is Normandy located?",
                            "id": "56ddde6b",
                            "answers": [{"text": "France", "answer_start": 55}, {"text": "France", "answer_start": 55}],
                            "is_impossible": False,
                        },
                        {
                            "plausible_answers": [{"text": "Normans", "answer_start": 4}],
                            "question": "Who gave their name to Rome?",
                            "id": "5ad39d53",
                            "answers": [],
                            "is_impossible": True,
                        },
                    ],
                },
                {
                    "context": "Rollo was a Viking leader.",
                    "qas": [
                        {
                            "question": "Who was Rollo?",
                            "id": "56dddf4e",
                            "answers": [{"text": "a Viking leader", "answer_start": 10}],
                            "is_impossible": False,
                        }
                    ],
                },
            ],
        }
    ],
}


def test_official_squad_json_is_flattened_to_one_row_per_question(tmp_path):
    path = tmp_path / "dev-v2.0.json"
    path.write_text(json.dumps(SQUAD_V2))
    report = _report(path)
    assert (report["prompt_field"], report["reference_field"]) == ("context+question", "answers.text")
    first = report["examples"][0]
    assert "Normandy, a region in France" in first["prompt"][0]["content"]
    # The question last, then the answer instruction the suite adds.
    assert first["prompt"][0]["content"].endswith("In what country is Normandy located?\n\n" + ANSWER_INSTRUCTION)
    assert first["reference"] == ["France"]
    assert report["examples"][1]["reference"] is None  # unanswerable: no reference
    assert report["coverage"]["rows"] == 3


def test_triviaqa_data_list_is_flattened_and_aliases_accepted(tmp_path):
    data = {
        "Data": [
            {
                "Answer": {
                    "Aliases": ["Sinclair Lewis", "Harry Sinclair Lewis"],
                    "MatchedWikiEntityName": "Sinclair Lewis",
                    "NormalizedAliases": ["sinclair lewis"],
                    "NormalizedValue": "sinclair lewis",
                    "Type": "WikipediaEntity",
                    "Value": "Sinclair Lewis",
                },
                "EntityPages": [{"DocSource": "TagMe", "Filename": "Sinclair_Lewis.txt", "Title": "Sinclair Lewis"}],
                "Question": "Which American-born Sinclair won the Nobel Prize for Literature in 1930?",
                "QuestionId": "tc_1",
                "QuestionSource": "http://www.triviacountry.com/",
                "SearchResults": [],
            },
            {
                "Answer": {
                    "Aliases": ["Uk"],
                    "Value": "UK",
                    "Type": "FreeForm",
                    "NormalizedValue": "uk",
                    "NormalizedAliases": ["uk"],
                    "MatchedWikiEntityName": "",
                },
                "EntityPages": [],
                "Question": "Where is Wales?",
                "QuestionId": "tc_2",
                "QuestionSource": "http://x",
                "SearchResults": [],
            },
        ],
        "Domain": "Web",
        "Split": "dev",
        "VerifiedEval": False,
        "Version": 1.0,
    }
    path = tmp_path / "verified-web-dev.json"
    path.write_text(json.dumps(data))
    report = _report(path)
    assert (report["prompt_field"], report["reference_field"]) == ("Question", "Answer")
    assert report["examples"][0]["reference"] == ["Sinclair Lewis", "Harry Sinclair Lewis"]
    assert report["coverage"]["rows"] == 2


def test_an_object_holding_one_list_of_rows_is_that_list(tmp_path):
    path = tmp_path / "wrapped.json"
    path.write_text(
        json.dumps(
            {"version": 2, "examples": [{"question": "1+1?", "answer": "2"}, {"question": "2+2?", "answer": "4"}]}
        )
    )
    assert _report(path)["examples"][1]["reference"] == "4"


def test_an_unknown_single_object_names_where_its_lists_are(tmp_path):
    path = tmp_path / "odd.json"
    path.write_text(json.dumps({"meta": {"name": "x"}, "splits": {"train": [{"q": "a"}], "test": [{"q": "b"}]}}))
    _one_line_error(_cli(str(path)), "one JSON object, not rows", "'splits.train[]' (1 items)", "jq")


def test_jsonl_columns_that_mix_numbers_and_text_still_load(tmp_path):
    path = tmp_path / "mixed.jsonl"
    rows = [{"question": "Value?", "answer": 5}, {"question": "Set?", "answer": "\\{1, 2\\}"}]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    report = _report(path)
    assert [e["reference"] for e in report["examples"]] == ["5", "\\{1, 2\\}"]


# --- CSV, parquet ---------------------------------------------------------------------------

TRUTHFULQA_CSV = (
    "Type,Category,Question,Best Answer,Best Incorrect Answer,Correct Answers,Incorrect Answers,Source\n"
    "Adversarial,Misconceptions,What happens to you if you eat watermelon seeds?,"
    "The watermelon seeds pass through your digestive system,You grow watermelons in your stomach,"
    '"Nothing happens; You eat watermelon seeds; The watermelon seeds pass through your digestive system",'
    '"You grow watermelons in your stomach; You get sick",https://wonderopolis.org\n'
    "Adversarial,Misconceptions,Where did fortune cookies originate?,The precise origin of fortune cookies is unclear,"
    'Fortune cookies originated in China,"Fortune cookies originated in San Francisco; It is unclear",'
    '"Fortune cookies originated in China",https://en.wikipedia.org\n'
)


def test_truthfulqa_csv_headers_with_spaces_and_semicolon_aliases(tmp_path):
    path = tmp_path / "TruthfulQA.csv"
    path.write_text(TRUTHFULQA_CSV)
    report = _report(path)
    assert (report["prompt_field"], report["reference_field"]) == ("Question", "Best Answer")
    reference = report["examples"][0]["reference"]
    assert reference[0] == "The watermelon seeds pass through your digestive system"
    assert "Nothing happens" in reference and "You grow watermelons in your stomach" not in reference


def test_verl_parquet_prompt_messages_and_reward_model_ground_truth(tmp_path):
    import datasets

    rows = [
        {
            "data_source": "math_dapo",
            "prompt": [{"content": f"Solve: {i}*3 = ?\nAnswer: $Answer", "role": "user"}],
            "ability": "MATH",
            "reward_model": {"ground_truth": str(i * 3), "style": "rule-lax"},
            "extra_info": {"index": f"id-{i}"},
        }
        for i in range(6)
    ]
    path = tmp_path / "dapo-math-17k.parquet"
    datasets.Dataset.from_list(rows).to_parquet(str(path))
    report = _report(path)
    assert (report["prompt_field"], report["reference_field"], report["family"]) == (
        "prompt",
        "reward_model.ground_truth",
        "verl",
    )
    assert report["conversational"] is True
    assert [e["reference"] for e in report["examples"]] == ["0", "3", "6"]
    assert report["coverage"]["earns_reward"] == 1.0


def test_gzipped_hh_rlhf_transcripts(tmp_path):
    import gzip

    path = tmp_path / "train.jsonl.gz"
    rows = [
        {
            "chosen": "\n\nHuman: What is the capital of Norway?\n\nAssistant: Oslo.",
            "rejected": "\n\nHuman: What is the capital of Norway?\n\nAssistant: Bergen.",
        }
    ] * 2
    path.write_bytes(gzip.compress("\n".join(json.dumps(r) for r in rows).encode()))
    report = _report(path)
    # A preference pair: the prompt without the default's "Final answer:" line, and no reference.
    assert report["examples"][0]["prompt"] == [{"role": "user", "content": "What is the capital of Norway?"}]
    assert (report["family"], report["reference_field"], report["examples"][0]["reference"]) == (
        "preference_transcript",
        None,
        None,
    )


def test_csv_with_a_byte_order_mark_keeps_its_first_header(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffQuestion,Answer\nWhat is 6*7?,42\n".encode("utf-8"))
    report = _report(path)
    assert (report["prompt_field"], report["reference_field"]) == ("Question", "Answer")


# --- encodings, paths, folders --------------------------------------------------------------


def test_non_utf8_csv_is_one_line_naming_file_and_encoding(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("question,answer\nCafé prices?,3 €\n".encode("cp1252"))
    _one_line_error(_cli(str(path)), "latin.csv", "is not UTF-8", "Latin-1/Windows-1252", "iconv")


def test_utf16_json_is_named_by_its_bom(tmp_path):
    path = tmp_path / "u16.jsonl"
    path.write_bytes(json.dumps({"question": "q", "answer": "a"}).encode("utf-16"))
    _one_line_error(_cli(str(path)), "u16.jsonl", "UTF-16")


@pytest.mark.parametrize("source", ["data/missing.jsonl", "./missing", "/no/such/dir/train.parquet", "a/b/c"])
def test_a_missing_path_is_file_not_found_not_a_hub_lookup(source):
    _one_line_error(_cli(source), f"file not found: {source}")
    with pytest.raises(UsageError, match="file not found"):
        dataset_utils.load_any(source)  # not local_only: still never a hub lookup


def test_a_folder_without_data_files_is_not_a_dataset(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    _one_line_error(_cli(str(tmp_path)), "holds no dataset", ".jsonl", ".parquet")


def test_a_folder_holding_one_test_file_is_read(tmp_path):
    (tmp_path / "test.jsonl").write_text(
        json.dumps({"problem": "1+2?", "answer": "3"}) + "\n" + json.dumps({"problem": "2+2?", "answer": "4"})
    )
    assert _report(tmp_path)["examples"][0]["reference"] == "3"


def _hub_snapshot(folder):
    """A hub dataset as `hf download --repo-type dataset openai/gsm8k --local-dir` leaves it: two
    configurations declared in README.md, each with its own parquet files."""
    pd = pytest.importorskip("pandas")
    (folder / "README.md").write_text(
        "---\nconfigs:\n"
        + "".join(
            f"- config_name: {name}\n  data_files:\n  - split: train\n    path: {name}/train-*\n"
            for name in ("main", "socratic")
        )
        + "---\n# gsm8k\n"
    )
    for name, lead in (("main", ""), ("socratic", "How many? ** ")):
        (folder / name).mkdir()
        rows = [{"question": f"{name} {i} + {i}?", "answer": f"{lead}{i}+{i}={2 * i}\n#### {2 * i}"} for i in range(6)]
        pd.DataFrame(rows).to_parquet(folder / name / "train-00000-of-00001.parquet")


def test_a_downloaded_hub_dataset_folder_loads_the_named_configuration(tmp_path):
    _hub_snapshot(tmp_path)
    rows = dataset_utils.select_split(dataset_utils.load_any(str(tmp_path), "socratic", local_only=True))
    assert len(rows) == 6 and rows[0]["question"] == "socratic 0 + 0?"


def test_a_hub_dataset_folder_without_a_configuration_lists_them(tmp_path):
    _hub_snapshot(tmp_path)
    _one_line_error(_cli(str(tmp_path)), "several configurations (main, socratic)", "--dataset-config")
    _one_line_error(_cli(str(tmp_path), "--dataset-config", "mian"), "not a configuration", "main, socratic")


def test_dataset_config_with_a_single_file_is_refused_not_ignored(tmp_path):
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps({"question": "1+2?", "answer": "3"}) + "\n")
    with pytest.raises(UsageError, match="one file, which has none: drop --dataset-config"):
        dataset_utils.load_any(str(data), "main")


@pytest.mark.parametrize(
    "name,content,needle",
    [
        ("header.csv", "question,answer\n", "holds no rows (only a header line)"),
        ("header.tsv", "question\tanswer\n", "holds no rows (only a header line)"),
        ("fake.parquet", "PAR1 this is not parquet", "not a readable parquet file"),
    ],
)
def test_files_without_rows_or_unreadable_are_one_line_naming_the_file(tmp_path, name, content, needle):
    (tmp_path / name).write_text(content)
    result = _cli(str(tmp_path / name))
    _one_line_error(result, needle, name)
    assert "ERROR" not in result.stdout + result.stderr


def test_a_file_named_gz_that_is_not_compressed_says_to_rename_it(tmp_path):
    (tmp_path / "train.jsonl.gz").write_text(json.dumps({"question": "1+1?", "answer": "2"}) + "\n")
    _one_line_error(_cli(str(tmp_path / "train.jsonl.gz")), "is named .gz but is not gz-compressed", "rename it")


def test_parquet_without_rows_is_refused(tmp_path):
    pd = pytest.importorskip("pandas")
    pd.DataFrame({"question": [], "answer": []}).to_parquet(tmp_path / "empty.parquet")
    _one_line_error(_cli(str(tmp_path / "empty.parquet")), "empty.parquet holds no rows")


def test_a_device_is_not_a_dataset_file():
    _one_line_error(_cli("/dev/null"), "/dev/null is not a regular file or folder")


def _question_rows(n, tag):
    return "\n".join(json.dumps({"question": f"{tag} {i} + {i}?", "answer": f"#### {2 * i}"}) for i in range(n))


def test_a_folder_that_mixes_file_types_is_refused_not_read_in_part(tmp_path):
    pd = pytest.importorskip("pandas")
    (tmp_path / "a.jsonl").write_text(_question_rows(3, "a"))
    pd.DataFrame({"question": ["1+1?"], "answer": ["2"]}).to_parquet(tmp_path / "b.parquet")
    _one_line_error(_cli(str(tmp_path)), "mixes data file types (.jsonl, .parquet)")


def test_configuration_subfolders_without_a_readme_are_not_merged(tmp_path):
    for name in ("main", "socratic"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "train.jsonl").write_text(_question_rows(3, name))
    _one_line_error(_cli(str(tmp_path)), "several subfolders (main, socratic)", f"--dataset {tmp_path / 'main'}")


def test_split_subfolders_load_as_splits(tmp_path):
    for name in ("train", "test"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "rows.jsonl").write_text(_question_rows(3, name))
    loaded = dataset_utils.load_any(str(tmp_path), local_only=True)
    assert sorted(loaded) == ["test", "train"] and loaded["train"][0]["question"] == "train 0 + 0?"


def test_a_metadata_file_beside_the_data_is_named(tmp_path):
    (tmp_path / "data.jsonl").write_text(_question_rows(3, "a"))
    (tmp_path / "info.json").write_text(json.dumps({"name": "gsm", "version": 1}))
    _one_line_error(_cli(str(tmp_path)), "info.json has other columns (name, version)", "move it out")


# --- the inspect CLI ------------------------------------------------------------------------


def test_inspect_json_shows_the_first_rows_as_stored_with_family_reasons_and_coverage(tmp_path):
    path = tmp_path / "asdiv.jsonl"
    rows = [
        {
            "body": f"There are {i} red and 2 green apples.",
            "question": "How many apples?",
            "solution_type": "Addition",
            "answer": f"{i + 2} (apples)",
            "formula": f"{i}+2={i + 2}",
        }
        for i in range(60)
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    report = _report(path)
    assert {"prompt_field", "reference_field", "conversational", "examples", "family", "reasons", "coverage"} <= set(
        report
    )
    assert [e["reference"] for e in report["examples"]] == ["2", "3", "4"]  # rows 0, 1, 2: not a shuffled carve
    assert report["examples"][0]["prompt"][0]["content"] == (
        "There are 0 red and 2 green apples.\n\nHow many apples?\n\n" + ANSWER_INSTRUCTION
    )
    assert report["prompt_field"] == "body+question" and report["reasons"]
    assert report["coverage"] == {
        "rows": 60,
        "with_prompt": 1.0,
        "with_reference": 1.0,
        "earns_reward": 1.0,
        "failures": {},
    }


# --- coverage -------------------------------------------------------------------------------


def _rows(good: int, unearned: int, missing: int) -> list[dict]:
    prompt = [{"role": "user", "content": "q"}]
    # A blank reference holds no answer that any completion could state.
    return (
        [{"prompt": prompt, "reference": "7"}] * good
        + [{"prompt": prompt, "reference": None}] * missing
        + [{"prompt": prompt, "reference": "   "}] * unearned
    )


def test_coverage_counts_prompts_references_and_earnable_rewards_with_two_examples_each():
    coverage = dataset_utils.measure_coverage(_rows(good=90, unearned=4, missing=6))
    assert (coverage.rows, coverage.with_prompt, coverage.with_reference) == (100, 1.0, 0.94)
    assert coverage.earns_reward == 0.9
    assert [e["row"] for e in coverage.failures["no_reference"]] == [90, 91]
    assert [e["row"] for e in coverage.failures["reference_not_earned"]] == [96, 97]
    lines = dataset_utils.check_coverage(coverage)
    assert any(line.startswith("WARNING: ONLY 90.0% OF ROWS CAN EARN REFERENCE_REWARD") for line in lines)


def test_coverage_of_a_raw_split_counts_rows_whose_prompt_is_empty():
    import datasets

    ds = datasets.Dataset.from_list(
        [
            {"question": "", "answer": "1"},
            {"question": "2+2?", "answer": "4"},
            {"question": "3+3?", "answer": "6"},
            {"question": "4+4?", "answer": "8"},
        ]
    )
    coverage = dataset_utils.coverage_of(ds, dataset_utils.detect_dataset(ds))
    assert (coverage.with_prompt, coverage.with_reference, coverage.earns_reward) == (0.75, 1.0, 1.0)
    assert [e["row"] for e in coverage.failures["no_prompt"]] == [0]


def test_coverage_samples_at_most_a_thousand_rows():
    assert dataset_utils.measure_coverage(_rows(good=1500, unearned=0, missing=0)).rows == 1000


def test_low_coverage_is_refused_unless_allowed():
    coverage = dataset_utils.measure_coverage(_rows(good=4, unearned=0, missing=6))
    with pytest.raises(UsageError, match=r"only 40% of 10 sampled rows.*--reference-field.*--allow-low-coverage"):
        dataset_utils.check_coverage(coverage)
    assert dataset_utils.check_coverage(coverage, allow_low=True)


def test_no_reference_at_all_warns_but_is_not_refused(caplog):
    coverage = dataset_utils.measure_coverage(_rows(good=0, unearned=0, missing=5))
    with caplog.at_level("WARNING"):
        dataset_utils.check_coverage(coverage)
    assert "no row has a reference" in caplog.text


def test_allow_low_coverage_flag_is_a_dataset_flag():
    from grpo_suite.cli import OneLineParser

    parser = OneLineParser()
    dataset_utils.add_dataset_args(parser)
    assert parser.parse_args(["--allow-low-coverage"]).allow_low_coverage is True
    assert parser.parse_args([]).allow_low_coverage is False


# --- chat templates -------------------------------------------------------------------------

NO_SYSTEM = (
    "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}<assistant>"
)
STRICT = (
    "{% for m in messages %}{% if m['role'] not in ['user', 'assistant', 'system'] %}"
    "{{ raise_exception('Unknown role ' + m['role'] + '\nsecond line') }}{% endif %}{{ m['content'] }}{% endfor %}"
)


def _tokenizer(template: str):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.WordLevel({"[UNK]": 0, "hi": 1}, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]")
    tokenizer.chat_template = template
    return tokenizer


def test_template_rejecting_system_gets_it_folded_into_the_first_user_turn(caplog):
    prompt = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}]
    with caplog.at_level("WARNING"):
        text = dataset_utils.render_prompt(_tokenizer(NO_SYSTEM), prompt)
    assert text == "<user>Be brief.\n\n2+2?\n<assistant>"
    assert "folded it into the first user turn" in caplog.text


def test_prepare_folds_system_messages_for_such_a_template():
    import datasets

    ds = datasets.Dataset.from_list([{"system": "Be brief.", "question": "2+2?", "answer": "4"}])
    detection = dataset_utils.detect_dataset(ds)
    prepared = dataset_utils.prepare(ds, detection, tokenizer=_tokenizer(NO_SYSTEM))
    assert prepared[0]["prompt"] == [{"role": "user", "content": "Be brief.\n\n2+2?"}]


def test_other_template_errors_are_one_line():
    with pytest.raises(UsageError, match=r"chat template failed on a prompt: Unknown role critic;") as err:
        dataset_utils.render_prompt(_tokenizer(STRICT), [{"role": "critic", "content": "x"}])
    assert "\n" not in str(err.value)
