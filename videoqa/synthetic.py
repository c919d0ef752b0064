"""Real encoded videos whose every frame says which frame it is: for tests, demos and benchmarks.

Each frame is drawn upright as shown to a viewer:

- the top half is a 3 x 8 grid of black/white cells: an 18-bit frame index and a 6-bit checksum,
  big enough to survive lossy coding and downscaling to a few dozen pixels
  (:func:`read_frame_index` reads it back from any resized RGB frame);
- the bottom part is a grey band where each active :class:`Event` draws a coloured square in the
  slot of its colour (:func:`has_square` / :func:`visible_colors` detect them).

:func:`write_video` encodes such frames with PyAV (H.264, HEVC, VP9, AV1 in mp4/mkv/webm), with
constant or variable frame rate, B-frames, a chosen keyframe spacing, a non-zero start time and a
display-matrix rotation (mp4)::

    from videoqa.synthetic import Event, write_video
    write_video("demo.mp4", duration_seconds=120, fps=2, events=[Event(37.0, 44.5, "red")])
"""

from __future__ import annotations

import math
import os
import struct
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import numpy as np

__all__ = [
    "PALETTE",
    "Event",
    "draw_frame",
    "frame_start_times",
    "has_square",
    "planned_info",
    "read_frame_index",
    "visible_colors",
    "write_video",
    "write_video_once",
]

Codec = Literal["h264", "hevc", "vp9", "av1"]
Background = Literal["plain", "moving_noise"]

PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (230, 30, 30),
    "green": (30, 200, 40),
    "blue": (40, 60, 235),
    "yellow": (240, 225, 30),
    "magenta": (225, 40, 220),
    "cyan": (30, 215, 225),
    "orange": (250, 140, 20),
}
"""Event colours; each owns one slot of the event band, so simultaneous events never overlap."""

_CODE_ROWS, _CODE_COLS = 3, 8
_INDEX_BITS, _CHECK_BITS = 18, 6
MAX_FRAMES = 1 << _INDEX_BITS
_CODE_BOTTOM = 0.5  # the code grid covers the top half
_BAND_TOP = 0.56  # the event band covers the rest, below a grey gap
_BLACK, _WHITE, _GREY = 16, 235, 110
_COLOR_TOLERANCE = 70.0

_ENCODERS = {"h264": "libx264", "hevc": "libx265", "vp9": "libvpx-vp9", "av1": "libsvtav1"}
_CONTAINERS = {".mp4": "mp4", ".mkv": "matroska", ".webm": "webm"}
_WEBM_CODECS = ("vp9", "av1")


@dataclass(frozen=True)
class Event:
    """A coloured square shown from ``start_seconds`` (inclusive) to ``end_seconds`` (exclusive)."""

    start_seconds: float
    end_seconds: float
    color: str = "red"

    def __post_init__(self) -> None:
        if self.color not in PALETTE:
            raise ValueError(f"Event color {self.color!r} is not one of {', '.join(PALETTE)}")
        if not self.end_seconds > self.start_seconds:
            raise ValueError(f"Event must end after it starts, got {self.start_seconds}..{self.end_seconds}")

    def is_active(self, t_seconds: float) -> bool:
        return self.start_seconds <= t_seconds < self.end_seconds


# ----------------------------------------------------------------------------------------------- layout


def _code_bits(index: int) -> np.ndarray:
    check = zlib.crc32(index.to_bytes(3, "big")) & ((1 << _CHECK_BITS) - 1)
    word = (index << _CHECK_BITS) | check
    nbits = _INDEX_BITS + _CHECK_BITS
    return np.array([(word >> (nbits - 1 - k)) & 1 for k in range(nbits)], dtype=np.uint8)


def _cell_box(row: int, col: int, height: int, width: int, shrink: float = 0.0) -> tuple[int, int, int, int]:
    """Pixel box (y0, y1, x0, x1) of one code cell; ``shrink`` keeps only its centre."""
    cell_h = height * _CODE_BOTTOM / _CODE_ROWS
    cell_w = width / _CODE_COLS
    y0, x0 = row * cell_h + shrink * cell_h / 2, col * cell_w + shrink * cell_w / 2
    y1, x1 = (row + 1) * cell_h - shrink * cell_h / 2, (col + 1) * cell_w - shrink * cell_w / 2
    return _round_box(y0, y1, x0, x1)


