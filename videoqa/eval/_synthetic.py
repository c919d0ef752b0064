"""Grounding on synthetic coloured-square videos, through the unchanged :class:`~videoqa.Session`.

The held-out check of the tiny grounder (``builtin:tiny-grounder``, issue 17), shared by
``benchmarks/grounder.py`` and the tests: :func:`write_synthetic_cases` writes real H.264 videos
with known events (:mod:`videoqa.synthetic`), :func:`synthetic_grounding` asks "a <colour> square
appears" about each event colour and one absent colour and scores the answers (IoU as in
:func:`~videoqa.eval.temporal_iou`). :func:`wrong_time` gives the model deliberately wrong time
(frames and features unchanged) for the MRoPE check: a model that reads time through the position
IDs must lose its accuracy there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from videoqa.eval._metrics import temporal_iou
from videoqa.model._grounder import GROUNDER_QUERY
from videoqa.model._protocol import TemporalConfig

__all__ = [
    "SyntheticCase",
    "SyntheticScores",
    "WrongTime",
    "synthetic_grounding",
    "write_synthetic_cases",
    "wrong_time",
]

WrongTime = Literal["assumed_2fps", "no_time"]
WRONG_TIMES: tuple[str, ...] = get_args(WrongTime)


@dataclass(frozen=True)
class SyntheticCase:
    video: Path
    color: str
    truth_seconds: tuple[float, float] | None
    """Absolute start and end of the event; None when the colour never appears."""


@dataclass(frozen=True)
class SyntheticScores:
    ious: tuple[float, ...]
    """IoU of each case with an event (0 for no span), in case order."""
    absent_said_absent: tuple[bool, ...]
    """Whether each absent colour was answered "does not occur"."""

    @property
    def miou(self) -> float:
        return sum(self.ious) / len(self.ious) if self.ious else 0.0

    @property
    def r_at_0_5(self) -> float:
        return sum(i >= 0.5 for i in self.ious) / len(self.ious) if self.ious else 0.0

    @property
    def absent_accuracy(self) -> float:
        n = len(self.absent_said_absent)
        return sum(self.absent_said_absent) / n if n else 0.0


def write_synthetic_cases(
    directory: str | os.PathLike[str],
    *,
    seed: int,
    count: int,
    duration_seconds: tuple[float, float] = (30.0, 150.0),
    source_fps: float = 4.0,
) -> list[SyntheticCase]:
    """``count`` videos (160 x 90 H.264, ``source_fps``) of 1 to 3 events (3-30 s) each; a case per
    event and one for a colour that never appears. Existing files of the same name are reused."""
    from videoqa.synthetic import PALETTE, Event, write_video_once

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
        path = directory / f"synthetic-{seed}-{n}.mp4"
        write_video_once(path, duration_seconds=duration, fps=source_fps, events=events)
        cases += [SyntheticCase(path, e.color, (e.start_seconds, e.end_seconds)) for e in events]
        cases.append(SyntheticCase(path, colors[-1], None))
    return cases


def synthetic_grounding(session: Any, cases: Sequence[SyntheticCase]) -> SyntheticScores:
    """Ask each case's question through ``session`` (all questions about one video in one call)."""
    from videoqa.analysis import Question

    by_video: dict[Path, list[SyntheticCase]] = {}
    for case in cases:
        by_video.setdefault(case.video, []).append(case)
    ious, absent = [], []
    for video, group in by_video.items():
        questions = [
            Question(question_id=c.color, question=GROUNDER_QUERY.format(color=c.color), task="grounding")
            for c in group
        ]
        for case, result in zip(group, session.analyze_many(str(video), questions), strict=True):
            if case.truth_seconds is None:
                absent.append(result.outcome == "no_event")
                continue
            span = result.spans[0] if result.spans else None
            ious.append(temporal_iou(span and (span.start_seconds, span.end_seconds), case.truth_seconds))
    return SyntheticScores(tuple(ious), tuple(absent))


@dataclass(frozen=True)
class _AssumedFpsTime(TemporalConfig):
    """Temporal IDs computed as if each window were sampled at ``assumed_fps``."""

    assumed_fps: float = 2.0

    def temporal_ids(self, window):
        return super().temporal_ids(dataclasses.replace(window, sampled_fps=self.assumed_fps))


@contextlib.contextmanager
def wrong_time(model: Any, kind: WrongTime) -> Iterator[None]:
    """Give a Qwen runner ``model`` wrong time while inside: ``"assumed_2fps"`` computes
    ``second_per_grid`` from 2 fps (the qwen-vl-utils default) instead of the sampled fps;
    ``"no_time"`` makes every temporal ID 0 (the time metadata dropped). Frames, features and
    prompts are unchanged; the right time is restored on exit."""
    if kind not in WRONG_TIMES:
        raise ValueError(f"kind must be one of {WRONG_TIMES}, got {kind!r}")
    right = model.temporal
    if kind == "assumed_2fps":
        model.temporal = _AssumedFpsTime(**dataclasses.asdict(right), assumed_fps=2.0)
    else:
        model.temporal = dataclasses.replace(right, tokens_per_second=1e-9)
    try:
        yield
    finally:
        model.temporal = right
