"""Shared by the model tests: a decoded clip with known times; the positions generate() prefills with."""

from __future__ import annotations

import numpy as np

from videoqa.video._types import Clip, Window

PROMPT = "When does the red square appear?"


def make_clip(
    num_frames: int, fps: float, *, height: int = 56, width: int = 56, start: float = 0.0, seed: int = 0
):
    pts = tuple(start + k / fps for k in range(num_frames))
    window = Window(
        index=0,
        start_seconds=start,
        end_seconds=start + num_frames / fps,
        pts_seconds=pts,
        height=height,
        width=width,
        sampled_fps=fps,
    )
    frames = np.random.default_rng(seed).integers(0, 256, (num_frames, height, width, 3), dtype=np.uint8)
    return Clip(window=window, frames=frames, pts_seconds=np.array(pts))


def capture_positions(model, requests, max_new_tokens=1):
    """position_ids the language model receives on its first (prefill) call inside generate()."""
    seen = []

    def hook(module, args, kwargs):
        seen.append(kwargs["position_ids"].detach().clone())

    handle = model.model.model.language_model.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        model.generate(requests, max_new_tokens=max_new_tokens)
    finally:
        handle.remove()
    return seen[0]
