"""Memory stays bounded when the bucket holds several hour-long videos (slow: ~1 min on 2 cores).

Jobs over 4 and then 8 two-hour low-resolution videos run with an object store (300 MB) smaller
than their decoded first-pass clips together (8 x 152 MB). The driver's peak RSS and every Ray
worker's peak anonymous RSS (sampled from /proc every 50 ms; file-backed pages of spilled objects
are the object store's, not the worker's) must stay within one video's working set, which is what
streaming with back-pressure promises: nothing may grow with the number of videos.
"""

from __future__ import annotations

import os
import threading
import time

import psutil
import pytest

from tests.batch_util import items, tables, write_questions
from tests.media import media_path
from videoqa.batch import JobConfig, run_job
from videoqa.batch._local_ray import local_ray

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.ray, pytest.mark.slow]

MB = 1024**2
# First-pass (coarse) clips of one 2 h video at min_pixels=16*28*28: 12 windows x 300 frames of
# 84 x 168 x 3 bytes = 152.4 MB (see the plan asserted below).
CLIP_BYTES = 12 * 300 * 84 * 168 * 3


def _status_field(pid: int, field: str) -> int | None:
    """A memory field of /proc/<pid>/status, in bytes."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class PeakRss:
    """Peak RSS of this process and of every ``ray::`` worker, with the task titles each one showed."""

    def __init__(self, interval_seconds: float = 0.05):
        self.interval_seconds = interval_seconds
        self.titles: dict[int, set[str]] = {}
        self.sampled: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for proc in psutil.process_iter(["cmdline", "memory_info"]):
                cmd = " ".join(proc.info["cmdline"] or [])
                if cmd.startswith("ray::") and proc.info["memory_info"] is not None:
                    self.titles.setdefault(proc.pid, set()).add(cmd.split(" ")[0])
                    anon = _status_field(proc.pid, "RssAnon:")
                    if anon is not None:
                        self.sampled[proc.pid] = max(self.sampled.get(proc.pid, 0), anon)
            time.sleep(self.interval_seconds)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self, pid: int) -> int:
        return self.sampled.get(pid, 0)

    @staticmethod
    def driver_peak() -> int:
        return _status_field(os.getpid(), "VmHWM:") or 0


@pytest.fixture(scope="module")
def ray_local():
    with local_ray(num_cpus=2, object_store_bytes=300 * MB):  # on 127.0.0.1 only
        yield


def _run(tmp_path, videos, name):
    config = JobConfig(
        videos=str(videos), questions=str(tmp_path / "q.jsonl"), output=str(tmp_path / name),
        model="builtin:scripted", decode_workers=2, settings={"min_pixels": 16 * 28 * 28},
    )  # fmt: skip
    driver_before = PeakRss.driver_peak()
    with PeakRss() as peaks:
        summary = run_job(config)
    by_title: dict[str, int] = {}
    for pid, titles in peaks.titles.items():
        for title in titles:
            key = "decode" if "decode_clips" in title else "model" if "ModelStage" in title else title
            by_title[key] = max(by_title.get(key, 0), peaks.peak(pid))
    return config, summary, PeakRss.driver_peak() - driver_before, by_title


def test_peak_memory_is_bounded_with_hour_long_videos(ray_local, tmp_path):
    source = media_path("long_lowres_mp4")  # 7200 s, 1 fps, 64 x 36 H.264
    write_questions(
        tmp_path / "q.jsonl", [{"question_id": "red", "question": "a red square", "task": "grounding"}]
    )
    runs = {}
    for count in (4, 8):
        folder = tmp_path / f"videos{count}"
        folder.mkdir()
        for i in range(count):
            os.link(source, folder / f"long{i}.mp4")
        runs[count] = _run(tmp_path, folder, f"out{count}")

    config, summary, driver_growth, peaks = runs[8]
    assert (summary.answers, summary.failures) == (8, 0)
    assert summary.video_hours == pytest.approx(16.0)
    t = tables(config.output)
    assert items(t["answers"]) == [(f"long{i}.mp4", "red") for i in range(8)]
    coarse = t["windows"][t["windows"]["step"] == "coarse"]
    assert len(coarse) == 8 * 12 and set(coarse["num_frames"]) == {300}
    assert set(zip(coarse["height"], coarse["width"], strict=True)) == {(84, 168)}

    before = runs[4][3]
    report = {k: (f"{before[k] / MB:.0f} MB", f"{peaks[k] / MB:.0f} MB") for k in ("decode", "model")}
    # The driver never holds frames: only unit descriptions and summary rows pass through it.
    assert max(runs[4][2], driver_growth) < 300 * MB, (runs[4][2], driver_growth)
    for stage in ("decode", "model"):
        # A worker holds one video at a time: a few copies of its clips (decoded, serialised) over a
        # ~0.3 GB interpreter. The 8 videos' clips together are 1.2 GB.
        assert peaks[stage] < 600 * MB + 4 * CLIP_BYTES, (stage, report)
        # and twice the videos cost no more than allocator noise: nothing piles up per video.
        assert peaks[stage] < before[stage] + CLIP_BYTES, (stage, report)
