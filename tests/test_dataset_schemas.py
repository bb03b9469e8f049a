"""Real schemas in, right prompt and reference out: one fixture per family and per trap.

Each row below is written here in the real dataset's column names and types (checked against
the dataset cards and the files the datasets ship). Each case asserts the fields detection
picks, what the prompt must contain, and that the reference is earned by a correct final
answer and not by a plausible wrong one.
"""

from __future__ import annotations

import pytest

import rewards
from dataset_utils import ANSWER_INSTRUCTION, UsageError, detect_fields, has_no_reference, instruction_for, map_row

USER = "user"


def _text(prompt) -> str:
    return "\n".join(m["content"] for m in prompt) if isinstance(prompt, list) else str(prompt)


def _earns(reference, answer: str) -> bool:
    return rewards.reference_reward([f"Step by step.\nFinal answer: {answer}"], reference=[reference]) == [1.0]


# name: (rows, prompt_fields, reference_field, fragments in prompt, correct answer, plausible wrong answer)
CASES = {
    "gsm8k": (
        [
            {
                "question": "Tom has 3 bags of 4 apples. How many apples?",
                "answer": "He has 3*4=<<3*4=12>>12 apples.\n#### 12",
            }
        ],
        ("question",),
        "answer",
        ["3 bags"],
        "12",
        "13",
    ),
    "math_competition": (
        [
            {
                "problem": "What is $\\frac{1}{2}+\\frac{1}{2}$?",
                "level": "Level 1",
                "type": "Algebra",
                "solution": "The sum is $\\boxed{1}$.",
            }
        ],
        ("problem",),
        "solution",
        ["frac"],
        "1",
        "2",
    ),
    "math500": (
        [
            {
                "problem": "Find $x$ if $2x=6$.",
                "solution": "Divide: $x=\\boxed{3}$.",
                "answer": "3",
                "subject": "Algebra",
                "level": 1,
                "unique_id": "test/algebra/1.json",
            }
        ],
        ("problem",),
        "answer",
        ["2x=6"],
        "3",
        "6",
    ),
    "aime24_duplicate_question": (
        [
            {
                "id": 60,
                "problem": "Find the number of minutes the walk takes.",
                "solution": "Long work...",
                "answer": "204",
                "url": "https://x",
                "question": "Find the number of minutes the walk takes.",
            }
        ],
        ("problem",),
        "answer",
        ["minutes"],
        "204",
        "240",
    ),
    "amc23_float_answer": (
        [
            {
                "id": 0,
                "problem": "How many miles from City A?",
                "answer": 27.0,
                "url": "u",
                "question": "How many miles from City A?",
            }
        ],
        ("problem",),
        "answer",
        ["miles"],
        "27",
        "28",
    ),
    "minerva": (
        [
            {
                "problem": "Find the diameter in cm.",
                "solution": "So $s=\\boxed{1.6}$ cm.",
                "type": "Introduction to Astronomy",
                "idx": 0,
            }
        ],
        ("problem",),
        "solution",
        ["diameter"],
        "1.6",
        "16",
    ),
    "gaokao_symbolic_set": (
        [
            {
                "source": "2023BJ/01Q.en",
                "question": "Given sets M and N, find $M \\cap N$.",
                "lang": "en",
                "answer": "$\\{x|-2\\leq x < 1\\}$",
            }
        ],
        ("question",),
        "answer",
        ["M \\cap N"],
        "$\\{x|-2\\leq x < 1\\}$",
        "1",
    ),
    "college_math_expression": (
        [
            {
                "data_source": "college_math.Algebra",
                "question_number": "exercise.0.4.61",
                "question": "Simplify: $-10-4(n-5)$",
                "answer": "$10-4 n$",
                "license": "CC BY 3.0",
                "data_topic": "college_math.algebra",
            }
        ],
        ("question",),
        "answer",
        ["Simplify"],
        "$10-4 n$",
        "-4",
    ),
    "short_fraction": (
        [{"question": "What is one third as a fraction?", "answer": "\\frac13"}],
        ("question",),
        "answer",
        ["one third"],
        "\\frac13",
        "13",
    ),
    "olympiadbench_final_answer_list": (
        [
            {
                "id": 1606,
                "subfield": "Combinatorics",
                "context": None,
                "question": "How many moves does Sergey need?",
                "solution": ["Sergey needs 2 moves.\n\nFirst we show ... $\\boxed{2}$"],
                "final_answer": ["2"],
                "is_multiple_answer": False,
                "unit": None,
                "answer_type": "Numerical",
                "error": None,
            }
        ],
        ("question",),
        "final_answer",
        ["Sergey"],
        "2",
        "3",
    ),
    "svamp": (
        [
            {
                "ID": "chal-777",
                "Body": "There are 290 bananas in 2 groups.",
                "Question": "How big is each group?",
                "Equation": "( 290.0 / 2.0 )",
                "Answer": 145.0,
                "Type": "Common-Division",
            }
        ],
        ("Body", "Question"),
        "Answer",
        ["290 bananas", "each group"],
        "145",
        "290",
    ),
    "asdiv_body_and_unit": (
        [
            {
                "body": "Seven red apples and two green apples are in the basket.",
                "question": "How many apples are in the basket?",
                "solution_type": "Addition",
                "answer": "9 (apples)",
                "formula": "7+2=9",
            }
        ],
        ("body", "question"),
        "answer",
        ["Seven red apples", "How many apples"],
        "9",
        "7",
    ),
    "mawps": (
        [{"input": "Joan found 70 seashells and gave some away. She has 27. How many did she give?", "target": 43.0}],
        ("input",),
        "target",
        ["seashells"],
        "43",
        "27",
    ),
    "mgsm_answer_number": (
        [
            {
                "question": "Roger has 5 balls and buys 6 more. How many?",
                "answer": "Step-by-Step Answer: Roger started with 5 balls. 5 + 6 = 11. The answer is 11.",
                "answer_number": 11,
                "equation_solution": "5 + 6 = 11",
            }
        ],
        ("question",),
        "answer_number",
        ["Roger"],
        "11",
        "6",
    ),
    "aqua_rat": (
        [
            {
                "question": "Two numbers sum to 10 and differ by 0. What is each?",
                "options": ["A)21", "B)5", "C)10", "D)2", "E)None of these"],
                "rationale": "Each is 10/2 = 5.",
                "correct": "B",
            }
        ],
        ("question", "options"),
        "correct",
        ["Two numbers", "B. 5", "E. None of these"],
        "B",
        "C",
    ),
    "mathqa_options_string": (
        [
            {
                "Problem": "a shopkeeper sold an article for 2564.36 . what was the cost price ?",
                "Rationale": '"cp = 2564.36 * 100 / 94 = 2728 answer : c"',
                "options": "a ) 2000 , b ) 2520 , c ) 2728 , d ) 2800 , e ) none of these",
                "correct": "c",
                "annotated_formula": "divide(2564.36, 0.94)",
                "linear_formula": "divide(n0,n1)|",
                "category": "gain",
            }
        ],
        ("Problem", "options"),
        "correct",
        ["shopkeeper", "C. 2728", "E. none of these"],
        "C",
        "A",
    ),
    "sat_math_options_string": (
        [
            {
                "id": "0",
                "question": "Which of the following must be true?",
                "options": "A) $f(-6)=0$ B) $f(6)=-6$ C) $f(-6)=6$ D) $f(0)=-6$",
                "Answer": "A",
            }
        ],
        ("question", "options"),
        "Answer",
        ["A. $f(-6)=0$", "D. $f(0)=-6$"],
        "A",
        "B",
    ),
    "mmlu": (
        [
            {
                "question": "What is 2+2?",
                "subject": "elementary_mathematics",
                "choices": ["3", "4", "5", "6"],
                "answer": 1,
            }
        ],
        ("question", "choices"),
        "answer",
        ["B. 4"],
        "B",
        "C",
    ),
    "mmlu_pro": (
        [
            {
                "question_id": 70,
                "question": "Which gas do plants absorb?",
                "options": ["oxygen", "nitrogen", "carbon dioxide", "helium"],
                "answer": "C",
                "answer_index": 2,
                "cot_content": "",
                "category": "biology",
                "src": "ori_mmlu",
            }
        ],
        ("question", "options"),
        "answer_index",
        ["C. carbon dioxide"],
        "C",
        "A",
    ),
    "arc_hub": (
        [
            {
                "id": "Mercury_1",
                "question": "Which is a mammal?",
                "choices": {"text": ["shark", "whale", "trout"], "label": ["A", "B", "C"]},
                "answerKey": "B",
            }
        ],
        ("question", "choices"),
        "answerKey",
        ["B. whale"],
        "B",
        "A",
    ),
    "arc_original_nested": (
        [
            {
                "id": "Mercury_2",
                "question": {
                    "stem": "Which planet is largest?",
                    "choices": [
                        {"text": "Mars", "label": "A"},
                        {"text": "Jupiter", "label": "B"},
                        {"text": "Venus", "label": "C"},
                    ],
                },
                "answerKey": "B",
            }
        ],
        ("question.stem", "question.choices"),
        "answerKey",
        ["largest", "B. Jupiter"],
        "B",
        "A",
    ),
    "arc_numeric_labels": (
        [
            {
                "id": "NYSEDREGENTS_1",
                "question": {
                    "stem": "How many legs has an insect?",
                    "choices": [{"text": "4", "label": "1"}, {"text": "6", "label": "2"}, {"text": "8", "label": "3"}],
                },
                "answerKey": "2",
            }
        ],
        ("question.stem", "question.choices"),
        "answerKey",
        ["B. 6"],
        "B",
        "C",
    ),
    "openbookqa_original": (
        [
            {
                "id": "7-980",
                "question": {
                    "stem": "The sun is responsible for",
                    "choices": [
                        {"text": "puppies learning new tricks", "label": "A"},
                        {"text": "plants sprouting", "label": "B"},
                    ],
                },
                "answerKey": "B",
                "fact1": "the sun is the source of energy for plants",
            }
        ],
        ("question.stem", "question.choices"),
        "answerKey",
        ["The sun", "B. plants sprouting"],
        "B",
        "A",
    ),
    "openbookqa_hub": (
        [
            {
                "id": "7-980",
                "question_stem": "The sun is responsible for",
                "choices": {"text": ["puppies", "plants sprouting"], "label": ["A", "B"]},
                "answerKey": "B",
            }
        ],
        ("question_stem", "choices"),
        "answerKey",
        ["B. plants sprouting"],
        "B",
        "A",
    ),
    "commonsenseqa_original": (
        [
            {
                "answerKey": "A",
                "id": "075e",
                "question": {
                    "question_concept": "revolving door",
                    "choices": [{"label": "A", "text": "bank"}, {"label": "B", "text": "library"}],
                    "stem": "A revolving door is convenient for two direction travel, but it also serves as a security measure at a what?",
                },
            }
        ],
        ("question.stem", "question.choices"),
        "answerKey",
        ["revolving door", "A. bank"],
        "A",
        "B",
    ),
    "gaokao_options_dict": (
        [
            {
                "passage": None,
                "question": "设集合 A, B, 则 $A \\cap B=$ ( )",
                "options": {
                    "A": "$\\{x \\mid x>-1\\}$",
                    "B": "$\\{x \\mid x \\geq 1\\}$",
                    "C": "$\\{x \\mid-1<x<1\\}$",
                    "D": "$\\{x \\mid 1 \\leq x<2\\}$",
                },
                "label": "D",
                "answer": None,
                "other": {"source": "2021"},
            }
        ],
        ("question", "options"),
        "label",
        ["D. $\\{x \\mid 1 \\leq x<2\\}$"],
        "D",
        "A",
    ),
    "medmcqa_option_columns": (
        [
            {
                "id": "e9ad",
                "question": "Which vitamin is fat soluble?",
                "opa": "Vitamin C",
                "opb": "Vitamin B1",
                "opc": "Vitamin K",
                "opd": "Vitamin B12",
                "cop": 2,
                "choice_type": "single",
                "exp": "K is.",
                "subject_name": "Biochemistry",
                "topic_name": "Vitamins",
            },
            {
                "id": "x2",
                "question": "Q2?",
                "opa": "a",
                "opb": "b",
                "opc": "c",
                "opd": "d",
                "cop": 0,
                "choice_type": "single",
                "exp": None,
                "subject_name": "S",
                "topic_name": None,
            },
        ],
        ("question", "opa", "opb", "opc", "opd"),
        "cop",
        ["C. Vitamin K"],
        "C",
        "D",
    ),
    "mmlu_letter_columns": (
        [{"input": "Which is prime?", "A": "4", "B": "6", "C": "7", "D": "9", "target": "C"}],
        ("input", "A", "B", "C", "D"),
        "target",
        ["C. 7"],
        "C",
        "B",
    ),
    "winogrande_option_columns": (
        [
            {
                "sentence": "The trophy does not fit in the suitcase because the _ is too big.",
                "option1": "trophy",
                "option2": "suitcase",
                "answer": "1",
            },
            {"sentence": "s2 _", "option1": "x", "option2": "y", "answer": "2"},
        ],
        ("sentence", "option1", "option2"),
        "answer",
        ["A. trophy", "B. suitcase"],
        "A",
        "B",
    ),
    "piqa": (
        [
            {
                "goal": "To separate egg whites,",
                "sol1": "squeeze a bottle over the yolk",
                "sol2": "use a fork",
                "label": 0,
            },
            {"goal": "g", "sol1": "a", "sol2": "b", "label": 1},
        ],
        ("goal", "sol1", "sol2"),
        "label",
        ["A. squeeze"],
        "A",
        "B",
    ),
    "race_article": (
        [
            {
                "example_id": "high1",
                "article": "Tom walked to school in the rain.",
                "answer": "B",
                "question": "How did Tom go to school?",
                "options": ["by bus", "on foot", "by car", "by bike"],
            }
        ],
        ("article", "question", "options"),
        "answer",
        ["Tom walked", "B. on foot"],
        "B",
        "A",
    ),
    "hellaswag": (
        [
            {
                "ind": 4,
                "activity_label": "Removing ice from car",
                "ctx_a": "Then, the man writes.",
                "ctx_b": "then",
                "ctx": "Then, the man writes over the snow covering the window of a car.",
                "endings": ["drives away", "uses a brush", "stands still", "sings"],
                "source_id": "x",
                "split": "train",
                "split_type": "indomain",
                "label": "1",
            },
            {
                "ind": 5,
                "activity_label": "a",
                "ctx_a": "b",
                "ctx_b": "c",
                "ctx": "d",
                "endings": ["1", "2"],
                "source_id": "y",
                "split": "train",
                "split_type": "indomain",
                "label": "0",
            },
        ],
        ("ctx", "endings"),
        "label",
        ["snow covering", "B. uses a brush"],
        "B",
        "A",
    ),
    "boolq": (
        [{"question": "is the sky blue", "title": "Sky", "answer": True, "passage": "The sky is blue on clear days."}],
        ("passage", "question"),
        "answer",
        ["The sky is blue on clear days.", "is the sky blue"],
        "yes",
        "no",
    ),
    "squad_hub": (
        [
            {
                "id": "5733",
                "title": "Notre_Dame",
                "context": "The Grotto is at Notre Dame.",
                "question": "Where is the Grotto?",
                "answers": {"text": ["Notre Dame"], "answer_start": [16]},
            }
        ],
        ("context", "question"),
        "answers.text",
        ["The Grotto is at", "Where is"],
        "Notre Dame",
        "Paris",
    ),
    "triviaqa_hub": (
        [
            {
                "question": "Who wrote Hamlet?",
                "question_id": "tc_1",
                "question_source": "http://x",
                "answer": {
                    "aliases": ["Shakespeare", "The Bard"],
                    "normalized_aliases": ["shakespeare"],
                    "matched_wiki_entity_name": "",
                    "normalized_matched_wiki_entity_name": "",
                    "normalized_value": "william shakespeare",
                    "type": "WikipediaEntity",
                    "value": "William Shakespeare",
                },
            }
        ],
        ("question",),
        "answer",
        ["Hamlet"],
        "The Bard",
        "Marlowe",
    ),
    "truthfulqa_csv_columns": (
        [
            {
                "Type": "Adversarial",
                "Category": "Misconceptions",
                "Question": "What happens if you eat watermelon seeds?",
                "Best Answer": "The watermelon seeds pass through your digestive system",
                "Best Incorrect Answer": "You grow watermelons in your stomach",
                "Correct Answers": "Nothing happens; You eat watermelon seeds",
                "Incorrect Answers": "You grow watermelons in your stomach; You get sick",
                "Source": "https://x",
            }
        ],
        ("Question",),
        "Best Answer",
        ["watermelon seeds?"],
        "Nothing happens",
        "You grow watermelons in your stomach",
    ),
    "sciq_support": (
        [
            {
                "question": "What type of organism is commonly used in preparation of foods such as cheese?",
                "distractor3": "viruses",
                "distractor1": "protozoa",
                "distractor2": "gymnosperms",
                "correct_answer": "mesophilic organisms",
                "support": "Mesophiles grow best in moderate temperature.",
            }
        ],
        ("support", "question"),
        "correct_answer",
        ["Mesophiles grow", "cheese"],
        "mesophilic organisms",
        "viruses",
    ),
    "openmathinstruct2": (
        [
            {
                "problem": "What is 6*7?",
                "generated_solution": "6*7 = \\boxed{42}",
                "expected_answer": "42",
                "problem_source": "augmented_math",
            }
        ],
        ("problem",),
        "expected_answer",
        ["6*7"],
        "42",
        "43",
    ),
    "numinamath_cot": (
        [
            {
                "source": "amc_aime",
                "problem": "Compute 2+3.",
                "solution": "It is $\\boxed{5}$.",
                "messages": [
                    {"role": USER, "content": "Compute 2+3."},
                    {"role": "assistant", "content": "It is $\\boxed{5}$."},
                ],
            }
        ],
        ("problem",),
        "solution",
        ["Compute 2+3."],
        "5",
        "6",
    ),
    "deepscaler": (
        [{"problem": "Find the sum of 1 and 2.", "answer": "3", "solution": "1+2 = 3. \\boxed{3}"}],
        ("problem",),
        "answer",
        ["sum"],
        "3",
        "4",
    ),
    "metamathqa": (
        [
            {
                "type": "GSM_Rephrased",
                "query": "What is 3+4?",
                "original_question": "Add 3 and 4.",
                "response": "3+4=7.\nThe answer is: 7",
            }
        ],
        ("query",),
        "response",
        ["3+4"],
        "7",
        "8",
    ),
    "orca_math": (
        [
            {
                "question": "A train goes 60 km/h for 2 h. How far does it go?",
                "answer": "To find the distance, multiply speed by time.\n\nDistance = 60 km/h * 2 h = 120 km.",
            }
        ],
        ("question",),
        "answer",
        ["train"],
        "120",
        "60",
    ),
    "reference_after_A_colon": (
        [{"question": "Capital of France?", "answer": "A: Paris"}],
        ("question",),
        "answer",
        ["Capital"],
        "Paris",
        "Lyon",
    ),
    "qa_text_column": ([{"text": "Q: What is 5+5?\nA: 10"}], ("text",), "text", ["What is 5+5?"], "10", "5"),
    "tulu3_rlvr": (
        [
            {
                "messages": [{"role": USER, "content": "Question: What is 7*6?\nAnswer:"}],
                "ground_truth": "42",
                "dataset": "gsm8k",
            }
        ],
        ("messages",),
        "ground_truth",
        ["7*6"],
        "42",
        "48",
    ),
    "verl_dapo": (
        [
            {
                "data_source": "math_dapo",
                "prompt": [{"content": "Solve: 2^5 = ?\nAnswer: $Answer", "role": USER}],
                "ability": "MATH",
                "reward_model": {"ground_truth": "32", "style": "rule-lax"},
                "extra_info": {"index": "9a9b"},
            }
        ],
        ("prompt",),
        "reward_model.ground_truth",
        ["2^5"],
        "32",
        "10",
    ),
    "verl_gsm8k": (
        [
            {
                "data_source": "openai/gsm8k",
                "prompt": [{"role": USER, "content": "Tom has 2 apples and buys 3. Let's think step by step."}],
                "ability": "math",
                "reward_model": {"style": "rule", "ground_truth": "5"},
                "extra_info": {
                    "split": "train",
                    "index": 0,
                    "answer": "2+3=<<2+3=5>>5\n#### 5",
                    "question": "Tom has 2 apples and buys 3.",
                },
            }
        ],
        ("prompt",),
        "reward_model.ground_truth",
        ["step by step"],
        "5",
        "6",
    ),
    "kto_trl": (
        [
            {"prompt": "Capital of Spain?", "completion": "Madrid", "label": True},
            {"prompt": "Capital of Peru?", "completion": "Quito", "label": False},
        ],
        ("prompt",),
        "completion",
        ["Spain"],
        "Madrid",
        "Quito",
    ),
    "kto_llamafactory": (
        [
            {
                "messages": [{"content": "Capital of Japan?", "role": USER}, {"content": "Tokyo", "role": "assistant"}],
                "label": True,
            }
        ],
        ("messages",),
        "messages",
        ["Japan"],
        "Tokyo",
        "Kyoto",
    ),
    "sharegpt_fastchat": (
        [
            {
                "id": "x1",
                "conversations": [{"from": "human", "value": "Capital of France?"}, {"from": "gpt", "value": "Paris"}],
            }
        ],
        ("conversations",),
        "conversations",
        ["Capital of France?"],
        "Paris",
        "Lyon",
    ),
    "content_parts": (
        [
            {
                "messages": [
                    {"role": USER, "content": [{"type": "text", "text": "Largest ocean?"}]},
                    {"role": "assistant", "content": [{"type": "text", "text": "Pacific"}]},
                ]
            }
        ],
        ("messages",),
        "messages",
        ["Largest ocean?"],
        "Pacific",
        "Atlantic",
    ),
    "llamafactory_v1_parts": (
        [
            {
                "messages": [
                    {"role": USER, "content": [{"type": "text", "value": "hi there"}], "loss_weight": 0.0},
                    {"role": "assistant", "content": [{"type": "text", "value": "Hello"}], "loss_weight": 1.0},
                ]
            }
        ],
        ("messages",),
        "messages",
        ["hi there"],
        "Hello",
        "Bye",
    ),
    "mt_bench": (
        [{"question_id": 111, "category": "math", "turns": ["What is 3*5?", "And 3*6?"], "reference": ["15", "18"]}],
        ("turns",),
        "reference",
        ["3*5"],
        "15",
        "18",
    ),
    "alpaca": (
        [{"instruction": "Translate to French.", "input": "cat", "output": "chat"}],
        ("instruction", "input"),
        "output",
        ["Translate", "cat"],
        "chat",
        "chien",
    ),
    "dolly": (
        [
            {
                "instruction": "Who wrote it?",
                "context": "Hamlet is a play by Shakespeare.",
                "response": "Shakespeare",
                "category": "closed_qa",
            }
        ],
        ("context", "instruction"),
        "response",
        ["Hamlet is", "Who wrote"],
        "Shakespeare",
        "Marlowe",
    ),
    "capitalised_columns": (
        [{"ID": "1", "Problem": "What is 9-4?", "Solution": "We subtract.\nSo $\\boxed{5}$.", "Answer": 5}],
        ("Problem",),
        "Answer",
        ["9-4"],
        "5",
        "4",
    ),
    "correct_answer_spelling": (
        [
            {
                "Question": "Boiling point of water in C?",
                "Correct Answer": "100",
                "Incorrect Answer 1": "90",
                "Explanation": "At sea level water boils at 100.",
            }
        ],
        ("Question",),
        "Correct Answer",
        ["Boiling"],
        "100",
        "90",
    ),
    "expected_answer_over_solution": (
        [
            {
                "question": "2*8?",
                "generated_solution": "2*8=16.\nSo \\boxed{16}",
                "expected_answer": "16",
                "predicted_answer": "16",
                "is_correct": True,
            }
        ],
        ("question",),
        "expected_answer",
        ["2*8"],
        "16",
        "18",
    ),
    "result_column": ([{"question": "12/4?", "result": 3}], ("question",), "result", ["12/4"], "3", "4"),
    "nq_open_alias_list": (
        [{"question": "where is the eiffel tower", "answer": ["Paris", "Paris, France"]}],
        ("question",),
        "answer",
        ["eiffel"],
        "Paris",
        "Rome",
    ),
    "reclor_answers_are_options": (
        [
            {
                "context": "All birds fly. Tweety is a bird.",
                "question": "Which follows?",
                "answers": ["Tweety swims", "Tweety flies", "Tweety sings", "Nothing"],
                "label": 1,
                "id_string": "train_0",
            },
            {"context": "c", "question": "q", "answers": ["a", "b", "c", "d"], "label": 0, "id_string": "train_1"},
        ],
        ("context", "question", "answers"),
        "label",
        ["All birds fly", "B. Tweety flies"],
        "B",
        "A",
    ),
    "truthfulqa_multiple_choice": (
        [
            {
                "question": "What is the smallest country?",
                "mc1_targets": {"choices": ["Nauru", "Vatican City", "Monaco"], "labels": [0, 1, 0]},
                "mc2_targets": {"choices": ["Vatican City", "Monaco"], "labels": [1, 0]},
            }
        ],
        ("question", "mc1_targets"),
        "mc1_targets",
        ["B. Vatican City"],
        "B",
        "A",
    ),
    "siqa_letter_option_columns": (
        [
            {
                "context": "Cameron decided to have a barbecue.",
                "question": "What does Cameron need?",
                "answerA": "buy meat",
                "answerB": "sleep",
                "answerC": "swim",
                "label": "1",
            }
        ],
        ("context", "question", "answerA", "answerB", "answerC"),
        "label",
        ["A. buy meat"],
        "A",
        "B",
    ),
    "cosmos_numbered_option_columns": (
        [
            {
                "id": "3Q9",
                "context": "I went to the show.",
                "question": "Will I go again?",
                "answer0": "None",
                "answer1": "Yes",
                "answer2": "No",
                "answer3": "Maybe",
                "label": 1,
            }
        ],
        ("context", "question", "answer0", "answer1", "answer2", "answer3"),
        "label",
        ["B. Yes"],
        "B",
        "C",
    ),
    "swag_startphrase": (
        [
            {
                "video-id": "anetv_1",
                "fold-ind": "1",
                "startphrase": "Members of the band walk down the street.",
                "sent1": "Members walk.",
                "sent2": "A drum line",
                "gold-source": "gold",
                "ending0": "passes by",
                "ending1": "has heard",
                "ending2": "arrives",
                "ending3": "turns",
                "label": 0,
            }
        ],
        ("startphrase", "ending0", "ending1", "ending2", "ending3"),
        "label",
        ["A. passes by"],
        "A",
        "B",
    ),
    "logiqa": (
        [
            {
                "context": "Some cooks dislike chili.",
                "query": "Which must be true?",
                "options": ["all do", "none do", "some do not", "most do"],
                "correct_option": 2,
            }
        ],
        ("context", "query", "options"),
        "correct_option",
        ["C. some do not"],
        "C",
        "A",
    ),
    "medqa_options_dict": (
        [
            {
                "question": "A 23-year-old woman has dysuria. Which drug?",
                "answer": "Nitrofurantoin",
                "options": {"A": "Ampicillin", "B": "Ceftriaxone", "C": "Doxycycline", "D": "Nitrofurantoin"},
                "meta_info": "step2&3",
                "answer_idx": "D",
            }
        ],
        ("question", "options"),
        "answer_idx",
        ["D. Nitrofurantoin"],
        "D",
        "A",
    ),
    "skywork_json_list_ground_truth": (
        [
            {
                "data_source": "train-math",
                "prompt": [{"content": "What is 5*7?", "role": USER}],
                "ability": "math",
                "reward_model": {"ground_truth": '["35"]', "style": "rule"},
                "extra_info": {"index": 1},
            }
        ],
        ("prompt",),
        "reward_model.ground_truth",
        ["5*7"],
        "35",
        "57",
    ),
    "openorca_system_prompt": (
        [
            {
                "id": "niv.1",
                "system_prompt": "You are an AI assistant.",
                "question": "Translate 'cat' to French.",
                "response": "chat",
            }
        ],
        ("question",),
        "response",
        ["You are an AI assistant.", "Translate"],
        "chat",
        "chien",
    ),
    "boolean_label": (
        [{"question": "is water wet", "passage": "Water makes things wet.", "label": True}],
        ("passage", "question"),
        "label",
        ["Water makes", "is water wet"],
        "yes",
        "no",
    ),
    "drop_spans": (
        [
            {
                "section_id": "nfl_1",
                "query_id": "q",
                "passage": "The Bears won 21-14.",
                "question": "Who won?",
                "answers_spans": {"spans": ["Bears"], "types": ["span"]},
            }
        ],
        ("passage", "question"),
        "answers_spans.spans",
        ["The Bears won", "Who won?"],
        "Bears",
        "Lions",
    ),
}


