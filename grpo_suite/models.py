"""Loading models, tokenizers and adapters, and checking them before any weight loads.

Heavy imports (torch, transformers, peft) happen inside the functions, so that importing this
module is cheap and ``--local-only`` can set the offline environment before any of them loads.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

from grpo_suite.errors import UsageError
from grpo_suite.files import looks_like_path, read_utf8

logger = logging.getLogger(__name__)

QUANTIZATION_CHOICES = ("auto", "4bit", "8bit", "none")
DTYPE_CHOICES = ("auto", "float32", "bfloat16", "float16")
EXCLUDED_MODULES = ("lm_head", "embed_out", "output_layer", "score", "classifier")


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


def safetensors_problem(path: Path) -> str | None:
    """A truncated or corrupt safetensors file, found from its header without loading tensors."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return f"{path.name} is truncated ({size} bytes)"
            length = int.from_bytes(head, "little")
            if length <= 0 or 8 + length > size:
                return f"{path.name} is truncated or not a safetensors file"
            header = json.loads(f.read(length))
    except (OSError, ValueError) as err:
        return f"{path.name} cannot be read ({err})"
    if not isinstance(header, dict):
        return f"{path.name} is not a safetensors file"
    ends = [
        v["data_offsets"][1]
        for k, v in header.items()
        if k != "__metadata__" and isinstance(v, dict) and "data_offsets" in v
    ]
    if ends and 8 + length + max(ends) > size:
        return f"{path.name} is truncated ({size} of {8 + length + max(ends)} bytes)"
    return None


PICKLE_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt")
# Every file a tokenizer's save_pretrained may write; any one of TOKENIZER_MARKERS says a folder has a tokenizer.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "chat_template.json",
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
    "tokenizer.model",
    "spiece.model",
)
TOKENIZER_MARKERS = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "spiece.model")


def check_model_source(name: str, flag: str = "--model") -> None:
    """A local model folder that cannot load, named with what is wrong; hub ids pass through."""
    path = Path(name).expanduser()
    if not path.exists():
        if looks_like_path(name):
            raise UsageError(f"{flag} {name}: no such folder; check the path (a hub id looks like org/name)")
        return
    if not path.is_dir():
        raise UsageError(
            f"{flag} {name} is a file; pass the folder that holds config.json and the *.safetensors weights"
        )
    if not (path / "config.json").is_file():
        if (path / "adapter_config.json").is_file():
            raise UsageError(
                f"{flag} {name} is a LoRA adapter, not a model; pass its base model as {flag} "
                "(and the adapter as --adapter)"
            )
        raise UsageError(
            f"{flag} {name} has no config.json, so it is not a saved model; pass the folder that save_pretrained wrote"
        )
    weights = sorted(path.glob("*.safetensors"))
    if not weights:
        pickles = [p.name for pattern in PICKLE_WEIGHTS for p in path.glob(pattern)]
        if pickles:
            raise UsageError(
                f"{flag} {name} holds only PyTorch pickle weights ({pickles[0]}); this suite loads safetensors only, "
                'because pickle files can run code. Convert a checkpoint you trust once: python -c "from transformers '
                f"import AutoModelForCausalLM as M; M.from_pretrained('{name}', use_safetensors=False)"
                f".save_pretrained('{name}-safetensors')\" and pass that folder"
            )
        raise UsageError(
            f"{flag} {name} has config.json but no weights (*.safetensors); copy the weights into it or "
            "pass the complete model folder"
        )
    for file in weights:
        problem = safetensors_problem(file)
        if problem:
            raise UsageError(f"{flag} {name}: {problem}; download or save the model again")
    if not any((path / f).is_file() for f in TOKENIZER_MARKERS):
        raise UsageError(
            f"{flag} {name} has no tokenizer files ({', '.join(TOKENIZER_MARKERS[:3])}); save the tokenizer "
            "beside the model (tokenizer.save_pretrained) or copy its files from the base model"
        )


def _not_on_disk(name: str, what: str, err: Exception, local_only: bool = False) -> UsageError:
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if looks_like_path(name):
        return UsageError(f"could not load the {what} from {name!r}: {first}")
    if local_only:
        return UsageError(
            f"could not load {what} {name!r}: it is not a local folder and not in the hub cache, and --local-only (which --demo "
            f"implies) forbids the network; download it first (hf download {name}) or pass a local folder"
        )
    return UsageError(
        f"could not load {what} {name!r} from the hub: {first}; check the id, your network, and "
        "for a gated model your token (hf auth login)"
    )


# A model folder may say how it wants to be prompted: the demo's toy, warm-started on the bare
# questions, declares no answer instruction. Keys: answer_instruction (a string, '' for none).
PROMPTING_FILE = "grpo_suite.json"


def declared_answer_instruction(model: str | None) -> str | None:
    """The answer instruction a local model folder declares in grpo_suite.json; None when it declares none."""
    path = Path(model) / PROMPTING_FILE if model and looks_like_path(model) else None
    if path is None or not path.is_file():
        return None
    try:
        value = json.loads(read_utf8(path, "model prompting file")).get("answer_instruction")
    except (ValueError, AttributeError) as err:
        raise UsageError(f"{path} is not a JSON object ({err}); fix or remove it") from None
    if value is not None and not isinstance(value, str):
        raise UsageError(f"{path}: answer_instruction must be a string ('' for none), got {value!r}")
    return value


