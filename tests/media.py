"""Test media: real encoded files generated once into ``tests/.media-cache`` (gitignored).

Every file comes from :func:`videoqa.synthetic.write_video`, so each frame carries its index and
tests can check which source frame they got. ``MEDIA`` describes the good files (with their
ground truth); ``BROKEN`` builds damaged ones. Use :func:`media_path` to get a file, built on
first use; the name includes a version so a change of recipe never reuses a stale file.

Regenerate everything with ``python -m tests.media`` (or just delete the folder).
"""

from __future__ import annotations

import os
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from videoqa.synthetic import Event, frame_start_times, write_video

CACHE_DIR = Path(os.environ.get("VIDEOQA_TEST_MEDIA", Path(__file__).parent / ".media-cache"))
VERSION = "v2"

# A variable frame rate: durations cycle through 40, 120, 80 and 260 ms (average 125 ms = 8 fps).
VFR_DURATIONS = tuple([0.04, 0.12, 0.08, 0.26] * 20)


@dataclass(frozen=True)
class Media:
    """A good test video: the arguments it is written with and the facts that follow from them."""

    name: str
    """File name in the cache, suffix included."""
    write_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.write_kwargs["fps"]

    @property
    def frame_times(self) -> list[float]:
        """Nominal pts of every frame, in order (true pts are these rounded to the container's time base)."""
        kw = self.write_kwargs
        return frame_start_times(
            duration_seconds=kw["duration_seconds"],
            fps=kw["fps"],
            start_seconds=kw.get("start_seconds", 0.0),
            frame_durations=kw.get("frame_durations"),
        )

    @property
    def num_frames(self) -> int:
        return len(self.frame_times)

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) as shown."""
        return self.write_kwargs.get("width", 160), self.write_kwargs.get("height", 90)

    @property
    def rotation(self) -> int:
        return self.write_kwargs.get("rotation", 0)


def _m(name: str, **kw: Any) -> Media:
    return Media(name, kw)


MEDIA: dict[str, Media] = {
    m.name.replace(".", "_"): m
    for m in [
        _m("h264.mp4", duration_seconds=10.0, fps=10, codec="h264", events=(Event(3.0, 4.5, "red"),)),
        _m("hevc.mkv", duration_seconds=6.0, fps=10, codec="hevc"),
        _m("vp9.webm", duration_seconds=6.0, fps=10, codec="vp9"),
        _m("av1.mkv", duration_seconds=4.0, fps=10, codec="av1"),
        _m("av1.mp4", duration_seconds=3.0, fps=10, codec="av1"),
        _m("vfr.mkv", duration_seconds=10.0, fps=8, frame_durations=VFR_DURATIONS),
        _m("vfr.mp4", duration_seconds=10.0, fps=8, frame_durations=VFR_DURATIONS),
        _m("start.mp4", duration_seconds=4.0, fps=10, start_seconds=2.5),
        _m("start.mkv", duration_seconds=4.0, fps=10, start_seconds=2.5),
        _m("bframes_long_gop.mp4", duration_seconds=30.0, fps=25, bframes=3, gop_seconds=10.0),
        _m("rot90.mp4", duration_seconds=2.0, fps=10, rotation=90),
        _m("rot180.mp4", duration_seconds=2.0, fps=10, rotation=180),
        _m("rot270.mp4", duration_seconds=2.0, fps=10, rotation=270),
        _m("wide.mp4", duration_seconds=2.0, fps=10, width=720, height=36),
        _m("one_frame.mp4", duration_seconds=0.1, fps=10),
        _m(
            "events.mp4",
            duration_seconds=60.0,
            fps=4,
            events=(Event(37.0, 44.5, "red"), Event(10.0, 12.0, "blue")),
        ),
        _m("long_lowres.mp4", duration_seconds=7200.0, fps=1, width=64, height=36, gop_seconds=10.0),
        # Three frames at 0 s, 1 s and 1,000,000 s (issue 9 item 10: work bounded by the frames).
        _m("sparse_gap.mkv", duration_seconds=1_000_001.0, fps=1, frame_durations=(1.0, 999_999.0, 1.0)),
    ]
}


def media_path(key: str) -> Path:
    """Path of a cached test file (good or broken), building it on first use."""
    if key in MEDIA:
        media = MEDIA[key]
        return _cached(media.name, lambda path: write_video(path, **media.write_kwargs))
    if key in BROKEN:
        name, build = BROKEN[key]
        return _cached(name, build)
    raise KeyError(f"unknown test media {key!r}; known: {', '.join([*MEDIA, *BROKEN])}")


def _cached(name: str, build: Callable[[Path], Any]) -> Path:
    path = CACHE_DIR / f"{VERSION}-{name}"
    if path.exists():
        return path
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    # Build under a temporary name and rename, so parallel runs never see half-written files.
    with tempfile.TemporaryDirectory(dir=CACHE_DIR) as tmp:
        tmp_path = Path(tmp) / path.name
        build(tmp_path)
        os.replace(tmp_path, path)
    return path


# -------------------------------------------------------------------------------------------- broken


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _text(path: Path) -> None:
    path.write_bytes(b"This is a plain text file, not a video.\n" * 200)


def _truncated_mp4_no_moov(path: Path) -> None:
    # Without faststart the moov box comes last: cutting the file in half loses it.
    data = media_path("h264_mp4").read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _truncated_mp4_header(path: Path) -> None:
    path.write_bytes(media_path("h264_mp4").read_bytes()[:200])


def _truncated_mkv(path: Path) -> None:
    data = media_path("hevc_mkv").read_bytes()
    path.write_bytes(data[: int(len(data) * 0.6)])


def _audio_frames(stream: Any, seconds: float) -> list[Any]:
    import av

    rate, n = 44100, 1024
    frames = []
    for i in range(int(seconds * rate / n)):
        t = (np.arange(n) + i * n) / rate
        samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate, frame.pts = rate, i * n
        frames.append(frame)
    return frames


def _audio_only(path: Path, cover_art: bool = False) -> None:
    import av

    with av.open(str(path), "w") as out:
        audio = out.add_stream("aac", rate=44100, layout="mono")
        packets = []
        if cover_art:
            cover = out.add_stream("mjpeg", rate=1)
            cover.width, cover.height, cover.pix_fmt = 64, 64, "yuvj420p"
            cover.disposition = av.stream.Disposition.attached_pic
            picture = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 200, np.uint8), format="rgb24")
            picture.pts = 0
            packets = [*cover.encode(picture), *cover.encode()]
        for frame in _audio_frames(audio, 2.0):
            for packet in audio.encode(frame):
                out.mux(packet)
        for packet in [*audio.encode(), *packets]:
            out.mux(packet)


def _corrupt_middle(path: Path) -> None:
    """An H.264 mp4 whose packets between 2.0 s and 3.0 s are overwritten with random bytes on disk."""
    import av

    source = write_video(path, duration_seconds=6.0, fps=10, gop_seconds=1.0)
    spans = []
    with av.open(str(source)) as container:
        for packet in container.demux(video=0):
            if packet.size and packet.pts is not None and 2.0 <= float(packet.pts * packet.time_base) < 3.0:
                spans.append((packet.pos, packet.size))
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(7)
    for pos, size in spans:
        data[pos : pos + size] = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


def _lying_duration_mkv(path: Path) -> None:
    """The HEVC mkv (6.0 s) with its header's Duration rewritten to 100 s: a header that lies."""
    data = bytearray(media_path("hevc_mkv").read_bytes())
    at = data.find(b"\x44\x89\x88")  # Matroska Duration element, 8-byte float, in ms
    if at < 0:
        raise RuntimeError("no 8-byte Duration element in the mkv header")
    struct.pack_into(">d", data, at + 3, 100_000.0)
    path.write_bytes(bytes(data))


