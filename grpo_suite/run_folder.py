"""The output folder of a training run: what may be replaced, the lock, complete checkpoints.

A run's folder is the one place train_grpo.py writes. The rules here keep a user's work safe:

- ``--overwrite`` replaces only a folder that is recognisably an earlier run of this suite, never
  ``/``, the home folder, the current folder, a git working tree or anything above them; and the
  earlier run is moved aside (not deleted) until the new run has written its first checkpoint.
- A lock file refuses a second run on the same folder; a lock left by a dead process is stale.
- A checkpoint counts only once its completion marker is written (last, after every file).
"""

from __future__ import annotations

import errno
import fnmatch
import json
import logging
import os
import shutil
import socket
import time
import zipfile
from pathlib import Path

from grpo_suite.errors import UsageError
from grpo_suite.models import TOKENIZER_FILES, safetensors_problem

logger = logging.getLogger("train_grpo")

SUITE = "grpo-suite"  # the "suite" key of run_config.json: marks a folder as one of our runs
RUN_CONFIG = "run_config.json"
LOCK_NAME = ".train_grpo.lock"
COMPLETE_MARKER = ".checkpoint_complete"  # written inside checkpoint-N after everything else
ASIDE_INFIX = ".replaced-"  # an earlier run moved aside by --overwrite: .NAME.replaced-TIME
# Everything a run writes at the top of its folder (peft's model card and the tokenizer included);
# checkpoint-* folders are matched by name.
RUN_ENTRIES = frozenset(
    {
        RUN_CONFIG,
        LOCK_NAME,
        "adapter_config.json",
        "adapter_model.safetensors",
        "README.md",
        "metrics.jsonl",
        "reward_curves.png",
        "train.log",
        "error.log",
        "probe.json",
        "training_args.bin",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "chat_template.jinja",
        "chat_template.json",
        "vocab.json",
        "merges.txt",
        "added_tokens.json",
        "tokenizer.model",
        "generation_config.json",
        ".final",
    }
)
# What the trainer writes in a checkpoint, and in the folders of the comparison report and trackers.
CHECKPOINT_ENTRIES = (
    COMPLETE_MARKER,
    COMPLETE_MARKER + ".tmp",
    "trainer_state.json",
    "adapter_model.safetensors",
    "adapter_config.json",
    "README.md",
    "optimizer.pt",
    "scheduler.pt",
    "scaler.pt",
    "rng_state*.pth",
    "training_args.bin",
    "generation_config.json",
    *TOKENIZER_FILES,
)
RUN_DIRS = {
    "report": ("comparison.*", "summary.json", "forgetting.jsonl", "*.png", "*.svg"),
    "runs": ("events.out.tfevents.*",),
    "completions": ("completions_*", "*.parquet", "*.jsonl"),  # TRL's log_completions
    ".final": CHECKPOINT_ENTRIES,
}
PASSIVE = frozenset({LOCK_NAME, "probe.json"})  # a folder holding only these is still a fresh one
CHECKPOINT_FILES = ("trainer_state.json", "adapter_model.safetensors", "optimizer.pt")


# --------------------------------------------------------------------------------------------
# What a folder is
# --------------------------------------------------------------------------------------------