# Preference pairs in their real layouts: (rows, prompt_fields, chosen column, fragments in
# prompt, the chosen reply's answer, the rejected reply's answer). The chosen reply is a reply
# people preferred, not a gold answer: no reference unless --reference-field names it.
PREFERENCE_CASES = {
    "sharegpt_preference": (
        [
            {
                "conversations": [{"from": "human", "value": "Capital of Italy?"}],
                "chosen": {"from": "gpt", "value": "Rome"},
                "rejected": {"from": "gpt", "value": "Milan"},
            }
        ],
        ("conversations",),
        "chosen",
        ["Capital of Italy?"],
        "Rome",
        "Milan",
    ),
    "trl_preference_conversational": (
        [
            {
                "prompt": [{"role": USER, "content": "Color of grass?"}],
                "chosen": [{"role": "assistant", "content": "green"}],
                "rejected": [{"role": "assistant", "content": "red"}],
            }
        ],
        ("prompt",),
        "chosen",
        ["Color of grass?"],
        "green",
        "red",
    ),
    "ultrafeedback_binarized": (
        [
            {
                "prompt": "Name a prime.",
                "prompt_id": "p1",
                "chosen": [{"role": USER, "content": "Name a prime."}, {"role": "assistant", "content": "7"}],
                "rejected": [{"role": USER, "content": "Name a prime."}, {"role": "assistant", "content": "8"}],
                "messages": [{"role": USER, "content": "Name a prime."}, {"role": "assistant", "content": "7"}],
                "score_chosen": 8.0,
                "score_rejected": 2.0,
            }
        ],
        ("messages",),
        "chosen",
        ["Name a prime."],
        "7",
        "8",
    ),
    "alpaca_preference": (
        [{"instruction": "Say hello in French.", "input": "", "chosen": "Bonjour", "rejected": "Hola"}],
        ("instruction", "input"),
        "chosen",
        ["French"],
        "Bonjour",
        "Hola",
    ),
    "hh_rlhf_transcript": (
        [{"chosen": "\n\nHuman: What is 2+2?\n\nAssistant: 4", "rejected": "\n\nHuman: What is 2+2?\n\nAssistant: 5"}],
        ("chosen",),
        "chosen",
        ["What is 2+2?"],
        "4",
        "5",
    ),
}


