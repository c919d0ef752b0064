"""decode(): each returned frame IS the source frame on screen at its target, with its true pts.

Frames are self-describing (videoqa.synthetic draws each frame's index), so every check reads the
index back from the decoded, resized frame and compares it with the ground truth computed from
the file's own packet timestamps.
"""

from __future__ import annotations

import bisect
import functools
import inspect
import tracemalloc
from collections.abc import Sequence
from pathlib import Path

import av
import fsspec
import numpy as np
import pytest

import videoqa
from tests.media import CORRUPT_SECONDS, MEDIA, media_path
from videoqa import errors
from videoqa.synthetic import read_frame_index
from videoqa.video._container import open_container, video_stream
from videoqa.video._pyav import _Reader, decode_pyav
from videoqa.video._source import open_source
from videoqa.video._types import Clip, SamplingPlan, Window


@functools.cache
def true_pts(path: Path) -> tuple[float, ...]:
    """The pts (seconds) of every frame of the file, in presentation order: the ground truth."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return tuple(sorted(float(p.pts * stream.time_base) for p in container.demux(stream) if p.size))


def on_screen(frame_pts: Sequence[float], t: float) -> int:
    """Index of the frame shown at t: the last with pts <= t, else the first."""
    return max(bisect.bisect_right(frame_pts, t + 1e-9) - 1, 0)


def window(targets: Sequence[float], *, height: int = 56, width: int = 112, index: int = 0) -> Window:
    step = targets[1] - targets[0] if len(targets) > 1 else 1.0
    return Window(
        index=index,
        start_seconds=targets[0],
        end_seconds=targets[-1] + step,
        pts_seconds=tuple(targets),
        height=height,
        width=width,
        sampled_fps=1 / step,
    )


def plan_of(*windows: Window, source: str = "test") -> SamplingPlan:
    return SamplingPlan(
        source=source, windows=windows, target_fps=2.0, min_pixels=0, max_pixels=0, total_pixels=0.0
    )


def assert_exact(clip: Clip, path: Path) -> None:
    """Every frame is the source frame on screen at its target, and carries that frame's true pts."""
    frame_pts = true_pts(path)
    assert clip.frames.shape == (clip.window.num_frames, clip.window.height, clip.window.width, 3)
    for k, t in enumerate(clip.window.pts_seconds):
        expected = on_screen(frame_pts, t)
        assert read_frame_index(clip.frames[k]) == expected, f"target {t}"
        assert clip.pts_seconds[k] == frame_pts[expected], f"target {t}"


ALL_GOOD = ["h264_mp4", "hevc_mkv", "vp9_webm", "av1_mkv", "av1_mp4", "start_mp4", "start_mkv", "wide_mp4"]


@pytest.mark.parametrize("key", ALL_GOOD)
def test_frames_are_the_ones_on_screen(key: str) -> None:
    path = media_path(key)
    info = videoqa.probe(path)
    # Targets off the frame grid, on it, and before the first frame.
    targets = [info.start_seconds - 0.3, info.start_seconds, *np.arange(0.05, info.end_seconds - 0.1, 0.37)]
    targets = sorted(targets)
    (clip,) = videoqa.decode(path, plan_of(window(targets, height=28, width=56)))
    assert_exact(clip, path)
    assert clip.warnings == []
    assert clip.stale_targets == ()


def test_default_plan_end_to_end_sizes_and_count() -> None:
    path = media_path("h264_mp4")
    info = videoqa.probe(path)
    plan = videoqa.plan_sampling(info)
    clips = list(videoqa.decode(path, plan))
    assert len(clips) == len(plan.windows) == 1
    (clip,) = clips
    w = plan.windows[0]
    assert clip.frames.shape == (w.num_frames, w.height, w.width, 3) == (20, 252, 448, 3)
    assert clip.frames.dtype == np.uint8 and clip.pts_seconds.dtype == np.float64
    assert_exact(clip, path)


