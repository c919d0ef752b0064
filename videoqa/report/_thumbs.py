"""Thumbnails of the frames at given instants, decoded with videoqa's own media layer.

One :func:`videoqa.probe` and one :func:`videoqa.decode` pass per video: the first and
last instant of every span become one-frame :class:`~videoqa.video.Window` s, so the
decoder seeks to each and returns the frame shown then, with its true pts. Frames come back as
inline ``data:image/jpeg;base64,...`` URIs, so the report needs no files beside it.

A video that is missing or cannot be decoded never stops a report: the result carries
no images and a note saying what went wrong, and the page shows placeholders.
"""

from __future__ import annotations

import base64
import io
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["THUMB_WIDTH", "Thumbnail", "VideoThumbnails", "frame_to_data_uri", "video_thumbnails"]

logger = logging.getLogger(__name__)

THUMB_WIDTH = 168
"""Width of a thumbnail in pixels (6 x 28: window sizes are multiples of 28)."""
_PATCH = 28
_JPEG_QUALITY = 80


@dataclass(frozen=True)
class Thumbnail:
    requested_seconds: float
    """The instant asked for: a span's start, or half a frame before its (exclusive) end."""
    pts_seconds: float
    """True presentation time of the frame shown."""
    data_uri: str


@dataclass
class VideoThumbnails:
    """Thumbnails of one video's spans: :meth:`get` gives the (start, end) frames of a span."""

    by_target: dict[int, Thumbnail] = field(default_factory=dict)
    """Decoded frames keyed by target instant in milliseconds."""
    targets: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)
    """(start ms, end ms) of a span -> (start target ms, end target ms)."""
    note: str | None = None
    """Why some or all thumbnails are missing, for the page; None when all were decoded."""

    def get(self, start_seconds: float, end_seconds: float) -> tuple[Thumbnail | None, Thumbnail | None]:
        targets = self.targets.get((_ms(start_seconds), _ms(end_seconds)))
        if targets is None:
            return None, None
        return self.by_target.get(targets[0]), self.by_target.get(targets[1])


def _ms(t_seconds: float) -> int:
    return round(t_seconds * 1000)


def frame_to_data_uri(frame: np.ndarray, *, size: tuple[int, int] | None = None) -> str:
    """An RGB uint8 (H, W, 3) frame as a base64 JPEG ``data:`` URI, resized to ``size`` (width, height)."""
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(frame), mode="RGB")
    if size is not None and image.size != size:
        image = image.resize(size, Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=_JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _thumb_size(display_width: int, display_height: int) -> tuple[int, int]:
    """(width, height) of a thumbnail: THUMB_WIDTH wide, the video's displayed aspect ratio."""
    return THUMB_WIDTH, max(1, round(THUMB_WIDTH * display_height / max(display_width, 1)))


def _decode_size(width: int, height: int) -> tuple[int, int]:
    """(height, width) the decoder resizes to: multiples of 28 at least the thumbnail's size."""
    return max(_PATCH, math.ceil(height / _PATCH) * _PATCH), max(_PATCH, math.ceil(width / _PATCH) * _PATCH)


def _span_targets(info: Any, span: tuple[float, float]) -> tuple[float, float]:
    """Instants whose frames show a span's first and last moments.

    A span's end is exclusive (the event is over at ``end``), so the end thumbnail is the frame
    shown half a frame before it. Both are clamped inside the video.
    """
    frame_seconds = 1.0 / info.average_fps if info.average_fps > 0 else 0.04
    first, last = info.start_seconds, max(info.start_seconds, info.end_seconds - frame_seconds / 2)
    # 1 ms late, so a frame whose pts is the start rounded down by the time base still counts.
    start = min(max(span[0] + min(0.001, frame_seconds / 4), first), last)
    end = min(max(span[1] - frame_seconds / 2, start), last)
    return start, end


def _instant_plan(info: Any, video: str, targets_ms: list[int]) -> Any:
    """A plan of one one-frame window per target instant, in time order."""
    from videoqa.video import SamplingPlan, Window

    height, width = _decode_size(*_thumb_size(info.display_width, info.display_height))
    frame_seconds = 1.0 / info.average_fps if info.average_fps > 0 else 0.04
    windows = tuple(
        Window(
            index=i,
            start_seconds=ms / 1000,
            end_seconds=ms / 1000 + frame_seconds,
            pts_seconds=(ms / 1000,),
            height=height,
            width=width,
            sampled_fps=1.0 / frame_seconds,
        )
        for i, ms in enumerate(targets_ms)
    )
    return SamplingPlan(
        source=video,
        windows=windows,
        target_fps=1.0 / frame_seconds,
        min_pixels=height * width,
        max_pixels=height * width,
        total_pixels=float(height * width),
    )


def video_thumbnails(
    video: str, spans: Sequence[tuple[float, float]], *, storage_options: dict[str, Any] | None = None
) -> VideoThumbnails:
    """Decode the first and last frames of each ``(start_seconds, end_seconds)`` span of ``video``.

    Never raises for a bad video: a missing, truncated or undecodable file gives a
    result with a ``note`` (and whatever frames were decoded before the error).
    """
    from videoqa.video import decode, probe

    result = VideoThumbnails()
    if not spans:
        return result
    try:
        info = probe(video, storage_options=storage_options)
        for span in spans:
            start, end = _span_targets(info, span)
            result.targets[(_ms(span[0]), _ms(span[1]))] = (_ms(start), _ms(end))
        targets_ms = sorted({ms for pair in result.targets.values() for ms in pair})
        plan = _instant_plan(info, video, targets_ms)
        size = _thumb_size(info.display_width, info.display_height)
        for clip in decode(video, plan, storage_options=storage_options):
            if clip.frames.shape[0] == 0:
                continue
            target = targets_ms[clip.window.index]
            result.by_target[target] = Thumbnail(
                requested_seconds=target / 1000,
                pts_seconds=float(clip.pts_seconds[0]),
                data_uri=frame_to_data_uri(clip.frames[0], size=size),
            )
    except ImportError:
        raise  # a broken install is not a property of the video: say so loudly
    except Exception as error:  # a report must render whatever the videos are; the page shows the error
        logger.warning("No thumbnails for %s: %s: %s", video, type(error).__name__, error)
        result.note = f"No thumbnails for this video: {type(error).__name__}: {error}"
        return result
    missing = len({ms for pair in result.targets.values() for ms in pair}) - len(result.by_target)
    if missing:
        result.note = f"{missing} thumbnail frame(s) could not be decoded."
    return result