@pytest.mark.parametrize("name", PREFERENCE_CASES)
def test_preference_pairs_get_their_prompt_and_no_reference(name):
    rows, prompt_fields, chosen, fragments, _, _ = PREFERENCE_CASES[name]
    detection = detect_fields(list(rows[0]), rows)
    assert detection.prompt_fields == prompt_fields, detection
    assert (detection.family.startswith("preference"), detection.reference_field) == (True, None), detection
    mapped = map_row(rows[0], detection)
    assert mapped["reference"] is None
    for fragment in fragments:
        assert fragment in _text(mapped["prompt"]), (name, mapped["prompt"])
    assert any("ranked by people" in r for r in detection.reasons), detection.reasons
    assert any("--extra-reward" in r and "--reference-field" in r for r in detection.reasons), detection.reasons


@pytest.mark.parametrize("name", PREFERENCE_CASES)
def test_preference_chosen_reply_is_the_reference_only_when_named(name):
    rows, prompt_fields, chosen, _, right, wrong = PREFERENCE_CASES[name]
    detection = detect_fields(list(rows[0]), rows, reference_field=chosen)
    assert (detection.prompt_fields, detection.reference_field) == (prompt_fields, chosen)
    assert not any(r.startswith("no reference") for r in detection.reasons), detection.reasons
    reference = map_row(rows[0], detection)["reference"]
    assert _earns(reference, right), (name, reference)
    assert not _earns(reference, wrong), (name, reference)
    again = detect_fields(list(rows[0]), rows, prompt_field=detection.prompt_field, reference_field=chosen)
    assert [map_row(r, again) for r in rows] == [map_row(r, detection) for r in rows]


