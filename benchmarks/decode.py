"""Decode benchmark: videoqa against its peers on the same instants, each in its own process.

For each generated video, videoqa's default plan (``probe`` + ``plan_sampling``: fps 2, at most
768 frames, qwen-vl-utils pixel budgets) fixes the work: the target instants and the output size.
Every decoder then returns the frame on screen at those instants, resized to that size:

- ``videoqa``: ``decode`` (PyAV backend; with ``--threads`` > 1 each window is cut at keyframes
  into that many segments, decoded in parallel by single-thread readers);
- ``videoqa_frame``: the same reader as one decoder with FFmpeg frame threading (``threading="frame"``,
  the behaviour before segments), to measure the two ways of using more cores;
- ``videoqa_1thread``: ``decode`` with one thread (one single-thread decoder, conversion on a
  second thread as always with one decoder): the reference for the speed-up of more threads;
- ``torchcodec``: ``VideoDecoder(seek_mode="exact", transforms=[Resize])`` +
  ``get_frames_played_at`` in chunks of 32 instants (bounded memory, like a window);
- ``decord``: decord 0.6 ``VideoReader(width, height)`` + ``get_batch`` of the frame on screen at
  each instant (from decord's own frame timestamps);
- ``decord2``: the same with the decord2 fork, imported from ``--decord2-site`` (a ``pip install
  --target`` directory: decord2 installs a module named ``decord`` too, so it cannot share a venv);
- ``qwen``: qwen-vl-utils ``fetch_video`` on its decord backend (its own instants, the same frame
  count and size: equal work; capped by ``--reference-ram-gb`` since it holds full-size floats);
- ``full``: one full PyAV decode of every frame (no conversion): the floor for dense plans.

Peers that are not installed are skipped and the table says so. With ``--repeat N`` the peers
run in turn, N rounds, the order rotated each round (so slow drifts of the shared machine's load hit
every peer alike); the table shows medians, and each ratio is the median of the per-round ratios
against the videoqa run of the same round. Each child prints wall time
and CPU seconds (from opening the file to the last frame; imports excluded), RSS after imports
and peak RSS
(``ru_maxrss`` from ``os.wait4``), and, outside the timed part, the pts of every returned frame and
the source frame index drawn in it (``videoqa.synthetic`` frames are self-describing), plus an
8x8 grey thumbnail. The parent compares each peer with videoqa: same pts, same picture (thumbnail
mean absolute difference under ``--picture-tolerance``), and frames whose picture is another
source frame than the one on screen at the instant ("wrong frames").

    python benchmarks/decode.py --work-dir /tmp/videoqa-bench --repeat 3
    python benchmarks/decode.py --videos sd_1h --peers videoqa torchcodec --threads 1
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
    # name: (duration s, width, height, fps, gop s, B-frames)
    "hd_10min": (600.0, 1280, 720, 30, 2.0, 0),
    "sd_1h": (3600.0, 640, 360, 15, 2.0, 0),
    "low_10min": (600.0, 320, 180, 10, 2.0, 0),
    "low_2h": (7200.0, 320, 180, 10, 2.0, 0),
    "bframes_long_gop": (600.0, 640, 360, 25, 10.0, 3),
}
PEERS = ("videoqa", "videoqa_frame", "videoqa_1thread", "torchcodec", "decord", "decord2", "qwen", "full")
CHUNK = 32  # torchcodec instants per call


def ensure_video(work_dir: Path, name: str) -> Path:
    from videoqa.synthetic import write_video_once

    duration, width, height, fps, gop, bframes = VIDEOS[name]
    path = work_dir / f"{name}_{width}x{height}_{fps}fps_gop{gop:g}_b{bframes}.mp4"
    if not path.exists():
        started = time.perf_counter()
        write_video_once(
            path, duration_seconds=duration, fps=fps, width=width, height=height, gop_seconds=gop,
            bframes=bframes, background="moving_noise",
        )  # fmt: skip
        print(f"# generated {path.name} in {time.perf_counter() - started:.0f} s", flush=True)
    return path


# ------------------------------------------------------------------------------------------ children


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _plan(video: str, max_frames: int):
    from videoqa import plan_sampling, probe

    return plan_sampling(probe(video), max_frames=max_frames)


def child_videoqa(video: str, args: argparse.Namespace) -> dict:
    from videoqa.video._pyav import decode_pyav

    imported = _rss_mb()
    started = _clock()
    plan = _plan(video, args.max_frames)  # probe + plan are part of videoqa's work
    threading = "frame" if args.child == "videoqa_frame" else "auto"  # "auto": what decode() does
    threads = 1 if args.child == "videoqa_1thread" else args.threads
    clips = list(decode_pyav(video, plan, num_threads=threads, storage_options=None, threading=threading))
    seconds = _since(started)
    frames = [f for clip in clips for f in clip.frames]
    pts = [float(p) for clip in clips for p in clip.pts_seconds]
    return _result(seconds, imported, frames, pts)


def child_torchcodec(video: str, args: argparse.Namespace) -> dict:
    from torchcodec.decoders import VideoDecoder
    from torchcodec.transforms import Resize

    window = _plan(video, args.max_frames).windows[0]  # the instants, fixed before timing
    imported = _rss_mb()
    started = _clock()
    decoder = VideoDecoder(
        video,
        num_ffmpeg_threads=args.threads,
        seek_mode="exact",
        dimension_order="NHWC",
        transforms=[Resize((window.height, window.width))],
    )
    frames, pts = [], []
    instants = list(window.pts_seconds)
    for at in range(0, len(instants), CHUNK):
        batch = decoder.get_frames_played_at(seconds=instants[at : at + CHUNK])
        frames += list(batch.data.numpy())
        pts += batch.pts_seconds.tolist()
    return _result(_since(started), imported, frames, pts)


def child_decord(video: str, args: argparse.Namespace) -> dict:
    import bisect

    if args.child == "decord2":
        sys.path.insert(0, args.decord2_site)
    import decord

    window = _plan(video, args.max_frames).windows[0]
    imported = _rss_mb()
    started = _clock()
    reader = decord.VideoReader(
        video, ctx=decord.cpu(0), num_threads=args.threads, width=window.width, height=window.height
    )
    starts = [float(s) for s in reader.get_frame_timestamp(range(len(reader)))[:, 0]]
    chosen = [max(bisect.bisect_right(starts, t + 1e-6) - 1, 0) for t in window.pts_seconds]
    frames = list(reader.get_batch(chosen).asnumpy())
    return _result(_since(started), imported, frames, [starts[i] for i in chosen])


def child_qwen(video: str, args: argparse.Namespace) -> dict:
    os.environ["FORCE_QWENVL_VIDEO_READER"] = "decord"
    from qwen_vl_utils import vision_process

    def no_fallback(ele: dict) -> None:
        raise RuntimeError("qwen-vl-utils fell back to torchvision: the decord run failed")

    vision_process.VIDEO_READER_BACKENDS["torchvision"] = no_fallback
    imported = _rss_mb()
    started = _clock()
    tensor = vision_process.fetch_video({"video": video, "max_frames": args.max_frames})
    seconds = _since(started)
    frames = list(tensor.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy())
    return _result(seconds, imported, frames, None)  # its own instants: no pts to compare


def child_full(video: str, args: argparse.Namespace) -> dict:
    import av

    imported = _rss_mb()
    started = _clock()
    count = 0
    with av.open(video) as container:
        stream = container.streams.video[0]
        stream.thread_type = "FRAME"
        stream.codec_context.thread_count = args.threads
        for _ in container.decode(stream):
            count += 1
    seconds, cpu = _since(started)
    return {"seconds": seconds, "cpu_seconds": cpu, "rss_imported_mb": imported, "frames": count}


def _clock() -> tuple[float, float]:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of the process
    return time.perf_counter(), usage.ru_utime + usage.ru_stime


def _since(started: tuple[float, float]) -> tuple[float, float]:
    """(wall, CPU) seconds since ``started``."""
    now = _clock()
    return now[0] - started[0], now[1] - started[1]


def _result(timing: tuple[float, float], imported: float, frames: list, pts: list[float] | None) -> dict:
    """Timing plus, computed after the clock stopped, what the frames show."""
    import numpy as np

    from videoqa.synthetic import read_frame_index

    thumbs = []
    for frame in frames:
        grey = np.asarray(frame, dtype=np.float32).mean(axis=-1)
        h, w = grey.shape[0] // 8 * 8, grey.shape[1] // 8 * 8
        thumbs.append(grey[:h, :w].reshape(8, h // 8, 8, w // 8).mean(axis=(1, 3)).round(1).ravel().tolist())
    return {
        "seconds": timing[0],
        "cpu_seconds": timing[1],
        "rss_imported_mb": imported,
        "frames": len(frames),
        "height_width": list(np.asarray(frames[0]).shape[:2]) if frames else None,
        "pts": pts,
        "indices": [read_frame_index(np.asarray(f), strict=False) for f in frames],
        "thumbs": thumbs,
    }


CHILDREN = {
    "videoqa": child_videoqa,
    "videoqa_frame": child_videoqa,
    "videoqa_1thread": child_videoqa,
    "torchcodec": child_torchcodec,
    "decord": child_decord,
    "decord2": child_decord,
    "qwen": child_qwen,
    "full": child_full,
}


def available(peer: str, args: argparse.Namespace) -> str | None:
    """None when the peer can run, else why not."""
    import importlib.util

    module = {"torchcodec": "torchcodec", "decord": "decord", "qwen": "qwen_vl_utils"}.get(peer)
    if peer == "decord2":
        if not (Path(args.decord2_site) / "decord").is_dir():
            return f"not installed (pip install --target {args.decord2_site} decord2)"
        return None
    if module and importlib.util.find_spec(module) is None:
        return f"not installed (pip install {module})"
    return None


def run_child(peer: str, video: Path, args: argparse.Namespace, max_frames: int) -> dict:
    """One measurement in a fresh process: its result plus its own peak RSS (``os.wait4``)."""
    import tempfile

    command = [sys.executable, __file__, "--child", peer, "--video", str(video)]
    command += ["--max-frames", str(max_frames), "--threads", str(args.threads)]
    command += ["--decord2-site", args.decord2_site]
    with tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True)
        output = process.stdout.read() if process.stdout else ""
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        stderr.seek(0)
        errors = [line for line in stderr.read().splitlines() if line.strip()]
    peak = usage.ru_maxrss / 1024  # Linux: KiB
    if process.returncode != 0:
        return {"error": f"exit code {process.returncode}: {errors[-1:]}", "peak_rss_mb": peak}
    result = json.loads(output.strip().splitlines()[-1])
    result["peak_rss_mb"] = peak
    result["stderr_lines"] = len(errors)
    return result


def _on_screen(video: Path, instants: tuple[float, ...]) -> list[int]:
    """Index of the frame on screen at each instant, from the packets' pts (the ground truth)."""
    import bisect

    import av

    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        starts = sorted(float(p.pts * stream.time_base) for p in container.demux(stream) if p.size)
    return [max(bisect.bisect_right(starts, t + 1e-9) - 1, 0) for t in instants]


