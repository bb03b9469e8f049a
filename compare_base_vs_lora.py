"""Run the base model and base+adapter on the same prompts; show outputs and scores side by side.

    python compare_base_vs_lora.py --adapter outputs/demo
    python compare_base_vs_lora.py --adapter outputs/gsm8k --num-prompts 200 --report-dir outputs/gsm8k/report

The base model is loaded once; its outputs are generated with the adapter disabled, so one copy
of the weights is in memory. Prompts default to the held-out split of the training run.
"""

from __future__ import annotations

import argparse
import difflib
import html
import json
import logging
import math
import random
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import dataset_utils
import rewards
from dataset_utils import UsageError

logger = logging.getLogger("compare_base_vs_lora")
SIDES = ("base", "lora")
BOOTSTRAP_SAMPLES = 1000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Compare a base model and its LoRA adapter on the same prompts.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    model = parser.add_argument_group("model")
    model.add_argument("--adapter", required=True, help="adapter folder written by train_grpo.py")
    model.add_argument("--base-model", default=None, help="base model; default: the one recorded in the adapter")
    model.add_argument("--quantization", choices=["auto", "4bit", "8bit", "none"], default="auto",
                       help="as in train_grpo.py: auto is 4bit on CUDA, none on CPU")
    model.add_argument("--dtype", choices=["auto", "float32", "bfloat16", "float16"], default="auto", help="compute dtype")
    model.add_argument("--trust-remote-code", action="store_true", help="run model code shipped with the checkpoint")

    dataset_utils.add_dataset_args(parser)
    prompts = parser._action_groups[-1]
    prompts.add_argument("--prompts", default=None, help="text file (a prompt per line) or JSONL with prompt/reference")
    prompts.add_argument("--num-prompts", type=int, default=50, help="prompts to compare")

    gen = parser.add_argument_group("generation")
    gen.add_argument("--max-new-tokens", type=int, default=None, help="default: the run's --max-completion-length")
    gen.add_argument("--num-samples-per-prompt", type=int, default=1, help="samples per prompt (needs --temperature > 0)")
    gen.add_argument("--temperature", type=float, default=0.0, help="0 = greedy decoding")
    gen.add_argument("--batch-size", type=int, default=16, help="prompts generated at once")
    gen.add_argument("--seed", type=int, default=0, help="sampling seed")

    out = parser.add_argument_group("output")
    out.add_argument("--report-dir", default=None, help="write comparison.jsonl, .md and .html here")
    out.add_argument("--show", type=int, default=5, help="prompts printed side by side in the terminal")
    return parser


# --------------------------------------------------------------------------------------------
# Prompts
# --------------------------------------------------------------------------------------------


def read_run_config(adapter: str) -> dict:
    path = Path(adapter) / "run_config.json"
    return json.loads(path.read_text()) if path.exists() else {}


def load_prompts(args, run: dict, chat: bool) -> list[dict]:
    """Rows of ``prompt`` and ``reference``: from --prompts, --dataset, or the run's held-out split."""
    if args.prompts:
        rows = read_prompts_file(args.prompts, chat, args.system_prompt)
    else:
        source = run_dataset_args(args, run)
        loaded = dataset_utils.load_any(source["dataset"], source["dataset_config"], args.local_only)
        train, held_out = dataset_utils.pick_splits(loaded, source["split"], source["seed"])
        detection = dataset_utils.detect_dataset(train, source["prompt_field"], source["reference_field"])
        rows = dataset_utils.prepare(held_out, detection, source["system_prompt"], chat).to_list()
    if not rows:
        raise UsageError("no prompts to compare")
    return rows[: args.num_prompts]


def run_dataset_args(args, run: dict) -> dict:
    """The dataset flags: --dataset and its flags if given, else those the training run recorded."""
    keys = ("dataset", "dataset_config", "split", "prompt_field", "reference_field", "system_prompt")
    recorded = run.get("args", {})
    source = {k: getattr(args, k) for k in keys} if args.dataset else {k: recorded.get(k) for k in keys}
    if args.system_prompt:
        source["system_prompt"] = args.system_prompt
    source["split"] = source["split"] or "train"
    source["seed"] = recorded.get("seed", 0)  # the seed that carved the run's held-out split
    if not source["dataset"]:
        raise UsageError("no prompts: the adapter has no run_config.json naming its dataset; pass --dataset or --prompts")
    return source


