"""dataset_utils.py: detection across real schemas, overrides, errors, loading and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import dataset_utils
from dataset_utils import UsageError, detect_fields, map_row
from rewards import extract_reference

MSGS = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "2+2?"},
    {"role": "assistant", "content": "4"},
]

# family: (row shaped like the real dataset, expected prompt text fragment(s), expected final answers)
FAMILIES = {
    "gsm8k": ({"question": "Natalia sold 48 clips...", "answer": "She sold 48+24 = 72.\n#### 72"}, ["Natalia"], ["72"]),
    "math": (
        {"problem": "Compute $1+1$.", "solution": "So $1+1=\\boxed{2}$.", "level": "Level 1", "type": "Algebra"},
        ["Compute"],
        ["2"],
    ),
    "math500": (
        {
            "problem": "Find x.",
            "solution": "Long... \\boxed{3}",
            "answer": "3",
            "subject": "Algebra",
            "level": 2,
            "unique_id": "test/x.json",
        },
        ["Find x."],
        ["3"],
    ),
    "numina": (
        {"problem": "What is 6*7?", "solution": "6*7 = \\boxed{42}", "messages": MSGS, "source": "amc"},
        ["What is 6*7?"],
        ["42"],
    ),
    "metamathqa": (
        {
            "query": "What is 3+4?",
            "response": "3+4=7. The answer is: 7",
            "type": "GSM_AnsAug",
            "original_question": "What is 3+4?",
        },
        ["What is 3+4?"],
        ["7"],
    ),
    "orca": (
        {
            "question": "A train goes 60 km/h for 2 h. How far?",
            "answer": "Distance is speed times time.\nDistance = 60 * 2 = 120 km.",
        },
        ["A train"],
        ["120"],
    ),
    "aqua": (
        {"question": "Two numbers sum to 10?", "options": ["A)21", "B)10", "C)5"], "rationale": "10.", "correct": "B"},
        ["Two numbers", "B. 10"],
        ["B", "10"],
    ),
    "svamp": (
        {
            "ID": "chal-1",
            "Body": "Jack had 8 pens.",
            "Question": "How many pens?",
            "Equation": "( 8.0 )",
            "Answer": 8.0,
            "Type": "Common-Division",
        },
        ["Jack had 8 pens.", "How many pens?"],
        ["8"],
    ),
    "alpaca": (
        {"instruction": "Translate to French.", "input": "Hello", "output": "Bonjour"},
        ["Translate to French.", "Hello"],
        ["Bonjour"],
    ),
    "dolly": (
        {
            "instruction": "Who wrote it?",
            "context": "Hamlet is a play by Shakespeare.",
            "response": "Shakespeare",
            "category": "closed_qa",
        },
        ["Who wrote it?", "Hamlet"],
        ["Shakespeare"],
    ),
    "trl_standard": ({"prompt": "The sky is", "completion": " blue."}, ["The sky is"], ["blue."]),
    "trl_conversational": (
        {
            "prompt": [{"role": "user", "content": "Color of sky?"}],
            "completion": [{"role": "assistant", "content": "blue"}],
        },
        ["Color of sky?"],
        ["blue"],
    ),
    "messages": ({"messages": MSGS}, ["2+2?"], ["4"]),
    "sharegpt": (
        {"conversations": [{"from": "human", "value": "Capital of France?"}, {"from": "gpt", "value": "Paris"}]},
        ["Capital of France?"],
        ["Paris"],
    ),
    "squad": (
        {
            "id": "1",
            "title": "T",
            "context": "Paris is in France.",
            "question": "Where is Paris?",
            "answers": {"text": ["France", "in France"], "answer_start": [12, 9]},
        },
        ["Paris is in France.", "Where is Paris?"],
        ["France", "in France"],
    ),
    "triviaqa": (
        {
            "question": "Who wrote Hamlet?",
            "question_id": "q1",
            "question_source": "web",
            "answer": {"value": "William Shakespeare", "aliases": ["Shakespeare", "Bard"], "normalized_value": "x"},
        },
        ["Who wrote Hamlet?"],
        ["William Shakespeare", "Shakespeare", "Bard"],
    ),
    "arc": (
        {
            "id": "x",
            "question": "Which is a mammal?",
            "choices": {"text": ["shark", "whale", "trout"], "label": ["A", "B", "C"]},
            "answerKey": "B",
        },
        ["Which is a mammal?", "B. whale"],
        ["B", "whale"],
    ),
    "commonsenseqa": (
        {
            "id": "y",
            "question": "Where do fish live?",
            "question_concept": "fish",
            "choices": {"label": ["A", "B"], "text": ["water", "desert"]},
            "answerKey": "A",
        },
        ["A. water"],
        ["A", "water"],
    ),
    "mmlu": (
        {"question": "2+2=?", "subject": "math", "choices": ["3", "4", "5", "6"], "answer": 1},
        ["2+2=?", "B. 4"],
        ["B", "4"],
    ),
    "boolq": (
        {"question": "is the sky blue", "passage": "The sky is blue on clear days.", "answer": True},
        ["The sky is blue", "is the sky blue"],
        ["yes", "true"],
    ),
    "countdown": ({"target": 24, "nums": [2, 3, 4]}, ["[2, 3, 4]", "24"], ["24"]),
    # Preference pairs: the chosen reply is no gold answer, so no reference is read.
    "preference": ({"prompt": "Say hi", "chosen": "Hi!", "rejected": "No."}, ["Say hi"], []),
    "preference_chat": (
        {
            "chosen": [{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "Hi!"}],
            "rejected": [{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "No."}],
            "score_chosen": 9.0,
        },
        ["Say hi"],
        [],
    ),
    "ultrachat": ({"prompt": "2+2?", "prompt_id": "abc", "messages": MSGS}, ["2+2?"], ["4"]),
    "lmsys_conversation": ({"conversation_id": "c", "model": "m", "conversation": MSGS[1:]}, ["2+2?"], ["4"]),
    "openbookqa": (
        {
            "id": "7",
            "question_stem": "Sun is a",
            "choices": {"text": ["star", "planet"], "label": ["A", "B"]},
            "answerKey": "A",
        },
        ["Sun is a", "A. star"],
        ["A", "star"],
    ),
    "openmathinstruct": (
        {
            "problem": "1+1?",
            "generated_solution": "It is \\boxed{2}",
            "expected_answer": "2",
            "problem_source": "gsm8k",
        },
        ["1+1?"],
        ["2"],
    ),
}


def _prompt_text(prompt) -> str:
    return "\n".join(m["content"] for m in prompt) if isinstance(prompt, list) else prompt


@pytest.mark.parametrize("family", FAMILIES)
def test_detects_prompt_and_reference_of_each_known_schema(family):
    row, fragments, answers = FAMILIES[family]
    detection = detect_fields(list(row), [row, row])
    mapped = map_row(row, detection)
    text = _prompt_text(mapped["prompt"])
    for fragment in fragments:
        assert fragment in text, (family, text)
    assert extract_reference(mapped["reference"]) == answers
    assert detection.reasons


def test_alpaca_prompt_leaves_out_an_empty_input():
    row = {"instruction": "Name a colour.", "input": "", "output": "Red"}
    assert map_row(row, detect_fields(list(row), [row]))["prompt"] == [{"role": "user", "content": "Name a colour."}]


def test_chat_prompt_history_keeps_earlier_turns_and_system_prompt_override():
    row = {"messages": [*MSGS, {"role": "user", "content": "and 3+3?"}, {"role": "assistant", "content": "6"}]}
    detection = detect_fields(["messages"], [row])
    assert detection.conversational
    mapped = map_row(row, detection, system_prompt="Answer with a number.")
    assert [m["role"] for m in mapped["prompt"]] == ["system", "user", "assistant", "user"]
    assert mapped["prompt"][0]["content"] == "Answer with a number." and mapped["reference"] == "6"


def test_plain_text_prompt_when_the_model_has_no_chat_template():
    row = {"question": "Q?", "answer": "x\n#### 1"}
    assert map_row(row, detect_fields(list(row), [row]), "Sys.", chat=False)["prompt"] == "Sys.\n\nQ?"


def test_math500_prefers_the_short_answer_over_the_solution():
    row = FAMILIES["math500"][0]
    detection = detect_fields(list(row), [row])
    assert (detection.prompt_field, detection.reference_field) == ("problem", "answer")


def test_dotted_path_overrides_reach_nested_fields():
    row = {"question": {"stem": "Which gas?", "choices": []}, "answers": {"text": ["oxygen", "O2"]}, "id": 1}
    detection = detect_fields(list(row), [row], prompt_field="question.stem", reference_field="answers.text")
    assert map_row(row, detection) == {
        "prompt": [{"role": "user", "content": "Which gas?"}],
        "reference": ["oxygen", "O2"],
    }


def test_unknown_override_column_is_an_error_that_lists_the_columns():
    with pytest.raises(UsageError, match=r"column 'nope'.*columns seen: question \(str\), answer \(str\)"):
        detect_fields(["question", "answer"], [{"question": "q", "answer": "a"}], prompt_field="nope")


def test_no_text_column_is_an_error_naming_the_flags():
    with pytest.raises(UsageError, match=r"no column looks like a prompt.*x \(int\).*--prompt-field"):
        detect_fields(["x", "y"], [{"x": 1, "y": [1, 2]}])


def test_two_prompt_candidates_tie_and_raise_instead_of_guessing():
    row = {"question": "a?", "problem": "b", "label": "c"}
    with pytest.raises(UsageError, match=r"several columns could be the prompt \(question, problem\)"):
        detect_fields(list(row), [row])


def test_single_unknown_prompt_column_is_used_without_reference():
    row = {"text": "Tell me a story.", "meta": 3}
    detection = detect_fields(list(row), [row])
    assert (detection.prompt_field, detection.reference_field) == ("text", None)
    assert map_row(row, detection)["reference"] is None


def test_detection_reads_only_a_few_sample_rows():
    class Rows:
        touched = 0

        def __iter__(self):
            for i in range(10**9):
                Rows.touched += 1
                yield {"question": f"q{i}", "answer": f"{i}\n#### {i}"}

    detect_fields(["question", "answer"], Rows())
    assert Rows.touched <= dataset_utils.SAMPLE_ROWS + 1


# --- loading --------------------------------------------------------------------------------

ROWS = [{"question": f"What is {i}+1?", "answer": f"{i}+1={i + 1}\n#### {i + 1}"} for i in range(40)]


@pytest.fixture
def data_files(tmp_path):
    import datasets

    ds = datasets.Dataset.from_list(ROWS)
    paths = {
        "jsonl": tmp_path / "d.jsonl",
        "json": tmp_path / "d.json",
        "csv": tmp_path / "d.csv",
        "parquet": tmp_path / "d.parquet",
        "disk": tmp_path / "saved",
    }
    paths["jsonl"].write_text("\n".join(json.dumps(r) for r in ROWS))
    paths["json"].write_text(json.dumps(ROWS))
    ds.to_csv(str(paths["csv"]))
    ds.to_parquet(str(paths["parquet"]))
    datasets.DatasetDict({"train": ds, "test": ds.select(range(5))}).save_to_disk(str(paths["disk"]))
    return paths


@pytest.mark.parametrize("kind", ["jsonl", "json", "csv", "parquet", "disk"])
def test_loads_local_files_and_saved_folders(data_files, kind):
    train, held_out = dataset_utils.pick_splits(dataset_utils.load_any(str(data_files[kind]), local_only=True))
    assert set(train.column_names) == {"question", "answer"}
    assert len(held_out) == (5 if kind == "disk" else 2)
    assert len(train) == 40 - (0 if kind == "disk" else 2)


def test_carved_held_out_split_is_deterministic(data_files):
    loaded = dataset_utils.load_any(str(data_files["jsonl"]))
    first = dataset_utils.pick_splits(loaded, seed=1)[1]["question"]
    assert first == dataset_utils.pick_splits(loaded, seed=1)[1]["question"]
    assert first != dataset_utils.pick_splits(loaded, seed=2)[1]["question"]


@pytest.mark.parametrize(
    "content,needle", [(None, "file not found"), ("", "is empty"), ("{not json", "not valid JSON")]
)
def test_missing_empty_or_corrupt_files_give_one_line_errors(tmp_path, content, needle):
    path = tmp_path / "bad.jsonl"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UsageError, match=needle) as err:
        dataset_utils.load_any(str(path), local_only=True)
    assert "\n" not in str(err.value)


def test_local_only_hub_id_not_on_disk_names_the_download(monkeypatch):
    with pytest.raises(UsageError, match=r"'someone/missing' is not on disk.*hf download --repo-type dataset"):
        dataset_utils.load_any("someone/missing", local_only=True)


def test_prepare_drops_empty_prompts_and_says_so(caplog):
    import datasets

    ds = datasets.Dataset.from_list([{"question": "", "answer": "1\n#### 1"}, *ROWS[:3]])
    detection = dataset_utils.detect_dataset(ds)
    with caplog.at_level("WARNING"):
        prepared = dataset_utils.prepare(ds, detection)
    assert len(prepared) == 3 and "dropped 1 of 4" in caplog.text
    assert prepared[0]["reference"] == ROWS[0]["answer"]


# --- CLI ------------------------------------------------------------------------------------


def _cli(*args):
    return subprocess.run([sys.executable, "dataset_utils.py", *args], capture_output=True, text=True)


def test_inspect_cli_json_has_fields_and_extracted_answers(data_files):
    result = _cli(str(data_files["jsonl"]), "--json", "--local-only")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["prompt_field"], report["reference_field"], report["conversational"]) == (
        "question",
        "answer",
        False,
    )
    assert len(report["examples"]) == 3
    assert all(e["answer"] == e["reference"].rsplit("#### ", 1)[1] for e in report["examples"])


def test_inspect_cli_text_shows_reasons(data_files):
    result = _cli(str(data_files["csv"]), "--local-only")
    assert result.returncode == 0 and "family:          gsm8k" in result.stdout
    assert "because reference 'answer' by name: a worked solution, read to its marked final answer" in result.stdout


def test_inspect_cli_error_is_one_line_exit_2(tmp_path):
    result = _cli(str(tmp_path / "missing.jsonl"), "--local-only")
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