@pytest.mark.parametrize("name", CASES)
def test_each_real_schema_gets_its_prompt_fields_and_reference(name):
    rows, prompt_fields, reference_field, fragments, _, _ = CASES[name]
    detection = detect_fields(list(rows[0]), rows)
    assert detection.prompt_fields == prompt_fields, detection
    assert detection.reference_field == reference_field, detection
    text = _text(map_row(rows[0], detection)["prompt"])
    for fragment in fragments:
        assert fragment in text, (name, text)
    assert detection.reasons


@pytest.mark.parametrize("name", CASES)
def test_recorded_fields_given_back_as_overrides_read_rows_the_same_way(name):
    rows = CASES[name][0]
    auto = detect_fields(list(rows[0]), rows)
    again = detect_fields(list(rows[0]), rows, prompt_field=auto.prompt_field, reference_field=auto.reference_field)
    assert [map_row(r, again) for r in rows] == [map_row(r, auto) for r in rows]


@pytest.mark.parametrize("name", CASES)
def test_each_real_schema_reference_is_earned_by_the_right_answer_only(name):
    rows, _, _, _, right, wrong = CASES[name]
    reference = map_row(rows[0], detect_fields(list(rows[0]), rows))["reference"]
    assert _earns(reference, right), (name, reference)
    assert not _earns(reference, wrong), (name, reference)


