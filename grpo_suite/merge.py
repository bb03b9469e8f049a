"""Merging a LoRA adapter into its base model: what is merged, where it goes, and whether it is faithful.

The export folder is written under a temporary name beside its target and renamed when it is
complete (weights, tokenizer, generation config, ``merge_record.json``), so a Ctrl-C, a kill or a
full disk never leaves a folder that looks like a finished export. The faithfulness check runs the
same prompts through the adapter on its base and through the merged folder as saved (reloaded
from disk with plain ``from_pretrained``) and compares greedy tokens and logits.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from grpo_suite import model_cache, run_folder
from grpo_suite.errors import UsageError
from grpo_suite.files import looks_like_path

logger = logging.getLogger(__name__)

MERGE_RECORD = "merge_record.json"
KIND = "merged-model"  # the record's "kind": marks a folder as one of our exports
EXPORT_DTYPES = ("float32", "bfloat16", "float16")

# The largest logit difference allowed on the check's prompts. The merge and the saved folder are
# judged in float32, where merging W + B@A only changes the order of the additions (measured on
# SmolLM2-135M: ~2e-5). A 16-bit export's own rounding is shown against its dtype's allowance but
# not judged: measured on SmolLM2-135M in bfloat16, 1.1 on logits up to ~40, greedy tokens identical.
RELATIVE_TOLERANCE = {"float32": 1e-4, "bfloat16": 5e-2, "float16": 1e-2}
ABSOLUTE_FLOOR = {"float32": 1e-3, "bfloat16": 0.25, "float16": 0.05}


# --------------------------------------------------------------------------------------------
# What is merged
# --------------------------------------------------------------------------------------------


@dataclass
class Source:
    """The adapter, the run that wrote it and the base it records."""

    adapter: Path
    config: dict  # adapter_config.json
    run: dict  # run_config.json of the training run, {} if none was found
    step: int | None  # the checkpoint's step, or the final adapter's last step
    recorded_base: str | None

    @property
    def recorded_args(self) -> dict:
        return self.run.get("args", {})


def read_source(adapter: Path) -> Source:
    from grpo_suite import models

    if adapter.is_dir() and is_export(adapter):
        raise UsageError(f"--adapter {adapter} is a merged model already (it holds {MERGE_RECORD}); pass the adapter")
    config = models.read_adapter_config(adapter)
    run = run_folder.run_record_of(adapter) or {}
    step = run_folder.checkpoint_step(adapter)
    if step is None:
        state = adapter / "trainer_state.json"
        last = run_folder.latest_complete_checkpoint(adapter, report=False) if adapter.is_dir() else None
        if state.is_file():
            step = _global_step(state)
        elif last is not None:
            step = _global_step(last / "trainer_state.json")
    return Source(adapter, config, run, step, config.get("base_model_name_or_path"))


def _global_step(path: Path) -> int | None:
    try:
        return int(json.loads(path.read_text(encoding="utf-8")).get("global_step"))
    except (OSError, ValueError, TypeError):
        return None


def base_of(source: Source, override: str | None) -> str:
    """The base to merge into: --base-model, else the one the adapter records (which must exist)."""
    if override:
        if looks_like_path(override) and not Path(override).expanduser().exists():
            raise UsageError(f"--base-model {override} does not exist; pass the folder the base model is in")
        return override
    if not source.recorded_base:
        raise UsageError(f"the adapter {source.adapter} does not record its base model; pass --base-model")
    if looks_like_path(source.recorded_base) and not Path(source.recorded_base).expanduser().exists():
        raise UsageError(
            f"the adapter's base model {source.recorded_base} (recorded in {source.adapter / 'adapter_config.json'}) "
            "no longer exists; pass --base-model PATH where it is now"
        )
    return source.recorded_base


def reference_base(source: Source, base: str) -> tuple[str, str | None]:
    """The base the faithfulness reference runs on: the one the adapter was trained on where it can
    be had (so a wrong --base-model shows up as an unfaithful merge), else ``base``; with a note."""
    recorded = source.recorded_base
    if not recorded or recorded == base:
        return base, None
    if looks_like_path(recorded) and not Path(recorded).expanduser().exists():
        return base, (
            f"the adapter's recorded base {recorded} is gone: the check compares with the adapter on --base-model "
            f"{base}, so it shows the merge is faithful, not that this is the base it was trained on"
        )
    return recorded, f"merged into --base-model {base}; checked against the adapter on its recorded base {recorded}"


def export_dtype(choice: str, base_config) -> str:
    """--dtype auto: the base checkpoint's own dtype where it is a float type, else float32. Never 4-bit."""
    if choice != "auto":
        return choice
    declared = getattr(base_config, "dtype", None) or getattr(base_config, "torch_dtype", None)
    name = str(declared).removeprefix("torch.") if declared is not None else ""
    return name if name in EXPORT_DTYPES else "float32"


