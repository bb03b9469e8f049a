"""math_verify, under a time limit: the symbolic verdict on one answer/reference pair for answers.py.

:func:`symbolic_match` parses both sides with math_verify (``math-verify``, the checker TRL and
open-r1 use) and compares them within :data:`SYMBOLIC_TIME_LIMIT` seconds of CPU time, by a
CPU-time timer (SIGVTALRM) on the main thread or through a worker process elsewhere, so that no
answer can stall training. The limit is CPU time, not wall time, so that a busy machine (other
jobs, dataloader workers) cannot turn a right answer into an overrun: math_verify's own limits
are wall-clock. A pair that overruns is tried once more with :data:`RETRY_FACTOR` times the
limit; one that overruns again counts as no match, and every such timeout is counted
(:data:`TIMEOUTS`) and logged, loudly once they pass :data:`LOUD_SHARE` of the pairs checked.
Verdicts are cached.
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

SYMBOLIC_TIME_LIMIT = 2.0  # CPU seconds for one pair (both parses and the comparison)
RETRY_FACTOR = 4.0  # an overrun is tried once more with this many times the limit
LOUD_SHARE = 0.01  # timeouts beyond this share of the pairs checked are announced loudly
_LOUD_MIN_PAIRS = 20
# A wall-clock backstop for what uses no CPU (a blocked call): far beyond any load's slowdown.
_WALL_BACKSTOP_FACTOR, _WALL_BACKSTOP_MIN = 30.0, 60.0
TIMEOUTS = {"pairs": 0, "retried": 0, "timeouts": 0}
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


_TIMERS = (
    ((signal.ITIMER_VIRTUAL, signal.SIGVTALRM), (signal.ITIMER_REAL, signal.SIGALRM)) if os.name == "posix" else ()
)


def _alarm_usable() -> bool:
    """The timers are ours to use: the main thread of a POSIX process, with none set and no handler."""
    return (
        os.name == "posix"
        and threading.current_thread() is threading.main_thread()
        and all(
            signal.getitimer(timer) == (0.0, 0.0) and signal.getsignal(sig) in (signal.SIG_DFL, signal.SIG_IGN)
            for timer, sig in _TIMERS
        )
    )


def wall_backstop(limit: float) -> float:
    return max(_WALL_BACKSTOP_MIN, _WALL_BACKSTOP_FACTOR * limit)


def run_limited(func, args: tuple, limit: float):
    """``func(*args)``, or None if it uses more than ``limit`` seconds of this process's CPU time
    (or blocks past :func:`wall_backstop`); main thread only."""
    previous = {sig: signal.signal(sig, _on_alarm) for _, sig in _TIMERS}
    try:
        try:
            signal.setitimer(signal.ITIMER_VIRTUAL, limit)
            signal.setitimer(signal.ITIMER_REAL, wall_backstop(limit))
            return func(*args)
        finally:
            for timer, _ in _TIMERS:
                signal.setitimer(timer, 0)
    except _Timeout:
        return None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


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
                reply = self._read_line(wall_backstop(limit) + _WORKER_GRACE)  # the worker limits its CPU itself
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
            logger.warning("the math_verify worker gave no reply within %.0f s; restarting it", limit)
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
    """math_verify's verdict on one pair within ``limit`` CPU seconds (default
    :data:`SYMBOLIC_TIME_LIMIT`), tried once more with :data:`RETRY_FACTOR` times the limit after an
    overrun; a second overrun or an error counts as no match."""
    limit = SYMBOLIC_TIME_LIMIT if limit is None else limit
    TIMEOUTS["pairs"] += 1
    try:
        verdict = _limited_verdict(answer, reference, limit)
        if verdict is None:
            TIMEOUTS["retried"] += 1
            logger.info(
                "math_verify overran %.1f CPU s on %.60r; trying once more with %.1f s",
                limit,
                answer,
                limit * RETRY_FACTOR,
            )
            verdict = _limited_verdict(answer, reference, limit * RETRY_FACTOR)
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
        _count_timeout(answer, limit * RETRY_FACTOR)
    return bool(verdict)


def _limited_verdict(answer: str, reference: str, limit: float) -> bool | None:
    if _alarm_usable():
        _math_verify()  # the import is not the pair's time
        return run_limited(_verify, (answer, reference), limit)
    return _WORKER.ask(answer, reference, limit)


def _count_timeout(answer: str, limit: float) -> None:
    TIMEOUTS["timeouts"] += 1
    done, out = TIMEOUTS["pairs"], TIMEOUTS["timeouts"]
    logger.warning("math_verify gave no verdict within %.1f CPU s on %.60r; counted as no match", limit, answer)
    # Loudly at the first crossing of the share, then each time the count doubles.
    if done >= _LOUD_MIN_PAIRS and out > LOUD_SHARE * done and out & (out - 1) == 0:
        logger.warning(
            "MATH_VERIFY TIMED OUT ON %d OF %d SYMBOLIC PAIRS (%.1f%%): those answers earned 0 whether right or "
            "not. The limit is CPU time, so load is not the cause: the answers are expressions math_verify "
            "cannot settle; check them in the completions log",
            out,
            done,
            100 * out / done,
        )


def timeout_summary() -> str:
    """One line on the symbolic checks of this process: pairs, retries, timeouts."""
    t = TIMEOUTS
    return f"math_verify: {t['pairs']} symbolic pairs checked, {t['retried']} retried, {t['timeouts']} timed out"


@functools.lru_cache(maxsize=8)
def _warn_once(message: str) -> None:
    logger.warning(message)