def read_prompts_file(path: str, chat: bool, system_prompt: str | None) -> list[dict]:
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"--prompts file {path} does not exist")
    rows = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        if file.suffix == ".jsonl":
            try:
                item = json.loads(line)
            except json.JSONDecodeError as err:
                raise UsageError(f"{path} line {number}: not valid JSON ({err.msg})") from err
            text, reference = item.get("prompt"), item.get("reference")
        else:
            text, reference = line, None
        prompt = dataset_utils.build_prompt({"prompt": text}, _TEXT_PROMPT, system_prompt, chat)
        rows.append({"prompt": prompt, "reference": reference})
    return rows


_TEXT_PROMPT = dataset_utils.Detection("file", ("prompt",), None)


# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------


def load_models(args, run: dict):
    """One base model with the adapter attached, and its tokenizer."""
    import suite_utils

    config = suite_utils.read_adapter_config(args.adapter)
    base = args.base_model or config.get("base_model_name_or_path")
    if not base:
        raise UsageError("the adapter does not record its base model; pass --base-model")
    tokenizer_source = args.adapter if (Path(args.adapter) / "tokenizer_config.json").exists() else base
    tokenizer = suite_utils.load_tokenizer(tokenizer_source, local_only=args.local_only,
                                           trust_remote_code=args.trust_remote_code)
    quantization = suite_utils.resolve_quantization(args.quantization)
    model = suite_utils.load_model(base, quantization, args.dtype, local_only=args.local_only,
                                   trust_remote_code=args.trust_remote_code)
    model = suite_utils.attach_adapter(model, args.adapter, base)
    model.eval()
    return model, tokenizer, base