# --- the traps of the issue, each reproduced --------------------------------------------------


def _mapped(row, rows=None, **overrides):
    detection = detect_fields(list(row), rows or [row], **overrides)
    return detection, map_row(row, detection)


def test_a_response_ending_in_the_answer_is_is_a_worked_solution_read_to_that_answer():
    rows = [
        {
            "type": "GSM_Rephrased",
            "query": f"Mark has 12 apples and buys {n} more, then eats 10. How many are left?",
            "original_question": "Apples left?",
            "response": f"He has 12 + {n} = {12 + n} apples.\nAfter eating 10: {12 + n} - 10 = {2 + n}.\nThe answer is: {2 + n}",
        }
        for n in (60, 30, 45)
    ]
    detection, mapped = _mapped(rows[0], rows)
    assert (detection.reference_field, detection.reference_kind) == ("response", "solution")
    assert any("read to its marked final answer" in r for r in detection.reasons)
    assert _earns(mapped["reference"], "62")
    assert not _earns(mapped["reference"], "72")  # the trap: a number of the working, not the answer


def test_a_response_without_a_marked_answer_stays_text():
    rows = [{"instruction": "Give two tips for sleep.", "input": "", "output": "Keep a schedule. Avoid screens."}] * 3
    assert detect_fields(list(rows[0]), rows).reference_kind == "text"


