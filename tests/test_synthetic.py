"""videoqa.synthetic: frames say which frame they are, after lossy coding and heavy resizing."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from tests.media import media_path
from videoqa.synthetic import (
    PALETTE,
    Event,
    draw_frame,
    has_square,
    read_frame_index,
    visible_colors,
    write_video,
)


@pytest.mark.parametrize("key", ["h264_mp4", "hevc_mkv", "vp9_webm", "av1_mkv", "wide_mp4"])
def test_every_frame_reads_back_at_many_sizes(key: str) -> None:
    with av.open(str(media_path(key))) as container:
        for n, frame in enumerate(container.decode(video=0)):
            for width, height in [(frame.width, frame.height), (56, 28), (32, 18), (448, 252)]:
                rgb = frame.to_ndarray(format="rgb24", width=width, height=height)
                assert read_frame_index(rgb) == n, (key, n, width, height)


def test_events_are_visible_exactly_while_active() -> None:
    with av.open(str(media_path("h264_mp4"))) as container:  # red square from 3.0 s to 4.5 s
        for frame in container.decode(video=0):
            t = float(frame.pts * frame.time_base)
            for width, height in [(160, 90), (448, 252), (84, 56)]:
                rgb = frame.to_ndarray(format="rgb24", width=width, height=height)
                assert has_square(rgb, "red") == (3.0 <= t < 4.5), (t, width)
                assert visible_colors(rgb) == ({"red"} if 3.0 <= t < 4.5 else set())


def test_simultaneous_events_of_every_colour(tmp_path: Path) -> None:
    events = [Event(0.0, 1.0, color) for color in PALETTE]
    path = write_video(tmp_path / "all.webm", duration_seconds=0.5, fps=4, codec="vp9", events=events)
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            assert visible_colors(frame.to_ndarray(format="rgb24", width=448, height=252)) == set(PALETTE)


def test_draw_frame_matches_the_encoded_layout() -> None:
    image = draw_frame(123456, width=160, height=90, t_seconds=5.0, events=[Event(4.0, 6.0, "green")])
    assert image.shape == (90, 160, 3)
    assert read_frame_index(image) == 123456
    assert visible_colors(image) == {"green"}
    # Upside down, the checksum rejects the read instead of returning a wrong index.
    assert read_frame_index(image[::-1, ::-1], strict=False) is None
    with pytest.raises(ValueError, match="checksum"):
        read_frame_index(image[::-1, ::-1])


def test_two_hour_low_resolution_video_is_quick(tmp_path: Path) -> None:
    path = write_video(tmp_path / "long.mp4", duration_seconds=7200, fps=1, width=64, height=36)
    with av.open(str(path)) as container:
        assert container.streams.video[0].frames == 7200


def test_arguments_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"cannot infer the container from 'x\.avi'"):
        write_video(tmp_path / "x.avi", duration_seconds=1, fps=1)
    with pytest.raises(ValueError, match="webm holds only vp9 or av1"):
        write_video(tmp_path / "x.webm", duration_seconds=1, fps=1, codec="h264")
    with pytest.raises(ValueError, match="rotation is written into the mp4 track header"):
        write_video(tmp_path / "x.mkv", duration_seconds=1, fps=1, rotation=90)
    with pytest.raises(ValueError, match="codec 'mpeg2' is not supported"):
        write_video(tmp_path / "x.mp4", duration_seconds=1, fps=1, codec="mpeg2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not one of red"):
        Event(0, 1, "purple")
    with pytest.raises(ValueError, match="must end after it starts"):
        Event(2, 1)
    assert np.array_equal(draw_frame(0, width=64, height=36), draw_frame(0, width=64, height=36))


def test_write_video_once_writes_a_missing_file_and_keeps_an_existing_one(tmp_path):
    from videoqa.synthetic import write_video_once

    path = write_video_once(tmp_path / "new" / "a.mkv", duration_seconds=1.0, fps=4)
    assert [p.name for p in (tmp_path / "new").iterdir()] == ["a.mkv"]  # no temporary left behind
    from videoqa import probe

    info = probe(path)
    assert (info.container, info.num_frames) == ("matroska,webm", 4)
    written = path.stat().st_mtime_ns
    assert write_video_once(path, duration_seconds=9.0, fps=4) == path
    assert path.stat().st_mtime_ns == written