def generate(model, tokenizer, prompts: list, args, use_adapter: bool) -> list[list[str]]:
    """K completions per prompt, batched, the same decoding for both sides."""
    import contextlib

    import torch
    from tqdm.auto import tqdm

    tokenizer.padding_side = "left"
    texts = [dataset_utils.render_prompt(tokenizer, p) for p in prompts]
    sampling = args.temperature > 0
    outputs: list[list[str]] = []
    context = contextlib.nullcontext() if use_adapter else model.disable_adapter()
    torch.manual_seed(args.seed)
    with context, torch.no_grad():
        for start in tqdm(range(0, len(texts), args.batch_size), desc="lora" if use_adapter else "base"):
            batch = tokenizer(texts[start : start + args.batch_size], return_tensors="pt", padding=True,
                              add_special_tokens=False).to(model.device)
            generated = model.generate(
                **batch,
                max_new_tokens=args.max_new_tokens,
                do_sample=sampling,
                temperature=args.temperature if sampling else None,
                top_p=None,
                top_k=None,
                num_return_sequences=args.num_samples_per_prompt,
                pad_token_id=tokenizer.pad_token_id,
            )
            decoded = tokenizer.batch_decode(generated[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
            k = args.num_samples_per_prompt
            outputs += [decoded[i : i + k] for i in range(0, len(decoded), k)]
    return outputs


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------


def score_output(text: str, reference: Any) -> dict:
    """Total and components from rewards.py, and strict / lenient correctness."""
    total, components = rewards.score(text, reference)
    accepted = rewards.extract_reference(reference)
    marked = rewards.extract_answer(text, last_number=False).answer
    last = rewards.extract_answer(text).answer
    strict = bool(accepted) and marked is not None and rewards.answers_match(marked, accepted)
    lenient = bool(accepted) and (strict or rewards.answers_match(last, accepted) or _last_number_matches(text, accepted))
    return {"total": total, "components": components, "strict": strict, "lenient": lenient, "length": len(text)}


def _last_number_matches(text: str, accepted: list[str]) -> bool:
    number = rewards.last_number(text)
    return number is not None and rewards.answers_match(number, accepted)


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion."""
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def bootstrap(values: list[float], seed: int = 0) -> tuple[float, float]:
    """95% percentile bootstrap interval of a mean."""
    if not values:
        return (math.nan, math.nan)
    rng = random.Random(seed)
    means = sorted(statistics.fmean(rng.choices(values, k=len(values))) for _ in range(BOOTSTRAP_SAMPLES))
    return (means[int(0.025 * BOOTSTRAP_SAMPLES)], means[int(0.975 * BOOTSTRAP_SAMPLES) - 1])


@dataclass
class Metric:
    name: str
    base: float
    lora: float
    base_ci: tuple[float, float]
    lora_ci: tuple[float, float]
    kind: str = "mean"  # "rate" for proportions


@dataclass
class Summary:
    n_prompts: int
    metrics: list[Metric] = field(default_factory=list)
    wins: int = 0
    ties: int = 0
    losses: int = 0


def summarize(rows: list[dict]) -> Summary:
    """Per-metric means with 95% intervals, and wins/ties/losses by total reward per prompt."""
    summary = Summary(len(rows))
    samples = {side: [s for r in rows for s in r[side]["scores"]] for side in SIDES}
    for name in ("strict", "lenient"):
        counts = {side: sum(s[name] for s in samples[side]) for side in SIDES}
        n = {side: len(samples[side]) for side in SIDES}
        summary.metrics.append(Metric(f"{name} accuracy", counts["base"] / n["base"], counts["lora"] / n["lora"],
                                      wilson(counts["base"], n["base"]), wilson(counts["lora"], n["lora"]), "rate"))
    keys = [("total reward", lambda s: s["total"]), ("length (chars)", lambda s: s["length"])]
    keys += [(name, lambda s, name=name: s["components"].get(name)) for name in rewards.DEFAULT_WEIGHTS]
    for label, get in keys:
        values = {side: [v for v in map(get, samples[side]) if v is not None] for side in SIDES}
        if values["base"] and values["lora"]:
            summary.metrics.append(Metric(label, statistics.fmean(values["base"]), statistics.fmean(values["lora"]),
                                          bootstrap(values["base"]), bootstrap(values["lora"])))
    for row in rows:
        diff = row["lora"]["mean_total"] - row["base"]["mean_total"]
        row["outcome"] = "win" if diff > 1e-9 else "loss" if diff < -1e-9 else "tie"
        summary.wins += row["outcome"] == "win"
        summary.ties += row["outcome"] == "tie"
        summary.losses += row["outcome"] == "loss"
    return summary


def build_rows(prompts: list[dict], outputs: dict[str, list[list[str]]], tokenizer) -> list[dict]:
    rows = []
    for i, item in enumerate(prompts):
        row = {"index": i, "prompt": dataset_utils.render_prompt(tokenizer, item["prompt"]), "reference": item["reference"]}
        for side in SIDES:
            scores = [score_output(text, item["reference"]) for text in outputs[side][i]]
            row[side] = {"outputs": outputs[side][i], "scores": scores,
                         "mean_total": statistics.fmean(s["total"] for s in scores)}
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------------


def fmt(value: float, kind: str) -> str:
    return f"{100 * value:5.1f}%" if kind == "rate" else f"{value:7.3f}"


def fmt_ci(ci: tuple[float, float], kind: str) -> str:
    return f"[{fmt(ci[0], kind).strip()}, {fmt(ci[1], kind).strip()}]"


def summary_table(summary: Summary) -> list[list[str]]:
    table = [["metric", "base", "base 95% CI", "lora", "lora 95% CI"]]
    for m in summary.metrics:
        table.append([m.name, fmt(m.base, m.kind).strip(), fmt_ci(m.base_ci, m.kind), fmt(m.lora, m.kind).strip(),
                      fmt_ci(m.lora_ci, m.kind)])
    table.append(["lora wins / ties / losses", "", "", f"{summary.wins} / {summary.ties} / {summary.losses}", ""])
    return table


def print_report(rows: list[dict], summary: Summary, base_name: str, adapter: str, show: int) -> None:
    width = 48
    for row in rows[:show]:
        print("=" * (2 * width + 3))
        print(f"prompt {row['index']}: {row['prompt'].strip()[-200:]!s}")
        print(f"reference: {row['reference']!r}")
        print(f"{'BASE':<{width}} | {'LORA':<{width}}")
        base, lora = row["base"]["outputs"][0], row["lora"]["outputs"][0]
        for left, right in zip(_wrap(base, width), _wrap(lora, width)):
            print(f"{left:<{width}} | {right:<{width}}")
        b, l = row["base"]["scores"][0], row["lora"]["scores"][0]
        print(f"{'reward ' + format(b['total'], '.3f') + (' correct' if b['lenient'] else ''):<{width}} | "
              f"reward {l['total']:.3f}{' correct' if l['lenient'] else ''}   ({row['outcome']})")
    print("=" * (2 * width + 3))
    print(f"base: {base_name}\nlora: {adapter}\nprompts: {summary.n_prompts}")
    table = summary_table(summary)
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for r in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)))


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    lines = [piece for line in (text or "<empty>").splitlines() for piece in (textwrap.wrap(line, width) or [""])]
    return lines[:12]


def write_reports(report_dir: Path, rows: list[dict], summary: Summary, base_name: str, adapter: str) -> None:
    report_dir.mkdir(parents=True, exist_ok=True)
    with open(report_dir / "comparison.jsonl", "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    (report_dir / "comparison.md").write_text(markdown_report(rows, summary, base_name, adapter), encoding="utf-8")
    (report_dir / "comparison.html").write_text(html_report(rows, summary, base_name, adapter), encoding="utf-8")
    logger.info("reports written to %s", report_dir)


def markdown_report(rows, summary, base_name, adapter) -> str:
    table = summary_table(summary)
    lines = [f"# Base vs LoRA\n\nbase: `{base_name}`  \nadapter: `{adapter}`  \nprompts: {summary.n_prompts}\n",
             "| " + " | ".join(table[0]) + " |", "|" + "---|" * len(table[0])]
    lines += ["| " + " | ".join(r) + " |" for r in table[1:]]
    lines.append("\n## Outputs\n")
    for row in rows:
        lines.append(f"### Prompt {row['index']} ({row['outcome']})\n\n```\n{row['prompt'].strip()}\n```\n")
        lines.append(f"reference: `{row['reference']}`\n")
        for side in SIDES:
            s = row[side]["scores"][0]
            lines.append(f"**{side}** (reward {s['total']:.3f}, {'correct' if s['lenient'] else 'wrong'}):\n\n"
                         f"```\n{row[side]['outputs'][0]}\n```\n")
    return "\n".join(lines)


def _diff_html(a: str, b: str) -> tuple[str, str]:
    """Both texts with the characters that differ highlighted."""
    left, right = [], []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        x, y = html.escape(a[i1:i2]), html.escape(b[j1:j2])
        if op == "equal":
            left.append(x)
            right.append(y)
        else:
            left.append(f'<del>{x}</del>' if x else "")
            right.append(f'<ins>{y}</ins>' if y else "")
    return "".join(left), "".join(right)


def _bar_chart(summary: Summary) -> str:
    """An inline SVG bar chart of the rate metrics and the total reward."""
    metrics = [m for m in summary.metrics if m.kind == "rate" or m.name == "total reward"]
    top = max([1.0] + [max(m.base, m.lora) for m in metrics])
    bar, gap, height = 28, 40, 160
    parts = []
    for i, m in enumerate(metrics):
        x = 20 + i * (2 * bar + gap)
        for j, (side, value, colour) in enumerate((("base", m.base, "#9aa5b1"), ("lora", m.lora, "#2f7ed8"))):
            h = max(0.0, value) / top * height
            parts.append(f'<rect x="{x + j * bar}" y="{20 + height - h:.1f}" width="{bar - 4}" height="{h:.1f}" '
                         f'fill="{colour}"><title>{side} {html.escape(m.name)}: {value:.3f}</title></rect>')
            parts.append(f'<text x="{x + j * bar + bar / 2 - 2}" y="{15 + height - h:.1f}" font-size="10" '
                         f'text-anchor="middle">{fmt(value, m.kind).strip()}</text>')
        parts.append(f'<text x="{x + bar}" y="{height + 38}" font-size="11" text-anchor="middle">'
                     f'{html.escape(m.name)}</text>')
    width = 40 + len(metrics) * (2 * bar + gap)
    legend = ('<rect x="10" y="2" width="10" height="10" fill="#9aa5b1"/><text x="24" y="11" font-size="11">base</text>'
              '<rect x="70" y="2" width="10" height="10" fill="#2f7ed8"/><text x="84" y="11" font-size="11">lora</text>')
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 50}">{legend}{"".join(parts)}</svg>'


def html_report(rows, summary, base_name, adapter) -> str:
    table = summary_table(summary)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in table[1:])
    prompts = []
    for row in rows:
        base, lora = _diff_html(row["base"]["outputs"][0], row["lora"]["outputs"][0])
        b, l = row["base"]["scores"][0], row["lora"]["scores"][0]
        prompts.append(
            f'<tr class="prompt-row {row["outcome"]}"><td><pre>{html.escape(row["prompt"].strip())}</pre>'
            f'<div class="ref">reference: {html.escape(str(row["reference"]))}</div></td>'
            f'<td><pre>{base}</pre><div>reward {b["total"]:.3f} · {"correct" if b["lenient"] else "wrong"}</div></td>'
            f'<td><pre>{lora}</pre><div>reward {l["total"]:.3f} · {"correct" if l["lenient"] else "wrong"}</div></td>'
            f'<td>{row["outcome"]}</td></tr>'
        )
    style = ("body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}pre{white-space:pre-wrap;margin:0}"
             "del{background:#fdd;text-decoration:none}ins{background:#dfd;text-decoration:none}"
             "tr.win td:last-child{color:#070}tr.loss td:last-child{color:#a00}.ref{color:#555;font-size:90%}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Base vs LoRA</title><style>{style}</style></head>"
            f"<body><h1>Base vs LoRA</h1><p>base: <code>{html.escape(base_name)}</code><br>adapter: "
            f"<code>{html.escape(adapter)}</code><br>prompts: {summary.n_prompts}</p>"
            f'<table id="summary"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
            f"<h2>Metrics</h2>{_bar_chart(summary)}<h2>Outputs</h2>"
            f'<table id="outputs"><thead><tr><th>prompt</th><th>base</th><th>lora</th><th>outcome</th></tr></thead>'
            f"<tbody>{''.join(prompts)}</tbody></table></body></html>")


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def check_args(args) -> None:
    if args.num_samples_per_prompt > 1 and args.temperature <= 0:
        raise UsageError("--num-samples-per-prompt > 1 needs sampling; pass --temperature 0.7 (or another value > 0)")
    for flag in ("num_prompts", "num_samples_per_prompt", "batch_size"):
        if getattr(args, flag) < 1:
            raise UsageError(f"--{flag.replace('_', '-')} must be at least 1")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.local_only:
        dataset_utils.set_offline_env()
    import suite_utils

    suite_utils.setup_logging()
    try:
        check_args(args)
        suite_utils.read_adapter_config(args.adapter)
        run = read_run_config(args.adapter)
        args.max_new_tokens = args.max_new_tokens or run.get("args", {}).get("max_completion_length", 256)
        args.local_only = args.local_only or run.get("args", {}).get("demo", False)
        model, tokenizer, base_name = load_models(args, run)
        prompts = load_prompts(args, run, chat=tokenizer.chat_template is not None)
        texts = [p["prompt"] for p in prompts]
        outputs = {side: generate(model, tokenizer, texts, args, use_adapter=side == "lora") for side in SIDES}
    except UsageError as err:
        return suite_utils.report_usage_error(err)
    rows = build_rows(prompts, outputs, tokenizer)
    summary = summarize(rows)
    print_report(rows, summary, base_name, args.adapter, args.show)
    if args.report_dir:
        write_reports(Path(args.report_dir), rows, summary, base_name, args.adapter)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
