"""What every script's command line shares: the one-line parser, logging, offline mode, data flags."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import warnings

from grpo_suite.errors import UsageError, first_line
from grpo_suite.files import FILE_BUILDERS


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line (``error: ...``) and exit 2, not the usage block.

    Flags are added through :meth:`group`, which keeps the help layout in :attr:`layout` (each
    group's title, description and actions, in order) for the README's flag table and for
    ``--config``, and writes each meaningful default into the help text: no "(default: None)".
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)  # the epilog's examples as written
        super().__init__(*args, **kwargs)
        self.layout: list[FlagGroup] = []

    def group(self, title: str, description: str | None = None) -> FlagGroup:
        group = FlagGroup(self.add_argument_group(title, description), title, description)
        self.layout.append(group)
        return group

    def flag_actions(self) -> list[argparse.Action]:
        """Every flag added through a group, in help order."""
        return [action for group in self.layout for action in group.actions]

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


class FlagGroup:
    """One help group of an :class:`OneLineParser`; ``add`` takes ``add_argument``'s arguments."""

    def __init__(self, group, title: str, description: str | None):
        self._group, self.title, self.description = group, title, description
        self.actions: list[argparse.Action] = []

    def add(self, *names: str, **kwargs) -> argparse.Action:
        kwargs["help"] = with_default(kwargs.get("help", ""), kwargs.get("default"), kwargs.get("action"))
        action = self._group.add_argument(*names, **kwargs)
        action.kind = kwargs.get("action", "store")  # how --config turns a value into tokens
        self.actions.append(action)
        return action


def with_default(text: str, default, action=None) -> str:
    """The help text with ``(default: X)`` when the default says something and the text does not."""
    if default in (None, "", []) or default is False or action in ("store_true", "store_false", "append"):
        return text
    if "default" in text:
        return text
    shown = "on" if default is True else str(default).replace("%", "%%")  # argparse %-formats help text
    return f"{text} (default: {shown})"


def negative_values_attached(argv: list[str]) -> list[str]:
    """``--learning-rate -inf``: argparse takes -inf for a flag; join it to its flag (checked later)."""
    fixed: list[str] = []
    for item in argv:
        if (
            fixed
            and fixed[-1].startswith("--")
            and "=" not in fixed[-1]
            and item.lower().lstrip("-") in ("inf", "infinity", "nan")
            and item.startswith("-")
        ):
            fixed[-1] = f"{fixed[-1]}={item}"
        else:
            fixed.append(item)
    return fixed


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("httpx", "urllib3", "filelock", "torch"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Optional CPU kernels bitsandbytes looks for at import; their absence changes nothing here.
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    # Renames announced by transformers for v6, triggered inside TRL and transformers themselves.
    warnings.filterwarnings("ignore", message=r".*will be removed in v6.*", category=FutureWarning)


def set_offline_env() -> None:
    """Make every Hugging Face library refuse the network; call before importing them."""
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ[name] = "1"


_SOURCE_HELP = f"hub id, save_to_disk folder, or data file ({', '.join(FILE_BUILDERS)})"


def add_dataset_args(
    parser: OneLineParser, group: FlagGroup | None = None, source: FlagGroup | None = None, positional: bool = False
) -> FlagGroup:
    """The dataset flags, shared by every script, in ``group`` (a new "data" group when None), the
    dataset itself in ``source`` (default: the same group); returns the group, for a script's own flags."""
    group = group or parser.group("data", "where the rows come from and how they become prompts and references")
    source = source or group
    if positional:
        action = parser.add_argument("dataset", help=_SOURCE_HELP)
        action.kind = "store"
    else:
        source.add("--dataset", metavar="SOURCE", help=_SOURCE_HELP)
    group.add("--dataset-config", default=None, metavar="NAME", help="hub dataset configuration (e.g. main for gsm8k)")
    group.add(
        "--split",
        default="train",
        metavar="NAME",
        help="split to read (train_grpo.py trains on it and holds out part of it without a test split)",
    )
    group.add(
        "--prompt-field",
        default=None,
        metavar="FIELD",
        help="prompt field(s), auto-detected if unset: several joined by '+' (body+question), "
        "dotted paths into structs allowed (question.stem+question.choices)",
    )
    group.add(
        "--reference-field",
        default=None,
        metavar="FIELD",
        help="reference field or dotted path (reward_model.ground_truth); auto-detected if unset",
    )
    group.add(
        "--system-prompt",
        default=None,
        metavar="TEXT",
        help="system message before every prompt, in place of the chat template's own (drops the default --answer-instruction)",
    )
    group.add(
        "--answer-instruction",
        default=None,
        metavar="TEXT",
        help="sentence after each prompt so that the model states an answer the reward reads; '' for none (default: "
        "'End your reply with a line ...'; none with --system-prompt or a model folder's grpo_suite.json saying so)",
    )
    group.add("--local-only", action="store_true", help="never touch the network: local files and caches only")
    group.add(
        "--allow-low-coverage",
        action="store_true",
        help="go on even when under half the rows have a reference a correct answer can earn",
    )
    return group


def import_object(flag: str, spec: str):
    """``module:name`` imported with the current folder on the path; any failure is one line."""
    module_name, _, name = spec.strip().partition(":")
    if not module_name or not name:
        raise UsageError(
            f"{flag} {spec!r} must look like module:name (a file my_module.py in the current folder is module my_module)"
        )
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except (Exception, SystemExit) as err:  # the user's module: a SyntaxError, a failing import, an exit()
        raise UsageError(
            f"{flag} {spec}: importing {module_name} failed ({type(err).__name__}: {first_line(err)}); "
            "fix the module or the name"
        ) from err
    found = getattr(module, name, None)
    if found is None:
        raise UsageError(f"{flag} {spec}: module {module_name} has no {name!r}")
    if not callable(found):
        raise UsageError(f"{flag} {spec!r} is not a function")
    return found
