"""Dynamic-FPS sampling: how many frames, at which instants, at what size, per window.

The rules reproduce qwen-vl-utils 0.0.14 (``smart_nframes`` + ``smart_resize`` + the
per-frame pixel cap of ``fetch_video``) so that, with default settings on a constant
frame rate video, the frame count, the resized size and the visual-token count are the
ones the model family was tuned with. What differs on purpose:

* target instants are absolute times ``start + k / sampled_fps`` (k = 0..n-1), not frame
  indices, so variable frame rate and non-zero start times are handled by the decoder
  picking the frame on screen at each instant;
* ``sampled_fps = n / window duration`` is the exact rate the model must be told;
* sizes come from the *display* size (rotation applied);
* a video or window holding a single frame still yields 2 targets (both on that frame),
  where qwen-vl-utils raises;
* a tiny size never rounds down to 0 pixels (qwen-vl-utils would produce an empty frame).

Budgets (``min_frames``, ``max_frames``, pixels) apply to each window separately.

Model families differ in two facts (``plan_sampling(patch_factor=..., targets=...)``):
``patch_factor`` is 28 for Qwen2-VL / Qwen2.5-VL (14-pixel patches) and 32 for Qwen3-VL (16-pixel
patches; qwen-vl-utils ``image_patch_size=16``), and the default pixel budgets are the same token
counts at that factor (128 / 768 tokens per frame, 115,200 per window). ``targets="source_frames"``
(Qwen3-VL) puts the instants on the frames qwen-vl-utils reads, ``linspace(first, last, n).round()``
in torch's float32 arithmetic, so on constant-rate video the decoded frames, hence the timestamps a
Qwen3-VL prompt states, are the reference ones; the true pts of what was decoded are used anyway.
"""

from __future__ import annotations

import itertools
import math
import numbers
from typing import Literal

from videoqa.errors import UnsupportedVideoError
from videoqa.video._linspace import torch_linspace_rounded
from videoqa.video._types import SamplingPlan, VideoInfo, Window

__all__ = [
    "DEFAULT_FPS",
    "DEFAULT_MAX_FRAMES",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MIN_FRAMES",
    "DEFAULT_MIN_PIXELS",
    "DEFAULT_TOTAL_PIXELS",
    "check_budgets",
    "default_budgets",
    "even_frames",
    "int_at_least",
    "plan_sampling",
    "positive_real",
    "smart_resize",
]

PATCH_FACTOR = 28
"""Pixels per side of one merged visual token: 14-pixel patches merged 2x2."""
TEMPORAL_PATCH_SIZE = 2
"""Frames per temporal patch: every window holds an even number of frames."""
MAX_ASPECT_RATIO = 200
"""Frames more elongated than this are refused, as by the model's own processor."""
MIN_PIXELS_SLACK = 1.05
"""The per-frame pixel cap never drops below ``int(1.05 * min_pixels)`` (qwen-vl-utils rule)."""
_SNAP = 1e-6
"""Frame positions this close to an integer are taken as that integer (float noise in pts)."""

DEFAULT_FPS = 2.0
DEFAULT_MIN_FRAMES = 4
DEFAULT_MAX_FRAMES = 768
DEFAULT_MIN_PIXELS = 128 * PATCH_FACTOR * PATCH_FACTOR
DEFAULT_MAX_PIXELS = 768 * PATCH_FACTOR * PATCH_FACTOR
DEFAULT_TOTAL_PIXELS = 128000 * PATCH_FACTOR * PATCH_FACTOR * 0.9
PATCH_FACTORS = (28, 32)
"""Pixels per merged token side: 28 (Qwen2-VL, Qwen2.5-VL), 32 (Qwen3-VL)."""
Targets = Literal["uniform", "source_frames"]
TARGETS: tuple[str, ...] = ("uniform", "source_frames")


def default_budgets(patch_factor: int = PATCH_FACTOR) -> dict[str, float]:
    """qwen-vl-utils' pixel budgets at ``patch_factor``: 128 and 768 tokens per frame, 115,200 per window."""
    area = patch_factor * patch_factor
    return {"min_pixels": 128 * area, "max_pixels": 768 * area, "total_pixels": 128000 * area * 0.9}


# ----------------------------------------------------------------------------- argument checks