def agreement(result: dict, reference: dict, truth: list[int] | None, tolerance: float) -> str:
    import numpy as np

    parts = []
    if result.get("pts") is not None and reference.get("pts") is not None:
        same = np.isclose(result["pts"], reference["pts"], atol=1e-3).sum()
        parts.append(f"pts {same}/{len(reference['pts'])}")
    same_instants = result.get("pts") is not None and reference.get("pts") is not None
    if same_instants and len(result["thumbs"]) == len(reference["thumbs"]):
        mad = np.abs(np.array(result["thumbs"]) - np.array(reference["thumbs"])).mean(axis=1)
        parts.append(f"picture {(mad <= tolerance).sum()}/{len(mad)} (max diff {mad.max():.1f})")
    if truth is not None and result.get("pts") is not None:
        wrong = sum(1 for got, want in zip(result["indices"], truth, strict=True) if got != want)
        parts.append(f"not the frame on screen {wrong}")
    return ", ".join(parts)


def compare(name: str, video: Path, args: argparse.Namespace) -> dict:
    window = _plan(str(video), args.max_frames).windows[0]
    truth = _on_screen(video, window.pts_seconds)
    print(
        f"\n== {name}: {video.name}: {window.num_frames} instants -> {window.height}x{window.width}",
        flush=True,
    )
    peers = []
    for peer in args.peers:
        why_not = available(peer, args)
        if why_not:
            print(f"{peer:<13} skipped: {why_not}", flush=True)
        else:
            peers.append(peer)
    runs: dict[str, list[dict]] = {peer: [] for peer in peers}
    for round_ in range(args.repeat):
        for peer in peers[round_ % len(peers) :] + peers[: round_ % len(peers)]:
            frames = _reference_frames(video, args) if peer == "qwen" else args.max_frames
            runs[peer].append(run_child(peer, video, args, frames))
    header = f"{'peer':<13} {'wall s':>7} {'(min-max)':>12} {'vs videoqa wall (CPU)':>22} {'CPU s':>6}"
    print(f"{header} {'RSS imports':>11} {'peak RSS':>8}  frames  agreement")
    results = {peer: _summary(peer, runs, args) for peer in peers}
    base = results.get("videoqa")
    for peer, result in results.items():
        if "error" in result:
            print(f"{peer:<13} FAILED {result['error']}", flush=True)
            continue
        spread = f"({result['wall_min']:.2f}-{result['wall_max']:.2f})"
        ratio = f"{result['ratio']:.2f}x ({result['cpu_ratio']:.2f}x)" if "ratio" in result else "-"
        frames = _reference_frames(video, args) if peer == "qwen" else args.max_frames
        note = f" (max_frames={frames})" if frames != args.max_frames else ""
        if result.get("stderr_lines"):
            note += f" [{result['stderr_lines']} stderr lines]"
        reference = base if base and peer != "videoqa" else {}
        check = agreement(result, reference, truth, args.picture_tolerance) if base else ""
        print(
            f"{peer:<13} {result['seconds']:7.2f} {spread:>12} {ratio:>22} {result['cpu_seconds']:6.1f} "
            f"{result['rss_imported_mb']:8.0f} MB {result['peak_rss_mb']:5.0f} MB  {result['frames']:6d}  "
            f"{check}{note}",
            flush=True,
        )
    full = results.get("full", {})
    if base and "ratio" in full:
        print(f"videoqa / full decode: {1 / full['ratio']:.2f}x wall, {1 / full['cpu_ratio']:.2f}x CPU")
    return results


