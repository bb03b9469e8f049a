"""Model loading shared by train_grpo.py and compare_base_vs_lora.py.

Heavy imports (torch, transformers, peft) happen inside the functions, so that importing this
module is cheap and ``--local-only`` can set the offline environment before any of them loads.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any

from dataset_utils import UsageError, set_offline_env

logger = logging.getLogger(__name__)

QUANTIZATION_CHOICES = ("auto", "4bit", "8bit", "none")
DTYPE_CHOICES = ("auto", "float32", "bfloat16", "float16")
EXCLUDED_MODULES = ("lm_head", "embed_out", "output_layer", "score", "classifier")


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("httpx", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Optional CPU kernels bitsandbytes looks for at import; their absence changes nothing here.
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    # Renames announced by transformers for v6, triggered inside TRL and transformers themselves.
    warnings.filterwarnings("ignore", message=r".*will be removed in v6.*", category=FutureWarning)


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def resolve_quantization(choice: str) -> str:
    """``auto`` is 4-bit on CUDA and none on CPU; 4-bit forced on CPU works too (bitsandbytes)."""
    if choice == "auto":
        return "4bit" if cuda_available() else "none"
    return choice


def resolve_dtype(choice: str):
    import torch

    if choice == "auto":
        if cuda_available():
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return getattr(torch, choice)


def quantization_config(quantization: str, compute_dtype):
    """nf4 with double quantization (QLoRA), or 8-bit; None for full precision."""
    if quantization == "none":
        return None
    from transformers import BitsAndBytesConfig

    if quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype,
    )


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def _not_on_disk(name: str, what: str, err: Exception) -> UsageError:
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return UsageError(
        f"could not load {what} {name!r}: {first}. With --local-only it must be on disk: "
        f"download it first (hf download {name}) or pass a local folder"
    )


def load_tokenizer(name: str, revision: str | None = None, local_only: bool = False, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(
            name, revision=revision, local_files_only=local_only, trust_remote_code=trust_remote_code
        )
    except (OSError, ValueError) as err:
        raise _not_on_disk(name, "tokenizer", err) from err
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(
    name: str,
    quantization: str = "none",
    dtype: str = "auto",
    revision: str | None = None,
    local_only: bool = False,
    trust_remote_code: bool = False,
    attn_implementation: str | None = None,
):
    """A causal LM from a hub id or a local folder, as safetensors, quantized if asked."""
    from transformers import AutoModelForCausalLM

    torch_dtype = resolve_dtype(dtype)
    kwargs: dict[str, Any] = dict(
        revision=revision,
        local_files_only=local_only,
        trust_remote_code=trust_remote_code,
        use_safetensors=True,
        dtype=torch_dtype,
    )
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    bnb = quantization_config(quantization, torch_dtype)
    if bnb is not None:
        kwargs["quantization_config"] = bnb
        # Each process holds its own quantized copy on its own device (DDP).
        kwargs["device_map"] = {"": local_rank() if cuda_available() else "cpu"}
    try:
        return AutoModelForCausalLM.from_pretrained(name, **kwargs)
    except (OSError, ValueError) as err:
        raise _not_on_disk(name, "model", err) from err


def find_lora_targets(model) -> list[str]:
    """Names of every attention and MLP projection: the Linear-like layers inside the blocks.

    Found by inspecting the model (nn.Linear and its subclasses such as bitsandbytes'
    Linear4bit, and GPT-2's Conv1D), so it works for any architecture; the LM head and
    embeddings are left out.
    """
    import torch
    from transformers.pytorch_utils import Conv1D

    names = set()
    for full_name, module in model.named_modules():
        if not isinstance(module, (torch.nn.Linear, Conv1D)):
            continue
        leaf = full_name.split(".")[-1]
        if leaf in EXCLUDED_MODULES or not full_name:
            continue
        names.add(leaf)
    if not names:
        raise UsageError("found no linear layers to put LoRA on; pass --lora-target-modules NAME,...")
    return sorted(names)


def read_adapter_config(adapter_dir: str | Path) -> dict:
    """The adapter's config, with a one-line error for a missing folder or a non-adapter."""
    path = Path(adapter_dir)
    if not path.is_dir():
        raise UsageError(f"adapter folder {str(path)!r} does not exist; pass the --output-dir of a training run")
    config = path / "adapter_config.json"
    if not config.is_file():
        raise UsageError(f"{str(path)!r} is not an adapter folder (no adapter_config.json); pass a train_grpo.py --output-dir")
    try:
        return json.loads(config.read_text())
    except json.JSONDecodeError as err:
        raise UsageError(f"{config} is not valid JSON ({err.msg})") from err


def attach_adapter(model, adapter_dir: str | Path, base_name: str, trainable: bool = False):
    """The base model with the adapter attached; a shape mismatch names both models."""
    from peft import PeftModel

    adapter_base = read_adapter_config(adapter_dir).get("base_model_name_or_path")
    try:
        return PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=trainable)
    except (RuntimeError, ValueError, KeyError) as err:
        raise UsageError(
            f"adapter {str(adapter_dir)!r} does not fit base model {base_name!r}: it was trained for "
            f"{adapter_base!r} ({type(err).__name__}: shape or layer mismatch). Pass --base-model {adapter_base}"
        ) from err


def report_usage_error(err: Exception) -> int:
    print(f"error: {err}", file=sys.stderr)
    return 2


__all__ = [
    "UsageError",
    "set_offline_env",
    "setup_logging",
    "resolve_quantization",
    "load_model",
    "load_tokenizer",
    "find_lora_targets",
    "read_adapter_config",
    "attach_adapter",
]
