"""The comparison's reports: terminal, Markdown, HTML, JSONL and summary.json.

Every figure comes from compare_summary.Summary and every number is formatted by
compare_summary's fmt functions, so the three reports always agree.
"""

from __future__ import annotations

import difflib
import html
import json
import logging
import textwrap
from dataclasses import dataclass
from pathlib import Path

from grpo_suite.answers import extract_reference
from grpo_suite.compare_summary import (
    BASE,
    Metric,
    Summary,
    fmt,
    fmt_ci,
    fmt_diff,
    fmt_diff_ci,
    fmt_p,
    order_for_report,
)

logger = logging.getLogger("compare_base_vs_lora")
SECTIONS = (("regressions", "loss"), ("fixes", "win"), ("others", "tie"))
INTERVALS = (
    "95% intervals: Wilson for one-sample-per-prompt accuracies, bootstrap over prompts for means and "
    "sampled rates; differences use the paired bootstrap over prompts; p: McNemar's exact test on the "
    "prompts that changed (sign test on per-prompt means when K > 1 or for rewards)"
)


@dataclass
class Header:
    base: str
    adapters: dict[str, str]  # label -> folder
    temperature: float
    samples: int
    max_new_tokens: int
    system_prompt: str | None

    def decoding(self) -> str:
        how = "greedy" if self.temperature <= 0 else f"sampling at temperature {self.temperature:g}"
        samples = f", {self.samples} samples per prompt" if self.samples > 1 else ""
        return f"{how}{samples}, at most {self.max_new_tokens} new tokens"


# --------------------------------------------------------------------------------------------
# Tables (lists of cells, rendered three ways)
# --------------------------------------------------------------------------------------------


def _diff_cells(metric: Metric, label: str) -> list[str]:
    pair = metric.pairs.get(label)
    if pair is None:
        return ["n/a", "n/a", "n/a"]
    unit = " pp" if metric.kind == "rate" else ""
    return [fmt_diff(pair.diff, metric.kind) + unit, fmt_diff_ci(pair.ci, metric.kind) + unit, fmt_p(pair.p)]


def summary_table(summary: Summary, label: str) -> list[list[str]]:
    """Each metric: base and adapter with their intervals, the paired difference and its p-value."""
    table = [["metric", BASE, f"{BASE} 95% CI", label, f"{label} 95% CI", f"{label} − {BASE}", "paired 95% CI", "p"]]
    for m in summary.metrics:
        table.append(
            [
                m.name,
                fmt(m.values.get(BASE), m.kind),
                fmt_ci(m.cis.get(BASE), m.kind),
                fmt(m.values.get(label), m.kind),
                fmt_ci(m.cis.get(label), m.kind),
                *_diff_cells(m, label),
            ]
        )
    return table


def side_by_side_table(summary: Summary) -> list[list[str]]:
    """Several adapters: each metric's value per side, with the paired difference to base and its p."""
    table = [["metric", BASE, *summary.labels]]
    for m in summary.metrics:
        row = [m.name, fmt(m.values.get(BASE), m.kind)]
        for label in summary.labels:
            diff, ci, p = _diff_cells(m, label)
            row.append(
                fmt(m.values.get(label), m.kind)
                if diff == "n/a"
                else f"{fmt(m.values.get(label), m.kind)} ({diff} {ci.removesuffix(' pp')}, p {p})"
            )
        table.append(row)
    return table


def sampling_table(summary: Summary) -> list[list[str]]:
    labels = summary.labels
    head = ["metric", BASE, f"{BASE} 95% CI"]
    for label in labels:
        head += [label, f"{label} 95% CI", f"{label} − {BASE}", "paired 95% CI", "p"]
    table = [head]
    for m in summary.sampling:
        row = [m.name, fmt(m.values[BASE], m.kind), fmt_ci(m.cis[BASE], m.kind)]
        for label in labels:
            row += [fmt(m.values[label], m.kind), fmt_ci(m.cis[label], m.kind), *_diff_cells(m, label)]
        table.append(row)
    return table