def _summary(peer: str, runs: dict[str, list[dict]], args: argparse.Namespace) -> dict:
    """Medians of a peer's runs, and the median per-round ratios against videoqa's run of that round."""
    from statistics import median

    ok = [r for r in runs[peer] if "error" not in r]
    if not ok:
        return {"error": runs[peer][0]["error"]}
    walls = [r["seconds"] for r in ok]
    result = ok[0] | {
        "seconds": median(walls),
        "wall_min": min(walls),
        "wall_max": max(walls),
        "cpu_seconds": median(r["cpu_seconds"] for r in ok),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in ok),
        "stderr_lines": max(r.get("stderr_lines", 0) for r in ok),
    }
    pairs = [
        (r, b)
        for r, b in zip(runs[peer], runs.get("videoqa", []), strict=False)
        if "error" not in r and "error" not in b
    ]
    if pairs:
        result["ratio"] = median(r["seconds"] / b["seconds"] for r, b in pairs)
        result["cpu_ratio"] = median(r["cpu_seconds"] / b["cpu_seconds"] for r, b in pairs)
    return result


def _reference_frames(video: Path, args: argparse.Namespace) -> int:
    """qwen's frame cap: --max-frames unless its estimated peak RSS exceeds --reference-ram-gb.

    fetch_video holds every sampled frame at full size several times over (decord batch, numpy,
    torch, a float32 resize), about 10 bytes per pixel and channel.
    """
    import av

    with av.open(str(video)) as container:
        ctx = container.streams.video[0].codec_context
        bytes_per_frame = ctx.width * ctx.height * 3 * 10
    affordable = int(args.reference_ram_gb * 2**30 / bytes_per_frame) // 2 * 2
    return max(2, min(args.max_frames, affordable))


