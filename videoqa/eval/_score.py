"""Turn the model's answers into per-item rows and the summary scores of an evaluation.

Every item of the evaluated set gets a row, whatever happened to it (``status``):

- ``ok``: answered; scored from its parsed span / letter (none -> IoU 0 / wrong);
- ``failed``: the batch job recorded a failure for it (scored 0, error kept);
- ``missing_video``: its video is not in the videos folder (scored 0, left out of the answerable subset).

``scoring="native"`` scores the span / letter videoqa parsed (:mod:`videoqa.core.parsing`);
``scoring="lmms_eval"`` (``"lmms-eval"`` accepted) reads them again from the model's text the way
lmms-eval does (:mod:`._lmms_eval`), so per-item results match lmms-eval's. A grounding answer
saying the event does not occur (outcome ``no_event``) has no span: IoU 0 in both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from videoqa.eval._charades import GroundingItem
from videoqa.eval._choice import choice_letter
from videoqa.eval._declare import SCORINGS, Scoring, canonical_style
from videoqa.eval._lmms_eval import lmms_eval_span
from videoqa.eval._lvbench import CAPABILITY_ORDER, ChoiceItem
from videoqa.eval._metrics import choice_scores, clip_span, grounding_scores, ordered_span, temporal_iou

__all__ = ["Prediction", "Scoring", "score_choice", "score_grounding"]

Status = Literal["ok", "failed", "missing_video"]


@dataclass(frozen=True)
class Prediction:
    """What the model produced for one item, in seconds relative to the video's first frame."""

    status: Status
    raw_text: str | None = None
    span: tuple[float, float] | None = None
    """First (top-1) grounded span, seconds from the video's first frame; None when none was parsed."""
    spans: tuple[tuple[float, float], ...] = ()
    """Every grounded span in the answer's order (the ranked list of moment retrieval); ``spans[0]``
    is ``span``."""
    letter: str | None = None
    parse_error: str | None = None
    outcome: str | None = None
    """The answer's outcome (``answered``, ``no_event``, ``unparsed``); None unless status is ok."""
    error_type: str | None = None
    error: str | None = None
    video_duration_seconds: float | None = None
    sampling: dict[str, Any] = field(default_factory=dict)
    """What the model saw: strategy_used, num_windows, num_frames, sampled_fps and second_per_grid (one per
    window), visual_tokens."""


_SAMPLING_COLUMNS = (
    "strategy_used",
    "num_windows",
    "num_frames",
    "sampled_fps",
    "second_per_grid",
    "visual_tokens",
)


def _base_row(prediction: Prediction, prompt: str) -> dict[str, Any]:
    row: dict[str, Any] = {
        "status": prediction.status,
        "prompt": prompt,
        "prediction_text": prediction.raw_text,
        "parse_error": prediction.parse_error,
        "outcome": prediction.outcome,
        "error_type": prediction.error_type,
        "error": prediction.error,
    }
    for column in _SAMPLING_COLUMNS:
        row[column] = prediction.sampling.get(column)
    return row


def _check_scoring(scoring: str) -> Scoring:
    """The scoring mode in its one spelling (``"lmms-eval"`` is accepted for ``"lmms_eval"``)."""
    scoring = canonical_style(scoring)  # type: ignore[assignment]
    if scoring not in SCORINGS:
        raise ValueError(f"scoring must be one of {SCORINGS}, got {scoring!r}")
    return scoring  # type: ignore[return-value]


def _span(pred: Prediction, scoring: Scoring) -> tuple[float, float] | None:
    if pred.status != "ok":
        return None
    if scoring == "lmms_eval":
        return lmms_eval_span(pred.raw_text or "")
    return ordered_span(pred.span) if pred.span is not None else None