BROKEN: dict[str, tuple[str, Callable[[Path], Any]]] = {
    "empty": ("empty.mp4", _empty),
    "text": ("not_a_video.mp4", _text),
    "truncated_no_moov": ("truncated_no_moov.mp4", _truncated_mp4_no_moov),
    "truncated_header": ("truncated_header.mp4", _truncated_mp4_header),
    "truncated_mkv": ("truncated.mkv", _truncated_mkv),
    "audio_only": ("audio_only.m4a", _audio_only),
    "audio_cover_art": ("audio_cover_art.mp4", lambda p: _audio_only(p, cover_art=True)),
    "corrupt_middle": ("corrupt_middle.mp4", _corrupt_middle),
    "lying_duration_mkv": ("lying_duration.mkv", _lying_duration_mkv),
}
"""Damaged inputs: key -> (file name, builder)."""

# Which frames the corrupt_middle file loses (pts in [2.0, 3.0) are damaged; the next keyframe is 3.0).
CORRUPT_SECONDS = (2.0, 3.0)


def build_all() -> list[Path]:
    """Build every test file (first use does this lazily anyway)."""
    return [media_path(key) for key in [*MEDIA, *BROKEN]]


if __name__ == "__main__":
    for built in build_all():
        print(built, built.stat().st_size)