def _square_box(slot: int, height: int, width: int, shrink: float = 0.0) -> tuple[int, int, int, int]:
    """Pixel box of the event square of palette slot ``slot``."""
    band_h = height * (1.0 - _BAND_TOP)
    slot_w = width / len(PALETTE)
    side = min(0.8 * band_h, 0.8 * slot_w) * (1 - shrink)
    cy, cx = height * _BAND_TOP + band_h / 2, (slot + 0.5) * slot_w
    return _round_box(cy - side / 2, cy + side / 2, cx - side / 2, cx + side / 2)


def _round_box(y0: float, y1: float, x0: float, x1: float) -> tuple[int, int, int, int]:
    iy0, ix0 = math.floor(y0 + 0.5), math.floor(x0 + 0.5)
    iy1, ix1 = max(math.floor(y1 + 0.5), iy0 + 1), max(math.floor(x1 + 0.5), ix0 + 1)
    return iy0, iy1, ix0, ix1


def _yuv(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """BT.601 limited-range YUV of an RGB colour (what decoders assume for untagged SD video)."""
    r, g, b = rgb
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    return round(y), round(u), round(v)


def _luma(grey: int) -> int:
    return _yuv((grey, grey, grey))[0]


class _Painter:
    """Draws frames of one size straight into YUV 4:2:0 planes (no colour conversion per frame)."""

    def __init__(self, height: int, width: int, background: Background, seed: int = 0):
        self.height, self.width = height, width
        self.cells = [_cell_box(r, c, height, width) for r in range(_CODE_ROWS) for c in range(_CODE_COLS)]
        self.band_top = round(height * _BAND_TOP)
        self.luma = np.full((height, width), _luma(_GREY), dtype=np.uint8)
        self.chroma = np.full((2, height // 2, width // 2), 128, dtype=np.uint8)
        self.noise = None
        if background == "moving_noise":
            rng = np.random.default_rng(seed)
            levels = np.array([_luma(v) for v in range(256)], dtype=np.uint8)
            self.noise = levels[rng.integers(60, 170, size=(height - self.band_top, 2 * width))]
        self.levels = (_luma(_BLACK), _luma(_WHITE))

    def planes(self, index: int, t_seconds: float, events: Sequence[Event]) -> tuple[np.ndarray, ...]:
        """(Y, U, V) of frame ``index`` at ``t_seconds``, upright. The arrays are reused per call."""
        y, uv = self.luma, self.chroma
        for (y0, y1, x0, x1), bit in zip(self.cells, _code_bits(index), strict=True):
            y[y0:y1, x0:x1] = self.levels[bit]
        if self.noise is not None:
            shift = index % self.width
            y[self.band_top :] = self.noise[:, shift : shift + self.width]
        else:
            y[self.band_top :] = _luma(_GREY)
        uv[:] = 128
        slots = list(PALETTE)
        for event in events:
            if event.is_active(t_seconds):
                y0, y1, x0, x1 = _square_box(slots.index(event.color), self.height, self.width)
                ly, lu, lv = _yuv(PALETTE[event.color])
                y[y0:y1, x0:x1] = ly
                uv[0, y0 // 2 : (y1 + 1) // 2, x0 // 2 : (x1 + 1) // 2] = lu
                uv[1, y0 // 2 : (y1 + 1) // 2, x0 // 2 : (x1 + 1) // 2] = lv
        return y, uv[0], uv[1]

    def frame(self, index: int, t_seconds: float, events: Sequence[Event], rotation: int = 0) -> Any:
        """An ``av.VideoFrame`` (yuv420p); ``rotation`` turns the picture counter-clockwise."""
        import av

        planes = self.planes(index, t_seconds, events)
        if rotation:
            planes = tuple(np.rot90(p, k=rotation // 90) for p in planes)
        height, width = planes[0].shape
        packed = np.concatenate([p.reshape(-1) for p in planes]).reshape(height * 3 // 2, width)
        return av.VideoFrame.from_ndarray(packed, format="yuv420p")


def draw_frame(
    index: int, *, width: int, height: int, t_seconds: float = 0.0, events: Sequence[Event] = ()
) -> np.ndarray:
    """The upright RGB image (height, width, 3) of frame ``index`` shown at ``t_seconds``."""
    frame = _Painter(height, width, "plain").frame(index, t_seconds, events)
    return frame.to_ndarray(format="rgb24")


# --------------------------------------------------------------------------------------------- reading


def _as_rgb(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[-1] != 3:
        raise ValueError(f"expected an RGB frame of shape (H, W, 3), got {frame.shape}")
    return frame


def read_frame_index(frame: np.ndarray, *, strict: bool = True) -> int | None:
    """The source frame index drawn in ``frame`` (an upright RGB image of any size).

    Reads the centre of each code cell; the checksum rejects misreads (e.g. a frame shown upside
    down). Raises ``ValueError`` on a bad checksum, or returns None when ``strict=False``.
    """
    frame = _as_rgb(frame)
    height, width = frame.shape[:2]
    luma = frame.astype(np.float32).mean(axis=-1)
    bits = []
    for r in range(_CODE_ROWS):
        for c in range(_CODE_COLS):
            y0, y1, x0, x1 = _cell_box(r, c, height, width, shrink=0.5)
            bits.append(int(luma[y0:y1, x0:x1].mean() > (_BLACK + _WHITE) / 2))
    word = 0
    for bit in bits:
        word = (word << 1) | bit
    index = word >> _CHECK_BITS
    if np.array_equal(_code_bits(index), np.array(bits, dtype=np.uint8)):
        return index
    if strict:
        raise ValueError(f"frame of shape {frame.shape} carries no valid frame index (checksum mismatch)")
    return None


def has_square(frame: np.ndarray, color: str) -> bool:
    """Whether the event square of ``color`` is visible in ``frame`` (upright RGB, any size)."""
    if color not in PALETTE:
        raise ValueError(f"color {color!r} is not one of {', '.join(PALETTE)}")
    frame = _as_rgb(frame)
    height, width = frame.shape[:2]
    y0, y1, x0, x1 = _square_box(list(PALETTE).index(color), height, width, shrink=0.5)
    patch = frame[y0:y1, x0:x1].astype(np.float32).reshape(-1, 3)
    distance = np.linalg.norm(patch - np.array(PALETTE[color], dtype=np.float32), axis=-1)
    return bool(np.mean(distance < _COLOR_TOLERANCE) > 0.5)


def visible_colors(frame: np.ndarray) -> set[str]:
    """The colours of every event square visible in ``frame``."""
    return {color for color in PALETTE if has_square(frame, color)}


# --------------------------------------------------------------------------------------------- writing


def planned_info(
    *,
    duration_seconds: float,
    fps: float = 30.0,
    width: int = 1280,
    height: int = 720,
    start_seconds: float = 0.0,
    rotation: int = 0,
    num_frames: int | None = None,
    source: str = "memory://planned.mp4",
) -> Any:
    """The :class:`~videoqa.VideoInfo` :func:`videoqa.probe` gives a constant-rate H.264 mp4 of these
    facts (``num_frames`` default: ``duration_seconds * fps`` rounded, at least 1): to plan sampling
    without a file (tests, ``benchmarks/gpu_plan.py``)."""
    from videoqa.video import VideoInfo

    return VideoInfo(
        source=source, container="mp4", codec="h264", width=width, height=height, rotation=rotation,
        start_seconds=start_seconds, duration_seconds=duration_seconds, average_fps=fps,
        num_frames=max(1, round(duration_seconds * fps)) if num_frames is None else num_frames,
        num_frames_source="header", is_variable_frame_rate=False,
    )  # fmt: skip


def frame_start_times(
    *,
    duration_seconds: float,
    fps: float,
    start_seconds: float = 0.0,
    frame_durations: Sequence[float] | None = None,
) -> list[float]:
    """Nominal start time of each frame :func:`write_video` writes (before time-base rounding)."""
    if frame_durations is None:
        count = max(1, round(duration_seconds * fps))
        return [start_seconds + i / fps for i in range(count)]
    times, t = [], start_seconds
    for d in frame_durations:
        times.append(t)
        t += d
    return times


def write_video(
    path: str | os.PathLike[str],
    *,
    duration_seconds: float,
    fps: float,
    width: int = 160,
    height: int = 90,
    codec: Codec = "h264",
    gop_seconds: float = 2.0,
    bframes: int = 0,
    start_seconds: float = 0.0,
    rotation: int = 0,
    frame_durations: Sequence[float] | None = None,
    events: Sequence[Event] = (),
    background: Background = "plain",
    crf: int = 23,
    threads: int = 2,
) -> Path:
    """Encode a synthetic video to ``path`` (container from the suffix: .mp4, .mkv or .webm).

    Args:
        duration_seconds: length; the video has ``round(duration_seconds * fps)`` frames (at least 1),
            unless ``frame_durations`` is given.
        fps: nominal frame rate (also the rate the encoder is told).
        width, height: size *as displayed*; with ``rotation`` 90/270 the coded frames are height x width.
        codec: ``"h264"`` (libx264), ``"hevc"`` (libx265), ``"vp9"`` (libvpx) or ``"av1"`` (SVT-AV1).
        gop_seconds: keyframe spacing (fixed; scene-cut keyframes are off where the encoder allows).
        bframes: maximum consecutive B-frames (h264/hevc).
        start_seconds: pts of the first frame.
        rotation: clockwise degrees a player rotates the coded frames (mp4 only, via the tkhd matrix).
        frame_durations: per-frame durations in seconds for a variable-frame-rate video.
        events: coloured squares drawn while active.
        background: ``"moving_noise"`` puts scrolling grey noise in the event band, so decoding costs
            about what real footage costs (used by benchmarks).
    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    import av

    path = Path(path)
    container_format, encoder = _check_args(path, codec, width, height, fps, rotation, bframes)
    times = frame_start_times(
        duration_seconds=duration_seconds,
        fps=fps,
        start_seconds=start_seconds,
        frame_durations=frame_durations,
    )
    if len(times) > MAX_FRAMES:
        raise ValueError(f"{len(times)} frames exceed the {MAX_FRAMES} frame indices the code grid can hold")
    coded_w, coded_h = (height, width) if rotation in (90, 270) else (width, height)
    time_base = Fraction(1, 90000) if (frame_durations or start_seconds) else _rate(fps) ** -1
    if codec == "av1":
        os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 logs to stderr unless told otherwise
    painter = _Painter(height, width, background)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format=container_format) as output:
        stream = output.add_stream(encoder, rate=_rate(fps))
        stream.width, stream.height, stream.pix_fmt = coded_w, coded_h, "yuv420p"
        stream.codec_context.time_base = time_base
        stream.codec_context.thread_count = threads
        gop = max(1, round(gop_seconds * fps))
        stream.codec_context.gop_size = gop
        stream.codec_context.max_b_frames = bframes
        stream.options = _encoder_options(codec, gop, bframes, crf)
        for index, t in enumerate(times):
            frame = painter.frame(index, t, events, rotation)
            frame.pts = round(t / time_base)
            frame.time_base = time_base
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    if rotation:
        _patch_mp4_rotation(path, rotation)
    return path


def write_video_once(path: str | os.PathLike[str], **video: Any) -> Path:
    """:func:`write_video` (``video``: its arguments) unless ``path`` exists already; written under a
    temporary name in the same folder (created if missing) and renamed, so that a parallel or an
    interrupted run never sees a half-written file. Returns ``path``."""
    path = Path(path)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".tmp-") as tmp:
        part = write_video(Path(tmp) / path.name, **video)
        os.replace(part, path)
    return path


def _rate(fps: float) -> Fraction:
    return Fraction(fps).limit_denominator(1001)


def _check_args(
    path: Path, codec: str, width: int, height: int, fps: float, rotation: int, bframes: int
) -> tuple[str, str]:
    container_format = _CONTAINERS.get(path.suffix.lower())
    if container_format is None:
        raise ValueError(
            f"cannot infer the container from {path.name!r}: use one of {', '.join(_CONTAINERS)}"
        )
    if codec not in _ENCODERS:
        raise ValueError(f"codec {codec!r} is not supported; supported values are {', '.join(_ENCODERS)}")
    if container_format == "webm" and codec not in _WEBM_CODECS:
        raise ValueError(f"webm holds only {' or '.join(_WEBM_CODECS)}, not {codec!r}; use .mp4 or .mkv")
    if width % 2 or height % 2 or width < 16 or height < 16:
        raise ValueError(f"width and height must be even and at least 16, got {width}x{height}")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if rotation not in (0, 90, 180, 270):
        raise ValueError(f"rotation must be 0, 90, 180 or 270, got {rotation}")
    if rotation and container_format != "mp4":
        raise ValueError(
            f"rotation is written into the mp4 track header; use an .mp4 path, not {path.name!r}"
        )
    if bframes and codec not in ("h264", "hevc"):
        raise ValueError(f"bframes are supported for h264 and hevc, not {codec!r}")
    return container_format, _ENCODERS[codec]


def _encoder_options(codec: str, gop: int, bframes: int, crf: int) -> dict[str, str]:
    if codec == "h264":
        params = f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes={bframes}"
        return {"preset": "ultrafast", "crf": str(crf), "x264-params": params}
    if codec == "hevc":
        params = f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes={bframes}:log-level=none"
        return {"preset": "ultrafast", "crf": str(crf), "x265-params": params}
    if codec == "vp9":
        return {"deadline": "realtime", "cpu-used": "8", "crf": str(crf + 10), "b": "0"}
    return {"preset": "8", "crf": str(crf), "svtav1-params": f"keyint={gop}"}


# ------------------------------------------------------------------------------------------ mp4 rotation


def _patch_mp4_rotation(path: Path, rotation: int) -> None:
    """Write a display matrix rotating the video track ``rotation`` degrees clockwise.

    PyAV cannot attach display-matrix side data when muxing, so the matrix of the video track's
    ``tkhd`` box is overwritten in place (same size, nothing else moves).
    """
    data = bytearray(path.read_bytes())
    offset = _find_tkhd(data)
    version = data[offset + 8]
    matrix_at = offset + 8 + 4 + (32 if version == 1 else 20) + 8 + 8
    one, unity = 1 << 16, 1 << 30
    cos, sin = {0: (1, 0), 90: (0, 1), 180: (-1, 0), 270: (0, -1)}[rotation]
    # ISO/IEC 14496-12 matrix {a, b, u, c, d, v, x, y, w}: a, b, c, d, x, y are 16.16 and u, v, w 2.30.
    matrix = (cos * one, sin * one, 0, -sin * one, cos * one, 0, 0, 0, unity)
    struct.pack_into(">9i", data, matrix_at, *matrix)
    path.write_bytes(bytes(data))


def _find_tkhd(data: bytearray) -> int:
    def boxes(start: int, end: int):
        while start + 8 <= end:
            size, kind = struct.unpack_from(">I4s", data, start)
            header = 8
            if size == 1:
                size, header = struct.unpack_from(">Q", data, start + 8)[0], 16
            elif size == 0:
                size = end - start
            yield start, header, size, kind
            start += size

    for start, header, size, kind in boxes(0, len(data)):
        if kind != b"moov":
            continue
        for t_start, t_header, t_size, t_kind in boxes(start + header, start + size):
            if t_kind != b"trak":
                continue
            for k_start, _, _, k_kind in boxes(t_start + t_header, t_start + t_size):
                if k_kind == b"tkhd":
                    return k_start
    raise ValueError("no tkhd box found: not an mp4 written by write_video")
