"""Write the demo's results into README.md: the before/after table and the reward curves.

    make results        # runs the demo, then this script

Reads outputs/demo/report/comparison.md and outputs/demo/reward_curves.png, copies the picture
to docs/, and replaces the text between the results markers in README.md.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- results:start -->", "<!-- results:end -->"


def summary_table(markdown: str) -> str:
    """The summary table of comparison.md (its first table)."""
    lines = markdown.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("| metric"))
    table = []
    for line in lines[first:]:
        if not line.startswith("|"):
            break
        table.append(line)
    return "\n".join(table)


def verdict(markdown: str) -> str:
    """The verdict line of comparison.md (bold, under its Verdict heading)."""
    lines = markdown.splitlines()
    start = lines.index("## Verdict")
    return next(line.strip() for line in lines[start + 1 :] if line.startswith("**"))


def main(demo_dir: str = "outputs/demo") -> int:
    demo = ROOT / demo_dir
    report = demo / "report" / "comparison.md"
    if not report.exists():
        print(f"error: {report} not found; run `make demo` first", file=sys.stderr)
        return 2
    (ROOT / "docs").mkdir(exist_ok=True)
    shutil.copy(demo / "reward_curves.png", ROOT / "docs" / "demo_reward_curves.png")
    markdown = report.read_text()
    prompts = next(line for line in markdown.splitlines() if line.startswith("prompts:"))
    body = (
        f"{START}\nHeld-out problems of the demo task, greedy decoding, {prompts.replace('prompts: ', '')} "
        "prompts, 95% intervals (Wilson for accuracies, bootstrap for means; differences: paired bootstrap "
        "over prompts; p: McNemar's exact test):\n\n"
        f"{verdict(markdown)}\n\n{summary_table(markdown)}\n\n![demo reward curves](docs/demo_reward_curves.png)\n{END}"
    )
    readme = (ROOT / "README.md").read_text()
    before, _, rest = readme.partition(START)
    _, _, after = rest.partition(END)
    (ROOT / "README.md").write_text(before + body + after)
    print("README.md results updated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:]))