# --------------------------------------------------------------------------------------------
# Where it goes
# --------------------------------------------------------------------------------------------


def default_output(adapter: Path) -> Path:
    """Beside the run folder, never inside it: RUN-merged, or RUN-checkpoint-N-merged."""
    adapter = adapter.resolve()
    if run_folder.checkpoint_step(adapter) is not None:
        return adapter.parent.parent / f"{adapter.parent.name}-{adapter.name}-merged"
    return adapter.parent / f"{adapter.name}-merged"


def is_export(folder: Path) -> bool:
    record = read_record(folder)
    return record is not None


def read_record(folder: Path) -> dict | None:
    try:
        record = json.loads((folder / MERGE_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(record, dict) and record.get("suite") == run_folder.SUITE and record.get("kind") == KIND:
        return record
    return None


def run_folder_of(adapter: Path) -> Path:
    adapter = adapter.resolve()
    return adapter.parent if run_folder.checkpoint_step(adapter) is not None else adapter


def check_output(out: Path, adapter: Path, overwrite: bool, inside_run: bool) -> None:
    """Refuse, before any weight loads, an output that would write into the run or over other files."""
    target, run = out.resolve(), run_folder_of(adapter)
    if target == run or target == adapter.resolve():
        raise UsageError(
            f"--output-dir {out} is the adapter's own folder; pass another folder (default: {default_output(adapter)})"
        )
    if run in target.parents and not inside_run:
        raise UsageError(
            f"--output-dir {out} is inside the run folder {run}; pass --inside-run-folder to write there, "
            f"or another folder (default: {default_output(adapter)})"
        )
    if target in run.parents:
        raise UsageError(f"--output-dir {out} holds the run folder {run}; pass a folder of its own")
    inside = next((p for p in target.parents if is_export(p)), None)
    if inside is not None:
        raise UsageError(f"--output-dir {out} is inside the export {inside}; pass a folder of its own")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--output-dir {out} is a file; pass a folder")
    if out.is_dir() and any(out.iterdir()):
        if not is_export(out):
            entries = ", ".join(sorted(p.name for p in out.iterdir())[:5])
            raise UsageError(
                f"--output-dir {out} holds files that are not an earlier export ({entries}); pass an empty or new folder"
            )
        if not overwrite:
            raise UsageError(f"--output-dir {out} holds an earlier export; pass --overwrite to replace it")
    parent = target.parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        raise UsageError(f"--output-dir {out} cannot be written ({parent} is read-only); pass a folder you can write")


class Staging:
    """The export under a temporary name beside ``out``; ``publish`` renames it into place."""

    def __init__(self, out: Path):
        self.out = out
        self.tmp = out.parent / f".{out.name}.partial-{os.getpid()}"

    def __enter__(self) -> Staging:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.tmp, ignore_errors=True)  # our own leftover of this very pid
        self.tmp.mkdir()
        return self

    def publish(self) -> None:
        """The earlier export (if asked to replace it) goes aside, the new one in, then the old is removed."""
        aside = None
        if self.out.exists():
            aside = self.out.parent / f".{self.out.name}.replaced-{os.getpid()}"
            os.replace(self.out, aside)
        try:
            os.replace(self.tmp, self.out)
        except OSError:
            if aside is not None:
                os.replace(aside, self.out)
            raise
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)

    def keep_as(self, name: str) -> Path | None:
        """Keep a rejected export for inspection under ``name`` beside the target, if that is free."""
        kept = self.out.parent / name
        if kept.exists():
            return None
        os.replace(self.tmp, kept)
        return kept

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)  # whatever did not become the export