def adapters_table(summary: Summary) -> list[list[str]]:
    """One row per adapter: the primary metric against base, and the forgetting figure."""
    primary = summary.metric(summary.primary)
    kind = primary.kind
    head = [
        "adapter",
        summary.primary,
        "95% CI",
        f"− {BASE}",
        "paired 95% CI",
        "fixed",
        "broken",
        "p",
        "log-lik. − base",
        "verdict",
    ]
    table = [head, [BASE, fmt(primary.values[BASE], kind), fmt_ci(primary.cis[BASE], kind), "", "", "", "", "", "", ""]]
    for label in summary.labels:
        pair, verdict = primary.pairs[label], summary.verdicts[label]
        forgot = ""
        if summary.forgetting is not None:
            forgot = fmt_diff(summary.forgetting.pairs[label][0], "mean")
            forgot += " (drop)" if summary.forgetting.flagged(label) else ""
        name = f"{label} (best)" if label == summary.best and len(summary.labels) > 1 else label
        table.append(
            [
                name,
                fmt(primary.values[label], kind),
                fmt_ci(primary.cis[label], kind),
                *_diff_cells(primary, label)[:2],
                str(pair.fixed),
                str(pair.broken),
                fmt_p(pair.p),
                forgot,
                verdict.outcome,
            ]
        )
    return table


def forgetting_table(summary: Summary) -> list[list[str]]:
    f = summary.forgetting
    table = [
        ["model", "log-likelihood per token", f"− {BASE}", "paired 95% CI", f"drop > {f.threshold:g}"],
        [BASE, fmt(f.base, "mean"), "", "", ""],
    ]
    for label in summary.labels:
        diff, ci = f.pairs[label]
        table.append(
            [
                label,
                fmt(f.values[label], "mean"),
                fmt_diff(diff, "mean"),
                fmt_diff_ci(ci, "mean"),
                "YES" if f.flagged(label) else "no",
            ]
        )
    return table


def sampling_caption(summary: Summary) -> str:
    ties = ", ".join(f"{side} {n}" for side, n in summary.majority_ties.items())
    return (
        f"Over the {summary.n_reference} prompts with a reference. pass@k is the unbiased estimator "
        f"1 - C(n-c, k) / C(n, k) with n = {summary.samples}; maj@{summary.samples} votes on the marked answers, "
        f"a tie going to the answer sampled first (tied prompts: {ties})."
    )


def forgetting_caption(summary: Summary) -> str:
    f = summary.forgetting
    skipped = f" ({f.skipped} texts under 2 tokens left out)" if f.skipped else ""
    return (
        f"Mean log-likelihood per token (nats; higher is better) that each model gives to {f.n_texts} texts from "
        f"{f.source}{skipped}. A drop of more than {f.threshold:g} against base is flagged as forgetting."
    )


def verdict_lines(summary: Summary) -> list[str]:
    lines = [summary.verdicts[label].text() for label in summary.labels]
    if summary.best_vs_runner_up is not None:
        v = summary.best_vs_runner_up
        kind = "rate" if summary.primary.endswith("accuracy") else "mean"
        unit = " points" if kind == "rate" else ""
        lines.append(
            f"best: {summary.best} ({v.metric} {fmt(v.value, kind)}); against the runner-up "
            f"{summary.runner_up} ({fmt(v.base, kind)}): {fmt_diff(v.pair.diff, kind)}{unit} (95% CI "
            f"{fmt_diff(v.pair.ci[0], kind)} to {fmt_diff(v.pair.ci[1], kind)}), "
            f"{v.pair.test} p = {fmt_p(v.pair.p)}" + ("" if v.outcome == "better" else ", not a detectable difference")
        )
    if summary.forgetting is not None:
        for label in summary.labels:
            if summary.forgetting.flagged(label):
                diff = summary.forgetting.pairs[label][0]
                lines.append(
                    f"WARNING: {label} forgot: log-likelihood per token of the reference texts dropped by "
                    f"{-diff:.3f} (threshold {summary.forgetting.threshold:g})"
                )
    return lines


def coverage_line(summary: Summary) -> str | None:
    if summary.n_reference == summary.n_prompts:
        return None
    if not summary.n_reference:
        return "No prompt has a reference: accuracy is n/a and the verdict uses the total reward."
    return (
        f"Accuracy counts the {summary.n_reference} of {summary.n_prompts} prompts that have a reference; the "
        "others count in the rewards only."
    )


