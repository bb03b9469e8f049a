"""The reference of bench_real_model.py: the GRPO LoRA run a careful user writes by hand with plain TRL.

    python benchmarks/plain_trl_grpo.py --model DIR --data DIR/train.jsonl --output-dir OUT \
        --max-steps 40 --learning-rate 5e-5 --num-generations 4 --batch-size 8 --max-completion-length 96 \
        --temperature 0.7 --mask-truncated-completions

TRL's documented recipe and nothing of this suite: the question as one user turn (the chat
template's own system prompt kept), TRL's ``accuracy_reward`` on a ``solution`` column (the
reference's final answer, after GSM8K's ``####``), GRPOConfig's defaults for everything not
named above, a peft ``LoraConfig`` of the same rank, alpha, dropout and projections as the suite's.
"""

from __future__ import annotations

import argparse
import json


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="local model folder")
    parser.add_argument("--data", required=True, help="JSONL file of question/answer rows (GSM8K's schema)")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--max-steps", type=int, required=True)
    parser.add_argument("--learning-rate", type=float, required=True)
    parser.add_argument("--num-generations", type=int, required=True)
    parser.add_argument("--batch-size", type=int, required=True, help="completions per step")
    parser.add_argument("--max-completion-length", type=int, required=True, help="tokens")
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (TRL's default: 1.0)")
    parser.add_argument(
        "--mask-truncated-completions", action="store_true", help="leave truncated completions out of the loss"
    )
    parser.add_argument("--seed", type=int, default=42)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from trl import GRPOConfig, GRPOTrainer
    from trl.rewards import accuracy_reward

    torch.manual_seed(args.seed)
    with open(args.data, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    dataset = Dataset.from_list(
        [
            {"prompt": [{"role": "user", "content": r["question"]}], "solution": r["answer"].split("####")[-1].strip()}
            for r in rows
        ]
    )
    config = GRPOConfig(
        output_dir=args.output_dir,
        max_steps=args.max_steps,
        learning_rate=args.learning_rate,
        num_generations=args.num_generations,
        per_device_train_batch_size=args.batch_size,
        max_completion_length=args.max_completion_length,
        temperature=args.temperature,
        mask_truncated_completions=args.mask_truncated_completions,
        logging_steps=5,
        save_strategy="no",
        report_to="none",
        seed=args.seed,
        use_cpu=not torch.cuda.is_available(),
        bf16=False,
        model_init_kwargs={"dtype": torch.float32},
    )
    peft_config = LoraConfig(
        r=16,
        lora_alpha=32,
        lora_dropout=0.05,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        task_type="CAUSAL_LM",
    )
    trainer = GRPOTrainer(
        model=args.model,
        reward_funcs=accuracy_reward,
        args=config,
        train_dataset=dataset,
        peft_config=peft_config,
    )
    trainer.train()
    trainer.save_model(args.output_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