def versions(args: argparse.Namespace) -> str:
    import importlib.metadata

    found = []
    for dist in ("av", "torchcodec", "torch", "decord", "qwen-vl-utils"):
        try:
            found.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{dist} -")
    decord2 = sorted(Path(args.decord2_site).glob("decord2-*.dist-info"))
    found.append(f"decord2 {decord2[-1].name.removesuffix('.dist-info').split('-')[1] if decord2 else '-'}")
    return ", ".join(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work-dir", type=Path, default=HERE / ".work")
    parser.add_argument("--videos", nargs="+", default=list(VIDEOS), choices=list(VIDEOS))
    parser.add_argument("--peers", nargs="+", default=list(PEERS), choices=list(PEERS))
    parser.add_argument("--max-frames", type=int, default=768, help="plan_sampling max_frames (default 768)")
    parser.add_argument("--threads", type=int, default=2, help="decoder threads for every peer (default 2)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per peer; the median time is shown")
    parser.add_argument(
        "--reference-ram-gb", type=float, default=10.0, help="cap qwen's frames (default 10 GB)"
    )
    parser.add_argument(
        "--picture-tolerance", type=float, default=8.0, help="thumbnail mean abs diff (0-255)"
    )
    parser.add_argument("--decord2-site", default="/tmp/videoqa-bench/decord2-site")
    parser.add_argument("--child", choices=list(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--video", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(CHILDREN[args.child](args.video, args)))
        return
    args.work_dir.mkdir(parents=True, exist_ok=True)
    print(f"# cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}, threads: {args.threads}")
    print(f"# {versions(args)}")
    for name in args.videos:
        compare(name, ensure_video(args.work_dir, name), args)


if __name__ == "__main__":
    main()