# --------------------------------------------------------------------------------------------
# Terminal
# --------------------------------------------------------------------------------------------


def _print_table(table: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for r in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())


def print_report(rows: list[dict], summary: Summary, header: Header, show: int) -> None:
    labels = summary.labels
    width = max(30, min(48, 100 // (len(labels) + 1)))
    for row in order_for_report(rows, summary.best)[:show]:
        print("=" * ((width + 3) * (len(labels) + 1)))
        print(f"prompt {row['index']} ({', '.join(_outcome_words(row, labels))}): {row['prompt'].strip()[-200:]}")
        print(f"reference: {reference_words(row['reference'])}")
        columns = [[s.upper()] + _wrap(row[s]["outputs"][0], width) + [_score_words(row, s)] for s in [BASE, *labels]]
        for cells in zip(*[c + [""] * (max(map(len, columns)) - len(c)) for c in columns]):
            print(" | ".join(cell.ljust(width) for cell in cells).rstrip())
    print("=" * 80)
    print(f"base: {header.base}")
    for label, path in header.adapters.items():
        print(f"{label}: {path}")
    print(f"prompts: {summary.n_prompts}; decoding: {header.decoding()}")
    for note in summary.notes:
        print(f"NOTE: {note}")
    if coverage_line(summary):
        print(coverage_line(summary))
    if len(labels) > 1:
        _print_table(adapters_table(summary))
        print(f"\n{summary.best} (best) against base:")
    _print_table(summary_table(summary, summary.best))
    if summary.sampling:
        print()
        _print_table(sampling_table(summary))
    if summary.forgetting is not None:
        print()
        _print_table(forgetting_table(summary))
    print()
    for line in verdict_lines(summary):
        print(line)


def _wrap(text: str, width: int) -> list[str]:
    lines = [piece for line in (text or "<empty>").splitlines() for piece in (textwrap.wrap(line, width) or [""])]
    return lines[:12]


def _score_words(row: dict, side: str) -> str:
    s = row[side]["scores"]
    if len(s) == 1:
        right = (" right" if s[0]["strict"] else " wrong") if row["has_reference"] else ""
        return f"answer {s[0]['answer']}{right}, reward {s[0]['total']:.3f}"
    return f"right {sum(x['strict'] for x in s)}/{len(s)}, mean reward {row[side]['mean_total']:.3f}"


def _outcome_words(row: dict, labels: list[str]) -> list[str]:
    words = {"win": "fixed", "loss": "REGRESSION", "tie": "same"}
    return [f"{label}: {words[row[label]['vs_base']]}" for label in labels]


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def write_reports(report_dir: Path, rows: list[dict], summary: Summary, header: Header) -> None:
    report_dir.mkdir(parents=True, exist_ok=True)
    with open(report_dir / "comparison.jsonl", "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    if summary.forgetting is not None:
        with open(report_dir / "forgetting.jsonl", "w", encoding="utf-8") as f:
            for item in summary.forgetting.texts:
                f.write(json.dumps(item, ensure_ascii=False) + "\n")
    record = {
        "base": header.base,
        "adapters": header.adapters,
        "decoding": header.decoding(),
        "system_prompt": header.system_prompt,
        **summary.as_dict(),
    }
    (report_dir / "summary.json").write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
    (report_dir / "comparison.md").write_text(markdown_report(rows, summary, header), encoding="utf-8")
    (report_dir / "comparison.html").write_text(html_report(rows, summary, header), encoding="utf-8")
    logger.info("reports written to %s", report_dir)


# --------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------


def _md_table(table: list[list[str]]) -> list[str]:
    cells = [[c.replace("|", "\\|") for c in r] for r in table]
    return [
        "| " + " | ".join(cells[0]) + " |",
        "|" + "---|" * len(cells[0]),
        *("| " + " | ".join(r) + " |" for r in cells[1:]),
    ]


def _md_code(text: str) -> str:
    fence = "```" if "```" not in text else "~~~~"
    return f"{fence}\n{text}\n{fence}"


def markdown_report(rows: list[dict], summary: Summary, header: Header) -> str:
    title = "Base vs LoRA" if len(summary.labels) == 1 else "Base vs adapters"
    lines = [f"# {title}\n", f"base: `{header.base}`  "]
    lines += [f"{'adapter' if label == 'lora' else label}: `{path}`  " for label, path in header.adapters.items()]
    lines += [
        f"prompts: {summary.n_prompts}",
        "",
        f"decoding: {header.decoding()}; system prompt: "
        f"{'`' + header.system_prompt + '`' if header.system_prompt else 'none'}",
        "",
    ]
    if summary.notes:
        lines += ["> **Differs from the training run, or left out:**", ">"]
        lines += [f"> - {note}" for note in summary.notes] + [""]
    lines += ["## Verdict", ""] + [f"**{line}**  " for line in verdict_lines(summary)] + [""]
    if coverage_line(summary):
        lines += [coverage_line(summary), ""]
    lines += [INTERVALS + ".", ""]
    if len(summary.labels) > 1:
        lines += _md_table(side_by_side_table(summary)) + [""]
        lines += ["## Adapters", ""] + _md_table(adapters_table(summary)) + [""]
    else:
        lines += _md_table(summary_table(summary, summary.best)) + [""]
    if summary.sampling:
        lines += [f"## Sampling ({summary.samples} samples per prompt)", "", sampling_caption(summary), ""]
        lines += _md_table(sampling_table(summary)) + [""]
    if summary.forgetting is not None:
        lines += (
            ["## Forgetting check", "", forgetting_caption(summary), ""] + _md_table(forgetting_table(summary)) + [""]
        )
    lines += _md_outputs(rows, summary)
    return "\n".join(lines) + "\n"


def _section_rows(rows: list[dict], labels: list[str]) -> dict[str, list[dict]]:
    """Regressions (any adapter lost), fixes (some won, none lost), others."""
    sections = {name: [] for name, _ in SECTIONS}
    for row in rows:
        outcomes = {row[label]["vs_base"] for label in labels}
        name = "regressions" if "loss" in outcomes else "fixes" if "win" in outcomes else "others"
        sections[name].append(row)
    return sections


def section_title(name: str, summary: Summary) -> str:
    """What a loss, win or tie means here: by accuracy where prompts have references, else by reward."""
    if summary.samples > 1:
        by_accuracy = ("the adapter right less often than base", "the adapter right more often than base")
    else:
        by_accuracy = ("base right, adapter wrong", "base wrong, adapter right")
    by_reward = ("a lower total reward than base", "a higher total reward than base")
    if summary.n_reference == summary.n_prompts:
        wording = by_accuracy
    elif not summary.n_reference:
        wording = by_reward
    else:
        wording = tuple(f"{a} (without a reference: {b})" for a, b in zip(by_accuracy, by_reward))
    return {"regressions": f"Regressions: {wording[0]}", "fixes": f"Fixes: {wording[1]}", "others": "Unchanged"}[name]


def reference_words(reference) -> str:
    """The reference on one line, and the answers it accepts."""
    accepted = extract_reference(reference)
    shown = json.dumps(reference, ensure_ascii=False)
    return f"{shown} (accepts: {', '.join(accepted)})" if accepted else f"{shown} (no answer to check)"


def _md_outputs(rows: list[dict], summary: Summary) -> list[str]:
    lines = []
    for name, rows_in in _section_rows(rows, summary.labels).items():
        lines += [f"## {section_title(name, summary)} ({len(rows_in)})", ""]
        for row in rows_in:
            lines += [
                f"### Prompt {row['index']}",
                "",
                _md_code(row["prompt"].strip()),
                "",
                f"reference: `{reference_words(row['reference'])}`",
                "",
            ]
            for side in [BASE, *summary.labels]:
                outcome = "" if side == BASE else f", {_outcome_words(row, [side])[0].split(': ')[1]}"
                lines += [
                    f"**{side}** ({_score_words(row, side)}{outcome}):",
                    "",
                    _md_code(row[side]["outputs"][0]),
                    "",
                ]
    return lines


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------


STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1400px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}
th{background:#f3f4f6}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
pre{white-space:pre-wrap;word-break:break-word;margin:0;font-size:90%}
del{background:#fdd;text-decoration:none}ins{background:#cfc;text-decoration:none}
.notes{background:#fff8e1;border-left:4px solid #f0b400;padding:0.5em 1em;margin:1em 0}
.verdict{padding:0.6em 1em;margin:0.4em 0;border-radius:4px;font-weight:600}
.verdict.better{background:#e6f4ea;border-left:4px solid #1e8e3e}
.verdict.worse,.verdict.warning{background:#fde8e8;border-left:4px solid #c5221f}
.verdict.none{background:#f1f3f4;border-left:4px solid #80868b}
.meta{color:#555}.small{color:#555;font-size:90%}
td.loss{background:#fff0f0}td.win{background:#f0fff3}
.tag{font-size:85%;font-weight:600}.tag.loss{color:#a00}.tag.win{color:#070}.tag.tie{color:#666}
table.outputs{width:100%;table-layout:fixed}table.outputs td:first-child{width:22%}
"""


def _html_table(table: list[list[str]], table_id: str) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table[0])
    body = "".join(
        "<tr>" + "".join(f"<td{_num(c, i)}>{html.escape(c)}</td>" for i, c in enumerate(r)) + "</tr>" for r in table[1:]
    )
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _num(cell: str, column: int) -> str:
    return ' class="num"' if column and cell[:1] in "-+0123456789[n" else ""


def _diff_html(a: str, b: str) -> tuple[str, str]:
    """Both texts with the characters that differ highlighted."""
    left, right = [], []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        x, y = html.escape(a[i1:i2]), html.escape(b[j1:j2])
        if op == "equal":
            left.append(x)
            right.append(y)
        else:
            left.append(f"<del>{x}</del>" if x else "")
            right.append(f"<ins>{y}</ins>" if y else "")
    return "".join(left), "".join(right)


def _bar_chart(summary: Summary) -> str:
    """An inline SVG bar chart of the primary metric and the total reward, every side."""
    sides = [BASE, *summary.labels]
    metrics = [m for m in summary.metrics if m.name in (summary.primary, "total reward") and m.n]
    colours = ["#9aa5b1", "#2f7ed8", "#e8710a", "#1e8e3e", "#9334e6", "#d01884", "#12b5cb", "#7cb342"]
    bar, gap, height = 34, 50, 160
    top = max([1.0] + [v for m in metrics for v in m.values.values() if v is not None])
    parts, group = [], len(sides) * bar
    for i, m in enumerate(metrics):
        x0 = 20 + i * (group + gap)
        for j, side in enumerate(sides):
            value = m.values[side] or 0.0
            h = max(0.0, value) / top * height
            x = x0 + j * bar
            parts.append(
                f'<rect x="{x}" y="{30 + height - h:.1f}" width="{bar - 6}" height="{h:.1f}" '
                f'fill="{colours[j % len(colours)]}"><title>{html.escape(side)} {html.escape(m.name)}: '
                f"{fmt(value, m.kind)}</title></rect>"
            )
            parts.append(
                f'<text x="{x + (bar - 6) / 2:.1f}" y="{25 + height - h:.1f}" font-size="10" '
                f'text-anchor="middle">{fmt(value, m.kind)}</text>'
            )
        parts.append(
            f'<text x="{x0 + group / 2:.1f}" y="{height + 48}" font-size="12" text-anchor="middle">'
            f"{html.escape(m.name)}</text>"
        )
    legend, x = [], 10
    for k, side in enumerate(sides):
        legend.append(
            f'<rect x="{x}" y="2" width="10" height="10" fill="{colours[k % len(colours)]}"/>'
            f'<text x="{x + 14}" y="11" font-size="11">{html.escape(side)}</text>'
        )
        x += 30 + 7 * len(side)
    legend = "".join(legend)
    width = max(40 + len(metrics) * (group + gap), x)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 60}">{legend}{"".join(parts)}</svg>'
    )


def _verdict_class(line: str) -> str:
    if line.startswith("WARNING"):
        return "warning"
    return "better" if " is better " in line else "worse" if " is worse " in line else "none"


def html_report(rows: list[dict], summary: Summary, header: Header) -> str:
    title = "Base vs LoRA" if len(summary.labels) == 1 else "Base vs adapters"
    adapters = "".join(
        f"<br>{html.escape('adapter' if label == 'lora' else label)}: <code>{html.escape(path)}</code>"
        for label, path in header.adapters.items()
    )
    parts = [
        f"<h1>{title}</h1>",
        f'<p class="meta">base: <code>{html.escape(header.base)}</code>{adapters}<br>prompts: {summary.n_prompts}'
        f"<br>decoding: {html.escape(header.decoding())}<br>system prompt: "
        f"{html.escape(repr(header.system_prompt)) if header.system_prompt else 'none'}</p>",
    ]
    if summary.notes:
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in summary.notes)
        parts.append(
            f'<div class="notes" id="notes"><b>Differs from the training run, or left out:</b><ul>{notes}</ul></div>'
        )
    parts.append("<h2>Verdict</h2>")
    parts += [
        f'<div class="verdict {_verdict_class(line)}">{html.escape(line)}</div>' for line in verdict_lines(summary)
    ]
    if coverage_line(summary):
        parts.append(f"<p>{html.escape(coverage_line(summary))}</p>")
    if len(summary.labels) > 1:
        parts += ["<h2>Adapters</h2>", _html_table(adapters_table(summary), "adapters")]
    parts.append("<h2>Summary</h2>")
    table = side_by_side_table(summary) if len(summary.labels) > 1 else summary_table(summary, summary.best)
    parts.append(_html_table(table, "summary"))
    parts.append(f'<p class="small">{html.escape(INTERVALS)}.</p>')
    if summary.sampling:
        parts += [
            f"<h2>Sampling ({summary.samples} samples per prompt)</h2>",
            f"<p>{html.escape(sampling_caption(summary))}</p>",
            _html_table(sampling_table(summary), "sampling"),
        ]
    if summary.forgetting is not None:
        parts += [
            "<h2>Forgetting check</h2>",
            f"<p>{html.escape(forgetting_caption(summary))}</p>",
            _html_table(forgetting_table(summary), "forgetting"),
        ]
    parts += ["<h2>Metrics</h2>", _bar_chart(summary)]
    parts += _html_outputs(rows, summary)
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title><style>{STYLE}</style></head>"
        f"<body>{''.join(parts)}</body></html>"
    )


def _html_outputs(rows: list[dict], summary: Summary) -> list[str]:
    sides = [BASE, *summary.labels]
    head = "<th>prompt</th>" + "".join(f"<th>{html.escape(s)}</th>" for s in sides)
    parts = []
    for name, rows_in in _section_rows(rows, summary.labels).items():
        parts.append(f"<h2>{html.escape(section_title(name, summary))} ({len(rows_in)})</h2>")
        if not rows_in:
            parts.append("<p>none</p>")
            continue
        body = "".join(_html_output_row(row, summary.labels) for row in rows_in)
        parts.append(f'<table id="{name}" class="outputs"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>')
    return parts


def _html_output_row(row: dict, labels: list[str]) -> str:
    base_text = row[BASE]["outputs"][0]
    # With one adapter the base side shows what the adapter removed; with several there is no one to diff.
    base_html = _diff_html(base_text, row[labels[0]]["outputs"][0])[0] if len(labels) == 1 else html.escape(base_text)
    cells = [
        f"<td><pre>{html.escape(row['prompt'].strip())}</pre>"
        f'<div class="small">#{row["index"]} · reference: {html.escape(reference_words(row["reference"]))}</div></td>',
        f'<td><pre>{base_html}</pre><div class="small">{html.escape(_score_words(row, BASE))}</div></td>',
    ]
    for label in labels:
        outcome = row[label]["vs_base"]
        _, text = _diff_html(base_text, row[label]["outputs"][0])
        word = {"win": "fixed", "loss": "regression", "tie": "same"}[outcome]
        cells.append(
            f'<td class="{outcome}"><pre>{text}</pre><div class="small">{html.escape(_score_words(row, label))} '
            f'<span class="tag {outcome}">{word}</span></div></td>'
        )
    return f'<tr class="prompt-row">{"".join(cells)}</tr>'
