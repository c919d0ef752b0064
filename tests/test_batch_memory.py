"""Memory stays bounded when the bucket holds several hour-long videos (slow: ~1-2 min on 2 cores).

Four 2-hour low-resolution videos go through the job with an object store (300 MB) smaller than
their decoded first-pass clips together (4 x 152 MB). The peak RSS of the driver and of every Ray
worker is sampled while the job runs: each must stay within one video's working set, which is
what streaming with back-pressure promises; nothing may scale with the number of videos.
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

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.ray, pytest.mark.slow]

MB = 1024**2
# First-pass (coarse) clips of one 2 h video at min_pixels=16*28*28: 12 windows x 300 frames of
# 84 x 168 x 3 bytes = 152.4 MB (see the plan asserted below).
CLIP_BYTES = 12 * 300 * 84 * 168 * 3


class PeakRss:
    """Samples the RSS of this process and of every ``ray::`` worker until stopped."""

    def __init__(self, interval_seconds: float = 0.2):
        self.interval_seconds = interval_seconds
        self.driver_peak = 0
        self.worker_peaks: dict[int, tuple[str, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        me = psutil.Process(os.getpid())
        while not self._stop.is_set():
            self.driver_peak = max(self.driver_peak, me.memory_info().rss)
            for proc in psutil.process_iter(["cmdline", "memory_info"]):
                cmd = " ".join(proc.info["cmdline"] or [])
                if cmd.startswith("ray::") and proc.info["memory_info"] is not None:
                    title, rss = cmd.split(" ")[0], proc.info["memory_info"].rss
                    if rss > self.worker_peaks.get(proc.pid, ("", 0))[1]:
                        self.worker_peaks[proc.pid] = (title, rss)
            time.sleep(self.interval_seconds)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture(scope="module")
def ray_local():
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=300 * MB)
    yield
    ray.shutdown()


def test_peak_memory_is_bounded_with_hour_long_videos(ray_local, tmp_path):
    source = media_path("long_lowres_mp4")  # 7200 s, 1 fps, 64 x 36 H.264
    videos = tmp_path / "videos"
    videos.mkdir()
    for i in range(4):
        os.link(source, videos / f"long{i}.mp4")
    write_questions(
        tmp_path / "q.jsonl", [{"question_id": "red", "question": "a red square", "task": "grounding"}]
    )
    config = JobConfig(
        videos=str(videos), questions=str(tmp_path / "q.jsonl"), output=str(tmp_path / "out"),
        model="builtin:scripted", decode_workers=2, sampling={"sampling_min_pixels": 16 * 28 * 28},
    )  # fmt: skip
    driver_before = psutil.Process(os.getpid()).memory_info().rss
    with PeakRss() as peaks:
        summary = run_job(config)
    assert (summary.answers, summary.failures) == (4, 0)
    assert summary.video_hours == pytest.approx(8.0)
    t = tables(config.output)
    assert items(t["answers"]) == [(f"long{i}.mp4", "red") for i in range(4)]
    coarse = t["windows"][t["windows"]["step"] == "coarse"]
    assert len(coarse) == 4 * 12 and set(coarse["num_frames"]) == {300}
    assert set(zip(coarse["height"], coarse["width"], strict=True)) == {(84, 168)}

    # The driver never holds frames: only unit descriptions and summary rows pass through it.
    assert peaks.driver_peak - driver_before < 300 * MB, peaks.driver_peak
    by_title: dict[str, int] = {}
    for title, rss in peaks.worker_peaks.values():
        by_title[title] = max(by_title.get(title, 0), rss)
    report = {k: f"{v / MB:.0f} MB" for k, v in by_title.items()}
    # A worker holds at most one video at a time: its decoded clips plus one pickled copy, over a
    # ~0.5 GB interpreter (torch-free for the scripted model). Four videos at once would be > 1.2 GB more.
    for title, rss in by_title.items():
        assert rss < 600 * MB + 3 * CLIP_BYTES, (title, report)
    assert any("decode_clips" in t for t in by_title) and any("ModelStage" in t for t in by_title), report
