"""math_verify, under a time limit: the symbolic verdict on one answer/reference pair for answers.py.

:func:`symbolic_match` parses both sides with math_verify (``math-verify``, the checker TRL and
open-r1 use) and compares them within :data:`SYMBOLIC_TIME_LIMIT` seconds, by SIGALRM on the
main thread or through a worker process elsewhere, so that no answer can stall training. An
overrun or an error counts as no match. Verdicts are cached.
"""

from __future__ import annotations

import atexit
import functools
import json
import logging
import os
import re
import select
import signal
import subprocess
import sys
import threading
import warnings

from grpo_suite.number_parsing import unwrap_math

logger = logging.getLogger(__name__)

SYMBOLIC_TIME_LIMIT = 2.0  # seconds for one pair (both parses and the comparison)
_SYMBOLIC_MAX_CHARS = 500  # longer spans are prose that extraction could not narrow, not answers
_WORKER_START_LIMIT = 120.0  # importing sympy in a fresh process, once
_WORKER_GRACE = 2.0  # the worker times itself; the parent waits this much longer before killing it
_NUMBER_LIST_RE = re.compile(r"^[-+\d\s.,;()\[\]]+$")
_SET_BUILDER_RE = re.compile(r"^\\\{\s*[A-Za-z]\s*(?:\||\\mid|:)\s*(.+?)\s*\\\}$")


class _Timeout(BaseException):
    """Raised by the alarm; a BaseException so that math_verify's ``except Exception`` lets it through."""


def _on_alarm(signum, frame):
    raise _Timeout()


class _QuietTimeoutWarning(logging.Filter):
    """math_verify warns that its own timeouts are off: they are, because this module's are on."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Timeout is disabled")


@functools.lru_cache(maxsize=1)
def _math_verify():
    import math_verify  # noqa: PLC0415 - sympy costs a second: only pairs that need it pay

    for name in ("math_verify.parser", "math_verify.grader"):
        logging.getLogger(name).addFilter(_QuietTimeoutWarning())
    math_verify.parse("$x$", parsing_timeout=None)  # builds the LaTeX parser outside any time limit
    return math_verify


def _as_latex(span: str) -> str:
    """A bare span wrapped in math delimiters, so that math_verify reads it as LaTeX; set-builder
    notation becomes its condition (``\\{x | -2 \\le x < 1\\}`` -> ``-2 \\le x < 1``)."""
    span = unwrap_math(span.strip())
    if ";" in span and _NUMBER_LIST_RE.match(span):  # "(0;0;0),(0;-2;0)": ";" separates where "," is a decimal point
        span = span.replace(";", ",")
    builder = _SET_BUILDER_RE.match(span)
    if builder:
        span = builder.group(1)
    return f"${span}$"


def _verify(answer: str, reference: str) -> bool:
    mv = _math_verify()
    # SymPy's deprecation notices about its own internals ("non-Expr arguments in Mul") would
    # print ten lines per odd input to the user's terminal; they say nothing about the answer.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return _parse_and_verify(mv, answer, reference)


def _parse_and_verify(mv, answer: str, reference: str) -> bool:
    gold = mv.parse(_as_latex(reference), parsing_timeout=None)
    if not gold:
        return False
    pred = mv.parse(_as_latex(answer), parsing_timeout=None)
    return bool(pred) and bool(mv.verify(gold, pred, timeout_seconds=None, allow_set_relation_comp=True))


def _alarm_usable() -> bool:
    """SIGALRM is ours to use: the main thread of a POSIX process, with no alarm or handler set."""
    return (
        os.name == "posix"
        and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
        and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, signal.SIG_IGN)
    )


def run_limited(func, args: tuple, limit: float):
    """``func(*args)``, or None if it runs longer than ``limit`` seconds (SIGALRM, main thread)."""
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    try:
        try:
            signal.setitimer(signal.ITIMER_REAL, limit)
            return func(*args)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _Timeout:
        return None
    finally:
        signal.signal(signal.SIGALRM, previous)


class _Worker:
    """A child process that runs math_verify under its own alarm, for callers off the main
    thread (where signals cannot be used): a pair that overruns costs its limit and a restart,
    never a stalled trainer."""

    def __init__(self):
        self.lock = threading.Lock()
        self.proc: subprocess.Popen | None = None
        self.broken = False  # a worker that cannot start is not started again for every pair

    def ask(self, answer: str, reference: str, limit: float) -> bool | None:
        with self.lock:
            if self.broken:
                return None
            try:
                if self.proc is None or self.proc.poll() is not None:
                    self._start()
                self.proc.stdin.write(json.dumps([answer, reference, limit]) + "\n")
                self.proc.stdin.flush()
                reply = self._read_line(limit + _WORKER_GRACE)
                return None if reply is None else json.loads(reply)
            except (OSError, ValueError) as err:
                logger.warning("math_verify worker failed (%s); the pair counts as not matching", err)
                self.stop()
                return None

    def _start(self) -> None:
        code = "import sys; sys.path.insert(0, sys.argv[1]); from grpo_suite import symbolic; symbolic._serve_worker()"
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the folder that holds grpo_suite/
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, here], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        if self._read_line(_WORKER_START_LIMIT) != "ready":
            self.broken = True
            raise OSError("the math_verify worker process did not start (is math-verify installed?)")

    def _read_line(self, limit: float) -> str | None:
        ready, _, _ = select.select([self.proc.stdout], [], [], limit)
        if not ready:
            logger.warning("math_verify overran %.1f s; the pair counts as not matching", limit)
            self.stop()
            return None
        return self.proc.stdout.readline().strip()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


_WORKER = _Worker()
atexit.register(_WORKER.stop)


def _serve_worker() -> None:
    """The worker's loop: one JSON request per line in, one verdict (true, false, null) out."""
    _math_verify()
    print("ready", flush=True)
    for line in sys.stdin:
        answer, reference, limit = json.loads(line)
        print(json.dumps(run_limited(_verify, (answer, reference), limit)), flush=True)


@functools.lru_cache(maxsize=16384)
def symbolic_match(answer: str, reference: str, limit: float | None = None) -> bool:
    """math_verify's verdict on one pair within ``limit`` seconds (default
    :data:`SYMBOLIC_TIME_LIMIT`); an overrun or an error counts as no match."""
    limit = SYMBOLIC_TIME_LIMIT if limit is None else limit
    try:
        if _alarm_usable():
            _math_verify()  # the import is not the pair's time
            verdict = run_limited(_verify, (answer, reference), limit)
        else:
            verdict = _WORKER.ask(answer, reference, limit)
    except ImportError as err:
        _warn_once(
            f"math_verify cannot be imported ({err}); symbolic answers count as not matching. "
            "Install it: pip install math-verify==0.9.0"
        )
        return False
    except Exception:  # noqa: BLE001 - a checker's crash must not end training: no match
        logger.debug("math_verify failed on %r / %r", answer, reference, exc_info=True)
        return False
    if verdict is None:
        logger.warning("math_verify gave no verdict within %.1f s on %.60r; counted as no match", limit, answer)
    return bool(verdict)


@functools.lru_cache(maxsize=8)
def _warn_once(message: str) -> None:
    logger.warning(message)
