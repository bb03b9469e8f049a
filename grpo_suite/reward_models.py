"""``--reward-model PATH_OR_ID[@LABEL]``: a trained reward model (a sequence classifier) as a reward.

Each reward model becomes a reward function in the trainer's signature, named
``reward_model_<folder>`` (its log key ``rewards/reward_model_<folder>/mean``, its weight set with
``--reward-weights``), so the trainer, ``--probe`` and the watchdog treat it like any component.
Prompt and completion are joined as the reward model was trained to read them: a conversation
through the reward model's own chat template (plain "role: text" lines without one), plain text
end to end. Completions are scored in batches, on the run's device, without gradients; the score
is the logit of the model's one label, or of ``@LABEL`` (a name of its ``id2label`` or an index)
when it has several.

The model's config is checked when the flags are (a folder that is not a sequence classifier, or
several labels without a chosen one, is one line); its weights load at the first score, as
safetensors only. Why not TRL's own reward-model path (a model passed in ``reward_funcs``): it is
not a function, so ``--probe``, ``--dry-run`` and the composite's scoring could not call it.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from grpo_suite.errors import UsageError, first_line

logger = logging.getLogger("train_grpo")

BATCH = 16  # completions scored at once
_SLUG_RE = re.compile(r"[^0-9A-Za-z]+")
_CACHE_SUFFIX_RE = re.compile(r"-[0-9a-f]{16}$")


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``PATH_OR_ID[@LABEL]`` -> (path, label or None)."""
    path, at, label = spec.rpartition("@")
    if not at or not label or "/" in label or "\\" in label:
        return spec, None
    return path, label


def reward_name(path: str, taken: set[str], prefix: str = "reward_model") -> str:
    """``<prefix>_<folder>``, made unique among the run's reward names."""
    folder = _CACHE_SUFFIX_RE.sub("", Path(path.rstrip("/\\")).name)  # a converted GGUF's cache folder
    slug = _SLUG_RE.sub("_", folder).strip("_").lower() or "model"
    name, n = f"{prefix}_{slug}", 2
    while name in taken:
        name, n = f"{prefix}_{slug}_{n}", n + 1
    return name


class RewardModel:
    """A sequence classifier's score of prompt + completion, as a reward function."""

    def __init__(self, spec: str, name: str, local_only: bool, trust_remote_code: bool, revision: str | None = None):
        from transformers import AutoConfig

        self.spec, self.__name__ = spec, name
        self.path, label = parse_spec(spec)
        self.local_only, self.trust_remote_code, self.revision = local_only, trust_remote_code, revision
        from grpo_suite.models import check_model_source

        check_model_source(self.path, "--reward-model")  # weights, tokenizer and config on disk, as for --model
        try:
            config = AutoConfig.from_pretrained(
                self.path, revision=revision, local_files_only=local_only, trust_remote_code=trust_remote_code
            )
        except (OSError, ValueError) as err:
            raise UsageError(
                f"--reward-model {spec}: no model config could be read from {self.path} ({first_line(err)[:160]}); "
                "pass a local folder or a hub id of a sequence-classification model"
            ) from err
        architectures = list(getattr(config, "architectures", None) or [])
        if not any(a.endswith("ForSequenceClassification") for a in architectures):
            raise UsageError(
                f"--reward-model {spec}: {self.path} is not a sequence classifier (its architecture is "
                f"{', '.join(architectures) or 'not given'}); pass a reward model, a ...ForSequenceClassification "
                "trained to score replies"
            )
        self.index = self._label_index(config, label)

    def _label_index(self, config, label: str | None) -> int:
        n = int(getattr(config, "num_labels", 1) or 1)
        names = {str(v): int(k) for k, v in (getattr(config, "id2label", None) or {}).items()}
        if label is None:
            if n == 1:
                return 0
            raise UsageError(
                f"--reward-model {self.spec}: the model has {n} labels ({', '.join(sorted(names, key=names.get))}); "
                f"choose the one that scores a good reply: --reward-model {self.path}@LABEL"
            )
        if label in names:
            return names[label]
        if label.isdigit() and int(label) < n:
            return int(label)
        raise UsageError(
            f"--reward-model {self.spec}: the model has no label {label!r}; its labels are "
            f"{', '.join(sorted(names, key=names.get)) or ', '.join(map(str, range(n)))}"
        )

    def load(self):
        """The reward model's tokenizer and weights (safetensors only), once; train_grpo.py loads them before
        training, so that a model that cannot load fails before the first step, on every process alike."""
        if hasattr(self, "model"):
            return
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        kwargs = dict(
            revision=self.revision, local_files_only=self.local_only, trust_remote_code=self.trust_remote_code
        )
        logger.info("loading reward model %s for %s", self.path, self.__name__)
        self.tokenizer = AutoTokenizer.from_pretrained(self.path, **kwargs)
        self.model = AutoModelForSequenceClassification.from_pretrained(self.path, use_safetensors=True, **kwargs)
        if self.tokenizer.pad_token is None:  # batches are padded; a causal LM's tokenizer often has no pad token
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        self.model.config.pad_token_id = self.tokenizer.pad_token_id  # where the classifier reads the last token
        local = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = torch.device("cuda", local) if torch.cuda.is_available() else torch.device("cpu")
        self.model.to(self.device).eval()
        limit = getattr(self.model.config, "max_position_embeddings", None) or self.tokenizer.model_max_length
        self.max_length = min(int(limit), 1 << 20)

    def text(self, prompt, completion) -> str:
        """Prompt and completion as the reward model reads them."""
        if isinstance(prompt, list):
            reply = completion if isinstance(completion, list) else [{"role": "assistant", "content": completion}]
            messages = [*prompt, *reply]
            if getattr(self.tokenizer, "chat_template", None):
                return self.tokenizer.apply_chat_template(messages, tokenize=False)
            return "\n".join(f"{m.get('role', 'user')}: {m.get('content', '')}" for m in messages)
        reply = completion[-1]["content"] if isinstance(completion, list) else completion
        return f"{prompt or ''}{reply}"

    def __call__(self, completions, prompts=None, **kwargs) -> list[float | None]:
        if prompts is None:  # the reward model scores a reply to its prompt (--dry-run has none)
            return [None] * len(completions)
        self.load()
        import torch

        texts = [self.text(p, c) for p, c in zip(prompts, completions)]
        scores: list[float | None] = []
        side = self.tokenizer.padding_side
        self.tokenizer.padding_side = "right"
        try:
            for first in range(0, len(texts), BATCH):
                batch = self.tokenizer(
                    texts[first : first + BATCH],
                    return_tensors="pt",
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    add_special_tokens=False,
                ).to(self.device)
                with torch.no_grad():
                    logits = self.model(**batch).logits
                scores.extend(float(x) for x in logits[:, self.index].float().cpu())
        finally:
            self.tokenizer.padding_side = side
        return scores


def build(specs, taken: set[str], local_only: bool, trust_remote_code: bool) -> list[RewardModel]:
    """The run's reward models, each config checked; weights load at the first score."""
    models = []
    for spec in specs:
        name = reward_name(parse_spec(spec)[0], taken)
        taken.add(name)
        models.append(RewardModel(spec, name, local_only, trust_remote_code))
    return models
