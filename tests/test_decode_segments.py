"""Windows read as parallel segments (one single-thread reader each) return what one reader returns.

Every comparison is against one reader with one thread (``threading="frame"``, ``num_threads=1``):
same frames byte for byte, same pts, same warnings and stale targets; and every case checks that
the window really was cut (the readers' ``read_targets`` calls are counted, the work is real).
"""

from __future__ import annotations

import fsspec
import numpy as np
import pytest

from tests.media import media_path
from tests.test_decode import assert_exact, plan_of, window
from videoqa.synthetic import read_frame_index
from videoqa.video import _pyav
from videoqa.video._pyav import decode_pyav
from videoqa.video._segments import MIN_SEGMENT_TARGETS, split_targets
from videoqa.video._types import SamplingPlan


def _decode(path: str, plan: SamplingPlan, **kwargs) -> list:
    return list(decode_pyav(path, plan, storage_options=None, **kwargs))


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[range]:
    """Record the target ranges every reader is asked for (the real method still runs)."""
    calls: list[range] = []
    real = _pyav._Reader.read_targets

    def spy(self, window, ks, frames, pts):
        calls.append(ks)
        return real(self, window, ks, frames, pts)

    monkeypatch.setattr(_pyav._Reader, "read_targets", spy)
    return calls


def test_split_targets_cuts_only_between_targets_with_a_keyframe_between() -> None:
    targets = [0.5 * k for k in range(40)]  # 0 .. 19.5 s
    keyframes = [0.0, 4.0, 8.2, 12.0, 16.0]
    # Two segments: the cut nearest the middle (k = 20, t = 10 s) where a keyframe lies in
    # (t[k-1], t[k]]: 8.2 s lies in (8.0, 8.5] -> k = 17; 12.0 lies in (11.5, 12.0] -> k = 24.
    assert split_targets(targets, keyframes, 2) == [range(0, 17), range(17, 40)]
    # Three: 24 is nearest 26.7 but would leave 7 < MIN_SEGMENT_TARGETS targets after 17.
    assert split_targets(targets, keyframes, 3) == [range(0, 17), range(17, 32), range(32, 40)]
    # Never more segments than MIN_SEGMENT_TARGETS allows, never a cut without a keyframe between.
    assert split_targets(targets, keyframes, 16) == [range(0, 8), range(8, 17), range(17, 32), range(32, 40)]
    assert split_targets(targets[: 2 * MIN_SEGMENT_TARGETS - 1], keyframes, 2) == [range(15)]
    assert split_targets(targets, [0.0], 2) == [range(40)]  # keyframes unknown
    assert split_targets(targets, [0.0, 30.0], 2) == [range(40)]  # one GOP holds every target
    assert split_targets(targets[::-1], keyframes, 2) == [range(40)]  # unsorted: one reader
    assert split_targets(targets, keyframes, 1) == [range(40)]


CASES = {
    # key: targets (seconds), dense and sparse, before the first frame and past the end
    "h264_mp4": [-0.2, *np.arange(0.0, 10.6, 0.13)],
    "hevc_mkv": list(np.arange(0.05, 6.0, 0.11)),
    "vp9_webm": list(np.arange(0.0, 6.0, 0.2)),
    "bframes_long_gop_mp4": list(np.arange(0.0, 30.0, 0.61)),  # keyframes 10 s apart, 3 B-frames
    "vfr_mp4": list(np.arange(0.0, 10.0, 0.07)),
    "start_mkv": list(np.arange(0.0, 6.5, 0.1)),  # first frame at 2.5 s
    "long_lowres_mp4": list(np.arange(0.0, 7200.0, 37.5)),  # 2 h, sparse: one target per 37.5 s
}


