"""rewards.py: reference matching through the components, registry, CLI and robustness.

The format tables of answer reading and comparing are in test_answers.py."""

from __future__ import annotations

import gzip
import json
import math
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rewards
from rewards import extract_reference, parse_number, reference_reward, score

MATCHES = [
    # completion, reference
    ("So she has 18 apples.\nFinal answer: 18", "#### 18"),
    ("Answer: 1,234", "#### 1234"),
    ("The total is $1,234.50.\nAnswer: $1234.5", "1234.50"),
    ("answer: 18.0", "18"),
    ("ANSWER: 0.5", "\\boxed{\\frac{1}{2}}"),
    ("Answer: 1/2", "0.5"),
    ("We get \\boxed{\\dfrac{3}{4}}.", "0.75"),
    ("We get \\boxed{\\frac{\\sqrt{2}}{2}}", "\\boxed{\\frac{\\sqrt{2}}{2}}"),
    ("The answer is 42.", "42"),
    ("The answer is: 7", "The answer is: 7"),
    ("Final Answer: The final answer is $18$. I hope it is correct.", "#### 18"),
    ("so 3 + 4 = 7", "#### 7"),
    ("Answer: -5", "#### -5"),
    ("Answer: −5", "-5"),
    ("Answer: 50%", "50"),
    ("Answer: 1.5e3", "1500"),
    ("Answer: 2.5 \\times 10^3", "2500"),
    ("Answer: $3 \\cdot 10^{-2}$", "0.03"),
    ("Answer: 18 apples", "#### 18"),
    ("Final answer:\n\n 12", "12"),
    ("answer: Paris.", ["Lyon", "paris"]),
    ("Answer: the Eiffel Tower", "Eiffel Tower"),
    ("Answer: (B)", ["B", "Paris"]),
    ("Answer: yes", True),
    ("\\boxed{\\frac12}", "0.5"),
    ("Answer: 1,000,000", "1000000"),
    ("Answer: €5", "5"),
]

MISMATCHES = [
    ("Answer: 180", "#### 18"),
    ("Answer: 1.8", "#### 18"),
    ("Answer: 18", "#### 180"),
    ("Answer: 19", "#### 18"),
    ("Answer: 1,2", "12"),
    ("Answer: 1/3", "0.33"),
    ("Answer: Paris", "London"),
    ("Answer: no", True),
    ("I think 18 is wrong. Answer: 17", "#### 18"),  # the marked answer beats numbers before it
    ("", "#### 18"),
    ("Answer: 1e400", "1"),
]


@pytest.mark.parametrize("completion,reference", MATCHES)
def test_reference_reward_matches_equivalent_answers(completion, reference):
    assert reference_reward([completion], reference=[reference]) == [1.0]


@pytest.mark.parametrize("completion,reference", MISMATCHES)
def test_reference_reward_rejects_different_answers(completion, reference):
    assert reference_reward([completion], reference=[reference]) == [0.0]


@pytest.mark.parametrize(
    "reference,expected",
    [
        ("Natalia sold 48/2 = 24 clips.\n#### 1,234", ["1,234"]),
        ("... so the total is $\\boxed{\\frac{1}{2}}$.", ["\\frac{1}{2}"]),
        ("Paris", ["Paris"]),
        (["4", "four"], ["4", "four"]),
        (False, ["no", "false"]),
        (None, []),
        ("", []),
    ],
)
def test_reference_extraction_reads_gsm8k_math_plain_and_lists(reference, expected):
    assert extract_reference(reference) == expected


@pytest.mark.parametrize(
    "text,value",
    [
        ("1,234", 1234),
        ("$1,234.50", 1234.5),
        ("-3", -3),
        ("+3", 3),
        ("50%", 50),
        ("1/2", 0.5),
        ("\\frac{1}{2}", 0.5),
        ("\\dfrac{3}{4}", 0.75),
        ("-\\frac{1}{4}", -0.25),
        ("1.5e3", 1500),
        ("7.", 7),
        ("18.0", 18),
        ("\\$5", 5),
        (".5", 0.5),
    ],
)
def test_parse_number_reads_real_formats(text, value):
    assert float(parse_number(text)) == pytest.approx(value)


