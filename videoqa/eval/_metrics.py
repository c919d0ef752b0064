"""Scores: temporal IoU with R@1 at IoU >= m and mIoU (Charades-STA); accuracy per capability (LVBench).

Both are computed over *every* item of the evaluated set: a prediction with no span scores IoU 0, an
answer with no letter is wrong, and both stay in the denominator (unlike LVBench's official scorer,
which silently drops missing uids).

IoU follows lmms-eval, TimeChat and 2D-TAN: ``inter = max(0, min(pe, ge) - max(ps, gs))``,
``union = max(pe, ge) - min(ps, gs)`` (the hull, which equals the true union whenever the spans
overlap), ``IoU = inter / union`` or 0 when ``union <= 0``; a reversed span is swapped first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "IOU_THRESHOLDS",
    "ChoiceScores",
    "GroundingScores",
    "choice_scores",
    "clip_span",
    "grounding_scores",
    "ordered_span",
    "temporal_iou",
]

IOU_THRESHOLDS: tuple[float, ...] = (0.3, 0.5, 0.7)

_EPS = 1e-9
"""Slack on ``IoU >= m`` so that an IoU of exactly m (e.g. 3.5 / 7.0) is not lost to float rounding."""

Span = tuple[float, float]


def ordered_span(span: Span) -> Span:
    """``(start, end)`` with start <= end: a reversed span is swapped (as current lmms-eval does)."""
    start, end = float(span[0]), float(span[1])
    return (end, start) if end < start else (start, end)


def clip_span(span: Span, duration_seconds: float) -> Span:
    """The span clipped to ``[0, duration_seconds]`` (used on the ground truth only when asked to)."""
    start, end = ordered_span(span)
    return (min(max(start, 0.0), duration_seconds), min(max(end, 0.0), duration_seconds))


def temporal_iou(prediction: Span | None, ground_truth: Span) -> float:
    """Temporal IoU in [0, 1] of two spans in seconds; ``None`` (no parseable span) scores 0.

    >>> round(temporal_iou((24.0, 31.0), (24.3, 30.4)), 4)   # 6.1 / 7.0
    0.8714
    >>> temporal_iou((5.0, 10.0), (10.0, 12.0))    # touching: no overlap
    0.0
    """
    if prediction is None:
        return 0.0
    ps, pe = ordered_span(prediction)
    gs, ge = ordered_span(ground_truth)
    inter = max(0.0, min(pe, ge) - max(ps, gs))
    union = max(pe, ge) - min(ps, gs)
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class GroundingScores:
    """R@1 at each IoU threshold and mIoU, in percent, over ``num_queries`` queries."""

    num_queries: int
    recall_at: dict[float, float]
    """Threshold m -> percentage of queries with IoU >= m."""
    miou: float
    """Mean IoU x 100 over all queries."""
    num_unparsed: int = 0
    """Queries whose answer held no span (each scored IoU 0)."""

    def as_dict(self) -> dict[str, float | int]:
        out: dict[str, float | int] = {f"R@{m}": v for m, v in self.recall_at.items()}
        out.update(mIoU=self.miou, num_queries=self.num_queries, num_unparsed=self.num_unparsed)
        return out


def grounding_scores(
    ious: Sequence[float],
    *,
    num_unparsed: int = 0,
    thresholds: Sequence[float] = IOU_THRESHOLDS,
    strict: bool = False,
) -> GroundingScores:
    """Aggregate per-query IoUs (each in [0, 1]; 0 for unparseable answers) into percentages.

    ``IoU >= m`` allows 1e-9 for float rounding; ``strict`` compares the raw IoU with ``>= m`` as
    lmms-eval does (``--scoring lmms_eval``). An empty set gives 0.0 everywhere (and
    ``num_queries`` 0), never a division error.
    """
    n = len(ious)
    slack = 0.0 if strict else _EPS
    recall = {m: (100.0 * sum(iou >= m - slack for iou in ious) / n if n else 0.0) for m in thresholds}
    miou = 100.0 * sum(ious) / n if n else 0.0
    return GroundingScores(num_queries=n, recall_at=recall, miou=miou, num_unparsed=num_unparsed)


@dataclass(frozen=True)
class ChoiceScores:
    """Overall and per-capability accuracy, in percent."""

    num_questions: int
    num_correct: int
    accuracy: float
    per_capability: dict[str, float | None] = field(default_factory=dict)
    """Capability -> accuracy in percent over the questions listing it; None (shown "–") when none does."""
    capability_counts: dict[str, int] = field(default_factory=dict)
    """Capability -> number of questions listing it (the denominator)."""
    num_without_letter: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "Overall": self.accuracy,
            **self.per_capability,
            "num_questions": self.num_questions,
            "num_correct": self.num_correct,
            "num_without_letter": self.num_without_letter,
            "capability_counts": dict(self.capability_counts),
        }


def choice_scores(
    results: Iterable[tuple[bool, Sequence[str]]],
    *,
    num_without_letter: int = 0,
    capability_order: Sequence[str] = (),
) -> ChoiceScores:
    """``results``: one ``(correct, capabilities)`` per question; a question counts under each capability.

    Capabilities in ``capability_order`` come first in the result (with 0 questions and accuracy None
    if none list them, shown "–"), then any others in order of first appearance.
    """
    counts: dict[str, int] = dict.fromkeys(capability_order, 0)
    right: dict[str, int] = dict.fromkeys(capability_order, 0)
    total = correct = 0
    for is_correct, capabilities in results:
        total += 1
        correct += bool(is_correct)
        for cap in dict.fromkeys(capabilities):
            counts[cap] = counts.get(cap, 0) + 1
            right[cap] = right.get(cap, 0) + bool(is_correct)
    per = {cap: (100.0 * right[cap] / counts[cap] if counts[cap] else None) for cap in counts}
    return ChoiceScores(
        num_questions=total,
        num_correct=correct,
        accuracy=100.0 * correct / total if total else 0.0,
        per_capability=per,
        capability_counts=counts,
        num_without_letter=num_without_letter,
    )