def leftovers(out: Path) -> list[Path]:
    """Partial exports of runs that were killed before their cleanup could run."""
    if not out.parent.is_dir():
        return []
    return sorted(out.parent.glob(f".{out.name}.partial-*")) + sorted(out.parent.glob(f".{out.name}.replaced-*"))


# --------------------------------------------------------------------------------------------
# The faithfulness check
# --------------------------------------------------------------------------------------------


@dataclass
class Reference:
    """The adapter's greedy continuation of one prompt and its logits at each generated position."""

    prompt_ids: list[int]
    new_ids: list[int]
    logits: Any  # float32 tensor [len(new_ids), vocab]


def greedy_references(model, tokenizer, encoded: list[list[int]], max_new_tokens: int) -> list[Reference]:
    """Greedy continuations one prompt at a time (no padding to differ between models), then their
    teacher-forced logits, which the merged model is held to."""
    import torch

    refs = []
    with torch.no_grad():
        for ids in encoded:
            new = _greedy(model, tokenizer, ids, max_new_tokens)
            refs.append(Reference(ids, new, _logits(model, ids, new)))
    return refs


def _greedy(model, tokenizer, ids: list[int], max_new_tokens: int) -> list[int]:
    import torch

    input_ids = torch.tensor([ids], device=model.device)
    output = model.generate(
        input_ids=input_ids,
        attention_mask=torch.ones_like(input_ids),
        max_new_tokens=max_new_tokens,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
        temperature=None,
        top_p=None,
        top_k=None,
    )
    return output[0, len(ids) :].tolist()


def _logits(model, ids: list[int], new: list[int]):
    import torch

    if not new:
        return torch.zeros(0, 0)
    full = torch.tensor([ids + new], device=model.device)
    logits = model(input_ids=full).logits[0, len(ids) - 1 : len(ids) + len(new) - 1]
    return logits.float().cpu()


@dataclass
class Faithfulness:
    prompts: int
    prompts_identical: int
    tokens: int
    tokens_identical: int
    max_logit_diff: float
    allowed: float
    dtype: str
    faithful: bool
    disagreements: list[dict] = field(default_factory=list)


def tolerance(dtype: str, refs: list[Reference]) -> float:
    scale = max((float(r.logits.abs().max()) for r in refs if r.logits.numel()), default=1.0)
    return max(ABSOLUTE_FLOOR[dtype], RELATIVE_TOLERANCE[dtype] * scale)


def check_faithful(model, tokenizer, refs: list[Reference], dtype: str, max_new_tokens: int) -> Faithfulness:
    """The merged model against the adapter's references: its own greedy tokens, and its logits on
    the adapter's tokens (teacher-forced, so one early difference does not hide the rest)."""
    import torch

    allowed = tolerance(dtype, refs)
    same_prompts = same_tokens = total = 0
    worst = 0.0
    disagreements = []
    with torch.no_grad():
        for i, ref in enumerate(refs):
            new = _greedy(model, tokenizer, ref.prompt_ids, max_new_tokens)
            agree = sum(a == b for a, b in zip(new, ref.new_ids))
            total += max(len(new), len(ref.new_ids))
            same_tokens += agree
            same_prompts += new == ref.new_ids
            if ref.new_ids:
                diff = float((_logits(model, ref.prompt_ids, ref.new_ids) - ref.logits).abs().max())
                worst = max(worst, diff)
            if new != ref.new_ids:
                first = next(
                    (j for j, (a, b) in enumerate(zip(new, ref.new_ids)) if a != b), min(len(new), len(ref.new_ids))
                )
                disagreements.append(
                    {
                        "prompt": i,
                        "first_different_token": first,
                        "adapter": tokenizer.decode(ref.new_ids[first : first + 8]),
                        "merged": tokenizer.decode(new[first : first + 8]),
                    }
                )
    return Faithfulness(
        len(refs), same_prompts, total, same_tokens, worst, allowed, dtype, worst <= allowed, disagreements
    )