def test_variable_frame_rate_dense_targets() -> None:
    for key in ("vfr_mkv", "vfr_mp4"):
        path = media_path(key)
        targets = list(np.arange(0.0, 10.0, 0.03))  # denser than the shortest frame (40 ms)
        (clip,) = videoqa.decode(path, plan_of(window(targets)))
        assert_exact(clip, path)
        # Every source frame was seen: VFR handled by time, not by an average frame rate.
        assert sorted({read_frame_index(f) for f in clip.frames}) == list(range(80))
        # Sparse targets through the seek path land on the same frames.
        sparse = [0.1, 2.35, 4.99, 5.0, 7.77, 9.9]
        seeking, seeks = _read_with_policy(path, sparse, "always")
        assert_exact(seeking, path)
        assert seeks >= 3


def test_non_zero_start_reports_true_pts() -> None:
    path = media_path("start_mp4")
    (clip,) = videoqa.decode(path, plan_of(window([0.0, 1.0, 2.5, 2.54, 2.6, 6.45])))
    assert clip.pts_seconds.tolist() == pytest.approx([2.5, 2.5, 2.5, 2.5, 2.6, 6.4], abs=1e-9)
    assert [read_frame_index(f) for f in clip.frames] == [0, 0, 0, 0, 1, 39]


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_is_applied(rotation: int) -> None:
    path = media_path(f"rot{rotation}_mp4")
    info = videoqa.probe(path)
    shown_w, shown_h = MEDIA[f"rot{rotation}_mp4"].display_size  # 160 x 90: landscape as shown
    assert (info.display_width, info.display_height) == (shown_w, shown_h)
    (clip,) = videoqa.decode(path, plan_of(window([0.0, 0.55, 1.95], height=90, width=160)))
    assert clip.frames.shape == (3, 90, 160, 3)
    assert_exact(clip, path)  # the index grid reads back only when the picture is upright
    for frame in clip.frames.astype(np.float32):
        band = frame[-20:, 10:-10]  # the bottom event band is plain grey when upright
        code = frame[:40]  # the code grid (black and white cells) is at the top when upright
        assert band.std() < 6 and abs(band.mean() - 110) < 8
        assert np.abs(code - 110).mean() > 80  # black (16) or white (235), never grey


def _read_with_policy(path: Path, targets: list[float], policy: str) -> tuple[Clip, int]:
    with open_source(path) as src:
        container = open_container(src)
        try:
            reader = _Reader(container, video_stream(container, src.name), src.name, 2, policy)
            try:
                return reader.read_window(window(targets)), reader.num_seeks
            finally:
                reader.close()
        finally:
            container.close()


def test_long_gop_b_frames_seek_and_straight_paths_agree() -> None:
    path = media_path("bframes_long_gop_mp4")  # 25 fps, keyframes every 10 s, 3 B-frames
    sparse = [0.5, 9.98, 10.0, 10.02, 21.3, 29.99]
    dense = list(np.arange(9.0, 11.5, 0.1))  # across the keyframe at 10 s
    for targets in (sparse, dense):
        results = {p: _read_with_policy(path, targets, p) for p in ("auto", "never", "always")}
        for clip, _ in results.values():
            assert_exact(clip, path)
        straight = results["never"][0]
        for policy in ("auto", "always"):
            np.testing.assert_array_equal(results[policy][0].frames, straight.frames)
            np.testing.assert_array_equal(results[policy][0].pts_seconds, straight.pts_seconds)
    # Seeks only when a keyframe lies between what is decoded and the target: 21.3 -> keyframe at 20 s.
    assert _read_with_policy(path, sparse, "auto")[1] == 1
    assert _read_with_policy(path, [0.5, 12.0, 25.0], "auto")[1] == 2  # keyframes at 10 s and 20 s
    assert _read_with_policy(path, sparse, "never")[1] == 0
    assert _read_with_policy(path, dense, "auto")[1] == 0  # dense: decoding straight through is cheaper