def read_run_config(out: Path) -> dict | None:
    """This suite's run record in ``out``, or None when there is none (or it is not ours)."""
    try:
        record = json.loads((out / RUN_CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("suite", SUITE) != SUITE:
        return None  # another program's record, whatever keys it shares with ours
    # Runs written before the "suite" key existed are recognised by their keys.
    return record if "suite" in record or {"args", "detection", "rewards"} <= set(record) else None


def run_record_of(adapter: Path) -> dict | None:
    """The record of the run that wrote ``adapter``: in its folder, or in the run folder above a checkpoint."""
    folder = Path(adapter)
    for candidate in (folder, folder.parent if checkpoint_step(folder) is not None else None):
        if candidate is not None and (record := read_run_config(candidate)) is not None:
            return record
    return None


def checkpoint_step(path: Path) -> int | None:
    """N of a checkpoint-N folder, else None: the one reading of checkpoint names."""
    name = path.name
    if not name.startswith("checkpoint-") or not name[len("checkpoint-") :].isdigit():
        return None
    return int(name[len("checkpoint-") :])


def checkpoints(out: Path) -> list[Path]:
    """Every checkpoint-N folder, oldest first."""
    if not out.is_dir():
        return []
    found = [p for p in out.iterdir() if p.is_dir() and checkpoint_step(p) is not None]
    return sorted(found, key=checkpoint_step)


def is_run_folder(out: Path) -> bool:
    """Recognisably an earlier run of this suite: its run_config.json, an adapter, or checkpoints."""
    return (
        read_run_config(out) is not None
        or (out / "adapter_config.json").is_file()
        or any(_looks_like_checkpoint(p) for p in checkpoints(out))
    )


def _looks_like_checkpoint(path: Path) -> bool:
    return (path / "trainer_state.json").is_file() or (path / "adapter_config.json").is_file()


def foreign_entries(out: Path) -> list[str]:
    """Entries of ``out`` that no training run writes (the user's own files), looked for inside
    checkpoints and the report and tracker folders too."""
    foreign = []
    for p in sorted(out.iterdir()):
        name = p.name + ("/" if p.is_dir() and not p.is_symlink() else "")
        if ASIDE_INFIX in p.name or p.name == LOCK_NAME:
            continue
        if p.is_symlink():
            foreign.append(name)
        elif checkpoint_step(p) is not None and p.is_dir():
            foreign += [f"{p.name}/{q}" for q in _foreign_inside(p, CHECKPOINT_ENTRIES)]
        elif p.name in RUN_DIRS and p.is_dir():
            foreign += [f"{p.name}/{q}" for q in _foreign_inside(p, RUN_DIRS[p.name])]
        elif p.name == "probe.json" and not _is_probe(p):
            foreign.append(name)
        elif p.name not in RUN_ENTRIES:
            foreign.append(name)
    return foreign


def _foreign_inside(folder: Path, allowed: tuple[str, ...]) -> list[str]:
    """Files under ``folder`` whose names match none of the ``allowed`` patterns."""
    return sorted(
        str(q.relative_to(folder))
        for q in folder.rglob("*")
        if (q.is_file() or q.is_symlink()) and not any(fnmatch.fnmatch(q.name, pat) for pat in allowed)
    )


def _is_probe(path: Path) -> bool:
    try:
        return "verdicts" in json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return False


def describe_contents(out: Path, limit: int = 6) -> str:
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in out.iterdir())
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def forbidden_reason(out: Path) -> str | None:
    """Why ``out`` may never be replaced, whatever it holds; None when it may be."""
    real = out.resolve()
    cwd = Path.cwd().resolve()
    home = Path.home().resolve()
    here = Path(__file__).resolve().parent
    if real == Path(real.anchor):
        return "is the root of the file system"
    if real == home:
        return "is your home folder"
    if home.is_relative_to(real):
        return "holds your home folder"
    if real == cwd:
        return "is the current folder"
    if cwd.is_relative_to(real):
        return "holds the current folder"
    if here.is_relative_to(real):
        return "holds this suite's own code"
    if (real / ".git").exists():
        return "is a git working tree"
    return None


# --------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------


def mark_complete(checkpoint: Path) -> None:
    """Written last, after the trainer has saved every file of the checkpoint."""
    marker = checkpoint / COMPLETE_MARKER
    tmp = checkpoint / (COMPLETE_MARKER + ".tmp")
    tmp.write_text(json.dumps({"step": checkpoint_step(checkpoint), "time": time.time()}))
    os.replace(tmp, marker)


def checkpoint_problem(checkpoint: Path) -> str | None:
    """Why a checkpoint cannot be resumed from (half-written by a kill, a full disk), or None.

    Our checkpoints carry a completion marker; one without it (saved by an older version, or by
    plain TRL) counts when every file it needs is there and whole.
    """
    missing = [name for name in CHECKPOINT_FILES if not (checkpoint / name).is_file()]
    if missing:
        return f"incomplete: no {', '.join(missing)} (interrupted while it was written)"
    optimizer = checkpoint / "optimizer.pt"
    if not zipfile.is_zipfile(optimizer):  # torch.save writes a zip; a cut-off one has no directory
        return "damaged: optimizer.pt is truncated or not a torch file"
    try:
        state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
        int(state["global_step"])
    except (OSError, ValueError, KeyError, TypeError):
        return "damaged: trainer_state.json cannot be read"
    weights = checkpoint / "adapter_model.safetensors"
    if not weights.is_file():
        return "damaged: no adapter_model.safetensors"
    problem = safetensors_problem(weights)
    if problem:
        return f"damaged: {problem}"
    return None


def latest_complete_checkpoint(out: Path, report: bool = True) -> Path | None:
    """The newest checkpoint that can be resumed from; those skipped are named in the log."""
    for checkpoint in reversed(checkpoints(out)):
        problem = checkpoint_problem(checkpoint)
        if problem is None:
            return checkpoint
        if report:
            logger.warning("skipping %s: %s", checkpoint.name, problem)
    return None


def trainer_state(checkpoint: Path) -> dict:
    return json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------------
# The checks made before any work
# --------------------------------------------------------------------------------------------


def check_output_dir(out: Path, overwrite: bool, resume: bool) -> None:
    """Refuse, with what to do instead, anything but a fresh folder, a resumable or replaceable run."""
    if out.is_symlink() and overwrite:
        raise UsageError(
            f"--output-dir {out} is a symbolic link (to {os.readlink(out)}); --overwrite replaces only a "
            "real folder: pass the folder it points to, or another folder"
        )
    if out.exists() and not out.is_dir():
        raise UsageError(f"--output-dir {out} is a file, not a folder; pass a folder")
    check_writable(out)
    for aside in leftover_asides(out):
        logger.warning(
            "%s holds a run that an earlier --overwrite moved aside and did not finish replacing; "
            "it is yours to keep or delete",
            aside,
        )
    if (out / LOCK_NAME).is_dir() or (out / LOCK_NAME).is_symlink():
        raise UsageError(f"{out / LOCK_NAME} is not a lock file (a folder or a link); remove it and try again")
    holder = lock_holder(out)
    if holder:
        raise UsageError(
            f"--output-dir {out} is in use by another training run ({holder}); wait for it to finish, "
            f"or if no run is using it delete {out / LOCK_NAME}"
        )
    empty = not out.exists() or not any(p.name not in PASSIVE for p in out.iterdir())
    if resume:
        check_resumable(out)
    elif overwrite and not empty:
        check_replaceable(out)
    elif not empty:
        raise UsageError(f"--output-dir {out} is not empty; " + _not_empty_advice(out))


def _not_empty_advice(out: Path) -> str:
    if not is_run_folder(out):
        return f"it holds {describe_contents(out)}, which is not a run of this suite; pass a new or empty folder"
    if forbidden_reason(out) is None and not foreign_entries(out):
        replace = "--overwrite to replace it, or another folder"
    else:
        replace = "another folder"
    latest = latest_complete_checkpoint(out, report=False)
    if latest is not None:
        return f"it holds a run (last checkpoint {latest.name}): pass --resume to continue it, {replace}"
    return f"it holds a run that saved no complete checkpoint, so it cannot be resumed: pass {replace}"


def check_resumable(out: Path) -> None:
    if not out.is_dir():
        raise UsageError(f"--resume: {out} does not exist; start the run without --resume")
    if latest_complete_checkpoint(out, report=False) is not None:
        return
    found = checkpoints(out)
    if found:
        problems = "; ".join(f"{p.name} {checkpoint_problem(p)}" for p in found[-3:])
        why = f"no complete checkpoint in {out} ({problems})"
    else:
        why = f"no checkpoint-* folder in {out}"
    if is_run_folder(out) and forbidden_reason(out) is None and not foreign_entries(out):
        raise UsageError(
            f"--resume: {why}; the run stopped before its first checkpoint was saved. "
            "Start it again with --overwrite (drop --resume)"
        )
    raise UsageError(f"--resume: {why}; start a new run in another folder")


def check_replaceable(out: Path) -> None:
    reason = forbidden_reason(out)
    if reason:
        raise UsageError(f"--overwrite refused: --output-dir {out} {reason}; pass a folder of its own for the run")
    if not is_run_folder(out):
        raise UsageError(
            f"--overwrite refused: {out} is not a run of this suite (it has no {RUN_CONFIG}, adapter or "
            f"checkpoint; it holds {describe_contents(out)}); pass a new or empty folder"
        )
    foreign = foreign_entries(out)
    if foreign:
        raise UsageError(
            f"--overwrite refused: {out} holds files that no training run writes "
            f"({', '.join(foreign[:6])}); move them out first, or pass another folder"
        )


def check_writable(out: Path) -> None:
    """Fail before any work when the run could not write its folder."""
    probe = out
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise UsageError(f"--output-dir {out}: {probe} is a file, not a folder; pass another folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(
            f"--output-dir {out} cannot be written ({probe} is read-only or not yours); pass a folder you can write"
        )


def leftover_asides(out: Path) -> list[Path]:
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        return []
    prefix = f".{out.name}{ASIDE_INFIX}"
    return sorted(p for p in parent.iterdir() if p.name.startswith(prefix))


# --------------------------------------------------------------------------------------------
# The lock
# --------------------------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    try:  # a killed process not yet reaped by its parent (a zombie) holds nothing
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "\nState:\tZ" not in status


def lock_holder(out: Path) -> str | None:
    """'process N on HOST' when a live run holds ``out``; None when free or the lock is stale."""
    try:
        info = json.loads((out / LOCK_NAME).read_text(encoding="utf-8"))
        pid, host = int(info["pid"]), str(info["host"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return None  # half-written by a process killed while creating it: stale
    if host == socket.gethostname() and (pid == os.getpid() or not _alive(pid) or not _is_training(pid)):
        return None
    return f"process {pid} on {host}"


def _is_training(pid: int) -> bool:
    """The process holding the lock is a Python training run (a reused pid is not)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return True  # cannot tell (no /proc): assume it is
    return "python" in cmdline or "train_grpo" in cmdline or "torchrun" in cmdline or "accelerate" in cmdline


class RunLock:
    """``out/.train_grpo.lock``, created atomically (O_EXCL) with the process id; a stale one is replaced."""

    def __init__(self, out: Path):
        self.path = out / LOCK_NAME
        self.held = False

    def acquire(self) -> None:
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = lock_holder(self.path.parent)
                if holder:
                    raise UsageError(
                        f"--output-dir {self.path.parent} is in use by another training run ({holder}); "
                        f"wait for it to finish, or if no run is using it delete {self.path}"
                    ) from None
                logger.warning("removing a stale lock left by a run that is no longer running: %s", self.path)
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                json.dump({"pid": os.getpid(), "host": socket.gethostname(), "time": time.time()}, f)
            self.held = True
            return
        raise UsageError(f"could not lock {self.path.parent}; another run is starting there: try again")

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False


# --------------------------------------------------------------------------------------------
# Taking the folder: fresh, resumed, or replacing an earlier run
# --------------------------------------------------------------------------------------------


class RunFolder:
    """The run's hold on its folder, from the moment it first writes to the end of the run.

    With ``replace``, the earlier run is renamed to a hidden sibling (the same file system, so the
    rename is atomic and nothing is copied) and deleted only by :meth:`commit`, once the new run has
    saved a checkpoint or its adapter; :meth:`release` before that puts it back.
    """

    def __init__(self, out: Path, replace: bool, resume: bool = False):
        self.out = out
        self.resume = resume
        self.replace = replace and out.is_dir() and any(out.iterdir())
        self.aside: Path | None = None
        self.created = False
        self.restored = False  # the earlier run was put back (or an empty new folder removed)
        self.lock: RunLock | None = None
        self.released = False

    def take(self) -> None:
        if self.replace:
            old_lock = RunLock(self.out)
            old_lock.acquire()  # nobody may be using the run we are about to move
            stamp = time.strftime("%Y%m%d-%H%M%S")
            self.aside = self.out.with_name(f".{self.out.name}{ASIDE_INFIX}{stamp}-{os.getpid()}")
            os.rename(self.out, self.aside)
            (self.aside / LOCK_NAME).unlink(missing_ok=True)
            logger.info(
                "--overwrite: the earlier run in %s (%s) is set aside as %s until this run saves its first checkpoint",
                self.out,
                describe_contents(self.aside),
                self.aside.name,
            )
        if not self.out.exists():
            try:
                self.out.mkdir(parents=True)
                self.created = True
            except FileExistsError:  # another run created it between the check and the mkdir: the lock decides
                pass
        self.lock = RunLock(self.out)
        self.lock.acquire()
        others = [p.name for p in self.out.iterdir() if p.name not in PASSIVE]
        if not self.replace and not self.resume and others:
            # Another run took the folder between our check and our lock (two runs started at once).
            self.lock.release()
            self.lock = None
            raise UsageError(
                f"--output-dir {self.out} was written by another run while this one was starting "
                f"(it now holds {describe_contents(self.out)}); pass another folder"
            )

    def commit(self) -> None:
        """The new run has saved something of its own: the run it replaces can go."""
        if self.aside is not None:
            shutil.rmtree(self.aside, ignore_errors=True)
            logger.info("replaced the earlier run in %s", self.out)
            self.aside = None

    def release(self, failed: bool) -> None:
        """Unlock; after a failure before the first save, put the replaced run (or nothing) back."""
        if self.released:
            return
        self.released = True
        if self.lock is not None:
            self.lock.release()
        if not failed:
            self.commit()
            return
        if self.aside is not None:
            try:
                shutil.rmtree(self.out)
                os.rename(self.aside, self.out)
                logger.warning("the earlier run in %s was put back as it was", self.out)
                self.restored = True
            except OSError as err:
                logger.error("could not put the earlier run back: it is in %s (%s)", self.aside, err)
            self.aside = None
        elif self.created and self.out.is_dir() and not (self.out / RUN_CONFIG).exists():
            # Nothing of the run was recorded yet: leave no empty folder behind.
            shutil.rmtree(self.out, ignore_errors=True)
            self.restored = True


def os_error_hint(err: OSError, where: Path | None = None) -> str | None:
    """The fix for a file-system error, or None when it is not one of the usual ones."""
    place = f" in {where}" if where else ""
    if err.errno == errno.ENOSPC:
        return f"no space left on the device{place}; free some space"
    if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"cannot write{place} ({os.strerror(err.errno)}); pass a folder you can write"
    if err.errno == errno.EDQUOT:
        return f"disk quota exceeded{place}; free some space"
    return None
