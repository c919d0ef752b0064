"""``probe``: exact facts about a video without decoding more than its first frame.

Facts come from three cheap looks:
- the container and stream headers (codec, size, frame count when the container states it);
- the first packets (up to 600, demuxed not decoded; all of them in a short file): frame-rate regularity
  and keyframe spacing;
- the last packets (one seek near the end): where the last frame stops, so the duration is
  measured, not trusted from a header;
plus one decoded frame for the true start time and the display rotation.
"""

from __future__ import annotations

import itertools
import os
from typing import TYPE_CHECKING, Any

from videoqa.errors import EmptyVideoError
from videoqa.video._container import media_errors, open_container, video_stream
from videoqa.video._source import open_source
from videoqa.video._types import VideoInfo

if TYPE_CHECKING:
    import av.container
    import av.video.stream

__all__ = ["probe"]

_HEAD_PACKETS = 600
_HEAD_BYTES = 64 << 20  # a few seconds of 4K; bounds the head's I/O whatever the frame rate
_TAIL_SECONDS = 30.0
_REORDER_SLACK = 32  # packets; more than any decoder's reorder depth (16)
_VFR_TOLERANCE_SECONDS = 0.0015  # above Matroska's 1 ms timestamp rounding
_ROUNDING_TICKS = 3  # first pts, last pts and last duration: each rounded to one time-base tick


def probe(
    source: str | os.PathLike[str],
    *,
    storage_options: dict[str, Any] | None = None,
    stream_index: int | None = None,
) -> VideoInfo:
    """Read the facts of one video: size, rotation, start, duration, frame rate and count, codec.

    Args:
        source: a local path, ``file://`` URL or any fsspec URL (``s3://bucket/key.mp4``, ``gs://...``).
        storage_options: passed to fsspec for URLs (credentials, endpoint, ...).
        stream_index: the video stream to read (its index in the file); None: the one FFmpeg picks
            (``av_find_best_stream``: default disposition, then more probe frames, then bit rate).

    Raises:
        VideoNotFoundError, SourceIOError, EmptyVideoError, NotAVideoError, TruncatedVideoError,
        NoVideoStreamError: see :mod:`videoqa.errors`; each names the file.
    """
    with open_source(source, storage_options=storage_options) as src:
        container = open_container(src)
        try:
            with media_errors(src.name, doing="reading the stream"):
                return _probe_container(container, src.name, src.size, stream_index)
        finally:
            container.close()


def _probe_container(
    container: av.container.InputContainer, name: str, size_bytes: int | None, stream_index: int | None
) -> VideoInfo:
    stream = video_stream(container, name, index=stream_index)
    time_base = float(stream.time_base)
    first_frame = _first_frame(container, stream, name)
    start_seconds = float(first_frame.pts * first_frame.time_base)
    rotation = (-round(first_frame.rotation / 90) * 90) % 360
    head, complete = _head_packets(container, stream, time_base)
    end_seconds = _end_seconds(container, stream, time_base, head)
    duration = max(end_seconds - start_seconds, 0.0)
    if stream.frames > 0:
        num_frames, num_frames_source = int(stream.frames), "header"
    elif complete:  # the head reached the end of the stream: every frame was counted
        num_frames, num_frames_source = len(head), "counted"
    else:
        rate = float(stream.average_rate or stream.guessed_rate or 0) or _rate_from_packets(head)
        # A frame takes at least one byte: a gap in the timestamps never makes up frames.
        most = size_bytes if size_bytes else float("inf")
        num_frames, num_frames_source = max(1, min(round(duration * rate), most)), "estimated"
    is_vfr = _is_vfr(head)
    nominal = None if is_vfr else _nominal_duration(stream.average_rate, num_frames, duration, time_base)
    if nominal is not None:
        # Constant rate: the container rounded the timestamps (Matroska: to the millisecond), so
        # 480 frames at 24 fps measure 19.999 s. The true length is num_frames / rate.
        duration, average_fps = nominal, float(stream.average_rate)
    else:
        average_fps = num_frames / duration if duration > 0 else float(stream.average_rate or 0)
    return VideoInfo(
        source=name,
        container=container.format.name,
        codec=stream.codec_context.codec.canonical_name,
        width=stream.codec_context.width,
        height=stream.codec_context.height,
        rotation=rotation,
        start_seconds=start_seconds,
        duration_seconds=duration,
        average_fps=average_fps,
        num_frames=num_frames,
        num_frames_source=num_frames_source,
        is_variable_frame_rate=is_vfr,
        keyframe_interval_seconds=_keyframe_interval(head),
        stream_index=stream.index,
    )


