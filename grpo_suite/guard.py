"""What guards a training run: signals, checks after every step, and the one line that reports
an interruption or a crash (with the traceback kept in a file).

train_grpo.py builds a :class:`RunState`, hands :func:`make_callbacks` to the trainer, and on any
exception calls :func:`report_crash` or :func:`report_interrupt`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import signal
import sys
import traceback
from pathlib import Path

from grpo_suite import checks, probe, run_folder
from grpo_suite.errors import EXIT_INTERRUPTED, first_line
from grpo_suite.records import append_history

logger = logging.getLogger("train_grpo")


def latest_checkpoint(out: Path) -> Path | None:
    """The newest checkpoint that is complete (its marker written last), or None."""
    return run_folder.latest_complete_checkpoint(Path(out), report=False)


class _StopOnSignal:
    """SIGINT/SIGTERM ask the trainer to save and stop at the end of the current step."""

    def __init__(self):
        self.received: int | None = None

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    @staticmethod
    def uninstall() -> None:
        """From here on a signal interrupts at once (KeyboardInterrupt), as before training."""
        signal.signal(signal.SIGINT, _interrupt)
        signal.signal(signal.SIGTERM, _interrupt)

    def _handle(self, signum, frame) -> None:
        if self.received is not None:  # a second Ctrl-C means stop now
            raise KeyboardInterrupt
        self.received = signum
        logger.warning(
            "received %s: saving the adapter and a checkpoint after this step (again to abort; the "
            "checkpoints already saved stay usable)",
            signal.Signals(signum).name,
        )


PENDING_INTERRUPT: list[int] = []


def _interrupt(signum, frame) -> None:
    """SIGINT/SIGTERM outside training: unwind like Ctrl-C, so an earlier run set aside is put back."""
    PENDING_INTERRUPT.append(signum)
    raise KeyboardInterrupt


class RunState:
    """Where the run is, for the one line that reports an interruption or a crash."""

    def __init__(self):
        self._phase = "checking the flags"
        self.fingerprint: tuple[float, ...] | None = None
        self.out: Path | None = None
        self.folder: run_folder.RunFolder | None = None
        self.trainer = None
        self.bad: tuple[int, str] | None = None  # (step, what) where a value first became non-finite
        self.final_saved = False
        self.watchdog = True
        self.stop_after = 0  # --stop-when-stuck
        self.stuck: tuple[int, str] | None = None  # (step, cause) where the watchdog stopped the run
        self.log_handler: logging.Handler | None = None

    @property
    def phase(self) -> str:
        return self._phase

    @phase.setter
    def phase(self, value: str) -> None:
        # A Ctrl-C that some library swallowed (it raised inside a callback or a __del__) still stops
        # the run at the next phase.
        if PENDING_INTERRUPT:
            raise KeyboardInterrupt
        self._phase = value

    @property
    def step(self) -> int | None:
        return None if self.trainer is None or self.trainer.state is None else self.trainer.state.global_step

    def attach_log(self, out: Path) -> None:
        """Our log lines also go to OUT/train.log, next to the run they describe."""
        self.log_handler = logging.FileHandler(out / "train.log", encoding="utf-8")
        self.log_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.getLogger().addHandler(self.log_handler)

    def release(self, failed: bool) -> None:
        if self.log_handler is not None:
            logging.getLogger().removeHandler(self.log_handler)
            self.log_handler.close()
            self.log_handler = None
        if self.folder is not None:
            self.folder.release(failed)

    def kept_folder(self) -> Path | None:
        """The run's own folder when it survives the failure (not put back, not removed)."""
        if self.folder is None or self.folder.restored or not self.folder.out.is_dir():
            return None
        return self.folder.out


