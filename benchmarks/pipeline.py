"""Batch-job throughput in video-hours per hour, with 1 and 2 decode workers, on this machine.

    python benchmarks/pipeline.py                      # 4 x 3-min 640x360 25 fps H.264, tiny Qwen2.5-VL
    python benchmarks/pipeline.py --videos 8 --minutes 5 --model builtin:scripted

One local Ray serves both runs (the tiny model is rebuilt from its cache for each job). Printed:
video-hours per hour of the whole job for each decode-worker count and their ratio, the decode
cost (decode-task seconds per video-hour) and the model cost (model-actor seconds per video-hour),
and, as the reference measured in the same run, a plain in-process decode of one video's
first-pass plan without Ray. Videos are generated once into benchmarks/.work/ (gitignored).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

__all__ = ["main", "make_bucket", "reference_decode"]

WORK = Path(__file__).resolve().parent / ".work" / "pipeline"
SETTINGS = {"fps": 1.0, "min_pixels": 16 * 28 * 28, "max_pixels": 64 * 28 * 28, "max_new_tokens": 16}


def make_bucket(count: int, minutes: float) -> Path:
    from videoqa.synthetic import Event, write_video_once

    folder = WORK / f"videos-{count}x{minutes:g}min"
    folder.mkdir(parents=True, exist_ok=True)
    seconds = minutes * 60
    for i in range(count):
        events = [Event(seconds * 0.3, seconds * 0.3 + 8, "red")]
        write_video_once(
            folder / f"v{i}.mp4", duration_seconds=seconds, fps=25, width=640, height=360, events=events,
            gop_seconds=2,
        )  # fmt: skip
    questions = WORK / "questions.jsonl"
    rows = [
        {"question_id": "red", "question": "a red square appears", "task": "grounding"},
        {"question_id": "what", "question": "What is shown?", "task": "qa"},
    ]
    questions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def reference_decode(video: Path) -> float:
    """Seconds to probe, plan and decode one video in this process (no Ray): the decode floor."""
    from videoqa.core._strategies import first_pass_plan
    from videoqa.core.settings import Settings
    from videoqa.model.families import family
    from videoqa.video import decode, probe

    started = time.perf_counter()
    info = probe(str(video))
    plan = first_pass_plan(info, Settings(**SETTINGS), family("qwen2.5-vl").sampling).plan
    frames = sum(clip.frames.shape[0] for clip in decode(str(video), plan))
    if frames != plan.num_frames:
        raise RuntimeError(f"{video}: decoded {frames} frames, the plan has {plan.num_frames}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--model", default="builtin:tiny-qwen2.5-vl")
    args = parser.parse_args()

    import ray

    from videoqa.batch import JobConfig, run_job

    folder = make_bucket(args.videos, args.minutes)
    video_hours = args.videos * args.minutes / 60
    ref_seconds = reference_decode(folder / "v0.mp4")
    ref_rate = (args.minutes / 60) / (ref_seconds / 3600)
    # Logical CPUs: 2 decode tasks + the model actor + light probe/write tasks, even on 2 cores.
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    results = {}
    try:
        for workers in (1, 2):
            output = WORK / f"out-{workers}"
            config = JobConfig(
                videos=str(folder), questions=str(WORK / "questions.jsonl"), output=str(output),
                model=args.model, decode_workers=workers, settings=SETTINGS, progress_interval_seconds=60,
            )  # fmt: skip
            summary = run_job(config)
            if summary.answers != 2 * args.videos:
                raise RuntimeError(f"expected {2 * args.videos} answers, the job wrote: {summary}")
            results[workers] = summary
    finally:
        ray.shutdown()
    print(f"machine: {os.cpu_count()} CPU cores; model {args.model}")
    print(
        f"bucket: {args.videos} x {args.minutes:g} min 640x360 25 fps H.264 ({video_hours:.2f} video-hours)"
    )
    print(f"reference, in-process decode of one video's plan (no Ray): {ref_seconds:.2f} s", end="")
    print(f" = {ref_rate:.0f} video-h/h")
    for workers, s in results.items():
        print(
            f"decode_workers={workers}: wall {s.wall_seconds:.1f} s, {s.video_hours_per_hour:.1f} video-h/h; "
            f"decode {s.decode_seconds / video_hours:.0f} s per video-hour, "
            f"model {s.model_seconds / video_hours:.0f} s per video-hour"
        )
    ratio = results[2].video_hours_per_hour / results[1].video_hours_per_hour
    print(f"ratio 2 vs 1 decode workers: {ratio:.2f}x")


if __name__ == "__main__":
    main()