def score_grounding(
    items: Sequence[GroundingItem],
    predictions: Mapping[str, Prediction],
    prompts: Mapping[str, str],
    *,
    clip_ground_truth: bool = False,
    scoring: Scoring = "native",
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows (one per query) and ``{"all": scores, "answerable": scores, ...}`` for Charades-STA.

    ``predictions`` must hold every query id (use status ``missing_video`` for absent videos).

    ``clip_ground_truth`` clips the ground truth to ``[0, duration]`` (off by default, as lmms-eval);
    the duration is the annotated one, else the probed one. ``scoring``: see the module docstring.
    """
    scoring = _check_scoring(scoring)
    rows, ious_all, ious_answerable = [], [], []
    unparsed = failed = no_event = 0
    for item in items:
        pred = predictions[item.query_id]
        duration = item.duration_seconds if item.duration_seconds is not None else pred.video_duration_seconds
        gt = ordered_span((item.start_seconds, item.end_seconds))
        if clip_ground_truth and duration is not None:
            gt = clip_span(gt, duration)
        span = _span(pred, scoring)
        iou = temporal_iou(span, gt) if pred.status == "ok" else 0.0
        absent = pred.status == "ok" and span is None and pred.outcome == "no_event"
        no_event += absent
        unparsed += pred.status == "ok" and span is None and not absent
        failed += pred.status == "failed"
        ious_all.append(iou)
        if pred.status != "missing_video":
            ious_answerable.append(iou)
        rows.append({
            "query_id": item.query_id,
            "video_id": item.video_id,
            "sentence": item.sentence,
            "gt_start_seconds": item.start_seconds,
            "gt_end_seconds": item.end_seconds,
            "gt_scored_start_seconds": gt[0],
            "gt_scored_end_seconds": gt[1],
            "duration_seconds": duration,
            "pred_start_seconds": None if span is None else span[0],
            "pred_end_seconds": None if span is None else span[1],
            "iou": iou,
            **_base_row(pred, prompts[item.query_id]),
        })  # fmt: skip
    strict = scoring == "lmms_eval"  # lmms-eval: raw IoU >= m, no float slack
    scores = {
        "all": grounding_scores(ious_all, num_unparsed=unparsed, strict=strict).as_dict(),
        "answerable": grounding_scores(ious_answerable, num_unparsed=unparsed, strict=strict).as_dict(),
        "num_unparsed": unparsed,
        "num_no_event": no_event,
        "num_failed": failed,
        "scoring": scoring,
    }
    return rows, scores


def _time_ref(item: ChoiceItem, index: int) -> float | None:
    return None if item.time_reference_seconds is None else item.time_reference_seconds[index]


def score_choice(
    items: Sequence[ChoiceItem],
    predictions: Mapping[str, Prediction],
    prompts: Mapping[str, str],
    *,
    scoring: Scoring = "native",
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows (one per question) and overall / per-capability accuracy for LVBench, all and answerable.

    ``scoring``: see the module docstring (lmms-eval reads the letters A-D, as its LVBench task).
    """
    scoring = _check_scoring(scoring)
    unparsed_refs = [
        f"{item.question_id}: {item.time_reference!r}"
        for item in items
        if item.time_reference.strip() and item.time_reference_seconds is None
    ]
    rows, results_all, results_answerable = [], [], []
    without_letter = failed = 0
    for item in items:
        pred = predictions[item.question_id]
        letter = choice_letter(pred, "ABCD", scoring)
        correct = pred.status == "ok" and letter == item.answer
        without_letter += pred.status == "ok" and letter is None
        failed += pred.status == "failed"
        results_all.append((correct, item.capabilities))
        if pred.status != "missing_video":
            results_answerable.append((correct, item.capabilities))
        rows.append({
            "question_id": item.question_id,
            "video_id": item.video_id,
            "video_type": item.video_type,
            "question": item.question,
            "capabilities": list(item.capabilities),
            "time_reference": item.time_reference,
            "time_reference_start_seconds": _time_ref(item, 0),
            "time_reference_end_seconds": _time_ref(item, 1),
            "answer": item.answer,
            "pred_letter": letter,
            "correct": correct,
            "duration_seconds": pred.video_duration_seconds,
            **_base_row(pred, prompts[item.question_id]),
        })  # fmt: skip
    scores = {
        "all": choice_scores(
            results_all, capability_order=CAPABILITY_ORDER, num_without_letter=without_letter
        ).as_dict(),
        "answerable": choice_scores(
            results_answerable, capability_order=CAPABILITY_ORDER, num_without_letter=without_letter
        ).as_dict(),
        "num_without_letter": without_letter,
        "num_failed": failed,
        "time_reference_unparsed": unparsed_refs,
        "num_time_reference_unparsed": len(unparsed_refs),
        "scoring": scoring,
    }
    return rows, scores