def make_callbacks(out: Path, stop: _StopOnSignal, run: RunState, changed: dict | None = None):
    from transformers import TrainerCallback

    changed = changed or {}
    watchdog = probe.Watchdog(stop_after=getattr(run, "stop_after", 0)) if getattr(run, "watchdog", True) else None

    class RunCallbacks(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, optimizer=None, lr_scheduler=None, **kwargs):
            if model is not None:
                run.fingerprint = fingerprint(model)
            # A resumed state carries the checkpoint's logging, eval and save steps: this run's flags apply.
            state.compute_steps(args, state.max_steps)
            if "learning_rate" in changed and optimizer is not None:
                old, new = changed["learning_rate"]
                apply_learning_rate(optimizer, lr_scheduler, new / old)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs:
                return
            loss, reward = logs.get("loss"), logs.get("reward")
            if isinstance(loss, float) and not math.isfinite(loss) and run.bad is None:
                run.bad = (state.global_step, f"the loss ({loss})")
                control.should_training_stop = True
            if isinstance(reward, float) and math.isinf(reward) and run.bad is None:
                run.bad = (state.global_step, f"the total reward ({reward}; a reward function returned huge values)")
                control.should_training_stop = True
            if state.is_world_process_zero:
                with open(out / "metrics.jsonl", "a", encoding="utf-8") as f:
                    f.write(json.dumps({"step": state.global_step, **logs}) + "\n")
            stuck = watchdog.check(logs) if watchdog is not None and "loss" in logs else []
            if stuck and run.stuck is None:
                run.stuck = (state.global_step, stuck[0])
                control.should_save = True
                control.should_training_stop = True

        def on_step_end(self, args, state, control, model=None, **kwargs):
            if model is not None and run.bad is None and not weights_finite(model):
                run.bad = (state.global_step, "the adapter weights")
            if run.bad is not None:
                control.should_training_stop = True
                control.should_save = False  # never a checkpoint of NaN weights
                return
            if stop.received is not None:
                control.should_save = True
                control.should_training_stop = True
            no_spread = getattr(run.trainer, "no_spread", None)  # grpo_suite/dynamic_sampling.py
            if no_spread is not None and run.stuck is None:
                run.stuck = no_spread
                control.should_save = True
                control.should_training_stop = True

        def on_save(self, args, state, control, **kwargs):
            checkpoint = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if state.is_world_process_zero and checkpoint.is_dir():
                run_folder.mark_complete(checkpoint)  # written last: the checkpoint is complete
                if run.folder is not None:
                    run.folder.commit()

    return [RunCallbacks()]


def weights_finite(model) -> bool:
    """Every trainable (adapter) weight is finite; one device sync for all of them."""
    import torch

    finite = [torch.isfinite(p).all() for p in model.parameters() if p.requires_grad]
    return bool(torch.stack(finite).all()) if finite else True


def fingerprint(model) -> tuple[float, ...]:
    """The sum of squares of each trainable weight: equal before and after means nothing moved."""
    import torch

    with torch.no_grad():
        return tuple(float(p.detach().double().pow(2).sum()) for p in model.parameters() if p.requires_grad)


def apply_learning_rate(optimizer, lr_scheduler, ratio: float) -> None:
    """Scale the restored optimizer's and schedule's learning rate: the new --learning-rate applies."""
    for group in optimizer.param_groups:
        group["lr"] *= ratio
        if "initial_lr" in group:
            group["initial_lr"] *= ratio
    scheduler = getattr(lr_scheduler, "scheduler", lr_scheduler)  # accelerate wraps it
    if hasattr(scheduler, "base_lrs"):
        scheduler.base_lrs = [lr * ratio for lr in scheduler.base_lrs]
    # What the trainer logs until the scheduler next steps; torch reads it through get_last_lr() and
    # has no public way to set it.
    if hasattr(scheduler, "_last_lr"):
        scheduler._last_lr = [lr * ratio for lr in scheduler._last_lr]


class TrainingFailed(Exception):
    """Training ran but produced nothing usable (no step, or non-finite values)."""