def _first_frame(container: Any, stream: Any, name: str) -> Any:
    import av

    stream.codec_context.thread_count = 1
    errors = 0
    for packet in container.demux(stream):
        try:
            for frame in packet.decode():
                return frame
        except av.error.InvalidDataError:
            errors += 1
            if errors > 50:
                break
    detail = f" ({errors} packets failed to decode)" if errors else ""
    raise EmptyVideoError(name, f"the video stream has no decodable frames{detail}; re-export the file")


def _head_packets(
    container: Any, stream: Any, time_base: float
) -> tuple[list[tuple[float, float, bool]], bool]:
    """(pts, duration, keyframe) in seconds of the first packets, in presentation order, and
    whether they are all the packets of the stream."""
    container.seek(0, backward=True, any_frame=False, stream=stream)
    packets, num_bytes = [], 0
    for packet in container.demux(stream):
        if packet.pts is None or packet.size == 0:
            continue
        if len(packets) >= _HEAD_PACKETS or num_bytes > _HEAD_BYTES:
            # Stopped early: with B-frames the last packets in decode order leave pts gaps, so
            # drop a reorder window's worth from the end of the presentation order.
            head = sorted(packets)
            return (head[:-_REORDER_SLACK] if len(head) > 2 * _REORDER_SLACK else head), False
        packets.append((packet.pts * time_base, (packet.duration or 0) * time_base, bool(packet.is_keyframe)))
        num_bytes += packet.size
    return sorted(packets), True


def _end_seconds(
    container: Any, stream: Any, time_base: float, head: list[tuple[float, float, bool]]
) -> float:
    """Where the last frame stops: the largest pts + duration among the packets near the end."""
    header_end = _header_end(container, stream, time_base)
    last = max((p + d for p, d, _ in head), default=0.0)
    if header_end is not None and header_end - _TAIL_SECONDS > last:
        container.seek(int((header_end - _TAIL_SECONDS) / time_base), backward=True, stream=stream)
    elif head:
        container.seek(int(head[0][0] / time_base), backward=True, stream=stream)
    fallback = _median_gap(head)
    for packet in container.demux(stream):
        if packet.pts is None or packet.size == 0:
            continue
        duration = packet.duration * time_base if packet.duration else fallback
        last = max(last, packet.pts * time_base + duration)
    return last


def _header_end(container: Any, stream: Any, time_base: float) -> float | None:
    if stream.duration:
        return ((stream.start_time or 0) + stream.duration) * time_base
    if container.duration:
        return container.duration / 1_000_000
    return None


def _nominal_duration(rate: Any, num_frames: int, measured: float, time_base: float) -> float | None:
    """``num_frames / rate`` when the measured duration differs from it by timestamp rounding only.

    The first pts, the last pts and the last duration are each rounded to the time base, so a
    constant-rate stream measures within ``_ROUNDING_TICKS`` ticks of its true length; a larger
    difference (or one of half a frame) means the header rate is not the stream's rate.
    """
    if not rate or rate <= 0:
        return None
    nominal = num_frames / float(rate)
    slack = _ROUNDING_TICKS * time_base + 1e-9
    if slack >= 0.5 / float(rate) or abs(nominal - measured) > slack:
        return None
    return nominal


def _gaps(head: list[tuple[float, float, bool]]) -> list[float]:
    return [b[0] - a[0] for a, b in itertools.pairwise(head)]


def _median_gap(head: list[tuple[float, float, bool]]) -> float:
    gaps = sorted(_gaps(head))
    return gaps[len(gaps) // 2] if gaps else 0.0


def _rate_from_packets(head: list[tuple[float, float, bool]]) -> float:
    if len(head) < 2:
        return 1.0
    return (len(head) - 1) / (head[-1][0] - head[0][0])


def _is_vfr(head: list[tuple[float, float, bool]]) -> bool:
    gaps = _gaps(head)
    return bool(gaps) and max(gaps) - min(gaps) > _VFR_TOLERANCE_SECONDS


def _keyframe_interval(head: list[tuple[float, float, bool]]) -> float | None:
    keyframes = [p for p, _, key in head if key]
    if len(keyframes) < 2:
        return None
    return (keyframes[-1] - keyframes[0]) / (len(keyframes) - 1)
