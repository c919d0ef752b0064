"""Accuracy of a tiny grounder checkpoint (``training/train_tiny_grounder.py``) on held-out synthetic
videos, through the unchanged runner.

Everything goes through ``videoqa.Session`` (probe, plan, decode, encode, generate, parse, map to
absolute seconds) with the settings the model was trained with
(``videoqa.Settings.for_model("builtin:tiny-grounder")``: 28 x 56 frames). Videos are written with
seeds the training script never uses (training: 0 and 10000).

1. **Single window**: ``--videos`` videos of 30-150 s (4 fps source), one window at 1 fps (the
   demo's plan); one question per event colour and one for an absent colour. Prints mIoU,
   R@1 IoU>=0.5 and the share of absent colours answered "does not occur".
2. **The MRoPE check**: the same questions with wrong time given to the model, the frames and
   features unchanged: (a) ``second_per_grid`` from an assumed 2 fps (the qwen-vl-utils default)
   while the windows are sampled at 1 fps; (b) every temporal ID 0 (the time metadata dropped).
   Prints each figure and its ratio to the right-time mIoU.
3. **Coarse-to-fine on a 1-hour video** (``--long``): 600 s coarse windows at 0.5 fps, 2 fps
   re-looks; one question per event; prints the start and end errors in seconds.
4. **Hour-long search** (``--long-videos N``): N held-out videos of 1-1.5 h, 3 events each, before
   (``search_budget=0``) and after (the search); see :func:`long_videos`.

    python benchmarks/grounder.py --videos 24 --long     # the shipped builtin:tiny-grounder
    python benchmarks/grounder.py --skip-single --long-videos 12   # the hour-long search
    python benchmarks/grounder.py --model /tmp/tiny-grounder --videos 24 --long
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

import videoqa
from videoqa.eval._metrics import temporal_iou
from videoqa.eval._synthetic import (
    SyntheticScores,
    synthetic_grounding,
    write_synthetic_cases,
    wrong_time,
)
from videoqa.model._grounder import GROUNDER_QUERY

GROUNDER = videoqa.Settings.for_model("builtin:tiny-grounder")
"""The settings the grounder was trained with (also for a checkpoint directory of the recipe)."""
WORK = Path(__file__).resolve().parent / ".work" / "grounder"
LONG_EVENTS = [(412.3, 419.8, "red"), (2417.0, 2424.5, "blue"), (3301.6, 3313.1, "green")]


def _line(name: str, s: SyntheticScores, reference: float | None = None) -> str:
    ratio = f"  ({s.miou / reference:.2f}x the right-time mIoU)" if reference else ""
    return (
        f"{name:<34} mIoU {s.miou:.3f}  R@0.5 {s.r_at_0_5:.3f}  "
        f"absent said absent {s.absent_accuracy:.2f}  "
        f"({len(s.ious)} events, {len(s.absent_said_absent)} absent){ratio}"
    )


def single_window(runner, args) -> None:
    cases = write_synthetic_cases(WORK / "single", seed=args.seed, count=args.videos)
    session = videoqa.Session(runner, GROUNDER, fps=1.0, strategy="single")
    t0 = time.perf_counter()
    right = synthetic_grounding(session, cases)
    whole = [
        temporal_iou((0.0, videoqa.probe(str(c.video)).duration_seconds), c.truth_seconds)
        for c in cases
        if c.truth_seconds
    ]
    print(f"settings: {session.settings.model_dump(include={'fps', 'min_pixels', 'max_pixels'})}")
    print(
        f"{'chance: the whole video as the span':<34} mIoU {np.mean(whole):.3f}  "
        f"R@0.5 {np.mean([i >= 0.5 for i in whole]):.3f}"
    )
    print(_line("right time (videoqa)", right), f"[{time.perf_counter() - t0:.0f} s]")
    for kind, name in (
        ("assumed_2fps", "wrong: second_per_grid from 2 fps"),
        ("no_time", "wrong: all temporal IDs 0"),
    ):
        with wrong_time(runner, kind):
            print(_line(name, synthetic_grounding(session, cases), right.miou))


def one_hour(runner) -> None:
    from videoqa.synthetic import Event, write_video

    path = WORK / "one-hour.mp4"
    if not path.exists():
        events = [Event(a, b, c) for a, b, c in LONG_EVENTS]
        write_video(path, duration_seconds=3600.0, fps=2.0, events=events)
    session = videoqa.Session(runner, GROUNDER, strategy="coarse_to_fine")
    questions = [
        videoqa.Question(question_id=c, question=GROUNDER_QUERY.format(color=c), task="grounding")
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


# ---------------------------------------------------------------- hour-long search (--long)

LONG_SEED = 2626
"""Seed of the hour-long videos: held out (training uses 0 and 10000, the single-window part 2026)."""


def write_long_cases(directory: Path, *, seed: int, count: int) -> list[tuple[Path, list]]:
    """``count`` videos of 1-1.5 h (160 x 90, 2 fps source), 3 events of 5-25 s each, distinct colours."""
    import random

    from videoqa.synthetic import PALETTE, Event, write_video_once

    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    cases = []
    for n in range(count):
        duration = round(rng.uniform(3600.0, 5400.0), 1)
        colors = rng.sample(list(PALETTE), 3)
        thirds = [(k * duration / 3, (k + 1) * duration / 3) for k in range(3)]
        events = []
        for color, (a, b) in zip(colors, thirds, strict=True):
            length = rng.uniform(5.0, 25.0)
            start = round(rng.uniform(a + 1.0, b - length - 1.0), 1)
            events.append(Event(start, round(start + length, 1), color))
        path = directory / f"long-{seed}-{n}.mp4"
        write_video_once(path, duration_seconds=duration, fps=2.0, events=events)
        cases.append((path, events))
    return cases


def _search_run(runner, cases, budget: float, cache: Path) -> list[dict]:
    settings = GROUNDER.model_copy(update={"search_budget": budget, "strategy": "coarse_to_fine"})
    session = videoqa.Session(runner, settings, cache_dir=cache)
    rows = []
    for path, events in cases:
        questions = [
            videoqa.Question(
                question_id=e.color, question=GROUNDER_QUERY.format(color=e.color), task="grounding"
            )
            for e in events
        ]
        t0 = time.perf_counter()
        results = session.analyze_many(str(path), questions)
        seconds = time.perf_counter() - t0
        for e, r in zip(events, results, strict=True):
            s = r.spans[0] if r.spans else None
            errors = (
                (abs(s.start_seconds - e.start_seconds), abs(s.end_seconds - e.end_seconds))
                if s
                else (float("inf"), float("inf"))
            )
            rows.append(
                {
                    "video": path.name,
                    "truth": (e.start_seconds, e.end_seconds),
                    "found": s and (s.start_seconds, s.end_seconds),
                    "errors": errors,
                    "visual_tokens": r.visual_tokens,
                    "model_calls": r.model_calls,
                    "seconds": seconds / len(events),
                }
            )
        stages = ", ".join(f"{k} {v:.1f}" for k, v in results[0].timings_seconds.items() if v >= 0.05)
        print(
            f"  budget {budget}: {path.name}: "
            + "; ".join(f"{x['truth']} -> {x['found']}" for x in rows[-len(events) :])
            + f"  [seconds: {stages}]",
            flush=True,
        )
    return rows


def _summary(name: str, rows: list[dict], reference: dict | None = None) -> dict:
    errors = [x for r in rows for x in r["errors"]]
    within = np.mean([max(r["errors"]) <= 2.0 for r in rows])
    tokens = np.mean([r["visual_tokens"] for r in rows])
    calls = np.mean([r["model_calls"] for r in rows])
    ratio = f" ({tokens / reference['tokens']:.2f}x)" if reference else ""
    print(
        f"{name:<34} both boundaries within 2 s {within:.0%} ({sum(max(r['errors']) <= 2 for r in rows)}"
        f"/{len(rows)})  median boundary error {np.median(errors):.1f} s  max {max(errors):.1f} s  "
        f"visual tokens/question {tokens:.0f}{ratio}  model calls/question {calls:.1f}  "
        f"[{sum(r['seconds'] for r in rows):.0f} s]",
        flush=True,
    )
    return {"tokens": tokens}


def long_videos(runner, args) -> None:
    """Before (``search_budget=0``: one fine look per candidate) vs after (the search, default budget)."""
    import tempfile

    t0 = time.perf_counter()
    cases = write_long_cases(WORK / "long", seed=LONG_SEED, count=args.long_videos)
    print(
        f"{len(cases)} videos of 1-1.5 h, 3 events each (seed {LONG_SEED}; written or found in "
        f"{WORK / 'long'} in {time.perf_counter() - t0:.0f} s)",
        flush=True,
    )
    budget = videoqa.Settings().search_budget
    before, after = [], []
    with tempfile.TemporaryDirectory() as cache:  # the coarse features are shared by both runs
        for n, case in enumerate(cases, 1):  # video by video, so a cut-short run still compares both
            before += _search_run(runner, [case], 0.0, Path(cache))
            after += _search_run(runner, [case], budget, Path(cache))
            print(f"after {n} of {len(cases)} videos:", flush=True)
            reference = _summary("before: one fine look (budget 0)", before)
            _summary(f"after: search (budget {budget})", after, reference)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model",
        default="builtin:tiny-grounder",
        help="builtin:tiny-grounder (default) or a checkpoint directory written by the training script",
    )
    parser.add_argument("--videos", type=int, default=24)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--long", action="store_true", help="also run coarse-to-fine on a 1-hour video")
    parser.add_argument(
        "--long-videos",
        type=int,
        default=0,
        help="hour-long search: N videos of 1-1.5 h, before (search_budget=0) vs after (default budget)",
    )
    parser.add_argument("--skip-single", action="store_true", help="skip the single-window part")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: the tiny model gains nothing from more, and on a busy machine "
        "two threads contending were several times slower; the answers are the same)",
    )
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    runner = videoqa.load_model(args.model)
    if not args.skip_single:
        single_window(runner, args)
    if args.long:
        one_hour(runner)
    if args.long_videos:
        long_videos(runner, args)


if __name__ == "__main__":
    main()