def describe_error(err: BaseException, step: int | None = None) -> str:
    """The cause and the fix of an unexpected error, in one line."""
    if isinstance(err, (checks.RewardError, TrainingFailed)):
        return str(err)
    if isinstance(err, OSError):
        hint = run_folder.os_error_hint(err, Path(err.filename) if getattr(err, "filename", None) else None)
        if hint:
            return hint
    name = type(err).__name__
    text = first_line(err)
    if name == "OutOfMemoryError" or "out of memory" in text.lower():
        return (
            f"{name}: {text[:200]}; lower --per-device-train-batch-size, --num-generations or "
            "--max-completion-length, or use --quantization 4bit"
        )
    nan_like = "probability tensor contains" in text or ("nan" in text.lower() and "inf" in text.lower())
    if nan_like and not step:
        return (
            f"{text[:160]}: the model gives NaN or inf before any update, so its weights are damaged or "
            "its dtype overflows; check the model files, or pass --dtype float32"
        )
    if nan_like:
        return (
            f"training diverged: {text[:160]}; the model's values became NaN or inf. Lower --learning-rate "
            "(and resume from an earlier checkpoint, or start again with --overwrite)"
        )
    if "jinja" in type(err).__module__:
        return f"the chat template failed ({text}); pass another --system-prompt or a model with a chat template"
    return f"{name}: {text}"


def close_progress_bars() -> None:
    """An open tqdm bar would print after our one-line message when the interpreter exits."""
    try:
        from tqdm import tqdm
    except ImportError:
        return
    for bar in list(getattr(tqdm, "_instances", ())):
        bar.close()


def report_crash(err: BaseException, run: RunState, debug: bool) -> int:
    close_progress_bars()
    where = run.phase + (f" (step {run.step})" if run.phase == "training" and run.step is not None else "")
    trace = "".join(traceback.format_exception(err))
    folder = run.kept_folder()
    log = None
    try:
        if folder is not None:
            log = folder / "error.log"
            log.write_text(trace, encoding="utf-8")
        else:
            import tempfile

            fd, name = tempfile.mkstemp(prefix="train_grpo-error-", suffix=".log")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(trace)
            log = Path(name)
    except OSError:
        log = None
    if debug:
        print(trace, file=sys.stderr, end="")
    if folder is not None and isinstance(err, Exception) and not isinstance(err, TrainingFailed) and run.step:
        append_history(folder, "failed", step=run.step, error=describe_error(err))
    tail = f" (full traceback in {log})" if log else " (rerun with --debug for the full traceback)"
    if folder is not None and not isinstance(err, OSError):
        free = shutil.disk_usage(folder).free
        if free < 64 * 2**20:  # torch.save reports a full disk as an opaque "unexpected pos"
            tail = f"; the disk holding {folder} has only {free // 2**20} MB free: free some space" + tail
    last = latest_checkpoint(folder) if folder is not None else None
    if last is not None and run.phase == "training":
        tail = f"; once fixed, continue from {last.name} with --resume" + tail
    if isinstance(err, TrainingFailed):
        print(f"error: {describe_error(err)}", file=sys.stderr)
    elif isinstance(err, checks.RewardError):
        print(f"error: {describe_error(err)}{tail}", file=sys.stderr)
    else:
        print(f"error: while {where}: {describe_error(err, run.step)}{tail}", file=sys.stderr)
    return 1


def report_interrupt(run: RunState) -> int:
    """One line for Ctrl-C, saying what was kept and what to run next."""
    close_progress_bars()
    out = run.out
    if run.phase == "finishing":
        last = latest_checkpoint(out) if out else None
        state = (
            "the final adapter is saved"
            if run.final_saved
            else (f"the final adapter is in {last.name}; --resume puts it in place" if last else "")
        )
        message = f"interrupted after training had finished at step {run.step}: the run is complete; {state}"
    elif run.phase == "training":
        last = latest_checkpoint(out) if out else None
        if run.folder is not None and run.folder.restored:
            message = f"aborted at step {run.step} before any checkpoint; the earlier run in {out} was put back"
        elif last is not None:
            message = (
                f"aborted at step {run.step}; the last complete checkpoint is {last.name}: continue with "
                f"--resume --output-dir {out}"
            )
        else:
            message = (
                f"aborted at step {run.step} before any checkpoint was saved; start again with --overwrite "
                f"--output-dir {out}"
            )
    else:
        kept = " (the earlier run was put back as it was)" if run.folder is not None and run.folder.restored else ""
        message = f"interrupted while {run.phase}; no training was done{kept}"
    print(f"interrupted: {message}", file=sys.stderr)
    return EXIT_INTERRUPTED