@pytest.mark.parametrize("text", ["1,2", "abc", "1/0", "", "1e99999", "12abc", "1.2.3", "9" * 500])
def test_parse_number_refuses_what_is_not_one_number(text):
    assert parse_number(text) is None


def test_gsm8k_and_math_worked_solutions_earn_full_reference_reward():
    gsm8k = (
        "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips "
        "altogether in April and May.\n#### 72"
    )
    math_row = "The sum is $\\frac{1}{2} + \\frac{1}{4} = \\boxed{\\frac{3}{4}}$."
    assert reference_reward([gsm8k.replace("#### 72", "Answer: 72")], reference=[gsm8k]) == [1.0]
    assert reference_reward([math_row], reference=[math_row]) == [1.0]


def test_format_reward_prefers_marker_on_last_line():
    completions = ["3 + 4 = 7\nAnswer: 7", "Answer: 7\nbecause 3 + 4 = 7", "it is 7", "\\boxed{7}", "The answer is 7."]
    assert rewards.format_reward(completions) == [1.0, 0.5, 0.0, 1.0, 1.0]


def test_length_reward_is_one_below_target_and_falls_smoothly_to_zero():
    length_reward = rewards.make_length_reward(10, 20)
    values = length_reward(["x" * n for n in (0, 10, 12, 15, 18, 20, 50)])
    assert values[:2] == [1.0, 1.0] and values[-2:] == [0.0, 0.0]
    assert values[2] > values[3] > values[4] > 0
    assert values[3] == pytest.approx(0.5)
    assert length_reward.__name__ == "length_reward"


def test_boilerplate_penalty_catches_hedges_across_case_apostrophes_and_spacing():
    texts = [
        "As an AI language model, I can't.",
        "I’m just an   AI.",
        "I CANNOT HELP WITH that",
        "I don't have\npersonal opinions",
        "Answer: 7",
        "the AI model said 7",
    ]
    assert rewards.boilerplate_penalty(texts) == [-1.0, -1.0, -1.0, -1.0, 0.0, 0.0]


def test_conversational_completions_are_read_like_plain_ones():
    conversational = [[{"role": "assistant", "content": "Answer: 5"}]]
    assert reference_reward(conversational, reference=["5"]) == [1.0]
    assert rewards.format_reward(conversational) == [1.0]


def test_reference_reward_is_none_without_reference():
    assert reference_reward(["Answer: 5", "Answer: 5"], reference=[None, ""]) == [None, None]
    assert reference_reward(["Answer: 5"]) == [None]


def test_registry_names_are_pinned_and_match_function_names():
    assert list(rewards.REWARD_COMPONENTS) == [
        "reference_reward",
        "format_reward",
        "length_reward",
        "boilerplate_penalty",
    ]
    assert all(f.__name__ == name for name, f in rewards.REWARD_COMPONENTS.items())
    assert set(rewards.DEFAULT_WEIGHTS) == set(rewards.REWARD_COMPONENTS)


def test_build_reward_funcs_returns_functions_and_weights_in_order():
    funcs, weights = rewards.build_reward_funcs(["format_reward", "reference_reward"], {"format_reward": 0.7})
    assert [f.__name__ for f in funcs] == ["format_reward", "reference_reward"]
    assert weights == [0.7, rewards.DEFAULT_WEIGHTS["reference_reward"]]


def test_unknown_component_error_lists_valid_names():
    with pytest.raises(ValueError, match="unknown reward component 'accuracy'.*reference_reward, format_reward"):
        rewards.build_reward_funcs(["accuracy"])


@pytest.mark.parametrize("spec", ["format_reward=-1", "format_reward=abc", "format_reward", "format_reward=inf"])
def test_parse_weights_refuses_negative_or_non_numbers(spec):
    with pytest.raises(ValueError, match="format_reward"):
        rewards.parse_weights(spec)