def test_windows_share_one_container_and_may_go_backwards() -> None:
    path = media_path("h264_mp4")
    windows = (
        window([1.0, 1.5, 2.0, 2.5], index=0),
        window([8.0, 8.5, 9.0, 9.95], index=1),
        window([0.0, 0.1, 3.33, 4.0], index=2),  # goes back: needs a backward seek
    )
    clips = list(videoqa.decode(path, plan_of(*windows)))
    assert [c.index for c in clips] == [0, 1, 2]
    for clip in clips:
        assert_exact(clip, path)


def test_targets_past_the_end_repeat_the_last_frame_with_a_warning() -> None:
    path = media_path("h264_mp4")
    (clip,) = videoqa.decode(path, plan_of(window([9.5, 9.95, 10.5, 12.0])))
    assert [read_frame_index(f) for f in clip.frames] == [95, 99, 99, 99]
    assert clip.pts_seconds[-1] == pytest.approx(9.9)
    assert len(clip.warnings) == 1
    assert "ends at 10.000 s, before 2 target(s) from 10.500 s" in clip.warnings[0]
    assert clip.stale_targets == (2, 3)


def test_a_header_that_lies_about_the_duration() -> None:
    path = media_path("lying_duration_mkv")  # 6.0 s of frames, header says 100 s
    info = videoqa.probe(path)
    assert info.duration_seconds == pytest.approx(6.0)  # measured from the packets, not the header
    (clip,) = videoqa.decode(path, plan_of(window([5.0, 5.95, 20.0, 99.0])))  # as if trusting it
    assert [read_frame_index(f) for f in clip.frames] == [50, 59, 59, 59]
    assert len(clip.warnings) == 1 and "ends at 6.000 s, before 2 target(s)" in clip.warnings[0]


def test_corrupt_packets_are_skipped_with_a_warning_and_later_frames_return() -> None:
    path = media_path("corrupt_middle")  # packets in [2.0, 3.0) overwritten with random bytes
    targets = list(np.arange(0.0, 6.0, 0.25))
    (clip,) = videoqa.decode(path, plan_of(window(targets)))
    assert clip.warnings and all("corrupt packet" in w for w in clip.warnings[:-1])
    lo, hi = CORRUPT_SECONDS
    for t, frame, pts in zip(targets, clip.frames, clip.pts_seconds, strict=True):
        index = read_frame_index(frame)
        if t < lo or t >= hi:
            assert index == int(np.floor(t * 10 + 1e-9)) and pts == pytest.approx(index / 10)
        else:  # the damaged second shows the last good frame, with its true pts
            assert (index, pts) == (19, pytest.approx(1.9))
    # ... and the clip says which targets show it: 2.0, 2.25, 2.5 and 2.75 s.
    assert clip.stale_targets == (8, 9, 10, 11)
    assert "4 target(s) from 2.000 s to 2.750 s show an older frame (pts 1.900 s" in clip.warnings[-1]
    # Seeking into the damage finds the same frames (it backs off to the keyframe before it).
    for policy in ("always", "never"):
        other, _ = _read_with_policy(path, targets, policy)
        np.testing.assert_array_equal(other.pts_seconds, clip.pts_seconds)
        assert [read_frame_index(f) for f in other.frames] == [read_frame_index(f) for f in clip.frames]
        assert other.warnings
        assert other.stale_targets == clip.stale_targets


def test_three_frames_over_eleven_days_plan_and_decode_three_frames() -> None:
    """Frames at 0 s, 1 s and 1,000,000 s in a 2 kB mkv: work follows the frames, not the seconds."""
    path = media_path("sparse_gap_mkv")
    info = videoqa.probe(path)
    assert (info.num_frames, info.num_frames_source) == (3, "counted")
    assert info.duration_seconds == pytest.approx(1_000_001.0)
    for window_seconds in (None, 600.0):  # 600 s windows once made 1,667 windows, 500,000 frames
        plan = videoqa.plan_sampling(info, fps=0.5, window_seconds=window_seconds)
        assert (len(plan.windows), plan.num_frames) == (1, 2)
    (clip,) = videoqa.decode(path, plan)
    assert clip.window.pts_seconds == (0.0, pytest.approx(500_000.5))
    assert clip.pts_seconds.tolist() == [0.0, 1.0]  # the frame the stream holds on screen
    assert [read_frame_index(f) for f in clip.frames] == [0, 1]
    assert (clip.warnings, clip.stale_targets) == ([], ())  # a held frame is not a lost one