@pytest.mark.parametrize("answer", ["$10-4 n$", "\\frac13", "\\{x|-2\\leq x<1\\}", "(45,2),(-10,-9)", "x = 5"])
def test_short_symbolic_answers_are_kept_whole_not_reduced_to_a_number(answer):
    _, mapped = _mapped({"question": "Solve it.", "answer": answer})
    assert mapped["reference"] == answer


def test_context_column_goes_before_the_question():
    _, mapped = _mapped({"body": "Ann has 3 pens.", "question": "How many pens?", "answer": "3 (pens)"})
    text = _text(mapped["prompt"])
    assert text.index("Ann has 3 pens.") < text.index("How many pens?")
    assert mapped["reference"] == "3"


def test_two_prompt_like_columns_with_the_same_text_are_not_a_tie():
    row = {"problem": "Find x.", "question": "Find x.", "answer": "2"}
    assert _mapped(row)[0].prompt_fields == ("problem",)


def test_weak_prompt_columns_that_differ_are_a_tie_listing_columns_and_flags():
    row = {"text": "a", "content": "b", "answer": "c"}
    with pytest.raises(
        UsageError,
        match=r"several columns could be the prompt \(text, content\).*text \(str\).*"
        r"--prompt-field.*--reference-field",
    ):
        detect_fields(list(row), [row])


def test_two_different_short_reference_columns_of_one_rank_are_a_tie():
    row = {"question": "q?", "answer": "1", "target": "2"}
    with pytest.raises(UsageError, match=r"several columns could be the reference \(answer, target\)"):
        detect_fields(list(row), [row])


def test_prompt_field_joins_several_fields_and_dotted_paths():
    row = {
        "question": {
            "stem": "Which is red?",
            "choices": [{"label": "A", "text": "sky"}, {"label": "B", "text": "blood"}],
        },
        "answerKey": "B",
        "hint": "Think of colours.",
    }
    detection, mapped = _mapped(row, prompt_field="hint+question.stem+question.choices", reference_field="answerKey")
    assert detection.prompt_fields == ("hint", "question.stem", "question.choices")
    assert _text(mapped["prompt"]) == "Think of colours.\n\nWhich is red?\n\nA. sky\nB. blood"
    assert mapped["reference"] == ["B", "blood"]


def test_prompt_field_matches_column_names_loosely():
    row = {"Question Text": "Why?", "Answer": "Because"}
    detection, _ = _mapped(row, prompt_field="question_text", reference_field="answer")
    assert (detection.prompt_fields, detection.reference_field) == (("Question Text",), "Answer")


def test_a_struct_where_text_is_needed_is_an_error_not_its_repr():
    row = {"question": {"stem": "Q?", "meta": {"a": 1}}, "answer": "x"}
    detection = detect_fields(list(row), [row], prompt_field="question.meta")
    with pytest.raises(UsageError, match=r"field 'question.meta' holds a dict\{a\}, not text.*--prompt-field"):
        map_row(row, detection)


def test_reference_field_takes_a_dotted_path_into_a_struct():
    row = {"prompt": [{"role": USER, "content": "2+2?"}], "reward_model": {"ground_truth": "4", "style": "rule"}}
    _, mapped = _mapped(row, reference_field="reward_model.ground_truth")
    assert mapped["reference"] == "4"


def test_tool_and_function_turns_are_dropped_from_the_prompt():
    row = {
        "conversations": [
            {"from": "human", "value": "Find a recipe."},
            {"from": "function_call", "value": '{"name": "search"}'},
            {"from": "observation", "value": '{"recipes": []}'},
            {"from": "gpt", "value": "None found."},
        ],
        "tools": "[]",
    }
    counter: dict = {}
    detection = detect_fields(list(row), [row])
    mapped = map_row(row, detection, counter=counter)
    assert mapped["prompt"] == [{"role": "user", "content": "Find a recipe."}]
    assert mapped["reference"] == "None found." and counter["tool_turns"] == 2


def test_kto_rows_labelled_false_have_no_reference():
    rows = CASES["kto_trl"][0]
    detection = detect_fields(list(rows[0]), rows)
    assert [map_row(r, detection)["reference"] for r in rows] == ["Madrid", None]


def test_system_column_becomes_the_system_message():
    row = {"system": "You are terse.", "question": "Capital of Chile?", "chosen": "Santiago", "rejected": "Lima"}
    _, mapped = _mapped(row)
    assert mapped["prompt"][0] == {"role": "system", "content": "You are terse."}