@dataclass
class Verdict:
    """The export's checks: the merge (float32 weights against the float32 adapter), the folder as
    saved (against the same weights in memory), and what a server gets (the saved folder against
    the float32 adapter: for a 16-bit export its rounding, shown, not judged)."""

    dtype: str
    merge: Faithfulness
    saved: Faithfulness
    served: Faithfulness

    @property
    def faithful(self) -> bool:
        return self.merge.faithful and self.saved.faithful

    def lines(self) -> list[str]:
        verdict = "FAITHFUL" if self.faithful else "NOT FAITHFUL"
        served = self.served
        lines = [
            f"faithfulness ({self.dtype}): {verdict}",
            f"  greedy agreement with the adapter: {served.prompts_identical}/{served.prompts} prompts identical, "
            f"{served.tokens_identical}/{served.tokens} tokens",
        ]
        if self.served is self.saved:  # a float32 export: one comparison covers the merge and the folder
            return lines + [
                f"  largest logit difference: {served.max_logit_diff:.3g} (allowed for float32: {served.allowed:.3g})"
            ]
        return lines + [
            f"  merge (float32): largest logit difference {self.merge.max_logit_diff:.3g} "
            f"(allowed: {self.merge.allowed:.3g})",
            f"  saved {self.dtype} folder against the merged weights cast in memory: "
            f"{self.saved.max_logit_diff:.3g} (allowed: {self.saved.allowed:.3g})",
            f"  {self.dtype} rounding against the float32 adapter: largest logit difference {served.max_logit_diff:.3g}",
        ]

    def record(self) -> dict:
        return {
            "dtype": self.dtype,
            "faithful": self.faithful,
            "merge": asdict(self.merge),
            "saved": asdict(self.saved),
            "served": asdict(self.served),
        }


# --------------------------------------------------------------------------------------------
# The record
# --------------------------------------------------------------------------------------------


def sha256_of(path: Path) -> str | None:
    return model_cache.sha256(path) if path.is_file() else None


def build_record(
    source: Source,
    base: str,
    revision: str | None,
    dtype: str,
    serving: dict,
    faithfulness: Verdict,
    notes: list[str],
) -> dict:
    recorded = source.recorded_args
    return {
        "suite": run_folder.SUITE,
        "kind": KIND,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "base_model": base,
        "base_revision": revision,
        "adapter": str(source.adapter.resolve()),
        "adapter_sha256": sha256_of(source.adapter / "adapter_model.safetensors"),
        "step": source.step,
        "dtype": dtype,
        "trained_quantization": source.run.get("quantization"),
        "lora": {k: source.config.get(k) for k in ("r", "lora_alpha", "target_modules", "use_dora", "use_rslora")},
        "system_prompt": serving["system_prompt"],
        "answer_instruction": serving["instruction"],
        "chat_template_kwargs": recorded.get("chat_template_kwargs") or {},
        "faithfulness": faithfulness.record(),
        "notes": notes,
        "run": source.run,  # the run's own record: compare_base_vs_lora.py renders and scores as the run did
    }


def write_record(folder: Path, record: dict) -> None:
    (folder / MERGE_RECORD).write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
