"""Multiple-choice scoring shared by declarations: one letter per answer, accuracy overall and per group.

A benchmark whose items are :class:`ChoiceQuestion` (Video-MME, LongVideoBench) scores them with
:func:`score_groups`: the letter is videoqa's parsed one (``native``) or lmms-eval's
``extract_mcq_answer`` reading (``lmms_eval``); an item is right when the letter is one of
``right_letters``; every item stays in the denominator. ``scores["all"]`` holds ``Overall`` and,
for every group name (e.g. ``duration``), the accuracy of each of its values under the value's
name (``short``, ``medium`` ...), plus ``breakdowns`` ``{group: {value: accuracy}}`` and counts.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from videoqa.eval._lmms_eval import lmms_eval_letter

__all__ = ["ChoiceQuestion", "choice_letter", "letters", "score_groups"]


def letters(count: int) -> str:
    return string.ascii_uppercase[:count]


def choice_letter(pred: Any, choices: str, scoring: str) -> str | None:
    """The letter an answer gives under ``scoring``: none unless it ran (``status == "ok"``);
    lmms-eval's reading of the raw text among ``choices`` (``lmms_eval``), or videoqa's parsed one."""
    if pred.status != "ok":
        return None
    if scoring == "lmms_eval":
        return lmms_eval_letter(pred.raw_text or "", choices)
    return pred.letter.strip().upper() if pred.letter else None


@dataclass(frozen=True)
class ChoiceQuestion:
    item_id: str
    video_id: str
    question: str
    options: tuple[str, ...]
    """Option texts without their letters."""
    right_letters: tuple[str, ...]
    groups: Mapping[str, str] = field(default_factory=dict)
    """Breakdowns this question counts under, ``{group: value}`` (``{"duration": "short"}``)."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Fields of the annotation kept for the per-item table and the official output."""


def _table(results: list[tuple[bool, Mapping[str, str]]]) -> dict[str, Any]:
    n = len(results)
    out: dict[str, Any] = {
        "Overall": 100.0 * sum(r for r, _ in results) / n if n else None,
        "num_questions": n,
    }
    breakdowns: dict[str, dict[str, list[bool]]] = {}
    for right, groups in results:
        for group, value in groups.items():
            breakdowns.setdefault(group, {}).setdefault(value, []).append(right)
    out["breakdowns"] = {
        g: {v: 100.0 * sum(rs) / len(rs) for v, rs in values.items()} for g, values in breakdowns.items()
    }
    out["counts"] = {g: {v: len(rs) for v, rs in values.items()} for g, values in breakdowns.items()}
    for values in out["breakdowns"].values():
        out.update(values)
    return out


def score_groups(
    items: Sequence[ChoiceQuestion], predictions: Mapping[str, Any], prompts: Mapping[str, str], config: Any
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows (one per question) and the scores over all questions and over the answerable ones."""
    rows, everything, answerable = [], [], []
    for item in items:
        pred = predictions[item.item_id]
        letter = choice_letter(pred, letters(len(item.options)), config.scoring)
        right = letter is not None and letter in item.right_letters
        everything.append((right, item.groups))
        if pred.status != "missing_video":
            answerable.append((right, item.groups))
        rows.append({
            "question_id": item.item_id, "video_id": item.video_id, "question": item.question,
            "options": list(item.options), "answer": "".join(item.right_letters), "pred_letter": letter,
            "correct": right, **dict(item.groups), "status": pred.status, "prediction_text": pred.raw_text,
            "prompt": prompts[item.item_id], "error": pred.error,
        })  # fmt: skip
    return rows, {
        "all": _table(everything),
        "answerable": _table(answerable),
        "num_without_letter": sum(r["status"] == "ok" and r["pred_letter"] is None for r in rows),
        "num_failed": sum(r["status"] == "failed" for r in rows),
        "scoring": config.scoring,
    }
