"""Visual cache: time a second question on the same video against the first, on the tiny model.

The first question decodes the video and runs the vision encoder, then generates; the second
(a new Session sharing only the on-disk cache, so nothing is kept in memory) finds every
window's features in the cache and only generates. Both use the real runner
(``load_model("builtin:tiny-qwen2.5-vl")``: random weights, real processor and model code) on
a generated H.264 video with a moving-noise background (so decoding costs about what real
footage costs). Prints the timings per stage and the ratio first / second (of the medians, and
of the best runs, which suffer least from other processes on a shared machine). The answers
of the random-weight model differ in length, so the generate stage varies between questions.

    python benchmarks/cache.py                  # 60 s, 25 fps, 640x360 video, 2 fps, <= 128 tokens/patch
    python benchmarks/cache.py --duration 120 --max-pixels 602112   # the default 768*28*28 cap
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

WORK = Path(__file__).parent / ".work"


def _video(duration: float, fps: float, width: int, height: int) -> Path:
    from videoqa.synthetic import Event, write_video_once

    return write_video_once(
        WORK / f"cache-bench-{duration:g}s-{fps:g}fps-{width}x{height}.mp4", duration_seconds=duration,
        fps=fps, width=width, height=height, events=[Event(37.0, 44.5, "red")], background="moving_noise",
    )  # fmt: skip


def _once(model, video: Path, cache_dir: str, question: str, settings: dict):
    from videoqa import Session

    session = Session(model, cache_dir=cache_dir, **settings)
    start = time.perf_counter()
    analysis = session.analyze(video, question, strategy="single")
    return time.perf_counter() - start, analysis


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="Video length in seconds.")
    parser.add_argument("--video-fps", type=float, default=25.0, help="Frame rate of the generated video.")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--fps", type=float, default=2.0, help="Sampling rate of the plan.")
    parser.add_argument("--max-pixels", type=int, default=128 * 28 * 28, help="Per-frame pixel cap.")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3, help="Runs of each (first, second) pair.")
    args = parser.parse_args()

    from videoqa import load_model

    video = _video(args.duration, args.video_fps, args.width, args.height)
    model = load_model("builtin:tiny-qwen2.5-vl", device="cpu")
    settings = {"fps": args.fps, "max_pixels": args.max_pixels, "max_new_tokens": args.max_new_tokens}
    firsts, seconds, skipped = [], [], []
    for run in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="videoqa-cache-bench-") as cache_dir:
            t1, a1 = _once(model, video, cache_dir, "What happens in the video?", settings)
            t2, a2 = _once(model, video, cache_dir, "What colour is the square?", settings)
        assert not a1.windows[0].cached and a2.windows[0].cached, "the second question must hit the cache"
        firsts.append(t1)
        seconds.append(t2)
        skipped.append(a1.timings_seconds.get("decode", 0.0) + a1.timings_seconds.get("encode", 0.0))
        stages = lambda a: ", ".join(f"{k} {v:.3f}" for k, v in a.timings_seconds.items())  # noqa: E731
        print(f"run {run}: first {t1:.3f} s ({stages(a1)})")
        print(f"run {run}: second {t2:.3f} s ({stages(a2)})")
    w = a1.windows[0]
    print(
        f"video {args.duration:g} s at {args.video_fps:g} fps {args.width}x{args.height}; "
        f"window {w.num_frames} frames at {w.sampled_fps:g} fps, {w.height}x{w.width}, "
        f"{w.visual_tokens} visual tokens"
    )
    first, second = statistics.median(firsts), statistics.median(seconds)
    print(f"median first question {first:.3f} s, second question {second:.3f} s")
    removed = statistics.median(skipped)
    print(f"median decode + encode of the first question (what the cache removes): {removed:.3f} s")
    best = min(firsts) / min(seconds)
    print(f"ratio first / second: {first / second:.1f}x (medians), {best:.1f}x (best runs)")


if __name__ == "__main__":
    main()
