"""answers.py (with answer_reading.py and answer_values.py): reading and comparing answers in every format, each next to a trap that must not match.

The formats follow those that the answer checkers of other projects test (Math-Verify,
lighteval, TRL, open-r1, AReaL, Hendrycks MATH, SQuAD); the rows are this suite's own.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import warnings
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grpo_suite import answer_reading, answers
from grpo_suite.answers import answers_match, extract_answer, extract_reference, extraction_matches, parse_number
from rewards import reference_reward


def _reward(completion, reference) -> float:
    return reference_reward([completion], reference=[reference])[0]


# Each row: completion, reference, expected reward. Rows come in pairs: a form, then its trap.
SHORT_UNMARKED = [
    ("Paris.", "Paris", 1.0),
    ("Paris.", "Lyon", 0.0),
    ("hello world", "Hello World", 1.0),
    ("hello world", "hello", 0.0),
    ("<answer>London</answer>", "london", 1.0),
    ("<answer>London</answer>", "Paris", 0.0),
    ("<answer>\nWe add them.\nThe answer is 12\n</answer>", "12", 1.0),
    ("<answer>The answer is 12</answer>", "21", 0.0),
    ("<answer> Jean has 28 left. So she fills 28 / 2 = 14 bags. </answer>", "14", 1.0),  # a worked answer in tags
    ("<answer> Jean has 28 left. So she fills 28 / 2 = 14 bags. </answer>", "28", 0.0),
    ("<think>It could be Paris, or London.</think>\nLondon", "London", 1.0),
    ("<think>Final answer: 5</think>\nFinal answer: 6", "5", 0.0),
    (
        "Some reasoning that runs on for a while about the capital cities of Europe and their rivers.\nLondon",
        "London",
        1.0,
    ),
    (
        "Some reasoning that runs on for a while about the capital cities of Europe and their rivers.\nRome",
        "London",
        0.0,
    ),
    ("She sells 16 - 3 - 4 = 9 eggs, so she makes 9 * 2 = 18 dollars.\nHope this helps!", "18", 1.0),
    ("She sells 16 - 3 - 4 = 9 eggs, so she makes 9 * 2 = 18 dollars.\nHope this helps!", "17", 0.0),
    ("The capital is $x = 7$ apples.<|im_end|>\n<|im_start|>user\nAnd 9?", "7", 1.0),
    ("The total is 9.<|im_end|>\n<|im_start|>user\nAnd 7?", "7", 0.0),
    ("Adding the two parts gives\n\\[\n\\frac{1}{2}\n\\]", "0.5", 1.0),  # a display block closed on its own line
    ("Adding the two parts gives\n\\[\n\\frac{1}{3}\n\\]", "0.5", 0.0),
    ("The capital of France.\nParis\n</answer>\n<br>", "Paris", 1.0),  # markup after the answer states nothing
    ("The capital of France.\nLyon\n</answer>\n<br>", "Paris", 0.0),
]

MULTIPLE_CHOICE = [
    ("(B)", "B", 1.0),
    ("(B)", "C", 0.0),
    ("B)", "B", 1.0),
    ("b", "C", 0.0),
    ("I am sure the correct answer is C", "C", 1.0),
    ("I am sure the correct answer is C", "A", 0.0),
    ("It is 4.1 m tall. Therefore, the answer (Yes or No) is No.", False, 1.0),  # zero-shot CoT's phrasing
    ("It is 4.1 m tall. Therefore, the answer (Yes or No) is No.", True, 0.0),
    ("The final answer is that the coin is heads up.\nTherefore, the answer (Yes or No) is Yes.", "yes", 1.0),
    ("Therefore, the answer (arabic numerals) is 18.", "81", 0.0),
    ("B。", "B", 1.0),
    ("B。不是 A", "A", 0.0),
    ("The answer: D, it cannot be A or B", "D", 1.0),
    ("The answer: D, it cannot be A or B", "A", 0.0),
    ("Answer: **Option C**", "C", 1.0),
    ("Answer: Option C", "(B) Carol", 0.0),
    ("Answer: Alina", "(D) Alina", 1.0),
    ("Answer: Cecile", "(D) Alina", 0.0),
    ("Answer: D", "(D) Alina", 1.0),
    ("Answer: (C) Alina", "(D) Alina", 0.0),  # the letter decides, whatever text follows it
    ("Answer: Paris", ["B", "Paris"], 1.0),  # dataset_utils' choice references: letter and option text
    ("Answer: (C) Paris", ["B", "Paris"], 0.0),
    ("C", "C Cecile", 1.0),
    ("C", "A Peter", 0.0),
    ("Let us think. It is not A, since that fails, so I would say it is B", "B", 1.0),
    ("Let us think. It is not B, since that fails, so I would say it is A", "B", 0.0),
    # Phrasings other checkers' tests use (Math-Verify, slime's GPQA reward), each with its trap.
    ("Final answer is B", "B", 1.0),
    ("Final answer is B, not C", "C", 0.0),
    ("My choice is D", "D", 1.0),
    ("My choice is D", "A", 0.0),
    ("I went through each. My final answer is (D)", "D", 1.0),
    ("My answer is A. It was never D", "D", 0.0),
    ("Checking each option, the final option is C", "C", 1.0),
    ("The correct option is C.", "(C) Alina", 1.0),
    ("The correct option is C.", "(B) Carol", 0.0),
    ("An option is B, but the best choice is A", "A", 1.0),
    ("An option is B, but the best choice is A", "B", 0.0),
    ("The answer is for sure D, it can't be A or B", "D", 1.0),  # lighteval's
    ("The answer is for sure D, it can't be A or B", "A", 0.0),
]

BOOLEANS = [
    ("Yes", "True", 1.0),
    ("Yes", "false", 0.0),
    ("No.", "false", 1.0),
    ("No.", True, 0.0),
    ("Answer: yes, because it rains", True, 1.0),
    ("Answer: no, because it is dry", "yes", 0.0),
    ("Answer: TRUE", "yes", 1.0),
    ("Answer: right", "yes", 0.0),  # only yes/no/true/false are booleans: "right" may be a direction
]

TEXT = [
    ("Answer: Mrs. Hilt", "Mrs. Hilt", 1.0),
    ("Answer: Mrs. Hill", "Mrs. Hilt", 0.0),
    ("Answer: U.S.", "U.S.", 1.0),
    ("Answer: the U.S. Army", "US Army", 1.0),
    ("Answer: the U.K. Army", "US Army", 0.0),
    ("Answer: No. I am your father", "No. I am your father", 1.0),
    ("Answer: No. I am your mother", "No. I am your father", 0.0),
    ("Answer: Dr. Who. He travels in time", "Dr. Who", 1.0),
    ("Answer: The Eiffel Tower!", "eiffel tower", 1.0),
    ("Answer: The Eiffel Tower", "Tower Bridge", 0.0),
    ("The answer is \\text{Evelyn}.", "$\\text{Evelyn}$", 1.0),
    ("The answer is \\text{Evelyn}.", "$\\text{Carla}$", 0.0),
    ("Answer: twelve", "12", 1.0),
    ("Answer: eleven", "12", 0.0),
    ("Final answer is Paris", "Paris", 1.0),
    ("This answer is Paris", "Paris", 0.0),  # "this answer is" marks nothing; a sentence is no short answer
    ("We count them all. Answer is forty three.", "43", 1.0),
    ("We count them all. Answer is forty three.", "34", 0.0),
    ("\\boxed{42}", "forty-two", 1.0),
    ("\\boxed{42}", "forty", 0.0),
    ("Answer: one hundred and six sheep", "106", 1.0),
    ("Answer: one, two", "12", 0.0),  # two numbers, not one
    ("Answer: definitely Paris", "Paris", 1.0),
    ("Answer: Just Dance", "Dance", 0.0),  # a title, not an adverb before the answer
    ("goosebumps", ["Goose-bumps", "Goose pimples"], 1.0),  # TriviaQA aliases: SQuAD deletes the hyphen
    ("goose", ["Goose-bumps", "Goose pimples"], 0.0),
    ("Answer: well-known", "well known", 1.0),
    ("Answer: well-known", "known", 0.0),
]

LATEX_NUMBERS = [
    ("The answer is $$\\frac{1}{2}$$", "0.5", 1.0),
    ("The answer is $$\\frac{1}{3}$$", "0.5", 0.0),
    ("Final answer:\n$$\n\\frac{3}{4}\n$$", "0.75", 1.0),
    ("\\boxed{\\left( \\frac{3}{4} \\right)}", "0.75", 1.0),
    ("\\boxed{\\left( \\frac{3}{4} \\right)}", "0.34", 0.0),
    ("\\boxed{1\\!000}", "1000", 1.0),
    ("\\boxed{1{,}000}", "1000", 1.0),
    ("\\boxed{1\\,000}", "1000", 1.0),
    ("\\boxed{11,\\! 111,\\! 100}", "11111100", 1.0),
    ("\\boxed{1{,}000}", "1", 0.0),
    ("Answer: 1 000", "1000", 1.0),
    ("Answer: 1 000", "1", 0.0),
    ("\\boxed{\\cfrac{1}{3}}", "1/3", 1.0),
    ("\\boxed{\\frac12}", "0.5", 1.0),
    ("\\boxed{\\frac 1 2}", "0.5", 1.0),
    ("\\boxed{\\frac3{3}}", "1", 1.0),
    ("\\boxed{\\frac12}", "12", 0.0),
    ("\\boxed{918\\frac{1}{2}}", "918.5", 1.0),
    ("\\boxed{918\\frac{1}{2}}", "459", 0.0),  # a mixed number, not 918 times a half
    ("1 \\times 10^3", "1000", 1.0),
    ("1 \\times 10^3", "3", 0.0),
    ("\\boxed{15\\text{ cm}}", "15", 1.0),
    ("\\boxed{15\\text{ cm}}", "150", 0.0),
    ("The distance is \\boxed{125\\textnormal{ miles}}.", "$125$ miles", 1.0),
    ("The distance is \\boxed{125\\textnormal{ miles}}.", "$125$ hours", 0.0),
    ("\\boxed{90^\\circ}", "90", 1.0),
    ("\\boxed{90^{\\circ}}", "$90^\\circ$", 1.0),
    ("\\boxed{45^\\circ}", "90", 0.0),
    ("x = 5", "5", 1.0),
    ("x = 5", "6", 0.0),
    ("\\boxed{x \\approx 3.14}", "3.14", 1.0),
    ("$x = \\frac{1}{3} \\approx 0.33$", "1/3", 1.0),
    ("\\boxed{x \\approx 3.14}", "3.15", 0.0),
    ("Final Answer: The final answer is $28 \\%$. I hope it is correct.", "28", 1.0),
    ("Final Answer: The final answer is $28 \\%$. I hope it is correct.", "0.28", 0.0),
    ("Answer: 1000,99", "1000.99", 1.0),
    ("Answer: 0,111", "0.111", 1.0),
    ("Answer: 0,111", "111", 0.0),
    ("The total is 42 apples.", "42", 1.0),
    ("Answer: 2 weeks", "2 days", 0.0),
    ("The largest $n$ is 34.", "34", 1.0),
    ("The angle is [90].", "90", 1.0),
    ("The angle is [60].", "90", 0.0),
]

FALSE_POSITIVES = [
    ("AZYUK2A", "2", 0.0),
    ("Answer: AZYUK2A", "azyuk2a", 1.0),
    ("\\boxed{\\frac{1+\\sqrt{5}}{2}}", "2", 0.0),
    ("\\boxed{\\frac{1+\\sqrt{5}}{2}}", "\\frac{1+\\sqrt5}{2}", 1.0),
    ("\\boxed{[0,9)}", "(0,9)", 0.0),
    ("\\boxed{(0,9)}", "(0,9)", 1.0),
    ("\\boxed{10, 4, -2}", "4, 12, -2", 0.0),  # a list is not its last number
    ("\\boxed{1, 2}", "12", 0.0),
    ("\\boxed{\\{3, 1\\}}", "1, 3", 1.0),  # a set, or a list of solutions, in any order
    ("\\boxed{\\{3, 2\\}}", "1, 3", 0.0),
    ("\\boxed{\\left[1, 5\\right)}", "[1,5)", 1.0),
    ("\\boxed{(1, 5)}", "[1,5)", 0.0),
    ("\\boxed{(5, 1)}", "(1, 5)", 0.0),  # a tuple keeps its order
    ("\\boxed{2\\sqrt{2}}", "\\sqrt{8}", 1.0),
    ("\\boxed{2\\sqrt{3}}", "\\sqrt{8}", 0.0),
    ("Answer: 180", "#### 18", 0.0),
]

SYMBOLIC = [
    ("\\boxed{10-4n}", "$10-4 n$", 1.0),
    ("\\boxed{10+4n}", "$10-4 n$", 0.0),
    ("\\boxed{[-2,1)}", "\\{x|-2\\leq x<1\\}", 1.0),
    ("\\boxed{[-2,1]}", "\\{x|-2\\leq x<1\\}", 0.0),
    ("\\boxed{(x+1)^2}", "x^2+2x+1", 1.0),
    ("\\boxed{(x-1)^2}", "x^2+2x+1", 0.0),
    ("\\boxed{\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}}", "\\begin{pmatrix}1 & 2\\\\ 3 & 4\\end{pmatrix}", 1.0),
    ("\\boxed{\\begin{pmatrix}1&2\\\\3&5\\end{pmatrix}}", "\\begin{pmatrix}1 & 2\\\\ 3 & 4\\end{pmatrix}", 0.0),
    ("\\boxed{2x+3}", "y = 2x + 3", 1.0),
    ("\\boxed{2x+4}", "y = 2x + 3", 0.0),
    ("\\boxed{\\{2, 1\\}}", "\\{1,2\\}", 1.0),
    ("\\boxed{\\{2, 3\\}}", "\\{1,2\\}", 0.0),
    ("Thus $x \\leq 2$ is our answer.", "$x <= 2$", 1.0),
    ("Thus $x \\geq 2$ is our answer.", "$x <= 2$", 0.0),
    ("So the roots are \\boxed{-2} and \\boxed{1}.", "1, -2", 1.0),
    ("\\boxed{0}", "a+3z=0", 0.0),  # a number does not answer an equation in two unknowns
    ("The answer is $\\sqrt{16}$", "4", 1.0),
    ("The answer is $\\sqrt{15}$", "4", 0.0),
    # References that list several answers (NuminaMath's, in Math-Verify's tests), and their traps.
    ("$\\boxed{-2,1}$.", "\\(\\boxed{1}\\) and \\(\\boxed{-2}\\).", 1.0),
    ("$\\boxed{-2,3}$.", "\\(\\boxed{1}\\) and \\(\\boxed{-2}\\).", 0.0),
    ("$\\boxed{1,2,3}$", "$1$ and $2$ and $3$", 1.0),
    ("$\\boxed{1,2}$", "$1$ and $2$ and $3$", 0.0),
    ("$\\boxed{6,8}$", "\\(\\boxed{6 \\text{ and } 8}\\)", 1.0),
    ("$\\boxed{6,9}$", "\\(\\boxed{6 \\text{ and } 8}\\)", 0.0),
    ("$p=5,q=2;p=7,q=2$", "\\boxed{ p = 5, q = 2 \\quad \\text{and} \\quad p = 7, q = 2}", 1.0),
    ("$p=5,q=2;p=7,q=3$", "\\boxed{ p = 5, q = 2 \\quad \\text{and} \\quad p = 7, q = 2}", 0.0),
    ("$\\boxed{\\{-12, -11, -10, -8\\}}$", "$-12;-11;-10;-8$", 1.0),  # ";" separates where "," is a decimal point
    ("$\\boxed{\\{-12, -11, -10, -9\\}}$", "$-12;-11;-10;-8$", 0.0),
    ("\\boxed{(4, 0, 6), (0, 0, 0), (0, -2, 0)}", "$(0;0;0),(0;-2;0),(4;0;6)$", 1.0),
    ("\\boxed{(4, 0, 6), (0, 0, 0), (0, -3, 0)}", "$(0;0;0),(0;-2;0),(4;0;6)$", 0.0),
    ("$\\boxed{7:32}$", "$S_{MBCN}:S=7:32$", 1.0),  # a ratio of names states its right-hand side
    ("$\\boxed{7:33}$", "$S_{MBCN}:S=7:32$", 0.0),
    ("$11:21$", "$V_{1}:V_{2}=11:21$", 1.0),
    ("$21:11$", "$V_{1}:V_{2}=11:21$", 0.0),
    ("Answer: salt and pepper", "pepper and salt", 0.0),  # words joined by "and" are text, not a list
]

# Answers that deny, hedge or list what they state earn nothing: a policy must not learn to list
# every option or to write "not 7". Each with the plain form it must not break.
HEDGES = [
    ("The answer is not 7", "7", 0.0),
    ("The answer is 7", "7", 1.0),
    ("The answer isn't 7", "7", 0.0),
    ("<answer> not 14 </answer>", "14", 0.0),
    ("Answer: not -7", "-7", 0.0),
    ("Answer: minus 14", "14", 0.0),
    ("Answer: negative fourteen", "-14", 1.0),
    ("Answer: A B C D", "A", 0.0),
    ("The answer is A, B, C or D", "A", 0.0),
    ("\\boxed{A}, \\boxed{B}", "A", 0.0),
    ("Final answer is B or C", "B", 0.0),
    ("My choice is (C) and (D)", "C", 0.0),
    ("My choice is (C), since D fails", "C", 1.0),
    ("Answer: Yes, No", True, 0.0),
    ("Answer: yes or no", True, 0.0),
    ("Answer: B is wrong", "B", 0.0),
    ("Option B is wrong, A is right", "B", 0.0),
    ("Answer: 7 is wrong", "7", 0.0),
    ("Answer: less than 7", "7", 0.0),
    ("Answer: 7 or more", "7", 0.0),
    ("Answer: about 7", "7", 1.0),
    ("Answer: 4 2", "42", 0.0),  # two numbers, not 42
    ("Answer: 1 000", "1000", 1.0),
    ("Therefore, the answer (Yes or No) is No, a chipmunk could not fit 100 chips in his mouth.", False, 1.0),
]

TABLES = {
    "hedges": HEDGES,
    "short_unmarked": SHORT_UNMARKED,
    "multiple_choice": MULTIPLE_CHOICE,
    "booleans": BOOLEANS,
    "text": TEXT,
    "latex_numbers": LATEX_NUMBERS,
    "false_positives": FALSE_POSITIVES,
    "symbolic": SYMBOLIC,
}


@pytest.mark.parametrize(
    "completion,reference,expected",
    [pytest.param(*row, id=f"{name}-{i}") for name, rows in TABLES.items() for i, row in enumerate(rows)],
)
def test_every_answer_format_matches_and_its_trap_does_not(completion, reference, expected):
    assert _reward(completion, reference) == expected


@pytest.mark.parametrize(
    "text,answer,source",
    [
        ("Final answer: 7\nThe answer is 8 \\boxed{9} 10", "7", "marker"),
        ("The answer is 8. \\boxed{9} and 10", "9", "boxed"),
        ("The answer is 8. Then 10", "8", "answer_is"),
        ("I am sure the correct answer is (C).", "(C)", "answer_is"),
        ("<answer>Paris</answer> or is it?", "Paris", "answer_tag"),
        ("Paris.", "Paris", "last_line"),
        ("We add.\n3 + 4 = 7, so 7 apples", "3 + 4 = 7, so 7 apples", "last_line"),
        ("x" * 100 + " so the pair is $(7, 6)$.", "(7, 6)", "last_math"),
        ("x" * 100 + " 3 * 4 = 12 and then it is 13.", "13", "last_number"),
        ("x" * 100 + " it is not A, so it is B", "B", "last_letter"),
        ("x" * 100 + " AZYUK2A", None, None),
        ("\\boxed{\\frac{a}{\\sqrt{b}}}", "\\frac{a}{\\sqrt{b}}", "boxed"),
        ("\\boxed{1}, \\boxed{2} \\text{ and } \\boxed{3}", "1, 2, 3", "boxed"),
        ("Answer: Mrs. Hilt. She had 5.", "Mrs. Hilt", "marker"),
    ],
)
def test_extraction_reads_markers_tags_boxes_then_short_lines_math_numbers_letters(text, answer, source):
    found = extract_answer(text)
    assert (found.answer, found.source) == (answer, source)


def test_unmarked_answers_are_not_marked_for_format_reward():
    assert extract_answer("Paris.", last_number=False).source is None
    assert extract_answer("<answer>Paris</answer>", last_number=False).source == "answer_tag"


@pytest.mark.parametrize(
    "reference,expected",
    [
        ("$10-4 n$", ["$10-4 n$"]),
        ("\\frac13", ["\\frac13"]),
        ("\\{x|-2\\leq x<1\\}", ["\\{x|-2\\leq x<1\\}"]),
        ("Paris", ["Paris"]),
        ("(D) Alina", ["(D) Alina"]),
        ("Mrs. Hilt", ["Mrs. Hilt"]),
        ("Natalia sold 48/2 = 24 clips.\n#### 1,234", ["1,234"]),
        ("... so the total is $\\boxed{\\frac{1}{2}}$.", ["\\frac{1}{2}"]),
        ("Alina and the answer is\n(C) Cecile", ["(C) Cecile"]),
        (
            "We first count the ways to choose the seats for the two of them, and then the ways to seat the "
            "remaining guests around the table. Solving the two equations for the two unknowns gives the "
            "ordered pair $(7, 6)$.",
            ["(7, 6)"],
        ),
        (True, ["yes", "true"]),
        ([" ", None], []),
    ],
)
def test_reference_short_answers_are_taken_whole_and_solutions_are_read(reference, expected):
    assert extract_reference(reference) == expected


# --- a proof or worked solution that ends in a sentence states no answer --------------------

PROOF = (
    "Write each odd number as twice an integer plus one. Adding them gives twice an integer plus two, "
    "which is twice another integer. Hence the sum is even, as claimed, and the proof is complete."
)
WORKED_THEN_PROSE = (
    "She had 3 apples and bought 4 more, so she had 3 + 4 = 7 apples at the end of the day.\n"
    "This settles the question that was asked about her basket at the market."
)


@pytest.mark.parametrize("reference", [PROOF, PROOF.replace(". ", ".\n"), WORKED_THEN_PROSE])
def test_a_solution_ending_in_a_long_plain_sentence_yields_no_reference_answer(reference):
    assert extract_reference(reference) == []
    last_sentence = reference.rsplit(". ", 1)[-1].rsplit("\n", 1)[-1]
    assert reference_reward([f"Final answer: {last_sentence}", "Final answer: 7"], reference=[reference] * 2) == [
        None,
        None,
    ]


def test_dataset_coverage_reports_a_proof_reference_as_not_earnable():
    from dataset_utils import measure_coverage

    coverage = measure_coverage(
        [{"prompt": "Prove it.", "reference": PROOF}, {"prompt": "Capital?", "reference": "Paris"}]
    )
    assert coverage.earns_reward == 0.5
    assert coverage.failures["reference_not_earned"][0]["row"] == 0


@pytest.mark.parametrize(
    "reference,expected",
    [
        ("Paris", "Paris"),
        ("Consider its parity.", "Consider its parity."),
        ("$10-4 n$", "$10-4 n$"),
        ("(D) Alina", "(D) Alina"),
        ("hello world", "hello world"),
        # a marker, a number, math or an option letter on the last line still states the answer
        (PROOF + " The answer is: even.", "even"),
        (PROOF + "\nSo the sum of 3 and 5 is 8", "8"),
        (PROOF + "\nHence the sum is $2(a + b + 1)$ for integers a and b here", "2(a + b + 1)"),
        (
            "C. The mitochondria is the organelle that makes most of the energy of the cell by respiration",
            "C. The mitochondria is the organelle that makes most of the energy of the cell by respiration",
        ),
    ],
)
def test_short_answers_and_answers_stated_on_the_last_line_are_kept(reference, expected):
    assert extract_reference(reference) == [expected]


_PLAIN_WORDS = st.sampled_from(
    "odd even sum integer twice hence claimed proof complete number gives adding "
    "another each write plus so which is as and we the of".split()
)


@given(st.lists(_PLAIN_WORDS, min_size=7, max_size=25).map(" ".join))
@settings(max_examples=100, deadline=None)
def test_any_long_plain_closing_sentence_of_a_solution_yields_no_answer(sentence):
    reference = f"{PROOF}\n{sentence.capitalize()}."
    assert extract_reference(reference) == []
    assert reference_reward([f"Final answer: {sentence}"], reference=[reference]) == [None]


@given(st.lists(_PLAIN_WORDS, min_size=1, max_size=6).map(" ".join))
@settings(max_examples=100, deadline=None)
def test_any_short_plain_answer_is_taken_whole_and_earns_its_reward(answer):
    assert extract_reference(answer) == [answer]
    assert reference_reward([f"Final answer: {answer}"], reference=[answer]) == [1.0]


# --- numbers in every written form ----------------------------------------------------------


def _written_forms(n: int) -> list[str]:
    grouped = f"{n:,}"
    return [
        grouped,
        grouped.replace(",", " "),
        grouped.replace(",", "{,}"),
        grouped.replace(",", "\\,"),
        f"${grouped}$",
        f"{n}.0",
        f"\\frac{{{2 * n}}}{{2}}",
        f"\\dfrac{{{3 * n}}}{{3}}",
        f"{n}e0",
        f"{n / 1000:g} \\times 10^3" if n % 1000 == 0 else f"{n} \\times 10^0",
    ]


@given(st.integers(min_value=1, max_value=10**9))
@settings(max_examples=150, deadline=None)
def test_a_number_survives_every_written_form_and_a_neighbour_does_not(n):
    for form in _written_forms(n):
        assert parse_number(form) == n, form
        assert answers_match(form, [str(n)], symbolic=False), form
        assert not answers_match(form, [str(n + 1)], symbolic=False), form
        assert extraction_matches(extract_answer(f"So it is $\\boxed{{{form}}}$."), extract_reference(f"#### {n:,}")), (
            form
        )


@given(
    st.integers(min_value=0, max_value=99),
    st.integers(min_value=1, max_value=99),
    st.integers(min_value=0, max_value=9),
)
@settings(max_examples=100, deadline=None)
def test_mixed_numbers_and_short_fractions_read_as_their_value(whole, num, den_extra):
    den = num + 1 + den_extra  # a proper fraction, as mixed numbers are written
    value = whole + Fraction(num, den)
    assert parse_number(f"{whole}\\frac{{{num}}}{{{den}}}") == value
    if num < 10 and den < 10:
        assert parse_number(f"\\frac{num}{den}") == Fraction(num, den)
        assert parse_number(f"\\frac {num} {den}") == Fraction(num, den)


_BRACKETS = ["({}, {})", "[{}, {}]", "({}, {}]", "[{}, {})"]


@given(
    st.integers(min_value=-20, max_value=20),
    st.integers(min_value=1, max_value=20),
    st.sampled_from(range(4)),
    st.sampled_from(range(4)),
)
@settings(max_examples=30, deadline=None)
def test_an_interval_never_equals_its_other_bracket_type(low, width, mine, theirs):
    answer = _BRACKETS[mine].format(low, low + width)
    reference = _BRACKETS[theirs].format(low, low + width)
    assert answers_match(f"\\boxed{{{answer}}}", [reference]) is (mine == theirs)


# --- math_verify: only where needed, under a time limit -------------------------------------


def test_numbers_text_lists_intervals_and_roots_never_call_math_verify():
    answers.clear_caches()
    pairs = [
        ("1,234", "1234"),
        ("17", "18"),
        ("Paris", "London"),
        ("(B)", "C"),
        ("Yes", "false"),
        ("\\frac{1}{2}", "0.5"),
        ("18 apples", "19"),
        ("Mrs. Hilt", "Mrs. Hill"),
        ("[1,5)", "(1,5)"),
        ("\\{1, 2\\}", "2, 1"),
        ("2\\sqrt{2}", "\\sqrt{8}"),
        ("3\\sqrt5", "2\\sqrt{5}"),
        ("2x+3", "y = 2x+3"),
    ]
    for answer, reference in pairs:
        answers_match(answer, [reference])
    assert answers.symbolic_match.cache_info().currsize == 0


def test_symbolic_pairs_go_to_math_verify_once_and_are_cached():
    answers.clear_caches()
    assert answers_match("(x+1)^2", ["x^2+2x+1"])
    assert answers_match("(x+1)^2", ["x^2+2x+1"])
    info = answers.symbolic_match.cache_info()
    assert (info.currsize, info.hits) == (1, 1)


def _burn_cpu():
    while True:
        pass


def test_time_limit_stops_a_slow_check_and_restores_the_signal_handlers():
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGALRM, signal.SIGVTALRM)}
    start = time.monotonic()
    assert answers.run_limited(_burn_cpu, (), 0.05) is None
    assert time.monotonic() - start < 30  # stopped, not waited out
    assert {sig: signal.getsignal(sig) for sig in before} == before
    assert signal.getitimer(signal.ITIMER_REAL) == signal.getitimer(signal.ITIMER_VIRTUAL) == (0.0, 0.0)


def test_the_limit_is_cpu_time_so_waiting_for_a_busy_machine_is_not_an_overrun():
    # Sleeping uses no CPU, as a pair does not while other jobs hold the cores.
    assert answers.run_limited(lambda: (time.sleep(0.3), "done")[1], (), 0.05) == "done"


def test_symbolic_verdicts_stay_right_with_every_core_busy():
    import multiprocessing

    burners = [multiprocessing.Process(target=_burn_cpu, daemon=True) for _ in range(3 * (os.cpu_count() or 2))]
    for p in burners:
        p.start()
    try:
        answers.clear_caches()
        assert answers_match("\\boxed{(x+1)^2}", ["x^2+2x+1"])
        assert answers_match("\\frac{\\sqrt{8}}{2}", ["\\sqrt{2}"])
        assert not answers_match("\\boxed{(x+1)^3}", ["x^2+2x+1"])
    finally:
        for p in burners:
            p.kill()
            p.join()


def test_an_overrun_is_retried_once_then_counted_and_announced_loudly_past_a_share(caplog, monkeypatch):
    from grpo_suite import symbolic

    monkeypatch.setattr(symbolic, "TIMEOUTS", {"pairs": 99, "retried": 0, "timeouts": 1})
    monkeypatch.setattr(symbolic, "_verify", _slow_verify)
    answers.clear_caches()
    with caplog.at_level("INFO", logger="grpo_suite.symbolic"):
        assert answers.symbolic_match("\\frac{(x+1)^{9}}{x^{3}}", "(x+1)^9 x^{-3}", 0.05) is False
    assert symbolic.TIMEOUTS == {"pairs": 100, "retried": 1, "timeouts": 2}
    text = caplog.text
    assert "trying once more with" in text and "MATH_VERIFY TIMED OUT ON 2 OF 100 SYMBOLIC PAIRS (2.0%)" in text
    assert symbolic.timeout_summary() == "math_verify: 100 symbolic pairs checked, 1 retried, 2 timed out"


def _slow_verify(answer, reference):
    """A pair math_verify cannot settle: it burns CPU until the limit stops it (a warm sympy settles
    any real pair within a timer tick, so no real pair overruns a tiny limit reliably)."""
    _burn_cpu()


def test_an_overrun_counts_as_no_match_instead_of_raising(monkeypatch):
    from grpo_suite import symbolic

    monkeypatch.setattr(symbolic, "_verify", _slow_verify)
    answers.clear_caches()
    assert answers.symbolic_match("\\frac{(x+1)^{9}}{x^{3}}", "(x+1)^9 x^{-3}", 0.05) is False


def test_math_verify_works_off_the_main_thread_through_a_worker_process():
    verdicts = {}

    def check():
        answers.clear_caches()
        verdicts["same"] = answers_match("\\boxed{(x+1)^2}", ["x^2+2x+1"])
        verdicts["other"] = answers_match("\\boxed{[0,9)}", ["(0,9)"])

    thread = threading.Thread(target=check)
    thread.start()
    thread.join(120)
    assert verdicts == {"same": True, "other": False}


def test_symbolic_checks_can_be_turned_off():
    assert not answers_match("(x+1)^2", ["x^2+2x+1"], symbolic=False)
    assert answers_match("x^2+2x+1", ["x^2 + 2x + 1"], symbolic=False)  # equal as written


# --- robustness -----------------------------------------------------------------------------

_ASCII_MARKERS = st.lists(
    st.sampled_from(
        [
            "answer",
            "Answer",
            "ANSWER",
            ":",
            "：",
            " ",
            "\n",
            "final",
            "Final ",
            "the ",
            "The ",
            "correct ",
            " is",
            "is",
            "s",
            "x",
            "_",
            "7",
            ".",
            "!",
            "my ",
            "My",
            "option",
            "Choice",
            "choice ",
            "\t",
        ]
    ),
    max_size=25,
).map("".join)


@given(_ASCII_MARKERS.filter(str.isascii))
@settings(max_examples=300, deadline=None)
def test_fast_marker_search_finds_what_the_regex_finds(text):
    low = text.lower()
    for pattern, after, before, words in (
        (answer_reading._MARKER_RE, answer_reading._COLON_AFTER, None, ("answer",)),
        (
            answer_reading._ANSWER_IS_RE,
            answer_reading._IS_AFTER,
            answer_reading._answer_is_start,
            answer_reading._IS_WORDS,
        ),
    ):
        fast = answer_reading._last_marker(text, low, pattern, after, before, words)
        slow = answer_reading._last_match(pattern, text)
        assert (fast is None) == (slow is None)
        if fast is not None:
            assert fast.end == slow.end
        if fast is not None and before is not None:  # "the answer is" starts after the spaces that open its sentence
            assert fast.start == slow.start + len(slow.text) - len(slow.text.lstrip())


_PIECES = st.sampled_from(
    [
        "$",
        "$$",
        "\\(",
        "\\)",
        "\\[",
        "\\]",
        "\\boxed{",
        "}",
        "{",
        "(",
        ")",
        "[",
        "]",
        ",",
        ".",
        ". ",
        "=",
        "\\approx",
        "1",
        "22",
        "-",
        "A",
        "B)",
        "Yes",
        "no",
        "Mrs.",
        "<answer>",
        "</answer>",
        "</think>",
        "<|im_end|>",
        "\\frac",
        "\\text{",
        " ",
        "\n",
        "Answer:",
        "the answer is",
        "0,5",
    ]
)


@given(st.lists(_PIECES, max_size=30).map("".join), st.lists(_PIECES, max_size=12).map("".join))
@settings(max_examples=300, deadline=None)
def test_any_pieces_extract_and_compare_without_error(completion, reference):
    found = extract_answer(completion)
    assert found.answer is None or isinstance(found.answer, str)
    assert answers_match(found.answer, extract_reference(reference), symbolic=False) in (True, False)


def test_symbolic_check_prints_no_sympy_deprecation_notices():
    # A chat template pasted as a reference: math_verify's parse of it makes SymPy warn about its
    # own internals, which once printed ten lines per pair to the terminal.
    template = (
        "{% for m in messages %}{% if m['role'] not in ['user', 'assistant', 'system'] %}"
        "{{ raise_exception('Unknown role ' + m['role'] + '\nsecond line') }}{% endif %}"
        "{{ m['content'] }}{% endfor %}"
    )
    answers.clear_caches()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert reference_reward(["top_k: 20\nloss_type: grpo\n"], reference=[template]) == [0.0]
    assert [str(w.message).strip().splitlines()[0] for w in caught] == []


_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen".split()
)
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def _spell(n: int, joiner: str) -> str:
    """An independent speller for the property below: 0 <= n < 10**6, tens joined by ``joiner``."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + (joiner + _ONES[n % 10] if n % 10 else "")
    if n < 1000:
        return _ONES[n // 100] + " hundred" + (" and " + _spell(n % 100, joiner) if n % 100 else "")
    return _spell(n // 1000, joiner) + " thousand" + (" " + _spell(n % 1000, joiner) if n % 1000 else "")


@given(st.integers(0, 999_999), st.sampled_from([" ", "-"]))
@settings(max_examples=300, deadline=None)
def test_a_number_spelled_in_words_matches_its_digits(n, joiner):
    words = _spell(n, joiner)
    assert answers_match(f"{n:,}", [words]) and answers_match(words, [str(n)])
    assert not answers_match(words, [str(n + 1)])
