"""Media fixtures (owned by the media layer's tests): generated, cached test videos.

Each fixture returns the path of a real encoded file built by ``tests/media.py`` on first use
and cached in ``tests/.media-cache``. ``media_path(key)`` gives any other file by key.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.media import BROKEN, MEDIA, Media, media_path


@pytest.fixture(scope="session")
def media_file() -> Callable[[str], Path]:
    """``media_file("vfr_mkv")`` -> path of that cached test file (see ``tests.media.MEDIA`` / ``BROKEN``)."""
    return media_path


@pytest.fixture(scope="session")
def media_spec() -> Callable[[str], Media]:
    """``media_spec("vfr_mkv")`` -> the :class:`tests.media.Media` ground truth of a good test file."""
    return MEDIA.__getitem__


@pytest.fixture(scope="session")
def h264_mp4() -> Path:
    """10 s, 10 fps, 160x90 H.264 mp4, 2 s GOP, red square 3.0-4.5 s."""
    return media_path("h264_mp4")


@pytest.fixture(scope="session")
def event_video() -> Path:
    """60 s, 4 fps, 160x90 H.264 mp4: red square 37.0-44.5 s, blue square 10.0-12.0 s."""
    return media_path("events_mp4")


@pytest.fixture(scope="session")
def long_video() -> Path:
    """2-hour, 1 fps, 64x36 H.264 mp4 (10 s GOP)."""
    return media_path("long_lowres_mp4")


@pytest.fixture(scope="session", params=sorted(BROKEN))
def broken_video(request: pytest.FixtureRequest) -> tuple[str, Path]:
    """(key, path) of each damaged file in turn."""
    return request.param, media_path(request.param)


@pytest.fixture
def folder(tmp_path):
    """A videos folder of empty files: two containers, nested folders, a suffix in capitals, a non-video."""
    for name in ("a.mp4", "b.MKV", "sub/c.mp4", "sub/deep/d.mp4", "notes.txt"):
        path = tmp_path / "videos" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    return tmp_path / "videos"
