"""Data whose rows hold replies to imitate or rank, not answers to check: preference pairs, SFT
outputs, chat replies and summaries in free text, several candidate outputs, prose answers.

Detection (schemas.py) finds a reference column; this module says when that column holds no
answer a completion could be checked against, and then takes no reference, gives the reason and
names the reward that fits. Standard library only, like detection.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Sequence

from grpo_suite.fields import (
    RESPONSE_NAMES,
    SOLUTION_NAMES,
    _values,
    get_path,
    is_free_text,
    is_messages,
    marks_final_answer,
    message_keys,
    norm,
)

if TYPE_CHECKING:
    from grpo_suite.fields import _Field

# A detection is schemas.Detection, which imports this module: typed Any here, so that no cycle forms.
Detection = Any

# Families whose rows hold replies to imitate or rank, not answers to check: detection takes no
# reference from them, and a run needs a reward that judges free text.
NO_REFERENCE_FAMILIES = ("preference", "preference_transcript", "sft", "summary", "long_form", "candidates", "kto")
NO_REFERENCE = "no reference: "  # how the reason that says so starts
REWARD_ADVICE = (
    "a reward that judges free text fits this data: --reward-model PATH (a trained reward model), --judge-model "
    "PATH (a local LLM grading by a rubric), or --extra-reward MODULE:FUNCTION (a function of your own); or "
    "--reference-field COLUMN if a column does hold gold answers"
)
REPLY_ROLES = ("assistant", "gpt", "model", "chatgpt", "bot")
_ASKS_FOR_SUMMARY_RE = re.compile(r"\bTL\s?;\s?DR\b|\bsummari[sz]e\b|\bsummary\b", re.IGNORECASE)


def has_no_reference(detection: Detection) -> bool:
    """Data that holds replies to imitate or rank (preference, SFT, summaries), not answers to check."""
    return detection.family in NO_REFERENCE_FAMILIES and detection.reference_field is None


def without_reference(detection: Detection, family: str, why: str) -> Detection:
    said = f"reference {detection.reference_field!r} "  # what _with_reference said of the dropped column
    return replace(
        detection,
        family=family,
        reference_field=None,
        reference_kind="text",
        alias_fields=(),
        reasons=tuple(r for r in detection.reasons if not r.startswith(said)) + (NO_REFERENCE + why, REWARD_ADVICE),
    )


FREE_SHARE = 1 / 3  # free text in this share of the sampled replies makes the column a reply to imitate


def free_share(texts: Sequence[str]) -> float:
    return sum(map(is_free_text, texts)) / len(texts) if texts else 0.0


def _reference_texts(detection: Detection, rows) -> list[str]:
    """The sampled reference values as text: a chat's last replies, an alias list's items, or strings."""
    values = _values(rows, detection.reference_field)
    if detection.reference_kind == "last_reply":
        return [t for t in map(_reply_text, values) if t]
    if detection.reference_kind == "aliases":
        return [t for v in values if isinstance(v, list) for t in v if isinstance(t, str)]
    return [v for v in values if isinstance(v, str)]


def summary_beats(reference: _Field, rows) -> bool:
    """A summary column wins over a response column in free text, never over a short answer."""
    texts = [v for v in _values(rows, reference.path) if isinstance(v, str)]
    return reference.name in RESPONSE_NAMES and free_share(texts) >= FREE_SHARE


def free_text_reference(detection: Detection, rows) -> Detection:
    """No reference where the detected one is a reply to imitate rather than an answer to check:
    several model outputs per row, a summary, an SFT output or chat reply in free text (in a
    third of the rows or more: such rows can never earn the reward), or a long-form answer in
    prose. Short answers, marked final answers and arithmetic stay references."""
    ref, kind = detection.reference_field, detection.reference_kind
    if ref is not None and kind == "kto":
        return _kto_reference(detection, rows)
    if ref is None or kind not in ("text", "last_reply", "solution", "aliases"):
        return detection
    name = norm(ref.rsplit(".", 1)[-1])
    values = _values(rows, ref)
    what = f"the last replies in {ref!r}" if kind == "last_reply" else repr(ref)
    if name in RESPONSE_NAMES and values and all(isinstance(v, list) and not is_messages(v) for v in values):
        return without_reference(detection, "candidates", f"{ref!r} holds several outputs per row, not one gold answer")
    texts = _reference_texts(detection, rows)
    if not texts:
        return detection
    if kind in ("aliases", "solution"):
        if (kind == "aliases" or name in SOLUTION_NAMES) and free_share(texts) > 0.5:
            why = f"{ref!r} holds prose answers (long, with no marked final answer and no arithmetic to read one from)"
            return without_reference(detection, "long_form", why)
        return detection
    if name not in RESPONSE_NAMES and kind != "last_reply":
        if free_share(texts) > 0.5:  # an answer column of sentences: no completion states one exactly
            why = f"{ref!r} holds prose answers (full sentences, with no marked final answer and no arithmetic)"
            return without_reference(detection, "long_form", why)
        return detection
    if _asks_for_summary(rows, detection) and not any(map(marks_final_answer, texts)):
        return without_reference(
            detection, "summary", f"{what} are summaries, which no completion matches word for word"
        )
    if free_share(texts) >= FREE_SHARE:
        share = free_share(texts)
        why = (
            f"{what} are free text in {share:.0%} of the sampled rows (long or a full sentence, with no marked final "
            "answer), as in SFT data: no completion can match them"
        )
        return without_reference(detection, "sft", why)
    return detection


def _kto_reference(detection: Detection, rows) -> Detection:
    """KTO rows (prompt, completion, label): a desirable completion is a reference only where it is an
    answer; free-text replies (as in UltraFeedback-derived KTO sets) are replies to imitate."""
    ref = detection.reference_field
    label = detection.alias_fields[0] if detection.alias_fields else None
    desirable = [r for r in rows if label is None or get_path(r, label) is True]
    texts = [t for t in (_reply_text(get_path(r, ref)) for r in desirable) if t]
    if texts and free_share(texts) >= FREE_SHARE:
        why = (
            f"the desirable completions in {ref!r} are free text in {free_share(texts):.0%} of the sampled rows (long "
            "or a full sentence, with no marked final answer): replies to imitate, which no completion can match"
        )
        found = without_reference(detection, "kto", why)
        return replace(found, reasons=tuple(r for r in found.reasons if not r.startswith("KTO")))
    return detection


def _reply_text(value: Any) -> str | None:
    """The text of the last reply in a chat list or reply dict (the reference a chat schema reads)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        value = [value] if message_keys([value]) else None
    keys = message_keys(value)
    if not keys:
        return None
    replies = [m.get(keys[1]) for m in value if str(m.get(keys[0])).lower() in REPLY_ROLES]
    return replies[-1] if replies and isinstance(replies[-1], str) else None


def _asks_for_summary(rows, detection: Detection) -> bool:
    """Most prompts ask for a summary ("TL;DR:", "Summarize ...")."""
    prompts = [" ".join(str(get_path(r, f) or "") for f in detection.prompt_fields) for r in rows]
    return 2 * sum(bool(_ASKS_FOR_SUMMARY_RE.search(p)) for p in prompts) > len(prompts) > 0
