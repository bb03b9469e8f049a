"""``--judge-model PATH_OR_ID``: a local causal LM grades each completion against a rubric.

The judge reads the prompt, the completion and, where the row has one, the reference, filled into
the rubric (``--judge-rubric FILE``, else :data:`DEFAULT_CRITERIA`), and answers with a score that
:func:`parse_score` reads. The reward is that score on a 0 to 1 scale (a score out of 10, or out of
the ``/M`` it is written with). A judgement that cannot be read, or lies outside its scale, scores
None (TRL leaves it out of that completion's total), never 0, and is counted: the trainer logs
``judge/<name>/unparsable_frac`` and ``judge/<name>/cached_frac`` at every generation.

A rubric file is either criteria (plain text, wrapped in :data:`WRAPPER`, which shows the request,
the reference where present and the response, and asks for ``Score: N``) or a whole judge prompt
with the placeholders ``{prompt}``, ``{completion}`` and optionally ``{reference}``. The judge
decodes greedily, so a (prompt, completion, reference) judged once is read from a cache. The judge
prompt goes to ``<run>/judge_prompt.txt``, a sample of verdicts (up to :data:`SAMPLED_PER_CALL` per
generation) to ``<run>/judge_verdicts.jsonl``.

Why by hand: TRL's judges (``trl.experimental.judges``) call hosted APIs or pairwise rankers, and
none reads a local causal LM's free-text score.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import string
from collections import OrderedDict
from pathlib import Path

from grpo_suite.errors import UsageError, first_line

logger = logging.getLogger("train_grpo")

SCALE = 10.0  # a score written without "/M" is out of 10
BATCH = 8  # judge inputs generated at once
CACHE_SIZE = 50_000  # judgements kept in memory
SAMPLED_PER_CALL = 4  # verdicts written to the run folder per reward call
DEFAULT_MAX_TOKENS = 32
PLACEHOLDERS = ("prompt", "completion", "reference")

DEFAULT_CRITERIA = (
    "Judge how well the response answers the request: correctness first, then whether it is complete, "
    "clear and to the point. A response that is wrong, off-topic or empty gets a low score."
)
WRAPPER = (
    "You are a strict grader.\n\n{criteria}\n\n"
    "[Request]\n{prompt}\n\n{reference_block}"
    "[Response]\n{completion}\n\n"
    "Reply with one line, 'Score: N', where N is a whole number from 0 (worst) to 10 (best)."
)
REFERENCE_BLOCK = "[Reference answer]\n{reference}\n\n"
# The judge's reply is begun with this under the wrapper, so that even a small judge continues with its
# number instead of a comment (a whole judge prompt of the user's gets no prefix: it may ask for reasons first).
PREFILL = "Score:"
REFERENCE_SHOWN = "[Reference answer]\n{reference}\n\n  (this block only where the row has a reference)\n"

_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_END = r"(?=\s*(?:$|[\s.,;:!?)\]*]))"  # the score ends there: "2+3=5" is a sum, not a score of 2
_VALUE = rf"({_NUMBER})(?:\s*(?:/|out\s+of)\s*({_NUMBER}))?{_END}"  # "7", "7/10", "3 out of 5"
# A line that states the grade: "Score: 7", "**Rating:** 8/10", "score = 3 out of 5", "Grade - 9", "The score is
# 6", "Final score: 4". Only a line that begins with it counts (a judge that reasons first states its grade last,
# and "a score of 10 would need more detail" mid-sentence is no grade); the last such line wins.
_LINE_RE = re.compile(
    rf"^[\s*#_>-]*(?:(?:the|my|final|overall)\s+)*(?:score|rating|grade)\b[\s*_]*(?::|=|\bis\b|-\s)?[\s*_]*{_VALUE}",
    re.IGNORECASE | re.MULTILINE,
)
_BARE_RE = re.compile(rf"^\W*{_VALUE}\W*$")  # a reply that is only the number
_PREFILLED_RE = re.compile(rf"^{re.escape(PREFILL)}[\s*_]*{_VALUE}")  # the number right after the begun reply


def parse_score(text: str, prefilled: bool = False) -> float | None:
    """A judgement's score on a 0 to 1 scale (N out of 10, or of the /M it is written with), or None when it
    states none that can be read. ``prefilled``: the reply was begun with ``Score:``, and only the number
    that follows it is the grade (whatever the judge writes after it is not).

    >>> parse_score("The answer is right.\nScore: 8")
    0.8
    >>> parse_score("Rating: 3/5"), parse_score("7"), parse_score("Score: 11"), parse_score("good")
    (0.6, 0.7, None, None)
    >>> parse_score("Score: 8\nA score of 10 would need more detail.", prefilled=True)
    0.8
    """
    text = text or ""
    if prefilled:
        found = _PREFILLED_RE.match(text)
    else:
        lines = list(_LINE_RE.finditer(text))
        found = lines[-1] if lines else _BARE_RE.match(text)
    if found is None:
        return None
    value = float(found.group(1))
    scale = float(found.group(2)) if found.group(2) else SCALE
    if scale <= 0 or not 0 <= value <= scale:
        return None
    return value / scale


def read_rubric(path: str | None) -> str:
    """The judge prompt template: a rubric file as criteria (wrapped) or as a whole prompt; checked."""
    if not path:
        return WRAPPER.replace("{criteria}", DEFAULT_CRITERIA)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")  # a BOM is no part of the rubric
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"--judge-rubric {path}: cannot be read ({first_line(err)}); pass a UTF-8 text file") from err
    if not text.strip():
        raise UsageError(f"--judge-rubric {path} is empty; write the criteria the judge grades by, or drop the flag")
    fields = _fields(text, path)
    if not fields:  # criteria only: the wrapper shows the request, the reference and the response
        criteria = text.strip().format().replace("{", "{{").replace("}", "}}")
        return WRAPPER.replace("{criteria}", criteria)
    return text


def _fields(text: str, path: str) -> set[str]:
    try:
        fields = [
            (name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(text) if name is not None
        ]
        names = {name for name, _, _ in fields}
    except ValueError as err:
        raise UsageError(
            f"--judge-rubric {path}: {first_line(err)}; write a literal brace as {{{{ or }}}}, placeholders as "
            "{prompt}, {completion}, {reference}"
        ) from err
    unknown = sorted(names - set(PLACEHOLDERS))
    if unknown:
        raise UsageError(
            f"--judge-rubric {path}: unknown placeholder {{{unknown[0]}}}; the judge prompt can hold {{prompt}}, "
            "{completion} and {reference} (write a literal brace as {{ or }})"
        )
    shaped = next((n for n, spec, conversion in fields if spec or conversion), None)
    if shaped is not None:
        raise UsageError(
            f"--judge-rubric {path}: {{{shaped}}} carries a conversion or format (!r, :>10); write the placeholder "
            "bare, {prompt}, {completion}, {reference}, and a literal brace as {{ or }}"
        )
    if names and "completion" not in names:
        raise UsageError(
            f"--judge-rubric {path} uses {{{sorted(names)[0]}}} but not {{completion}}: a whole judge prompt must "
            "show the response; add {completion}, or write criteria only (no placeholders)"
        )
    return names


def uses_reference(template: str) -> bool:
    """Whether the template shows {reference} on every row (a whole judge prompt that holds it)."""
    return "reference" in {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _as_text(value) -> str:
    """A prompt or completion, plain or a conversation, as the judge reads it: one message as its text,
    several as 'Role: text' lines."""
    if not isinstance(value, list):
        return "" if value is None else str(value)
    messages = [m for m in value if isinstance(m, dict)]
    if len(messages) == 1:
        return str(messages[0].get("content") or "")
    return "\n".join(f"{str(m.get('role', 'user')).capitalize()}: {m.get('content') or ''}" for m in messages)


class Judge:
    """A causal LM's graded score of each completion, as a reward function named ``judge_<folder>``."""

    def __init__(
        self,
        path: str,
        name: str,
        template: str,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        local_only: bool = False,
        trust_remote_code: bool = False,
        output_dir: str | None = None,
    ):
        self.path, self.__name__, self.template, self.max_tokens = path, name, template, max_tokens
        self.local_only, self.trust_remote_code = local_only, trust_remote_code
        self.output_dir = Path(output_dir) if output_dir else None
        self.prefill = PREFILL if template.rstrip().endswith(WRAPPER.rsplit("\n", 1)[-1]) else ""
        self.cache: OrderedDict[str, tuple[str, float | None]] = OrderedDict()
        self.last_metrics: dict[str, float] = {}
        self._wrote_prompt = self._warned_long = False

    def judge_input(self, prompt, completion, reference) -> str:
        """The filled judge prompt for one completion."""
        if isinstance(reference, (list, tuple)):  # accepted answers (aliases, options): each is right
            reference = " | ".join(str(r) for r in reference if r is not None) or None
        has_reference = reference is not None and str(reference).strip() != ""
        values = {
            "prompt": _as_text(prompt),
            "completion": _as_text(completion),
            "reference": str(reference) if has_reference else "(none given)",
        }
        block = REFERENCE_BLOCK.format(reference=values["reference"]) if has_reference else ""
        return self.template.format(**values, reference_block=block)

    def load(self):
        """The judge's tokenizer and weights (safetensors only), once; train_grpo.py loads them before training."""
        if hasattr(self, "model"):
            return
        import torch

        from grpo_suite import models

        logger.info("loading judge model %s for %s", self.path, self.__name__)
        self.tokenizer = models.load_tokenizer(self.path, None, self.local_only, self.trust_remote_code)
        self.tokenizer.padding_side = "left"  # generation continues each row from its end
        self.model = models.load_model(
            self.path, local_only=self.local_only, trust_remote_code=self.trust_remote_code
        ).eval()
        self.model.to(torch.device("cuda", models.local_rank()) if models.cuda_available() else "cpu")
        self.tokenizer.truncation_side = "left"
        context = getattr(self.model.config, "max_position_embeddings", None) or 1 << 20
        self.max_input = max(1, int(context) - self.max_tokens)

    def _rendered(self, text: str) -> str:
        if getattr(self.tokenizer, "chat_template", None):
            rendered = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
            )
            return rendered + self.prefill
        return f"{text}\n{self.prefill}"

    def _generate(self, texts: list[str]) -> list[str]:
        import torch

        out: list[str] = []
        for first in range(0, len(texts), BATCH):
            rendered = [self._rendered(t) for t in texts[first : first + BATCH]]
            if not self._warned_long and any(
                len(ids) > self.max_input for ids in self.tokenizer(rendered, add_special_tokens=False)["input_ids"]
            ):
                logger.warning(
                    "%s: a judge input is longer than the judge's context (%d tokens); its start is cut off "
                    "(the rubric first), so the judge may grade without its criteria: use a judge with a longer "
                    "context, or lower --max-completion-length",
                    self.__name__,
                    self.max_input,
                )
                self._warned_long = True
            batch = self.tokenizer(
                rendered,
                return_tensors="pt",
                padding=True,
                add_special_tokens=False,
                truncation=True,
                max_length=self.max_input,  # the end kept: the response's end, the score request, the prefix
            )
            batch = batch.to(self.model.device)
            with torch.no_grad():
                ids = self.model.generate(
                    **batch,
                    max_new_tokens=self.max_tokens,
                    do_sample=False,  # a judgement is a function of its input: cacheable, comparable across steps
                    pad_token_id=self.tokenizer.pad_token_id,
                )
            new = ids[:, batch["input_ids"].shape[1] :]
            out += [self.prefill + t for t in self.tokenizer.batch_decode(new, skip_special_tokens=True)]
        return out

    def __call__(self, completions, prompts=None, reference=None, log_metric=None, **kwargs) -> list[float | None]:
        if prompts is None:  # the judge grades a reply to its request (--dry-run shows the prompt instead)
            return [None] * len(completions)
        references = reference if isinstance(reference, list) else [reference] * len(completions)
        inputs = [self.judge_input(p, c, r) for p, c, r in zip(prompts, completions, references)]
        keys = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in inputs]
        todo = list(dict.fromkeys(k for k in keys if k not in self.cache))
        cached = len(keys) - len(todo)  # judged earlier, or the same as another of this batch: not generated again
        if todo:
            self.load()
            first = {k: t for k, t in zip(keys, inputs)}
            for key, judgement in zip(todo, self._generate([first[k] for k in todo])):
                self.cache[key] = (judgement, parse_score(judgement, prefilled=bool(self.prefill)))
        for key in keys:
            self.cache.move_to_end(key)
        while len(self.cache) > CACHE_SIZE:
            self.cache.popitem(last=False)
        scores = [self.cache[k][1] for k in keys]
        n = max(len(scores), 1)
        self.last_metrics = {
            f"judge/{self.__name__}/unparsable_frac": sum(s is None for s in scores) / n,
            f"judge/{self.__name__}/cached_frac": cached / n,
        }
        for name, value in self.last_metrics.items():
            if log_metric is not None:  # TRL's: averaged over the processes and the logging steps
                log_metric(name, value)
        self._record(inputs, keys, prompts, completions, references)
        return scores

    def _record(self, inputs, keys, prompts, completions, references) -> None:
        from grpo_suite.records import is_main_process

        if self.output_dir is None or not self.output_dir.is_dir() or not is_main_process():
            return
        if not self._wrote_prompt:
            example = inputs[0] if inputs else ""
            (self.output_dir / "judge_prompt.txt").write_text(
                f"# judge model: {self.path}\n# template (placeholders filled per completion):\n"
                f"{self.template.replace('{reference_block}', REFERENCE_SHOWN)}\n\n"
                f"# the first judge input of this run:\n{example}\n",
                encoding="utf-8",
            )
            self._wrote_prompt = True
        with open(self.output_dir / "judge_verdicts.jsonl", "a", encoding="utf-8") as f:
            for i in range(min(SAMPLED_PER_CALL, len(keys))):
                judgement, score = self.cache[keys[i]]
                line = {
                    "prompt": _as_text(prompts[i]),
                    "completion": _as_text(completions[i]),
                    "reference": references[i],
                    "judgement": judgement,
                    "score": score,
                }
                f.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")


