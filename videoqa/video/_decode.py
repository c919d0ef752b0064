"""``decode``: stream the frames of a sampling plan, one window at a time, with true timestamps."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, Literal, get_args

from videoqa.video._sampling import positive_real
from videoqa.video._types import Clip, SamplingPlan

__all__ = ["decode"]

Backend = Literal["pyav", "decord"]
BACKENDS: tuple[str, ...] = get_args(Backend)
DEFAULT_BACKEND: Backend = "pyav"


def decode(
    source: str | os.PathLike[str],
    plan: SamplingPlan,
    *,
    backend: Backend = DEFAULT_BACKEND,
    num_threads: int = 2,
    storage_options: dict[str, Any] | None = None,
    timeout_seconds: float | None = None,
) -> Iterator[Clip]:
    """Decode the frames of ``plan``: one :class:`Clip` per window, in plan order, streamed.

    Each target instant of a window gets the frame on screen at that instant (the last frame
    whose pts is at or before it; the first frame when the instant precedes the video). Frames
    come resized to the window's height x width, as RGB uint8, with the display rotation applied;
    ``Clip.pts_seconds`` holds each returned frame's true pts. Only one window's frames are held
    in memory at a time, whatever the video's length.

    Args:
        source: a local path, ``file://`` URL or fsspec URL (``s3://...``, ``gs://...``).
        plan: from :func:`videoqa.plan_sampling` (or any :class:`SamplingPlan`).
        backend: ``"pyav"`` (default; seeks or decodes straight through per window, resizes in
            swscale) or ``"decord"`` (``pip install 'videoqa[decord]'``; runs in a subprocess so a
            hung decoder can be killed). There is no fallback from one to the other.
        num_threads: cores one window's decode may use; never left to the library default. pyav:
            with more than one, each window's targets are cut at keyframes into up to that many
            segments, decoded in parallel by single-thread decoders (one container each; windows
            under 16 targets or one long GOP stay whole), or, when the file has no keyframe index,
            by one decoder with FFmpeg frame threads. decord: its decoder threads.
        storage_options: fsspec options for URLs.
        timeout_seconds: decord only: give up on one window after this long (default 120 s) and
            raise :class:`~videoqa.errors.DecodeTimeoutError`.

    Damage in the middle of a stream is skipped (a warning lands on ``Clip.warnings``); targets
    past the real end of the stream get its last frame, also with a warning.
    """
    if backend not in BACKENDS:
        raise ValueError(f"Invalid backend ({backend!r}). Supported values are {', '.join(BACKENDS)}.")
    if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
        raise ValueError(f"num_threads must be a positive int, got {num_threads!r}")
    _check_plan(plan)
    if timeout_seconds is not None and backend != "decord":
        raise ValueError("timeout_seconds applies to the decord backend only (pyav never blocks unbounded)")
    if timeout_seconds is not None:
        positive_real("timeout_seconds", timeout_seconds)
    if backend == "pyav":
        from videoqa.video._pyav import decode_pyav

        return decode_pyav(source, plan, num_threads=num_threads, storage_options=storage_options)
    from videoqa.video._decord import decode_decord

    return decode_decord(
        source,
        plan,
        num_threads=num_threads,
        storage_options=storage_options,
        timeout_seconds=120.0 if timeout_seconds is None else timeout_seconds,
    )


def _check_plan(plan: SamplingPlan) -> None:
    if not isinstance(plan, SamplingPlan):
        raise TypeError(
            f"plan must be a SamplingPlan (from videoqa.plan_sampling), got {type(plan).__name__}"
        )
    for window in plan.windows:
        if window.num_frames < 1:
            raise ValueError(f"window {window.index} of the plan has no target instants")
        if window.height < 1 or window.width < 1:
            raise ValueError(f"window {window.index} has an invalid size {window.width}x{window.height}")
