"""Value types of the media layer: what a file is, what to sample, what was decoded.

All times are seconds on the media's presentation timeline (``pts * time_base``),
so a frame's ``pts_seconds`` is where a player shows it. For nearly every file the
first frame sits at 0.0; when it does not, ``VideoInfo.start_seconds`` says where.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

__all__ = ["Clip", "NumFramesSource", "SamplingPlan", "VideoInfo", "Window"]

NumFramesSource = Literal["header", "counted", "estimated"]


@dataclass(frozen=True)
class VideoInfo:
    """Container and stream facts of one video, as read by :func:`videoqa.probe`."""

    source: str
    """The path or URL that was probed."""
    container: str
    """Container format name, e.g. ``"mov,mp4,m4a,3gp,3g2,mj2"`` or ``"matroska,webm"``."""
    codec: str
    """Video codec name, e.g. ``"h264"``, ``"hevc"``, ``"vp9"``, ``"av1"``."""
    width: int
    """Coded width in pixels, before rotation."""
    height: int
    """Coded height in pixels, before rotation."""
    rotation: int
    """Clockwise rotation in degrees (0, 90, 180, 270) a player applies from the display matrix."""
    start_seconds: float
    """Presentation time of the first frame; may be above 0."""
    duration_seconds: float
    """From the first frame's start to the last frame's end. On a constant-rate stream whose
    measured length differs from ``num_frames / nominal rate`` by timestamp rounding only (Matroska
    stores milliseconds: 480 frames at 24 fps measure 19.999 s), it is ``num_frames / rate``."""
    average_fps: float
    """Average frame rate: frames per second over the whole stream (the nominal rate when the
    duration was taken from it, see ``duration_seconds``)."""
    num_frames: int
    """Number of frames in the stream; see ``num_frames_source``."""
    num_frames_source: NumFramesSource
    """``"header"`` when the container states the count, ``"counted"`` when probing saw every packet
    (short files), ``"estimated"`` when derived from duration x fps (never above the file's size in bytes)."""
    is_variable_frame_rate: bool
    """True when frame durations differ (or the container says so)."""
    keyframe_interval_seconds: float | None = None
    """Typical spacing of keyframes when known (mean of the first keyframe gaps), else None."""
    stream_index: int = 0
    """Index in the file of the video stream probed (FFmpeg's best one unless asked for another)."""

    @property
    def end_seconds(self) -> float:
        """Presentation time at which the last frame stops being shown."""
        return self.start_seconds + self.duration_seconds

    @property
    def display_width(self) -> int:
        """Width as shown, after rotation."""
        return self.height if self.rotation in (90, 270) else self.width

    @property
    def display_height(self) -> int:
        """Height as shown, after rotation."""
        return self.width if self.rotation in (90, 270) else self.height


@dataclass(frozen=True)
class Window:
    """One stretch of video the model sees in one pass, and exactly how it is sampled."""

    index: int
    """Position of this window in its plan (0-based)."""
    start_seconds: float
    """Absolute start of the window; the model's relative time 0 is this instant."""
    end_seconds: float
    """Absolute end of the window (exclusive)."""
    pts_seconds: tuple[float, ...]
    """Target instants, absolute: ``start_seconds + k / sampled_fps`` for k in 0..num_frames-1 (or, for
    Qwen3-VL's ``targets="source_frames"``, the starts of the frames qwen-vl-utils reads)."""
    height: int
    """Resized frame height: a multiple of ``patch_factor`` (the model's patch x merge size)."""
    width: int
    """Resized frame width: a multiple of ``patch_factor``."""
    sampled_fps: float
    """Frames per second of video time the model sees: ``num_frames / duration_seconds``."""
    temporal_patch_size: int = 2
    """Frames per temporal patch (2 for Qwen2-VL and Qwen2.5-VL)."""
    patch_factor: int = 28
    """Pixels per merged visual token side: 28 (14-pixel patches, 2x2 merge), 32 for Qwen3-VL (16-pixel)."""

    @property
    def num_frames(self) -> int:
        return len(self.pts_seconds)

    @property
    def duration_seconds(self) -> float:
        return self.end_seconds - self.start_seconds

    @property
    def second_per_grid(self) -> float:
        """Seconds of video per temporal patch: ``temporal_patch_size / sampled_fps``."""
        return self.temporal_patch_size / self.sampled_fps

    @property
    def grid_thw(self) -> tuple[int, int, int]:
        """Vision grid in patches of ``patch_factor / 2`` pixels: (temporal, height, width) patches."""
        return (
            self.num_frames // self.temporal_patch_size,
            self.height // (self.patch_factor // 2),
            self.width // (self.patch_factor // 2),
        )

    @property
    def visual_tokens(self) -> int:
        """Exact number of LLM tokens the window costs after the 2x2 merge."""
        t, h, w = self.grid_thw
        return t * (h // 2) * (w // 2)


@dataclass(frozen=True)
class SamplingPlan:
    """The dynamic-FPS decision for one video: one or more windows, in time order."""

    source: str
    windows: tuple[Window, ...]
    target_fps: float
    """The fps asked for; each window's ``sampled_fps`` may be lower when budgets bind."""
    min_pixels: int
    max_pixels: int
    total_pixels: float
    stream_index: int | None = None
    """The video stream to decode (from the probe the plan was made from); None: FFmpeg's best one."""

    @property
    def num_frames(self) -> int:
        return sum(w.num_frames for w in self.windows)

    @property
    def visual_tokens(self) -> int:
        return sum(w.visual_tokens for w in self.windows)

    def subset(self, indices: list[int] | tuple[int, ...]) -> SamplingPlan:
        """A plan holding only the windows with these indices (keeps their indices)."""
        wanted = set(indices)
        return SamplingPlan(
            source=self.source,
            windows=tuple(w for w in self.windows if w.index in wanted),
            target_fps=self.target_fps,
            min_pixels=self.min_pixels,
            max_pixels=self.max_pixels,
            total_pixels=self.total_pixels,
            stream_index=self.stream_index,
        )


@dataclass
class Clip:
    """The decoded frames of one window."""

    window: Window
    frames: np.ndarray
    """uint8 array (T, H, W, 3), resized to the window's size, rotation applied."""
    pts_seconds: np.ndarray
    """float64 array (T,): true presentation time of each returned frame."""
    warnings: list[str] = field(default_factory=list)
    """Problems met while decoding (skipped corrupt packets, frames repeated at the end)."""
    stale_targets: tuple[int, ...] = ()
    """Indices ``k`` of the targets whose returned frame is not the one due at the target instant:
    a frame after it could not be decoded (damage), or the target lies past the stream's end. A
    frame the stream itself holds on screen (variable frame rate, a gap in the recording) is not
    stale. ``warnings`` says the same in words."""

    def __post_init__(self) -> None:
        if self.frames.ndim != 4 or self.frames.shape[-1] != 3 or self.frames.dtype != np.uint8:
            raise ValueError(
                f"Clip.frames must be uint8 (T, H, W, 3), got {self.frames.dtype} {self.frames.shape}"
            )
        if self.pts_seconds.shape != (self.frames.shape[0],):
            raise ValueError(
                "Clip.pts_seconds must have one entry per frame: "
                f"{self.pts_seconds.shape} vs {self.frames.shape}"
            )

    @property
    def index(self) -> int:
        return self.window.index

    @property
    def num_stale_targets(self) -> int:
        """How many targets got a frame far from their instant (0 on a healthy stream)."""
        return len(self.stale_targets)

    def __repr__(self) -> str:
        return (
            f"Clip(window={self.window.index}, frames={tuple(self.frames.shape)}, "
            f"pts_seconds=[{self.pts_seconds[0]:.3f} .. {self.pts_seconds[-1]:.3f}], "
            f"warnings={len(self.warnings)}, stale_targets={len(self.stale_targets)})"
        )
