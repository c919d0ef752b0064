"""A video damaged from its middle to its end: the readable part is answered.

The file: 120 frames at 2 fps (60 s, a keyframe every 2 s) whose packets from 30.5 s to the end are
overwritten with random bytes on disk, so PyAV decodes 61 of its 120 frames (0-30 s). Targets in
the readable half get their own frames; later targets get the last good frame (pts 30.0 s), listed
in ``stale_targets``, with a warning naming where the stream stops decoding.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import videoqa
from tests.test_decode import plan_of, window
from videoqa.synthetic import read_frame_index, write_video

GOOD_UNTIL = 30.0  # pts of the last frame that decodes


@pytest.fixture(scope="module")
def damaged_tail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import av

    path = tmp_path_factory.mktemp("damaged") / "damaged_tail.mp4"
    write_video(path, duration_seconds=60.0, fps=2, gop_seconds=2.0)
    with av.open(str(path)) as container:
        spans = [
            (p.pos, p.size)
            for p in container.demux(video=0)
            if p.size and p.pts is not None and float(p.pts * p.time_base) > GOOD_UNTIL
        ]
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(7)
    for pos, size in spans:
        data[pos : pos + size] = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path


def test_pyav_decodes_only_the_first_half(damaged_tail: Path) -> None:
    import av

    decoded = []
    with av.open(str(damaged_tail)) as container, pytest.raises(av.error.InvalidDataError):
        for frame in container.decode(video=0):
            decoded.append(float(frame.pts * frame.time_base))
    assert len(decoded) == 61 and decoded[-1] == GOOD_UNTIL
    info = videoqa.probe(damaged_tail)  # the header still says 120 frames, 60 s
    assert (info.num_frames, info.duration_seconds) == (120, 60.0)


@pytest.mark.parametrize("num_threads", [1, 2])
def test_a_window_over_the_whole_video_gets_the_readable_part(damaged_tail: Path, num_threads: int) -> None:
    targets = [float(t) for t in range(60)]  # one target per second, 0-59 s
    (clip,) = videoqa.decode(damaged_tail, plan_of(window(targets)), num_threads=num_threads)
    good = [t for t in targets if t <= GOOD_UNTIL]
    assert clip.pts_seconds.tolist() == good + [GOOD_UNTIL] * (60 - len(good))
    assert clip.stale_targets == tuple(range(len(good), 60))
    shown = [read_frame_index(frame) for frame in clip.frames]
    assert shown == [round(t * 2) for t in good] + [60] * (60 - len(good))
    assert any("the stream ends at 30.500 s, before 29 target(s) from 31.000 s" in w for w in clip.warnings)


@pytest.mark.parametrize("num_threads", [1, 2])
def test_windows_inside_and_after_the_damage(damaged_tail: Path, num_threads: int) -> None:
    before = window([10.0, 12.5, 15.0, 17.5], index=0)
    after = window([40.0, 45.0, 50.0, 55.0], index=1)
    inside, late = videoqa.decode(damaged_tail, plan_of(before, after), num_threads=num_threads)
    assert inside.pts_seconds.tolist() == [10.0, 12.5, 15.0, 17.5]
    assert inside.stale_targets == () and inside.warnings == []
    assert late.pts_seconds.tolist() == [GOOD_UNTIL] * 4
    assert late.stale_targets == (0, 1, 2, 3)
    assert [read_frame_index(f) for f in late.frames] == [60] * 4


def test_the_session_answers_a_damaged_video(damaged_tail: Path) -> None:
    analysis = videoqa.Session("builtin:scripted", fps=1.0).analyze(damaged_tail, "When does it happen?")
    assert analysis.outcome == "answered"
    (usage,) = analysis.steps[0].windows
    assert (usage.num_frames, usage.stale_targets) == (60, 29)
    assert max(usage.pts_seconds) == GOOD_UNTIL


def test_decord_reads_up_to_the_last_frame_it_can_decode(damaged_tail: Path) -> None:
    pytest.importorskip("decord")
    targets = [float(t) for t in range(60)]
    (clip,) = videoqa.decode(damaged_tail, plan_of(window(targets)), backend="decord")
    last = float(clip.pts_seconds[-1])
    assert (
        28.0 <= last <= GOOD_UNTIL
    )  # decord's frame threads need packets after a frame: it may stop 1-2 early
    good = [t for t in targets if t <= last]
    assert clip.pts_seconds.tolist() == good + [last] * (60 - len(good))
    assert clip.stale_targets == tuple(range(len(good), 60))
    assert [read_frame_index(f) for f in clip.frames] == [round(t * 2) for t in good] + [round(last * 2)] * (
        60 - len(good)
    )