def test_one_frame_video() -> None:
    path = media_path("one_frame_mp4")
    plan = videoqa.plan_sampling(videoqa.probe(path))
    (clip,) = videoqa.decode(path, plan)
    assert [read_frame_index(f) for f in clip.frames] == [0] * plan.num_frames
    assert clip.pts_seconds.tolist() == [0.0] * plan.num_frames


@pytest.mark.parametrize(
    ("key", "error"),
    [
        ("empty", errors.EmptyVideoError),
        ("text", errors.NotAVideoError),
        ("truncated_no_moov", errors.TruncatedVideoError),
        ("truncated_mkv", errors.TruncatedVideoError),
        ("audio_only", errors.NoVideoStreamError),
        ("audio_cover_art", errors.NoVideoStreamError),
    ],
)
def test_broken_files_raise_typed_errors_on_decode(key: str, error: type[Exception]) -> None:
    path = media_path(key)
    with pytest.raises(error, match=path.name):
        next(iter(videoqa.decode(path, plan_of(window([0.0, 0.5])))))


def test_arguments_are_validated_eagerly() -> None:
    path = media_path("h264_mp4")
    plan = plan_of(window([0.0, 0.5]))
    with pytest.raises(ValueError, match=r"Invalid backend \('opencv'\)\. Supported values are pyav, decord"):
        videoqa.decode(path, plan, backend="opencv")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_threads must be a positive int"):
        videoqa.decode(path, plan, num_threads=0)
    with pytest.raises(TypeError, match="plan must be a SamplingPlan"):
        videoqa.decode(path, [0.0, 0.5])  # type: ignore[arg-type]
    for timeout in (0, float("nan"), "5"):
        with pytest.raises(ValueError, match=f"timeout_seconds must be a finite number > 0, got {timeout!r}"):
            videoqa.decode(path, plan, backend="decord", timeout_seconds=timeout)  # type: ignore[arg-type]
    with pytest.raises(errors.VideoNotFoundError):
        next(videoqa.decode("/nope/missing.mp4", plan))


def test_fsspec_url_decodes_like_a_local_path() -> None:
    path = media_path("vp9_webm")
    fs = fsspec.filesystem("memory")
    fs.pipe("/decode-test/v.webm", path.read_bytes())
    plan = plan_of(window([0.0, 1.23, 4.56]))
    try:
        (remote,) = videoqa.decode("memory://decode-test/v.webm", plan)
    finally:
        fs.rm("/decode-test/v.webm")
    (local,) = videoqa.decode(path, plan)
    np.testing.assert_array_equal(remote.frames, local.frames)
    np.testing.assert_array_equal(remote.pts_seconds, local.pts_seconds)


def test_two_hour_video_streams_with_memory_bounded_by_one_window() -> None:
    path = media_path("long_lowres_mp4")  # 7200 frames, 64x36, 1 fps
    windows = tuple(
        window([w * 600.0 + k * 5.0 for k in range(64)], index=w, height=56, width=112) for w in range(12)
    )
    stream = videoqa.decode(path, plan_of(*windows))
    assert inspect.isgenerator(stream)
    one_window_bytes = 64 * 56 * 112 * 3
    tracemalloc.start()
    try:
        for clip in stream:
            assert read_frame_index(clip.frames[-1]) == round(clip.window.pts_seconds[-1])
            del clip
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * one_window_bytes


def test_generator_closes_the_container_when_dropped() -> None:
    stream = decode_pyav(
        media_path("h264_mp4"),
        plan_of(window([0.0]), window([1.0], index=1)),
        num_threads=1,
        storage_options=None,
    )
    first = next(stream)
    assert first.index == 0
    stream.close()  # runs the finally: the container is closed, nothing leaks
    assert inspect.getgeneratorstate(stream) == inspect.GEN_CLOSED
