"""decode(backend="decord"): the same contract as pyav, in a subprocess that is killed when it hangs."""

from __future__ import annotations

import time

import numpy as np
import pytest

import videoqa
from tests.media import media_path
from tests.test_decode import assert_exact, plan_of, window
from videoqa import errors
from videoqa.synthetic import read_frame_index
from videoqa.video import _decord

pytest.importorskip("decord")


@pytest.mark.parametrize("key", ["hevc_mkv", "vfr_mp4", "bframes_long_gop_mp4"])
def test_same_frames_and_true_pts_as_pyav(key: str) -> None:
    path = media_path(key)
    info = videoqa.probe(path)
    targets = sorted([info.start_seconds - 0.2, *np.arange(0.05, info.end_seconds - 0.05, 0.29)])
    plan = plan_of(window(targets, height=28, width=56), window(targets[:4], height=56, width=112, index=1))
    clips = list(videoqa.decode(path, plan, backend="decord", num_threads=1))
    reference = list(videoqa.decode(path, plan, backend="pyav"))
    assert [c.index for c in clips] == [0, 1]
    for clip, ref in zip(clips, reference, strict=True):
        assert_exact(clip, path)
        np.testing.assert_array_equal(clip.pts_seconds, ref.pts_seconds)
        assert clip.warnings == []


def test_rotation_is_applied() -> None:
    for rotation in (90, 180, 270):
        path = media_path(f"rot{rotation}_mp4")
        (clip,) = videoqa.decode(path, plan_of(window([0.0, 1.05], height=90, width=160)), backend="decord")
        assert clip.frames.shape == (2, 90, 160, 3)
        assert_exact(clip, path)


def test_a_header_that_lies_gets_the_last_frame_and_a_warning_not_a_hang() -> None:
    path = media_path("lying_duration_mkv")  # 6.0 s of frames, header says 100 s
    plan = plan_of(window([5.0, 5.95, 20.0, 99.0]))
    (clip,) = videoqa.decode(path, plan, backend="decord", timeout_seconds=60)
    assert [read_frame_index(f) for f in clip.frames] == [50, 59, 59, 59]
    assert clip.pts_seconds.tolist() == pytest.approx([5.0, 5.9, 5.9, 5.9])
    assert len(clip.warnings) == 1 and "ends at 6.000 s, before 2 target(s)" in clip.warnings[0]


def test_broken_files_get_the_same_typed_errors() -> None:
    for key, error in [
        ("truncated_no_moov", errors.TruncatedVideoError),
        ("audio_only", errors.NoVideoStreamError),
    ]:
        path = media_path(key)
        with pytest.raises(error, match=path.name):
            next(videoqa.decode(path, plan_of(window([0.0, 0.5])), backend="decord"))


def test_decord_cannot_decode_av1_and_says_so() -> None:
    # decord 0.6 bundles an FFmpeg without an AV1 decoder: a DecodeError, never a silent fallback.
    path = media_path("av1_mkv")
    with pytest.raises(errors.DecodeError, match="decord failed"):
        next(videoqa.decode(path, plan_of(window([0.0, 0.5])), backend="decord"))


def test_a_hung_worker_is_killed_after_the_timeout() -> None:
    worker = _decord._Worker(str(media_path("h264_mp4")), "h264.mp4", 1, timeout_seconds=0.5)
    started = time.monotonic()
    with pytest.raises(errors.DecodeTimeoutError, match=r"did not answer within 0\.5 s") as caught:
        worker.request(("sleep", 60.0))
    assert time.monotonic() - started < 10
    assert worker.process.poll() is not None  # the process is gone
    assert caught.value.transient is True


def test_missing_extra_is_reported_with_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_decord, "_decord_available", lambda: False)
    with pytest.raises(errors.MissingExtraError, match=r"pip install 'videoqa\[decord\]'"):
        videoqa.decode(media_path("h264_mp4"), plan_of(window([0.0])), backend="decord")
