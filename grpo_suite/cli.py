"""What every script's command line shares: the one-line parser, logging, offline mode, data flags."""

from __future__ import annotations

import argparse
import logging
import os
import warnings

from grpo_suite.files import FILE_BUILDERS


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line (``error: ...``) and exit 2, not the usage block."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


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


def add_dataset_args(parser: argparse.ArgumentParser, positional: bool = False):
    """The dataset flags, shared by every script; returns their group, for a script's own data flags."""
    group = parser.add_argument_group("data")
    if positional:
        group.add_argument("dataset", help=_SOURCE_HELP)
    else:
        group.add_argument("--dataset", help=_SOURCE_HELP)
    group.add_argument("--dataset-config", default=None, help="hub dataset configuration (e.g. main for gsm8k)")
    group.add_argument("--split", default="train", help="split to train on")
    group.add_argument("--prompt-field", default=None,
                       help="prompt field(s), auto-detected if unset: several joined by '+' (body+question), "
                            "dotted paths into structs allowed (question.stem+question.choices)")
    group.add_argument("--reference-field", default=None,
                       help="reference field or dotted path (reward_model.ground_truth); auto-detected if unset")
    group.add_argument("--system-prompt", default=None, help="system message put before every prompt")
    group.add_argument("--local-only", action="store_true", help="never touch the network: local files and caches only")
    group.add_argument("--allow-low-coverage", action="store_true",
                       help="train even when under half the rows have a reference a correct answer can earn")
    return group