def test_score_is_weighted_sum_of_components():
    total, parts = score("As an AI language model: Answer: 7", "#### 7")
    expected = sum(rewards.DEFAULT_WEIGHTS[k] * v for k, v in parts.items())
    assert total == pytest.approx(expected)
    assert parts["boilerplate_penalty"] == -1.0 and parts["reference_reward"] == 1.0
    total, parts = score("Answer: 7", "#### 7", {"reference_reward": 2.0})
    assert (total, list(parts)) == (2.0, ["reference_reward"])


# --- robustness -----------------------------------------------------------------------------

_EDGE = st.sampled_from(
    [
        "Answer:",
        "answer:",
        "\\boxed{",
        "}",
        "{",
        "####",
        "The answer is",
        "$",
        "%",
        ",",
        ".",
        "1",
        "9" * 50,
        "e",
        "-",
        "/",
        "\\frac{",
        "\n",
        " ",
        "1e999",
        "−",
        "½",
        "\x00",
    ]
)
_TEXT = st.lists(st.one_of(_EDGE, st.text(max_size=20)), max_size=30).map("".join)


@given(completion=_TEXT, reference=st.one_of(st.none(), _TEXT, st.lists(_TEXT, max_size=3), st.booleans()))
@settings(max_examples=400, deadline=None)
def test_no_input_makes_a_component_raise_or_leave_its_range(completion, reference):
    total, parts = score(completion, reference)
    assert math.isfinite(total)
    ranges = {
        "reference_reward": (0, 1),
        "format_reward": (0, 1),
        "length_reward": (0, 1),
        "boilerplate_penalty": (-1, 0),
    }
    for name, value in parts.items():
        if value is None:
            assert name == "reference_reward"
            continue
        low, high = ranges[name]
        assert math.isfinite(value) and low <= value <= high


@given(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from(["Answer: {}", "The answer is {}.", "\\boxed{{{}}}", "so {}"]),
)
@settings(max_examples=200, deadline=None)
def test_any_integer_in_any_format_matches_itself_and_not_a_neighbour(n, template):
    assert reference_reward([template.format(n)], reference=[f"#### {n:,}"]) == [1.0]
    assert reference_reward([template.format(n + 1)], reference=[f"#### {n}"]) == [0.0]


@given(st.integers(min_value=1, max_value=10**6), st.integers(min_value=1, max_value=1000))
@settings(max_examples=200, deadline=None)
def test_fractions_match_their_decimal_value(num, den):
    decimal = f"{num / den:.12g}"
    assert reference_reward([f"Answer: \\frac{{{num}}}{{{den}}}"], reference=[decimal]) == [1.0]


@pytest.mark.parametrize(
    "text",
    [
        "x" * 1_000_000 + " Answer: 5",
        "9" * 10_000,
        "answer " * 150_000,
        "\\boxed{" * 100_000,
        "1," * 500_000,
        "as an ai " * 100_000,
        "{" * 500_000,
    ],
)
def test_megabyte_and_ten_thousand_digit_inputs_score_without_error(text):
    total, parts = score(text, "5")
    assert math.isfinite(total)
    assert parts["length_reward"] == 0.0 or len(text) < rewards.DEFAULT_LENGTH_MAX


# --- CLI ------------------------------------------------------------------------------------


def _cli(*args, stdin=""):
    return subprocess.run([sys.executable, "rewards.py", *args], input=stdin, capture_output=True, text=True)


def test_cli_prints_one_json_line_per_input():
    lines = "\n".join(
        json.dumps(r)
        for r in [
            {"completion": "Answer: 72", "reference": "#### 72"},
            {"completion": "I think 71", "reference": "#### 72"},
            {"completion": "Hello", "reference": None},
        ]
    )
    result = _cli("--input", "-", stdin=lines)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["match"] for r in rows] == [True, False, None]
    assert [r["answer"] for r in rows] == ["72", "I think 71", "Hello"]
    assert rows[0]["total"] == pytest.approx(1.3)
    assert set(rows[0]["components"]) == set(rewards.REWARD_COMPONENTS)


