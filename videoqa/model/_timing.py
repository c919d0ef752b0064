"""MRoPE temporal position IDs of a sampled window, as the model will see them.

Qwen2.5-VL ties the temporal position of each temporal patch (2 frames) to absolute time:
patch ``g`` starts ``g * second_per_grid`` seconds after the window start, with
``second_per_grid = temporal_patch_size / sampled_fps``, and gets the ID
``floor(g * second_per_grid * tokens_per_second)`` (``tokens_per_second`` is 2 in the released
checkpoints: one ID per 0.5 s). Qwen2-VL simply numbers the patches ``0, 1, 2, ...``.

The IDs are relative to the window start; the model adds the position of the text before the
video. ``arithmetic="transformers"`` (the default) reproduces transformers' own float32
computation bit for bit (``second_per_grid_ts`` is a float32 tensor once the processor has
built it, and ``get_rope_index`` truncates ``arange(t) * (tokens_per_second *
second_per_grid)`` in float32), so these are the IDs the model really uses when it is given
``second_per_grid_ts = float32(temporal_patch_size / sampled_fps)`` (which is what the processor
passes; a float64 tensor would round differently). ``arithmetic="exact"`` gives the floor of the
true time in ticks, ``g * temporal_patch_size * duration / num_frames * tokens_per_second``.
The two differ only when a patch starts exactly on a tick and float32 lands just below it:
transformers then gives one less (e.g. 66 frames over 39 s, patch 11 starts at 13.0 s: exact 26,
transformers 25). Over 216,960 (frame count 2..768, duration 0.5..40 s) windows this happened
for 197 (0.09 %): 305 patch IDs, each exactly one below exact; see tests/test_timing.py.
"""

from __future__ import annotations

import numbers
from typing import Literal

import numpy as np

from videoqa.video._types import Window

__all__ = ["float32_temporal_ids", "temporal_ids"]

TemporalKind = Literal["absolute_time", "patch_index", "timestamp_text"]
Arithmetic = Literal["transformers", "exact"]
_KINDS = ("absolute_time", "patch_index", "timestamp_text")
_ARITHMETICS = ("transformers", "exact")
_TICK_TOLERANCE = 1e-9


def _check(
    window: object, tokens_per_second: object, temporal_patch_size: object, kind: object, arithmetic: object
):
    if not isinstance(window, Window):
        raise TypeError(
            f"window must be a videoqa.Window (from videoqa.plan_sampling), got {type(window).__name__}"
        )
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    if arithmetic not in _ARITHMETICS:
        raise ValueError(f"arithmetic must be one of {_ARITHMETICS}, got {arithmetic!r}")
    if (
        isinstance(tokens_per_second, bool)
        or not isinstance(tokens_per_second, numbers.Real)
        or not np.isfinite(tokens_per_second)
        or tokens_per_second <= 0
    ):
        raise ValueError(
            f"tokens_per_second must be a finite number > 0 (the model config's "
            f"vision_config.tokens_per_second, 2 for Qwen2.5-VL), got {tokens_per_second!r}"
        )
    if isinstance(temporal_patch_size, bool) or not isinstance(temporal_patch_size, numbers.Integral):
        raise ValueError(f"temporal_patch_size must be a positive integer, got {temporal_patch_size!r}")
    if temporal_patch_size < 1 or window.num_frames % temporal_patch_size:
        raise ValueError(
            f"window {window.index} holds {window.num_frames} frames, not a positive multiple of "
            f"temporal_patch_size={temporal_patch_size}"
        )


def temporal_ids(
    window: Window,
    *,
    tokens_per_second: float,
    temporal_patch_size: int = 2,
    kind: TemporalKind = "absolute_time",
    arithmetic: Arithmetic = "transformers",
) -> np.ndarray:
    """Temporal MRoPE position ID of each temporal patch of ``window``, relative to its start.

    Args:
        window: a window of a :class:`videoqa.SamplingPlan`.
        tokens_per_second: the model config's ``vision_config.tokens_per_second`` (2 for Qwen2.5-VL).
        temporal_patch_size: frames per temporal patch (the model's ``temporal_patch_size``, 2).
        kind: ``"absolute_time"`` for Qwen2.5-VL (``floor(g * second_per_grid * tokens_per_second)``),
            ``"patch_index"`` for Qwen2-VL (``g``), ``"timestamp_text"`` for Qwen3-VL (all 0: each
            temporal patch is positioned like an image, at the position where its own
            ``<t seconds><|vision_start|>`` block starts; time reaches the model as that text).
        arithmetic: ``"transformers"`` to reproduce transformers' float32 computation exactly,
            ``"exact"`` for the floor of the exact product of the float64 inputs.

    Returns:
        int64 array of shape ``(num_frames // temporal_patch_size,)``.
    """
    _check(window, tokens_per_second, temporal_patch_size, kind, arithmetic)
    grid_t = window.num_frames // int(temporal_patch_size)
    if kind == "patch_index":
        return np.arange(grid_t, dtype=np.int64)
    if kind == "timestamp_text":
        return np.zeros(grid_t, dtype=np.int64)
    if arithmetic == "exact":
        return _exact_ids(window, grid_t, int(temporal_patch_size), float(tokens_per_second))
    # transformers: the processor computes temporal_patch_size / sampled_fps in float64 and stores it in a
    # float32 tensor (second_per_grid_ts); get_rope_index multiplies it by tokens_per_second (float32),
    # multiplies arange(grid_t) (int64) by that float32 scalar tensor in float32, and truncates (.long()).
    return float32_temporal_ids(
        grid_t,
        second_per_grid=int(temporal_patch_size) / window.sampled_fps,
        tokens_per_second=float(tokens_per_second),
    )


def float32_temporal_ids(grid_t: int, *, second_per_grid: float, tokens_per_second: float) -> np.ndarray:
    """``floor(g * tokens_per_second * second_per_grid)``, ``g < grid_t``, in transformers' float32.

    The one place of that arithmetic: :func:`temporal_ids` and the vLLM engine's Qwen2.5-VL class
    (:mod:`videoqa.model._vllm_exact`) both call it, so the two engines cannot drift apart.
    """
    interval = np.float32(tokens_per_second) * np.float32(second_per_grid)
    return (np.arange(grid_t, dtype=np.float32) * interval).astype(np.int64)


def _exact_ids(window: Window, grid_t: int, temporal_patch_size: int, tokens_per_second: float) -> np.ndarray:
    """floor(t_g * tokens_per_second) with t_g = g * temporal_patch_size * duration / num_frames.

    Computed in float64 from the window's frame count and duration (not from the rounded
    ``sampled_fps``); a product within 1e-9 (relative) below an integer counts as that integer,
    so a patch starting on a tick (13.0 s, up to float noise) gets that tick's ID.
    """
    seconds_per_patch = temporal_patch_size * window.duration_seconds / window.num_frames
    ticks = np.arange(grid_t, dtype=np.float64) * seconds_per_patch * tokens_per_second
    nearest = np.round(ticks)
    on_tick = np.abs(ticks - nearest) <= _TICK_TOLERANCE * np.maximum(1.0, nearest)
    return np.where(on_tick, nearest, np.floor(ticks)).astype(np.int64)
