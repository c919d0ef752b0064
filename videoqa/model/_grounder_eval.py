"""Held-out evaluation of ``builtin:tiny-grounder`` through the unchanged pipeline (benchmarks and tests).

:func:`write_heldout_cases` writes synthetic videos (seeds the training script never uses) and
returns one :class:`GroundingCase` per question: each event's colour, plus one colour that is
absent. :func:`grounding_scores` asks them through a :class:`videoqa.Session` (plan, decode,
encode, generate, parse, map back to absolute seconds) and scores the answers.

:class:`AssumedFpsTime` is the MRoPE check: a temporal configuration that builds the position IDs
as if every window had been sampled at ``assumed_fps`` (``second_per_grid = 2 / assumed_fps``,
the bug of stacks that assume a default fps). Put on a loaded runner
(``runner.temporal = AssumedFpsTime(...)``), everything else stays the same: same frames, same
vision features, same prompt; only the time the model is told changes.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from videoqa.model._protocol import TemporalConfig

__all__ = ["AssumedFpsTime", "GroundingCase", "grounding_scores", "span_iou", "write_heldout_cases"]

QUERY = "a {color} square appears"
"""How the questions are phrased (the demo's wording)."""


@dataclass(frozen=True)
class GroundingCase:
    video: Path
    color: str
    truth_seconds: tuple[float, float] | None
    """Absolute start and end of the event; None when the colour never appears."""


@dataclass(frozen=True)
class AssumedFpsTime(TemporalConfig):
    """Temporal IDs computed as if each window were sampled at ``assumed_fps`` (a wrong time)."""

    assumed_fps: float = 2.0

    def temporal_ids(self, window):
        return super().temporal_ids(dataclasses.replace(window, sampled_fps=self.assumed_fps))


def span_iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    union = max(a[1], b[1]) - min(a[0], b[0])
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0])) / union if union > 0 else 0.0


def write_heldout_cases(
    directory: str | Path,
    *,
    seed: int,
    count: int,
    duration_seconds: tuple[float, float] = (30.0, 150.0),
    fps: float = 4.0,
) -> list[GroundingCase]:
    """``count`` videos with 1 to 3 events each (160 x 90, H.264); a case per event and one absent colour."""
    from videoqa.synthetic import PALETTE, Event, write_video

    rng = random.Random(seed)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cases = []
    for n in range(count):
        duration = round(rng.uniform(*duration_seconds), 1)
        colors = rng.sample(list(PALETTE), 4)
        events = []
        for color in colors[: rng.randint(1, 3)]:
            length = rng.uniform(3.0, min(30.0, duration / 3))
            start = round(rng.uniform(0.0, duration - length), 1)
            events.append(Event(start, round(start + length, 1), color))
        path = write_video(
            directory / f"heldout-{seed}-{n}.mp4", duration_seconds=duration, fps=fps, events=events
        )
        cases += [GroundingCase(path, e.color, (e.start_seconds, e.end_seconds)) for e in events]
        cases.append(GroundingCase(path, colors[-1], None))
    return cases


def grounding_scores(session, cases: Sequence[GroundingCase]) -> dict[str, float]:
    """mIoU and R@0.5 over the cases with an event, and the share of absent colours said to be absent."""
    from videoqa.analysis import Question

    by_video: dict[Path, list[GroundingCase]] = {}
    for case in cases:
        by_video.setdefault(case.video, []).append(case)
    ious, absent = [], []
    for video, group in by_video.items():
        questions = [
            Question(question_id=c.color, question=QUERY.format(color=c.color), task="grounding")
            for c in group
        ]
        for case, result in zip(group, session.analyze_many(str(video), questions), strict=True):
            if case.truth_seconds is None:
                absent.append(result.outcome == "no_event")
            elif result.spans:
                span = result.spans[0]
                ious.append(span_iou((span.start_seconds, span.end_seconds), case.truth_seconds))
            else:
                ious.append(0.0)
    return {
        "miou": float(np.mean(ious)),
        "r_at_0_5": float(np.mean([i >= 0.5 for i in ious])),
        "absent_accuracy": float(np.mean(absent)) if absent else float("nan"),
        "events": len(ious),
        "absent": len(absent),
    }