def build(args, taken: set[str]) -> list[Judge]:
    """The run's judge (none without --judge-model): the rubric checked, the model's config read."""
    if args.judge_model is not None and not args.judge_model.strip():
        raise UsageError("--judge-model is empty; pass a model folder, a .gguf file or a hub id, or drop it")
    if not args.judge_model:
        for flag, value in (("--judge-rubric", args.judge_rubric), ("--judge-max-tokens", args.judge_max_tokens)):
            if value is not None:
                raise UsageError(f"{flag} needs --judge-model; add the judge, or drop {flag}")
        return []
    from grpo_suite import model_cache, models, reward_models

    template = read_rubric(args.judge_rubric)
    path = model_cache.local_model(args.judge_model, "--judge-model")
    models.check_model_source(path, "--judge-model")  # weights, tokenizer and config on disk, as for --model
    _check_causal_lm(path, args)
    name = reward_models.reward_name(args.judge_model.removesuffix(".gguf"), taken, prefix="judge")
    if name != reward_models.reward_name(args.judge_model.removesuffix(".gguf"), set(), prefix="judge"):
        logger.warning(
            "the judge's reward is named %s (its usual name is another reward's): weigh it by that name", name
        )
    return [
        Judge(
            path,
            name,
            template,
            args.judge_max_tokens or DEFAULT_MAX_TOKENS,
            args.local_only,
            args.trust_remote_code,
            args.output_dir,
        )
    ]