def even_frames(count: int) -> int:
    """``count`` rounded down to whole temporal patches (the most frames a window can hold)."""
    return count // TEMPORAL_PATCH_SIZE * TEMPORAL_PATCH_SIZE


def positive_real(name: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def int_at_least(name: str, value: object, lowest: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lowest:
        raise ValueError(f"{name} must be an integer >= {lowest}, got {value!r}")
    return int(value)


def _optional_time(name: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number of seconds or None, got {value!r}")
    return float(value)


def _check_info(info: object) -> VideoInfo:
    if not isinstance(info, VideoInfo):
        raise TypeError(f"info must be a videoqa.VideoInfo (from videoqa.probe), got {type(info).__name__}")
    facts = {
        "average_fps": info.average_fps,
        "duration_seconds": info.duration_seconds,
        "num_frames": info.num_frames,
        "width": info.width,
        "height": info.height,
    }
    for name, value in facts.items():
        if not (isinstance(value, numbers.Real) and math.isfinite(value) and value > 0):
            raise ValueError(f"{info.source}: VideoInfo.{name} must be > 0 to plan sampling, got {value!r}")
    if not math.isfinite(info.start_seconds):
        raise ValueError(f"{info.source}: VideoInfo.start_seconds must be finite, got {info.start_seconds!r}")
    ratio = max(info.width, info.height) / min(info.width, info.height)
    if ratio > MAX_ASPECT_RATIO:
        raise UnsupportedVideoError(
            info.source,
            f"its {info.display_width}x{info.display_height} frames have aspect ratio {ratio:.1f}, above "
            f"the model's limit of {MAX_ASPECT_RATIO} (the Qwen processors refuse them); crop or pad "
            f"the video to at most {MAX_ASPECT_RATIO}:1",
        )
    return info


def check_budgets(
    *,
    fps: object,
    min_frames: object,
    max_frames: object,
    min_pixels: object,
    max_pixels: object,
    total_pixels: object,
) -> dict:
    """The sampling budgets of :func:`plan_sampling`, validated and normalised (raises ValueError)."""
    fps = positive_real("fps", fps)
    min_frames = int_at_least("min_frames", min_frames, 1)
    max_frames = int_at_least("max_frames", max_frames, TEMPORAL_PATCH_SIZE)
    if even_frames(max_frames) < math.ceil(min_frames / TEMPORAL_PATCH_SIZE) * TEMPORAL_PATCH_SIZE:
        raise ValueError(
            f"max_frames ({max_frames}) must be >= min_frames ({min_frames}) once both are made even "
            f"(frames come in temporal patches of {TEMPORAL_PATCH_SIZE})"
        )
    min_pixels = int_at_least("min_pixels", min_pixels, 1)
    max_pixels = int_at_least("max_pixels", max_pixels, 1)
    if max_pixels < min_pixels:
        raise ValueError(f"max_pixels ({max_pixels}) must be >= min_pixels ({min_pixels})")
    total_pixels = positive_real("total_pixels", total_pixels)
    return dict(
        fps=fps,
        min_frames=min_frames,
        max_frames=max_frames,
        min_pixels=min_pixels,
        max_pixels=max_pixels,
        total_pixels=total_pixels,
    )


# ----------------------------------------------------------------------------- sizes


def _round_to(value: float, factor: int) -> int:
    # Python's round(): halves go to the even multiple, as in qwen-vl-utils.
    return round(value / factor) * factor


def smart_resize(
    height: int,
    width: int,
    *,
    factor: int = PATCH_FACTOR,
    min_pixels: int = DEFAULT_MIN_PIXELS,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[int, int]:
    """Resized ``(height, width)``: multiples of ``factor``, area within the pixel bounds, aspect kept.

    Each side is first rounded to the nearest multiple of ``factor`` (halves to even, at least
    one ``factor``). If the area then exceeds ``max_pixels``, both sides are scaled by
    ``sqrt(max_pixels / (height * width))`` and rounded *down*; if it is below ``min_pixels``,
    scaled by ``sqrt(min_pixels / (height * width))`` and rounded *up*. Same rule as
    qwen-vl-utils / transformers, except that a side never rounds down to 0.
    """
    height = int_at_least("height", height, 1)
    width = int_at_least("width", width, 1)
    factor = int_at_least("factor", factor, 1)
    min_pixels = int_at_least("min_pixels", min_pixels, 1)
    max_pixels = int_at_least("max_pixels", max_pixels, 1)
    if max_pixels < min_pixels:
        raise ValueError(f"max_pixels ({max_pixels}) must be >= min_pixels ({min_pixels})")
    return _resize(height, width, factor, min_pixels, max_pixels)


def _resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: float) -> tuple[int, int]:
    # ``max_pixels`` may be fractional (a share of the total budget): areas are compared
    # against it as a float, as qwen-vl-utils does.
    ratio = max(height, width) / min(height, width)
    if ratio > MAX_ASPECT_RATIO:
        raise ValueError(
            f"a {width}x{height} frame has aspect ratio {ratio:.1f}, "
            f"above the model's limit of {MAX_ASPECT_RATIO}"
        )
    new_h = max(factor, _round_to(height, factor))
    new_w = max(factor, _round_to(width, factor))
    if new_h * new_w > max_pixels:
        shrink = math.sqrt(height * width / max_pixels)
        new_h = max(factor, math.floor(height / shrink / factor) * factor)
        new_w = max(factor, math.floor(width / shrink / factor) * factor)
    elif new_h * new_w < min_pixels:
        grow = math.sqrt(min_pixels / (height * width))
        new_h = math.ceil(height * grow / factor) * factor
        new_w = math.ceil(width * grow / factor) * factor
    return new_h, new_w


def _frame_pixel_cap(num_frames: int, *, min_pixels: int, max_pixels: int, total_pixels: float) -> float:
    """Per-frame pixel cap for a window of ``num_frames`` frames (qwen-vl-utils ``fetch_video`` rule).

    The total budget is shared by the window's temporal patches, never below
    ``int(1.05 * min_pixels)`` and never above ``max_pixels``.
    """
    share = total_pixels / num_frames * TEMPORAL_PATCH_SIZE
    return min(max_pixels, max(min(max_pixels, share), int(min_pixels * MIN_PIXELS_SLACK)))


# ----------------------------------------------------------------------------- frame counts


def _snap(position: float) -> float:
    nearest = round(position)
    return float(nearest) if abs(position - nearest) < _SNAP else position


def _frames_on_screen(info: VideoInfo, start: float, end: float) -> int:
    """Number of distinct frames shown during ``[start, end)``, from ``average_fps``.

    Frame ``j`` is taken to be on screen from ``start_seconds + j / average_fps`` for
    ``1 / average_fps`` seconds. A range touching the video's start or end uses the frame
    count itself at that edge, so the whole video counts exactly ``num_frames``.
    """
    first = (
        0
        if start <= info.start_seconds
        else math.floor(_snap((start - info.start_seconds) * info.average_fps))
    )
    if end >= info.end_seconds:
        stop = info.num_frames
    else:
        stop = math.ceil(_snap((end - info.start_seconds) * info.average_fps))
    first = min(max(first, 0), info.num_frames - 1)
    stop = min(max(stop, first + 1), info.num_frames)
    return stop - first


def _num_frames(
    frames_available: int, average_fps: float, *, fps: float, min_frames: int, max_frames: int
) -> int:
    """Even frame count for a window (qwen-vl-utils ``smart_nframes`` rule, plus a floor of 2).

    ``frames_available / average_fps * fps`` frames, raised to ``min_frames``, then capped by
    ``max_frames`` and by the frames that exist, rounded down to even. A wanted count within 1e-6
    of an integer is taken as that integer, so float noise in a measured duration never costs a
    temporal patch. A window holding a single frame still gets 2 (one temporal patch, both
    frames the same picture).
    """
    wanted = _snap(frames_available / average_fps * fps)  # 19.9999999 (pts noise) counts as 20
    lowest = math.ceil(min_frames / TEMPORAL_PATCH_SIZE) * TEMPORAL_PATCH_SIZE
    highest = even_frames(min(max_frames, frames_available))
    count = min(max(wanted, lowest), highest, frames_available)
    count = math.floor(count / TEMPORAL_PATCH_SIZE) * TEMPORAL_PATCH_SIZE
    return max(count, TEMPORAL_PATCH_SIZE)


# ----------------------------------------------------------------------------- ranges and windows


def _clamped_range(info: VideoInfo, start: float | None, end: float | None) -> tuple[float, float]:
    """``[start, end)`` clamped to the video; raises when it is empty or misses the video entirely."""
    lo = info.start_seconds if start is None else start
    hi = info.end_seconds if end is None else end
    if hi <= lo:
        raise ValueError(f"{info.source}: end_seconds ({hi}) must be greater than start_seconds ({lo})")
    if lo >= info.end_seconds or hi <= info.start_seconds:
        raise ValueError(
            f"{info.source}: the range [{lo}, {hi}) s lies outside the video, which spans "
            f"[{info.start_seconds}, {info.end_seconds}) s (times are absolute pts seconds)"
        )
    return max(lo, info.start_seconds), min(hi, info.end_seconds)


def _window_bounds(
    info: VideoInfo, start: float, end: float, window_seconds: float | None, fps: float
) -> list[tuple[float, float]]:
    """Consecutive ``[a, b)`` windows of ``window_seconds`` covering ``[start, end)``.

    ``window_seconds`` below ``2 / average_fps`` (fewer than 2 frames of the video) is widened to
    that. Boundaries are ``start + i * window_seconds`` (no accumulated float error). The last
    window may be shorter; a tail shorter than one temporal patch at the requested rate
    (``2 / fps`` seconds) or holding fewer than 2 frames is merged into the window before it.
    """
    if window_seconds is not None:
        # A window holds at least one temporal patch of distinct frames, so a sparse stream (a
        # frame every 1000 s, or three frames over 11 days) never plans more windows than frames.
        window_seconds = max(window_seconds, TEMPORAL_PATCH_SIZE / info.average_fps)
    if window_seconds is None or window_seconds >= end - start:
        return [(start, end)]
    count = math.ceil(_snap((end - start) / window_seconds))
    edges = [start + i * window_seconds for i in range(count)] + [end]
    tail_start = edges[-2]
    tail_too_short = end - tail_start < TEMPORAL_PATCH_SIZE / fps - _SNAP  # float noise is not short
    if len(edges) > 2 and (tail_too_short or _frames_on_screen(info, tail_start, end) < TEMPORAL_PATCH_SIZE):
        del edges[-2]
    return list(itertools.pairwise(edges))


def _plan_window(
    info: VideoInfo,
    index: int,
    start: float,
    end: float,
    *,
    fps: float,
    min_frames: int,
    max_frames: int,
    min_pixels: int,
    max_pixels: int,
    total_pixels: float,
    patch_factor: int = PATCH_FACTOR,
    targets: Targets = "uniform",
) -> Window:
    available = _frames_on_screen(info, start, end)
    num_frames = _num_frames(
        available, info.average_fps, fps=fps, min_frames=min_frames, max_frames=max_frames
    )
    cap = _frame_pixel_cap(
        num_frames, min_pixels=min_pixels, max_pixels=max_pixels, total_pixels=total_pixels
    )
    height, width = _resize(info.display_height, info.display_width, patch_factor, min_pixels, cap)
    sampled_fps = num_frames / (end - start)
    if targets == "source_frames":
        pts = _source_frame_instants(info, start, end, num_frames, available)
    else:
        pts = tuple(start + k / sampled_fps for k in range(num_frames))
    return Window(
        index=index,
        start_seconds=start,
        end_seconds=end,
        pts_seconds=pts,
        height=height,
        width=width,
        sampled_fps=sampled_fps,
        temporal_patch_size=TEMPORAL_PATCH_SIZE,
        patch_factor=patch_factor,
    )


def _source_frame_instants(
    info: VideoInfo, start: float, end: float, num_frames: int, available: int
) -> tuple[float, ...]:
    """Instants on the frames qwen-vl-utils reads: ``linspace(first, last, n).round()`` of the window.

    Frame ``j`` of the window is taken to start at ``start_seconds + (first + j) / average_fps``; the
    instant is clamped into ``[start, end)`` so a window never reads outside itself.
    """
    first = (
        0
        if start <= info.start_seconds
        else math.floor(_snap((start - info.start_seconds) * info.average_fps))
    )
    indices = torch_linspace_rounded(0, available - 1, num_frames)
    instants = []
    for j in indices:
        t = info.start_seconds + (first + j) / info.average_fps
        instants.append(min(max(t, start), math.nextafter(end, start)))
    return tuple(instants)


# ----------------------------------------------------------------------------- public entry point


def plan_sampling(
    info: VideoInfo,
    *,
    fps: float = DEFAULT_FPS,
    min_frames: int = DEFAULT_MIN_FRAMES,
    max_frames: int = DEFAULT_MAX_FRAMES,
    min_pixels: int = DEFAULT_MIN_PIXELS,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    total_pixels: float = DEFAULT_TOTAL_PIXELS,
    start_seconds: float | None = None,
    end_seconds: float | None = None,
    window_seconds: float | None = None,
    patch_factor: int = PATCH_FACTOR,
    targets: Targets = "uniform",
    pixels_as_given: bool = False,
) -> SamplingPlan:
    """Decide the dynamic-FPS sampling of a video: windows, target instants, frame size, token cost.

    Args:
        info: facts of the video, from :func:`videoqa.probe`.
        fps: requested sampling rate in frames per second of video time.
        min_frames: fewest frames per window (rounded up to even), unless the window holds fewer frames.
        max_frames: most frames per window (rounded down to even).
        min_pixels: smallest area of a resized frame, in pixels. The three pixel defaults are
            qwen-vl-utils' 128, 768 and 115,200 tokens at 28 x 28 pixels; with ``patch_factor=32`` a
            budget left at (or equal to) its default becomes the same token count at 32 x 32
            (qwen-vl-utils with ``image_patch_size=16``), unless ``pixels_as_given``.
        max_pixels: largest area of a resized frame.
        total_pixels: pixel budget of one window's frames; the per-frame cap is
            ``max(min(max_pixels, total_pixels / num_frames * 2), int(1.05 * min_pixels))``,
            itself never above ``max_pixels``.
        start_seconds: absolute start (pts seconds) of the range to sample; default: the video's start.
            A range reaching outside the video is clamped to it; one that misses it raises ValueError.
        end_seconds: absolute end (exclusive) of the range; default: the video's end.
        window_seconds: cut the range into consecutive windows of this length, each with its own
            budgets; a tail shorter than ``2 / fps`` seconds (or under 2 frames) joins the window before it.
            Windows are never shorter than 2 frames of the video (``2 / info.average_fps``), so a plan
            never holds more frames than the stream (a one-frame range still gets 2 targets).
        patch_factor: pixels per merged token side: 28 (Qwen2-VL, Qwen2.5-VL) or 32 (Qwen3-VL).
        targets: ``"uniform"`` instants ``start + k / sampled_fps``; ``"source_frames"`` the frames
            qwen-vl-utils reads (``linspace`` over the window's frames, last frame included).
        pixels_as_given: take the three pixel budgets exactly as given (no default swap): the
            planners pass budgets a model family has already converted from :class:`videoqa.Settings`
            (``SamplingProfile.plan_kwargs``, the one conversion), which may equal a 28-pixel default.

    Returns:
        A :class:`SamplingPlan` whose windows each hold an even number of frames at the instants
        ``start + k / sampled_fps``, with ``sampled_fps = num_frames / window duration``.
    """
    info = _check_info(info)
    if patch_factor not in PATCH_FACTORS:
        raise ValueError(f"patch_factor must be one of {PATCH_FACTORS}, got {patch_factor!r}")
    if targets not in TARGETS:
        raise ValueError(f"targets must be one of {TARGETS}, got {targets!r}")
    pixels = {"min_pixels": min_pixels, "max_pixels": max_pixels, "total_pixels": total_pixels}
    if not pixels_as_given:  # a bare call's defaults: the family's own at patch_factor
        reference, own = default_budgets(PATCH_FACTOR), default_budgets(patch_factor)
        pixels = {n: own[n] if value == reference[n] else value for n, value in pixels.items()}
    budgets = check_budgets(fps=fps, min_frames=min_frames, max_frames=max_frames, **pixels)
    start = _optional_time("start_seconds", start_seconds)
    end = _optional_time("end_seconds", end_seconds)
    window = None if window_seconds is None else positive_real("window_seconds", window_seconds)

    start, end = _clamped_range(info, start, end)
    windows = tuple(
        _plan_window(info, index, a, b, **budgets, patch_factor=patch_factor, targets=targets)
        for index, (a, b) in enumerate(_window_bounds(info, start, end, window, budgets["fps"]))
    )
    return SamplingPlan(
        source=info.source,
        windows=windows,
        target_fps=budgets["fps"],
        min_pixels=budgets["min_pixels"],
        max_pixels=budgets["max_pixels"],
        total_pixels=budgets["total_pixels"],
        stream_index=info.stream_index,
    )