def test_cli_judges_every_answer_format_with_the_same_output_keys():
    rows = [
        ({"completion": "<answer>London</answer>", "reference": "London"}, True),
        ({"completion": "The answer: D, it cannot be A", "reference": "(D) Alina"}, True),
        ({"completion": "Yes.", "reference": False}, False),
        ({"completion": "Answer: Mrs. Hilt", "reference": "Mrs. Hilt"}, True),
        ({"completion": "\\boxed{[0,9)}", "reference": "(0,9)"}, False),
        ({"completion": "\\boxed{10-4n}", "reference": "$10-4 n$"}, True),
        ({"completion": "AZYUK2A", "reference": "2"}, False),
    ]
    result = _cli("--input", "-", stdin="\n".join(json.dumps(row) for row, _ in rows))
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["match"] for o in out] == [expected for _, expected in rows]
    assert all(set(o) == {"match", "answer", "total", "components"} for o in out)
    assert out[0]["answer"] == "London"


def test_format_reward_counts_answer_tags_but_not_unmarked_short_answers():
    assert rewards.format_reward(["<answer>7</answer>", "7", "Paris."]) == [1.0, 0.0, 0.0]


def test_combine_totals_each_function_even_when_names_repeat():
    def first(completions, **kwargs):
        return [1.0]

    def second(completions, **kwargs):
        return [0.5]

    second.__name__ = "first"
    total, parts = rewards.combine([first, second], [1.0, 2.0], "x")
    assert total == 2.0 and parts == {"first": 0.5}


def test_cli_weights_override_changes_total():
    result = _cli(
        "--input", "-", "--weights", "reference_reward=3", stdin='{"completion": "Answer: 1", "reference": "1"}'
    )
    assert json.loads(result.stdout)["total"] == pytest.approx(3.3)


@pytest.mark.parametrize("stdin,needle", [('{"completion": "a"}\nnot json\n', "line 2"), ("[1, 2]\n", "line 1")])
def test_cli_bad_line_is_one_line_error_with_line_number(stdin, needle):
    result = _cli("--input", "-", stdin=stdin)
    assert result.returncode == 2
    assert needle in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_cli_unknown_weight_name_fails_cleanly():
    result = _cli("--input", "-", "--weights", "bogus=1", stdin="")
    assert result.returncode == 2 and "valid names" in result.stderr


def _cli_bytes(*args, stdin: bytes):
    return subprocess.run([sys.executable, "rewards.py", *args], input=stdin, capture_output=True)


@pytest.mark.parametrize(
    "stdin,needle",
    [
        (
            '{"completion": "caf\xe9", "reference": "caf\xe9"}\n'.encode("latin-1"),
            "line 1 of standard input is not UTF-8",
        ),
        ('{"completion": "a"}\n'.encode("utf-16"), "is UTF-16; save it as UTF-8"),
        (gzip.compress(b'{"completion": "a"}\n'), "is gzip-compressed"),
        (b"", "holds no rows"),
        (b"\n\n", "holds no rows"),
    ],
)
def test_cli_names_an_encoding_or_empty_input_in_one_line(stdin, needle):
    result = _cli_bytes("--input", "-", stdin=stdin)
    assert result.returncode == 2 and result.stdout == b""
    err = result.stderr.decode()
    assert needle in err and len(err.strip().splitlines()) == 1


def test_cli_reads_a_byte_order_mark_and_chat_content_parts():
    row = {
        "completion": [{"role": "assistant", "content": [{"type": "text", "text": "Answer: Paris"}]}],
        "reference": {"aliases": ["Paris", "Paree"], "value": "Paris"},
    }
    result = _cli_bytes("--input", "-", stdin=b"\xef\xbb\xbf" + json.dumps(row).encode() + b"\n")
    out = json.loads(result.stdout)
    assert result.returncode == 0 and out["match"] is True and out["answer"] == "Paris"


def test_a_reference_object_without_an_answer_key_is_no_reference():
    assert reference_reward(["Answer: 7"], reference=[{}]) == [None]
    assert reference_reward(["Answer: 7"], reference=[{"text": ["7"], "answer_start": [3]}]) == [1.0]


def test_cli_refuses_a_weight_given_twice():
    result = _cli("--input", "-", "--weights", "reference_reward=1,reference_reward=2", stdin='{"completion": "a"}\n')
    assert result.returncode == 2 and "given twice" in result.stderr
