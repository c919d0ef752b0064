"""Decode benchmark: videoqa's default plan against qwen-vl-utils ``fetch_video`` (decord backend).

For each generated video, three measurements, each in its own child process (peak RSS is that
child's own ``ru_maxrss`` from ``os.wait4``):

- ``videoqa``: ``probe`` + ``plan_sampling`` (defaults: fps 2, at most 768 frames) + ``decode``;
- ``qwen``: ``qwen_vl_utils.fetch_video`` with ``FORCE_QWENVL_VIDEO_READER=decord`` (its silent
  fallback to torchvision is disabled, so a failure shows);
- ``full``: one full decode of every frame with PyAV (frame threading, no conversion): the cost
  of the densest possible sampling, the floor videoqa should stay near.

Both sampled runs must produce the same frame count and frame size; the script checks it.
Wall times are measured inside each child from before opening the file to the last frame
(interpreter start-up and imports excluded, for both sides).

Videos are generated once (``videoqa.synthetic``, scrolling-noise background so decoding costs
about what real footage costs) and cached in ``benchmarks/.work``.

    python benchmarks/decode.py                           # reference capped at ~10 GB peak RSS
    python benchmarks/decode.py --reference-ram-gb 20     # the full 768-frame reference (~16 GB)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
VIDEOS = {
    # name: (duration s, width, height, fps, gop s)
    "hd_10min": (600.0, 1280, 720, 30, 2.0),
    "low_10min": (600.0, 320, 180, 10, 2.0),
    "low_2h": (7200.0, 320, 180, 10, 2.0),
}


def ensure_video(work_dir: Path, name: str) -> Path:
    from videoqa.synthetic import write_video

    duration, width, height, fps, gop = VIDEOS[name]
    path = work_dir / f"{name}_{width}x{height}_{fps}fps.mp4"
    if not path.exists():
        started = time.perf_counter()
        tmp = path.with_suffix(".tmp.mp4")
        write_video(
            tmp,
            duration_seconds=duration,
            fps=fps,
            width=width,
            height=height,
            gop_seconds=gop,
            background="moving_noise",
        )
        tmp.rename(path)
        print(f"# generated {path.name} in {time.perf_counter() - started:.0f} s", flush=True)
    return path


# ------------------------------------------------------------------------------------------ children


def child_videoqa(video: str, max_frames: int, threads: int) -> dict:
    from videoqa import decode, plan_sampling, probe

    started = time.perf_counter()
    info = probe(video)
    plan = plan_sampling(info, max_frames=max_frames)
    frames, shape = 0, None
    for clip in decode(video, plan, num_threads=threads):
        frames += clip.frames.shape[0]
        shape = list(clip.frames.shape[1:3])
    return {"seconds": time.perf_counter() - started, "frames": frames, "height_width": shape}


def child_qwen(video: str, max_frames: int, threads: int) -> dict:
    os.environ["FORCE_QWENVL_VIDEO_READER"] = "decord"
    from qwen_vl_utils import vision_process

    def no_fallback(ele: dict) -> None:
        raise RuntimeError("qwen-vl-utils fell back to torchvision: the decord run failed")

    vision_process.VIDEO_READER_BACKENDS["torchvision"] = no_fallback
    started = time.perf_counter()
    video_tensor = vision_process.fetch_video({"video": video, "max_frames": max_frames})
    return {
        "seconds": time.perf_counter() - started,
        "frames": int(video_tensor.shape[0]),
        "height_width": [int(video_tensor.shape[2]), int(video_tensor.shape[3])],
    }


def child_full(video: str, max_frames: int, threads: int) -> dict:
    import av

    started = time.perf_counter()
    frames = 0
    with av.open(video) as container:
        stream = container.streams.video[0]
        stream.thread_type = "FRAME"
        stream.codec_context.thread_count = threads
        for _ in container.decode(stream):
            frames += 1
    return {"seconds": time.perf_counter() - started, "frames": frames, "height_width": None}


CHILDREN = {"videoqa": child_videoqa, "qwen": child_qwen, "full": child_full}


def run_child(kind: str, video: Path, max_frames: int, threads: int) -> dict:
    """Run one measurement in a fresh process; return its result plus its own peak RSS."""
    command = [sys.executable, __file__, "--child", kind, "--video", str(video)]
    command += ["--max-frames", str(max_frames), "--threads", str(threads)]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    output = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        return {"error": f"exit code {process.returncode}", "peak_rss_mb": usage.ru_maxrss / 1024}
    result = json.loads(output.strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux: KiB
    result["process_seconds"] = time.perf_counter() - started
    return result


# -------------------------------------------------------------------------------------------- report


def _fmt(result: dict) -> str:
    if "error" in result:
        return f"FAILED ({result['error']})"
    size = "x".join(map(str, result["height_width"])) if result["height_width"] else "-"
    return (
        f"{result['seconds']:7.2f} s  peak RSS {result['peak_rss_mb']:8.0f} MB  "
        f"frames {result['frames']:6d}  size {size}"
    )


def compare(name: str, video: Path, args: argparse.Namespace) -> dict:
    print(f"\n== {name}: {video.name}", flush=True)
    results = {"videoqa": run_child("videoqa", video, args.max_frames, args.threads)}
    print(f"videoqa (pyav)        {_fmt(results['videoqa'])}", flush=True)
    if not args.skip_reference:
        frames = _reference_frames(video, args)
        results["qwen"] = run_child("qwen", video, frames, args.threads)
        print(f"qwen-vl-utils/decord  {_fmt(results['qwen'])}  (max_frames={frames})", flush=True)
        if frames != args.max_frames:
            results["videoqa_same_frames"] = run_child("videoqa", video, frames, args.threads)
            print(f"videoqa at {frames:4d} fr  {_fmt(results['videoqa_same_frames'])}", flush=True)
    results["full"] = run_child("full", video, args.max_frames, args.threads)
    print(f"full decode (pyav)    {_fmt(results['full'])}", flush=True)
    _ratios(results, args)
    return results


def _reference_frames(video: Path, args: argparse.Namespace) -> int:
    """The reference's frame cap: --max-frames unless its estimated peak RSS exceeds --reference-ram-gb.

    fetch_video holds every sampled frame at full size several times over (decord batch, numpy,
    torch, then a float32 resize), about 10 bytes per pixel and channel; on a shared machine the
    cap keeps it from taking all memory. The output says when the cap applied.
    """
    import av

    with av.open(str(video)) as container:
        ctx = container.streams.video[0].codec_context
        bytes_per_frame = ctx.width * ctx.height * 3 * 10
    affordable = int(args.reference_ram_gb * 2**30 / bytes_per_frame) // 2 * 2
    return max(2, min(args.max_frames, affordable))


def _ratios(results: dict, args: argparse.Namespace) -> None:
    ours = results.get("videoqa_same_frames", results["videoqa"])
    ref, full = results.get("qwen"), results["full"]
    if ref and "error" not in ref and "error" not in ours:
        same = ref["frames"] == ours["frames"] and ref["height_width"] == ours["height_width"]
        print(
            f"  speed-up vs qwen: {ref['seconds'] / ours['seconds']:.1f}x   "
            f"peak RSS: {ours['peak_rss_mb'] / ref['peak_rss_mb']:.3f} of qwen's   "
            f"same frame count and size: {same}"
        )
    if "error" not in results["videoqa"] and "error" not in full:
        print(f"  videoqa / full decode time: {results['videoqa']['seconds'] / full['seconds']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work-dir", type=Path, default=HERE / ".work")
    parser.add_argument("--videos", nargs="+", default=list(VIDEOS), choices=list(VIDEOS))
    parser.add_argument("--max-frames", type=int, default=768, help="plan_sampling max_frames (default 768)")
    parser.add_argument(
        "--reference-ram-gb",
        type=float,
        default=10.0,
        help="cap the qwen reference's frames so its estimated peak RSS stays under this (default 10);"
        " a matching videoqa run is added when the cap applies",
    )
    parser.add_argument("--skip-reference", action="store_true", help="do not run qwen-vl-utils")
    parser.add_argument(
        "--threads", type=int, default=2, help="decoder threads for videoqa and the full decode"
    )
    parser.add_argument("--child", choices=list(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--video", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(CHILDREN[args.child](args.video, args.max_frames, args.threads)))
        return
    args.work_dir.mkdir(parents=True, exist_ok=True)
    print(f"# cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}, threads: {args.threads}")
    results = {name: compare(name, ensure_video(args.work_dir, name), args) for name in args.videos}
    if {"low_10min", "low_2h"} <= results.keys():
        short, long = results["low_10min"]["videoqa"], results["low_2h"]["videoqa"]
        if "error" not in short and "error" not in long:
            print(
                f"\nvideoqa peak RSS, 2-hour vs 10-minute video (same resolution): "
                f"{long['peak_rss_mb']:.0f} MB vs {short['peak_rss_mb']:.0f} MB "
                f"({long['peak_rss_mb'] / short['peak_rss_mb']:.3f}x)"
            )


if __name__ == "__main__":
    main()