@pytest.mark.parametrize("key", list(CASES))
@pytest.mark.parametrize("num_threads", [2, 3])
def test_segments_return_what_one_reader_returns(
    key: str, num_threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = media_path(key)
    plan = plan_of(window([float(t) for t in CASES[key]]))
    (one,) = _decode(str(path), plan, num_threads=1, threading="frame")
    calls = _count_reads(monkeypatch)
    (parts,) = _decode(str(path), plan, num_threads=num_threads, threading="segment")
    assert 1 < len(calls) <= num_threads  # the window was cut
    assert sorted(k for ks in calls for k in ks) == list(range(plan.windows[0].num_frames))
    np.testing.assert_array_equal(parts.frames, one.frames)
    np.testing.assert_array_equal(parts.pts_seconds, one.pts_seconds)
    assert (parts.warnings, parts.stale_targets) == (one.warnings, one.stale_targets)
    if key != "h264_mp4":  # its last targets lie past the end (checked against one reader above)
        assert_exact(parts, path)


def test_damage_and_the_end_of_the_stream_across_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    path = media_path("corrupt_middle")  # packets in [2.0, 3.0) are random bytes; 6 s of frames
    targets = [float(t) for t in np.arange(0.0, 8.0, 0.25)]
    (one,) = _decode(str(path), plan_of(window(targets)), num_threads=1, threading="frame")
    calls = _count_reads(monkeypatch)
    (parts,) = _decode(str(path), plan_of(window(targets)), num_threads=2, threading="segment")
    assert len(calls) == 2
    np.testing.assert_array_equal(parts.frames, one.frames)
    np.testing.assert_array_equal(parts.pts_seconds, one.pts_seconds)
    assert parts.stale_targets == one.stale_targets == (8, 9, 10, 11, *range(25, 32))
    assert parts.warnings == one.warnings
    assert "before 7 target(s) from 6.250 s" in parts.warnings[-1]  # one warning, whatever reader saw it


def test_windows_in_any_order_reuse_the_segment_readers(monkeypatch: pytest.MonkeyPatch) -> None:
    path = media_path("h264_mp4")
    windows = (
        window(list(np.arange(5.0, 9.9, 0.2)), index=0),
        window(list(np.arange(0.0, 4.9, 0.2)), index=1),  # goes back
        window([3.0, 3.5], index=2),  # too few targets to cut: the first reader alone
        window(list(np.arange(1.0, 9.5, 0.3)), index=3),
    )
    calls = _count_reads(monkeypatch)
    clips = _decode(str(path), plan_of(*windows), num_threads=2, threading="segment")
    assert [c.index for c in clips] == [0, 1, 2, 3]
    assert [len(ks) for ks in calls][4] == 2 and len(calls) == 7
    for clip in clips:
        assert_exact(clip, path)


def test_auto_threading_takes_segments_when_keyframes_are_indexed(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_reads(monkeypatch)
    targets = list(np.arange(0.0, 6.0, 0.2))
    for key in ("h264_mp4", "hevc_mkv"):  # mp4 index, Matroska cues (read at the first seek)
        calls.clear()
        (clip,) = _decode(str(media_path(key)), plan_of(window(targets)), num_threads=2)
        assert len(calls) == 2, key
        assert_exact(clip, media_path(key))
    calls.clear()
    _decode(str(media_path("h264_mp4")), plan_of(window(targets)), num_threads=2, threading="frame")
    assert len(calls) == 1


def test_segment_readers_of_a_url_open_their_own_handles() -> None:
    path = media_path("vp9_webm")
    fs = fsspec.filesystem("memory")
    fs.pipe("/segments-test/v.webm", path.read_bytes())
    plan = plan_of(window(list(np.arange(0.0, 6.0, 0.15))))
    try:
        (remote,) = _decode("memory://segments-test/v.webm", plan, num_threads=2, threading="segment")
    finally:
        fs.rm("/segments-test/v.webm")
    (local,) = _decode(str(path), plan, num_threads=1, threading="frame")
    np.testing.assert_array_equal(remote.frames, local.frames)
    assert [read_frame_index(f) for f in remote.frames] == [read_frame_index(f) for f in local.frames]


def test_threading_is_validated() -> None:
    with pytest.raises(
        ValueError, match=r"Invalid threading \('slice'\)\. Supported values are auto, frame, segment"
    ):
        _decode(str(media_path("h264_mp4")), plan_of(window([0.0, 1.0])), num_threads=2, threading="slice")
