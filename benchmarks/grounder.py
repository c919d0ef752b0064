"""Accuracy of a tiny grounder checkpoint (``training/train_tiny_grounder.py``) on held-out synthetic
videos, through the unchanged runner.

Everything goes through ``videoqa.Session`` (probe, plan, decode, encode, generate, parse, map to
absolute seconds) with the settings the model was trained with (``FRAME_SETTINGS``: 28 x 56
frames). Videos are written with seeds the training script never uses (training: 0 and 10000).

1. **Single window**: ``--videos`` videos of 30-150 s (4 fps source), one window at 1 fps (the
   demo's plan); one question per event colour and one for an absent colour. Prints mIoU,
   R@1 IoU>=0.5 and the share of absent colours answered "does not occur".
2. **The MRoPE check**: the same questions with wrong time given to the model, the frames and
   features unchanged: (a) ``second_per_grid`` from an assumed 2 fps (the qwen-vl-utils default)
   while the windows are sampled at 1 fps; (b) every temporal ID 0 (the time metadata dropped).
   Prints each figure and its ratio to the right-time mIoU.
3. **Coarse-to-fine on a 1-hour video** (``--long``): 600 s coarse windows at 0.5 fps, 2 fps
   re-looks; one question per event; prints the start and end errors in seconds.

    python benchmarks/grounder.py --model /tmp/tiny-grounder --videos 24 --long
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

import videoqa
from videoqa.model._protocol import TemporalConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
from grounder_data import FRAME_SETTINGS as GROUNDER_SETTINGS
from grounder_data import QUERY


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


WORK = Path(__file__).resolve().parent / ".work" / "grounder"
LONG_EVENTS = [(412.3, 419.8, "red"), (2417.0, 2424.5, "blue"), (3301.6, 3313.1, "green")]


def _line(name: str, s: dict[str, float], reference: float | None = None) -> str:
    ratio = f"  ({s['miou'] / reference:.2f}x the right-time mIoU)" if reference else ""
    return (
        f"{name:<34} mIoU {s['miou']:.3f}  R@0.5 {s['r_at_0_5']:.3f}  "
        f"absent said absent {s['absent_accuracy']:.2f}  ({s['events']} events, {s['absent']} absent){ratio}"
    )


def single_window(runner, args) -> None:
    cases = write_heldout_cases(WORK / "single", seed=args.seed, count=args.videos)
    session = videoqa.Session(runner, fps=1.0, strategy="single", **GROUNDER_SETTINGS)
    right_time = runner.temporal
    t0 = time.perf_counter()
    right = grounding_scores(session, cases)
    whole = [
        span_iou((0.0, videoqa.probe(str(c.video)).duration_seconds), c.truth_seconds)
        for c in cases
        if c.truth_seconds
    ]
    print(
        f"{'chance: the whole video as the span':<34} mIoU {np.mean(whole):.3f}  "
        f"R@0.5 {np.mean([i >= 0.5 for i in whole]):.3f}"
    )
    print(_line("right time (videoqa)", right), f"[{time.perf_counter() - t0:.0f} s]")
    try:
        runner.temporal = AssumedFpsTime(**dataclasses.asdict(right_time), assumed_fps=2.0)
        print(_line("wrong: second_per_grid from 2 fps", grounding_scores(session, cases), right["miou"]))
        runner.temporal = dataclasses.replace(right_time, tokens_per_second=1e-9)
        print(_line("wrong: all temporal IDs 0", grounding_scores(session, cases), right["miou"]))
    finally:
        runner.temporal = right_time


def one_hour(runner) -> None:
    from videoqa.synthetic import Event, write_video

    path = WORK / "one-hour.mp4"
    if not path.exists():
        events = [Event(a, b, c) for a, b, c in LONG_EVENTS]
        write_video(path, duration_seconds=3600.0, fps=2.0, events=events)
    session = videoqa.Session(runner, strategy="coarse_to_fine", **GROUNDER_SETTINGS)
    questions = [
        videoqa.Question(question_id=c, question=QUERY.format(color=c), task="grounding")
        for *_, c in LONG_EVENTS
    ]
    t0 = time.perf_counter()
    results = session.analyze_many(str(path), questions)
    errors = []
    for (a, b, c), result in zip(LONG_EVENTS, results, strict=True):
        if result.spans:
            s = result.spans[0]
            errors += [abs(s.start_seconds - a), abs(s.end_seconds - b)]
            print(f"1-hour video, {c}: truth {a}-{b} s, found {s.start_seconds:.1f}-{s.end_seconds:.1f} s")
        else:
            errors += [float("inf")] * 2
            print(f"1-hour video, {c}: truth {a}-{b} s, found nothing ({result.parse_error})")
    print(
        f"coarse-to-fine on 1 hour: max start/end error {max(errors):.1f} s, "
        f"median {np.median(errors):.1f} s "
        f"[{time.perf_counter() - t0:.0f} s]"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="checkpoint directory written by the training script")
    parser.add_argument("--videos", type=int, default=24)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--long", action="store_true", help="also run coarse-to-fine on a 1-hour video")
    args = parser.parse_args()
    runner = videoqa.load_model(args.model)
    single_window(runner, args)
    if args.long:
        one_hour(runner)


if __name__ == "__main__":
    main()