def check_data(args, detection) -> None:
    """A rubric that shows {reference} on every row needs data with a reference."""
    if args.judge_model and detection.reference_field is None and uses_reference(read_rubric(args.judge_rubric)):
        raise UsageError(
            f"--judge-rubric {args.judge_rubric} shows {{reference}}, and this data has no reference column; "
            "drop {reference} from the rubric (the default rubric shows a reference only where a row has one), "
            "or pass --reference-field COLUMN"
        )


def _check_causal_lm(path: str, args) -> None:
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(
            path, local_files_only=args.local_only, trust_remote_code=args.trust_remote_code
        )
    except (OSError, ValueError) as err:
        raise UsageError(
            f"--judge-model {args.judge_model}: no model config could be read ({first_line(err)[:160]}); pass a "
            "local folder, a .gguf file or a hub id of an instruction-tuned causal LM"
        ) from err
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    remote = "AutoModelForCausalLM" in (getattr(config, "auto_map", None) or {}) and args.trust_remote_code
    causal = {c for v in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values() for c in ((v,) if isinstance(v, str) else v)}
    given = list(getattr(config, "architectures", None) or [])
    if given:  # a llama classifier has a causal model type, but no LM head to write with
        ok = any(a in causal or a.endswith(("ForCausalLM", "LMHeadModel")) for a in given)
    else:
        ok = getattr(config, "model_type", None) in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    if not (ok or remote):
        architectures = ", ".join(given) or "not given"
        raise UsageError(
            f"--judge-model {args.judge_model} is not a causal LM (its model type is {config.model_type!r}, "
            f"architecture {architectures}); a judge writes its score, so pass an instruction-tuned causal LM (for "
            "a classifier that scores replies, use --reward-model)"
        )