def load_tokenizer(name: str, revision: str | None = None, local_only: bool = False, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(
            name, revision=revision, local_files_only=local_only, trust_remote_code=trust_remote_code
        )
    except (OSError, ValueError) as err:
        raise _not_on_disk(name, "tokenizer", err, local_only) from err
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
    except Exception as err:  # any library's failure to load is one line naming the model
        raise _not_on_disk(name, "model", err, local_only) from err


def find_lora_targets(model) -> list[str]:
    """Names of every attention and MLP projection: the Linear-like layers inside the blocks.

    Found by inspecting the model (nn.Linear and its subclasses such as bitsandbytes'
    Linear4bit, and GPT-2's Conv1D), so it works for any architecture; the LM head and
    embeddings are left out.
    """
    names = sorted(lora_target_widths(model))
    if not names:
        raise UsageError("found no linear layers to put LoRA on; pass --lora-target-modules NAME,...")
    return names


def lora_target_widths(model) -> dict[str, int]:
    """Each LoRA target's name with the largest rank that adds capacity on it: the widest of its
    layers' narrower side (min of in and out features)."""
    import torch
    from transformers.pytorch_utils import Conv1D

    widths: dict[str, int] = {}
    for full_name, module in model.named_modules():
        if not isinstance(module, (torch.nn.Linear, Conv1D)):
            continue
        leaf = full_name.split(".")[-1]
        if leaf in EXCLUDED_MODULES or not full_name:
            continue
        # Linear (and 4-bit Linear, whose packed weight hides its shape) names its sides; Conv1D's weight is (in, out).
        width = (
            min(module.in_features, module.out_features)
            if isinstance(module, torch.nn.Linear)
            else min(module.weight.shape)
        )
        widths[leaf] = max(widths.get(leaf, 0), int(width))
    return widths


def model_skeleton(name: str, revision: str | None = None, local_only: bool = False, trust_remote_code: bool = False):
    """The model built from its config alone on the meta device (no weights read, no memory), so
    that LoRA flags and adapters are checked before minutes of loading; None where the config
    cannot be read or built here (the checks then happen after loading)."""
    try:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM

        config = AutoConfig.from_pretrained(
            name, revision=revision, local_files_only=local_only, trust_remote_code=trust_remote_code
        )
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return AutoModelForCausalLM.from_config(config, trust_remote_code=trust_remote_code)
    except Exception as err:  # noqa: BLE001 - an early check only: loading the model names any real problem
        logging.getLogger(__name__).debug("no model skeleton for %s: %s", name, err)
        return None


def adapter_misfit(adapter_dir: str | Path, skeleton) -> str | None:
    """Why an adapter's LoRA layers do not fit the model (a layer it lacks, or another width),
    read from the adapter's safetensors header and the model skeleton; None when they fit."""
    weights = Path(adapter_dir) / "adapter_model.safetensors"
    if not weights.is_file() or safetensors_problem(weights):
        return None  # attach_adapter names these when it loads
    with open(weights, "rb") as f:
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    modules = dict(skeleton.named_modules())
    for key, info in header.items():
        if not key.endswith(".lora_A.weight") or not isinstance(info, dict):
            continue
        name = key[: -len(".lora_A.weight")].removeprefix("base_model.model.")
        module = modules.get(name)
        if module is None:
            return f"it has a LoRA layer on {name}, which the model lacks"
        width = getattr(module, "in_features", None)
        if width is not None and info["shape"][-1] != width:
            return f"its LoRA layer on {name} takes {info['shape'][-1]} inputs, the model's {width}"
    return None


def read_adapter_config(adapter_dir: str | Path) -> dict:
    """The adapter's config, with a one-line error for a missing folder or a non-adapter."""
    path = Path(adapter_dir)
    if not path.is_dir():
        raise UsageError(f"adapter folder {str(path)!r} does not exist; pass the --output-dir of a training run")
    config = path / "adapter_config.json"
    if not config.is_file():
        raise UsageError(
            f"{str(path)!r} is not an adapter folder (no adapter_config.json); pass a train_grpo.py --output-dir"
        )
    try:
        return json.loads(config.read_text())
    except json.JSONDecodeError as err:
        raise UsageError(f"{config} is not valid JSON ({err.msg})") from err


def attach_adapter(model, adapter_dir: str | Path, base_name: str, trainable: bool = False, base_flag: str = "--model"):
    """The base model with the adapter attached; a shape mismatch names both models and the flag to fix."""
    from peft import PeftModel

    adapter_base = read_adapter_config(adapter_dir).get("base_model_name_or_path")
    try:
        return PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=trainable)
    except (RuntimeError, ValueError, KeyError) as err:
        raise UsageError(
            f"adapter {str(adapter_dir)!r} does not fit base model {base_name!r}: it was trained for "
            f"{adapter_base!r} ({type(err).__name__}: shape or layer mismatch). Pass {base_flag} {adapter_base}"
        ) from err