def test_message_content_that_is_text_in_one_row_and_parts_in_another_loads(tmp_path):
    import json

    import dataset_utils

    path = tmp_path / "mixed.jsonl"
    rows = [
        {"messages": [{"role": USER, "content": "hi"}, {"role": "assistant", "content": "hello"}]},
        {
            "messages": [
                {"role": USER, "content": [{"type": "text", "text": "yo"}]},
                {"role": "assistant", "content": "sup"},
            ]
        },
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    train = dataset_utils.select_split(dataset_utils.load_any(str(path), local_only=True))
    detection = dataset_utils.detect_dataset(train)
    assert [map_row(r, detection)["prompt"][0]["content"] for r in train] == ["hi", "yo"]


def test_squad_v2_unanswerable_question_has_no_reference():
    rows = [
        {"id": "1", "title": "T", "context": "c", "question": "q?", "answers": {"text": [], "answer_start": []}},
        {"id": "2", "title": "T", "context": "c", "question": "q?", "answers": {"text": ["c"], "answer_start": [0]}},
    ]
    detection = detect_fields(list(rows[0]), rows)
    assert [map_row(r, detection)["reference"] for r in rows] == [None, ["c"]]


# --- properties of the parsing helpers ------------------------------------------------------

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st

from grpo_suite.fields import LETTERS, parse_options, split_option_string  # noqa: E402
from grpo_suite.prompts import clean_short_answer  # noqa: E402

_OPTION_TEXT = (
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789 $\\{}^-+=", min_size=1, max_size=20)
    .map(str.strip)
    .filter(bool)
)


@given(
    st.lists(_OPTION_TEXT, min_size=2, max_size=6),
    st.sampled_from(["{}) {}", "({}) {}", "{}. {}", "{} ) {}"]),
    st.sampled_from([" ", " , ", "\n"]),
)
def test_an_options_string_splits_back_into_its_options(texts, form, separator):
    joined = separator.join(form.format(LETTERS[i], t) for i, t in enumerate(texts))
    assert [t for _, t in split_option_string(joined)] == texts


@given(st.lists(_OPTION_TEXT, min_size=2, max_size=6))
def test_options_in_every_container_form_give_the_same_texts(texts):
    forms = [
        texts,
        [f"{LETTERS[i]}){t}" for i, t in enumerate(texts)],
        {"text": texts, "label": list(LETTERS[: len(texts)])},
        [{"label": LETTERS[i], "text": t} for i, t in enumerate(texts)],
        {LETTERS[i]: t for i, t in enumerate(texts)},
    ]
    for form in forms:
        assert [t for _, t in parse_options(form)] == texts, form


@given(
    st.text(alphabet="abcxyz0123456789 $\\{}^-+=|<>,.", min_size=1, max_size=30).filter(
        lambda s: s.strip() and not s.strip().startswith(("A:", "[", "A :"))
    )
)
def test_a_short_answer_without_wrappers_is_kept_whole(answer):
    assert clean_short_answer(answer) == answer.strip()


# --- round two: final-answer phrasings, and data with no answer to check ---------------------

# A worked solution whose last number (72, from a check) is not its answer (62): each phrasing of
# real SFT/RL math sets must be read at its marker, and the last number is the trap.
_WORKING = "She had 12 apples and bought 60 more: 12 + 60 = 72. She ate 10, so 62 are left. Check: 62 + 10 = 72."
FINAL_ANSWER_PHRASINGS = {
    "gsm8k_hashes": _WORKING + "\n#### 62",
    "metamathqa_the_answer_is_colon": _WORKING + "\nThe answer is: 62",
    "answer_colon": _WORKING + "\nAnswer: 62",
    "math_boxed_inline": _WORKING + " So she has $\\boxed{62}$ apples.",
    "numina_final_answer_boxed": _WORKING + "\n\nThe final answer is $\\boxed{62}$.",
    "minerva_final_answer": _WORKING + "\nFinal Answer: The final answer is $62$. I hope it is correct.",
    "cot_therefore": _WORKING + " Therefore, the answer is 62.",
    "markdown_bold_answer": _WORKING + "\n\n**Answer:** 62",
    "markdown_display_boxed": _WORKING + "\n\n**Final Answer**\n\\[\n\\boxed{62}\n\\]",
    "r1_answer_tags": "<think>" + _WORKING + "</think>\n<answer>62</answer>",
    "hashes_with_unit": _WORKING + "\n#### 62 apples",
}


@pytest.mark.parametrize("column", ["solution", "response", "answer"])
@pytest.mark.parametrize("name", FINAL_ANSWER_PHRASINGS)
def test_each_final_answer_phrasing_is_read_at_its_marker_not_at_the_last_number(name, column):
    rows = [{"question": "How many apples are left?", column: FINAL_ANSWER_PHRASINGS[name]}] * 3
    detection, mapped = _mapped(rows[0], rows)
    assert (detection.reference_field, detection.reference_kind) == (column, "solution"), detection
    assert _earns(mapped["reference"], "62")
    assert not _earns(mapped["reference"], "72")  # the trap: the working's last number


_PROSE = (
    "Getting good sleep starts with a regular schedule: go to bed and wake up at the same time every day, "
    "even on weekends. Keep your bedroom cool, dark and quiet, and avoid screens for an hour before bed."
)

# name: (rows in the real columns, prompt fields, family, fragments of the prompt, words of the reason)
NO_REFERENCE_CASES = {
    "alpaca": (
        [{"instruction": "Give three tips for sleep.", "input": "", "output": _PROSE, "text": "### Response: ..."}],
        ("instruction", "input"),
        "sft",
        ["Give three tips"],
        "'output' are free text",
    ),
    "dolly_open_qa": (
        [{"instruction": "How do I sleep better?", "context": "", "response": _PROSE, "category": "open_qa"}],
        ("instruction",),
        "sft",
        ["sleep better"],
        "'response' are free text",
    ),
    "code_alpaca": (
        [
            {
                "instruction": "Write a function adding two numbers.",
                "input": "",
                "output": "def add(a, b):\n    return a + b",
            }
        ],
        ("instruction", "input"),
        "sft",
        ["adding two"],
        "free text",
    ),
    "ultrachat_messages": (
        [
            {
                "prompt": "How do I sleep better?",
                "prompt_id": "4f2a",
                "messages": [
                    {"role": USER, "content": "How do I sleep better?"},
                    {"role": "assistant", "content": _PROSE},
                ],
            }
        ],
        ("messages",),
        "sft",
        ["sleep better"],
        "the last replies in 'messages' are free text",
    ),
    "slimorca_sharegpt": (
        [
            {
                "conversations": [
                    {"from": "system", "value": "You are an AI assistant."},
                    {"from": "human", "value": "How do I sleep better?"},
                    {"from": "gpt", "value": _PROSE},
                ]
            }
        ],
        ("conversations",),
        "sft",
        ["sleep better"],
        "free text",
    ),
    "tldr_prompt_completion": (
        [
            {
                "prompt": "SUBREDDIT: r/relationships\n\nTITLE: Move in?\n\nPOST: She wants to move in after 6 months.\n\nTL;DR:",
                "completion": " girlfriend wants to move in, not sure I'm ready",
            }
        ],
        ("prompt",),
        "summary",
        ["POST: She wants", "TL;DR:"],
        "'completion' are summaries",
    ),
    "cnn_dailymail": (
        [{"article": "LONDON (CNN) -- " + _PROSE, "highlights": "Sleep on a schedule .\nKeep it dark .", "id": "42c0"}],
        ("article",),
        "summary",
        ["Summarize the following text.", "LONDON (CNN)"],
        "'highlights' holds reference summaries",
    ),
    "xsum": (
        [{"document": _PROSE, "summary": "Experts share tips for sleep.", "id": "3518"}],
        ("document",),
        "summary",
        ["Summarize the following text.", "regular schedule"],
        "'summary' holds reference summaries",
    ),
    "samsum": (
        [
            {
                "id": "13818513",
                "dialogue": "Amanda: I baked cookies.\r\nJerry: Sure!",
                "summary": "Amanda baked cookies.",
            }
        ],
        ("dialogue",),
        "summary",
        ["Summarize the following text.", "Amanda: I baked"],
        "'summary' holds reference summaries",
    ),
    "best_of_n_outputs": (
        [{"prompt": "What is 2+3?", "responses": ["5", "It is 6."]}],
        ("prompt",),
        "candidates",
        ["2+3"],
        "several outputs per row",
    ),
    "dolly_half_long": (
        [
            {"instruction": f"Tell me about {c}.", "context": "", "response": _PROSE, "category": "open_qa"}
            for c in ("sleep", "naps", "dreams", "rest")
        ]
        + [
            {"instruction": f"Is {c} a fruit?", "context": "", "response": "Yes", "category": "classification"}
            for c in ("apple", "kiwi", "pear", "plum")
        ],
        ("instruction",),
        "sft",
        ["Tell me about sleep"],
        "free text in 50% of the sampled rows",
    ),
    "alpaca_chinese": (
        [
            {
                "instruction": "介绍一下巴黎。",
                "input": "",
                "output": "巴黎是法国的首都，也是法国最大的城市，拥有悠久的历史和丰富的文化遗产。",
            }
        ],
        ("instruction", "input"),
        "sft",
        ["介绍一下巴黎"],
        "free text",
    ),
    "alpaca_summarize_instruction": (
        [{"instruction": "Summarize the following article.", "input": _PROSE, "output": "Sleep on a schedule."}],
        ("instruction", "input"),
        "summary",
        ["Summarize the following article.", "regular schedule"],
        "'output' are summaries",
    ),
    "prose_answer_with_years": (
        [
            {
                "question": "What happened in 1789?",
                "answer": "The French Revolution began in 1789 when the Estates-General met at Versailles and the Bastille fell in July.",
            }
        ],
        ("question",),
        "long_form",
        ["1789"],
        "prose answers",
    ),
    "long_form_prose_answer": (
        [{"question": "Why do we need sleep?", "answer": _PROSE}],
        ("question",),
        "long_form",
        ["need sleep"],
        "prose answers",
    ),
}


@pytest.mark.parametrize("name", NO_REFERENCE_CASES)
def test_data_with_no_answer_to_check_gets_its_prompt_no_reference_and_the_reward_that_fits(name):
    rows, prompt_fields, family, fragments, why = NO_REFERENCE_CASES[name]
    detection = detect_fields(list(rows[0]), rows)
    assert (detection.prompt_fields, detection.family, detection.reference_field) == (prompt_fields, family, None)
    mapped = map_row(rows[0], detection)
    assert mapped["reference"] is None
    for fragment in fragments:
        assert fragment in _text(mapped["prompt"]), (name, mapped["prompt"])
    assert any(r.startswith("no reference: ") and why in r for r in detection.reasons), detection.reasons
    assert any("--extra-reward" in r and "--reference-field" in r for r in detection.reasons)
    # The default answer instruction asks for a 'Final answer:' line this data never has.
    assert instruction_for(ANSWER_INSTRUCTION, detection) is None
    assert instruction_for("Answer in one paragraph.", detection) == "Answer in one paragraph."


# Each trap beside its family: the same layout holding a checkable answer keeps its reference.
VERIFIABLE_TWINS = {
    "alpaca_short_output": ({"instruction": "Capital of Peru?", "input": "", "output": "Lima"}, "output", "Lima"),
    "sft_output_with_marked_answer": (
        {"instruction": "2+3?", "input": "", "output": "We add 2 and 3 to get 5.\nThe answer is: 5"},
        "output",
        "5",
    ),
    "chat_short_reply": (
        {"messages": [{"role": USER, "content": "Capital of Peru?"}, {"role": "assistant", "content": "Lima"}]},
        "messages",
        "Lima",
    ),
    "prose_with_numbers_is_a_worked_solution": (
        {"question": "How far?", "answer": "Multiply speed by time.\n\nDistance = 60 km/h * 2 h = 120 km."},
        "answer",
        "120",
    ),
    "outputs_beside_a_gold_answer": ({"prompt": "2+3?", "responses": ["5", "6"], "answer": "5"}, "answer", "5"),
    "summary_column_beside_a_short_response": (
        {"context": _PROSE, "question": "How often?", "summary": "Sleep tips.", "response": "Every day"},
        "response",
        "Every day",
    ),
    "preference_pair_beside_a_gold_answer": (
        {"prompt": "What is 6*12?", "chosen": "6*12 = 72. The answer is: 72", "rejected": "It is 62.", "answer": "72"},
        "answer",
        "72",
    ),
    "orca_math_chat_with_arithmetic": (
        {
            "messages": [
                {"role": USER, "content": "A number divided by 10 is 6. What is 15 less than it?"},
                {"role": "assistant", "content": "The number is x = 6 * 10 = 60.\n\nSo the result is 60 - 15 = 45."},
            ]
        },
        "messages",
        "45",
    ),
    "summary_column_beside_a_short_answer": (
        {"question": "How many?", "summary": "A count of apples over several days.", "answer": "7"},
        "answer",
        "7",
    ),
}


@pytest.mark.parametrize("name", VERIFIABLE_TWINS)
def test_the_same_layouts_with_a_checkable_answer_keep_their_reference(name):
    row, reference, right = VERIFIABLE_TWINS[name]
    detection, mapped = _mapped(row, [row] * 3)
    assert detection.reference_field == reference and not has_no_reference(detection), detection
    assert _earns(mapped["reference"], right)


def test_reference_field_overrides_the_no_reference_verdict():
    rows = NO_REFERENCE_CASES["alpaca"][0]
    detection, mapped = _mapped(rows[0], rows, reference_field="output")
    assert (detection.reference_field, detection.family) == ("output", "instruction")
    assert not any(r.startswith("no reference") for r in detection.reasons)
    assert mapped["reference"] == _PROSE


def test_a_model_solution_column_beside_the_gold_answer_is_never_the_reference():
    # OpenAI's GSM8K example-solutions layout: model solutions (with their own wrong final
    # answers) next to the gold answer.
    row = {
        "question": "Ann has 3 pens and buys 4. How many?",
        "answer": "3 + 4 = <<3+4=7>>7\n#### 7",
        "6b_finetuning.solution": "3 + 4 = 8\n#### 8",
        "175b_verification.solution": "She has 3 + 4 = 7 pens.\n#### 7",
    }
    detection, mapped = _mapped(row, [row] * 3)
    assert detection.reference_field == "answer"
    assert _earns(mapped["reference"], "7") and not _earns(mapped["reference"], "8")


def test_a_prompt_field_override_keeps_the_no_reference_verdict():
    rows = NO_REFERENCE_CASES["ultrachat_messages"][0]
    detection, mapped = _mapped(rows[0], rows, prompt_field="prompt")
    assert (detection.prompt_fields, detection.family, detection.reference_field) == (("prompt",), "sft", None)
    assert mapped["prompt"] == [{"role": "user", "content": "How do I sleep better?"}]
    assert any(r.startswith("no reference: ") for r in detection.reasons)


KTO_REPLIES = [  # TRL's unpaired-preference layout (prompt, completion, label), replies as in kto-mix sets
    {
        "prompt": [{"role": "user", "content": "How do I keep basil alive indoors?"}],
        "completion": [
            {
                "role": "assistant",
                "content": "Give it six hours of sun a day, water when the top inch of soil is dry, and pinch off "
                "flower buds so the leaves keep growing.",
            }
        ],
        "label": True,
    },
    {
        "prompt": [{"role": "user", "content": "Write a short note thanking a neighbour for the soup."}],
        "completion": [{"role": "assistant", "content": "no"}],
        "label": False,
    },
    {
        "prompt": [{"role": "user", "content": "Why is the sky blue?"}],
        "completion": [
            {
                "role": "assistant",
                "content": "Air molecules scatter short blue wavelengths of sunlight far more than red ones, so blue "
                "light reaches our eyes from every direction of the sky.",
            }
        ],
        "label": True,
    },
]


def test_kto_data_whose_desirable_completions_are_replies_has_no_reference():
    detection = detect_fields(list(KTO_REPLIES[0]), KTO_REPLIES)
    assert (detection.family, detection.reference_field) == ("kto", None) and has_no_reference(detection)
    assert any(
        r.startswith("no reference: the desirable completions in 'completion' are free text") for r in detection.reasons
    )
    assert not any(r.startswith("KTO data: the completion is the reference") for r in detection.reasons)
    assert any("--judge-model" in r for r in detection.reasons)
    assert [map_row(r, detection)["reference"] for r in KTO_REPLIES] == [None, None, None]
    # Short desirable answers stay references (the label false row never is one).
    rows = CASES["kto_trl"][0]
    assert detect_fields(list(rows[0]), rows).reference_field == "completion"
    # --reference-field keeps the column as the user says.
    forced = detect_fields(list(KTO_REPLIES[0]), KTO_REPLIES, reference_field="completion")
    assert forced.reference_field == "completion" and not has_no_reference(forced)
