"""Peak memory of one decode task of the batch job (one video; the task yields one block per window).

Runs the job's real stages on a local Ray: ``probe_and_plan`` in the driver, then ``decode_clips``
as a streaming Ray task (1 CPU), exactly as the job calls it, at the default budgets (``JobConfig``
defaults, strategy ``auto``); the driver takes each window block as it comes and drops it, as the
model stage does. The decode worker's peak RSS is its kernel high-water mark (``VmHWM`` in
``/proc/<pid>/status``), read after the task stored its last block in the object store; it counts
the object-store pages the worker wrote (shared memory). Its private memory (``RssAnon``) is
polled every 5 ms inside the task, and its peak reported too. The
reference, measured in the same run: the size of the decoded frames (all windows, and the largest
window) and the peak RSS of an idle worker that imported the same modules.

    python benchmarks/decode_memory.py                                 # 1 h, 1280x720 (generated once)
    python benchmarks/decode_memory.py --duration-seconds 600          # a cheaper 10-minute variant

The video is generated once (``videoqa.synthetic``, plain background, 2 fps: the job samples at
most 2 fps, so every frame is a candidate and encoding stays affordable) into ``--work-dir``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import time
from pathlib import Path

MB = 1024**2


def ensure_video(work_dir: Path, duration_seconds: float, width: int, height: int) -> Path:
    from videoqa.synthetic import Event, write_video_once

    path = work_dir / f"{duration_seconds / 60:g}min_{width}x{height}_2fps.mp4"
    if not path.exists():
        started = time.perf_counter()
        event = Event(duration_seconds / 2, duration_seconds / 2 + 30.0, "red")
        write_video_once(path, duration_seconds=duration_seconds, fps=2.0, width=width, height=height,
                         events=[event])  # fmt: skip
        print(f"# generated {path.name} in {time.perf_counter() - started:.0f} s", flush=True)
    return path


def status_bytes(pid: int | str, field: str) -> int:
    """A ``/proc/<pid>/status`` memory field (``VmHWM``: peak RSS; ``RssAnon``: private RSS now)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise LookupError(f"no {field} for pid {pid}")


def decode_task(table, config_json: str, tracker):
    """The job's decode stage, with this worker's private RSS polled every 5 ms while it runs;
    yields its window blocks, then ``{"pid", "peak_anon"}``."""
    import threading

    from videoqa.batch._stages import decode_clips

    peak = {"anon": status_bytes("self", "RssAnon")}
    done = threading.Event()

    def poll() -> None:
        while not done.wait(0.005):
            peak["anon"] = max(peak["anon"], status_bytes("self", "RssAnon"))

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        yield from decode_clips(table, config_json=config_json, tracker=tracker)
    finally:
        done.set()
        poller.join()
    yield {"pid": os.getpid(), "peak_anon": peak["anon"]}


def idle_task() -> dict:
    import videoqa.batch._stages
    import videoqa.video  # noqa: F401  (the same imports as a decode worker)

    return {"pid": os.getpid(), "anon": status_bytes("self", "RssAnon")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", default="/tmp/videoqa-bench")
    parser.add_argument("--duration-seconds", type=float, default=3600.0)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    args = parser.parse_args()
    video = ensure_video(Path(args.work_dir), args.duration_seconds, args.width, args.height)

    import pyarrow as pa
    import ray

    from videoqa.analysis import Question
    from videoqa.batch import JobConfig
    from videoqa.batch._guard import AttemptTracker
    from videoqa.batch._stages import load_clip, make_unit, probe_and_plan, unit_schema

    config = JobConfig(videos=str(video.parent), questions="unused.jsonl", output="/tmp/unused",
                       model="builtin:scripted")  # fmt: skip
    question = Question(question_id="q", question="When does a red square appear?", task="grounding")
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=4 * 1024**3)
    try:
        tracker = ray.remote(num_cpus=0)(AttemptTracker).remote()
        unit = make_unit("bench", str(video), video.name, [question])
        row = probe_and_plan(unit, config_json=config.model_dump_json(), tracker=tracker)
        assert not row["failure_json"], row["failure_json"]
        plan = pickle.loads(row["plan_pickle"])
        table = pa.Table.from_pylist([row], schema=unit_schema())

        idle = ray.get(ray.remote(num_cpus=1)(idle_task).remote())
        idle_peak = status_bytes(idle["pid"], "VmHWM")
        started = time.perf_counter()
        windows, pickles, stats = [], [], None
        for ref in ray.remote(num_cpus=1, num_returns="streaming")(decode_task).remote(
            table, config.model_dump_json(), tracker
        ):
            block = ray.get(ref)
            del ref
            if isinstance(block, dict):
                stats = block
                continue
            out = block.to_pylist()[0]
            del block
            assert not out["failure_json"], out["failure_json"]
            clip = load_clip(out["clips_pickle"], out["clip_frames"])
            windows.append(
                (out["window_position"], len(clip.frames), clip.frames.shape[1:3], clip.frames.nbytes)
            )
            pickles.append(len(out["clips_pickle"]) + len(out["clip_frames"]))
            del clip, out  # one window at a time here too, as in the model stage
        seconds = time.perf_counter() - started
        decode_peak = status_bytes(stats["pid"], "VmHWM")
    finally:
        ray.shutdown()

    assert [w[0] for w in windows] == list(range(len(plan.windows))), "one block per window, in order"
    sizes = [w[3] for w in windows]
    result = {
        "video": video.name,
        "windows": len(windows),
        "frames": sum(w[1] for w in windows),
        "window_frame_shapes": sorted({str(tuple(w[2])) for w in windows}),
        "strategy_windows_planned": len(plan.windows),
        "decoded_frames_mb": sum(sizes) / MB,
        "largest_window_mb": max(sizes) / MB,
        "serialised_clips_mb": sum(pickles) / MB,
        "largest_block_mb": max(pickles) / MB,
        "idle_worker_peak_rss_mb": idle_peak / MB,
        "decode_worker_peak_rss_mb": decode_peak / MB,
        "idle_worker_private_rss_mb": idle["anon"] / MB,
        "decode_worker_peak_private_rss_mb": stats["peak_anon"] / MB,
        "decode_task_seconds": seconds,
    }
    result["peak_above_idle_over_decoded_frames"] = (decode_peak - idle_peak) / sum(sizes)
    result["peak_above_idle_over_largest_window"] = (decode_peak - idle_peak) / max(sizes)
    result["private_peak_above_idle_over_decoded_frames"] = (stats["peak_anon"] - idle["anon"]) / sum(sizes)
    result["private_peak_above_idle_over_largest_window"] = (stats["peak_anon"] - idle["anon"]) / max(sizes)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
