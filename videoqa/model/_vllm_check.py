"""The vLLM engine's start-up self-check: tiny requests whose times expose each known wrong-time case.

Two requests of two windows each, with random embeddings (only prompts and positions are checked):

- window A holds 12 frames over 5.0 s: on Qwen2.5-VL a patch starts on a tick where vLLM's own
  arithmetic on a float32 time step (what its processor makes from pixels) gives a temporal id one
  below the float32 one the model was trained with (``[0, 1, 3, 4, 6, 8]``, not ``[0, 1, 3, 5, 6, 8]``);
  the second request has the same frames over 6.6 s, where vLLM's arithmetic on the float64 step
  videoqa sends gives ``[0, 2, 4, 6, 8, 10]``, not ``[0, 2, 4, 6, 8, 11]``;
- both windows start late in the video (3.25 s and 8.25 s), and on Qwen3-VL their frames are unevenly
  spaced, so timestamps from frame index / fps would differ from the true ones;
- the second request sends window A's very embeddings at that other time: a cache keyed by
  content alone would reuse the first time.

vLLM's prompt token ids and MRoPE positions must equal videoqa's on both; otherwise the engine is
refused with the difference named.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from videoqa.errors import ModelError
from videoqa.model._protocol import GenerationRequest, VisualFeatures
from videoqa.video._types import Window

__all__ = ["run_self_check", "self_check_requests"]

_UNEVEN = (0.0, 0.3, 0.5, 1.1, 1.2, 1.9, 2.6, 2.7, 3.3, 3.9, 4.0, 4.6)
"""Offsets (s) of window A's frames on Qwen3-VL: a variable frame rate."""


def _window(
    index: int, start: float, duration: float, frames: int, *, patch_factor: int, uneven: bool
) -> Window:
    if uneven:
        offsets = np.asarray(_UNEVEN[:frames]) * duration / 5.0
    else:
        offsets = np.arange(frames) * duration / frames
    return Window(
        index=index,
        start_seconds=start,
        end_seconds=start + duration,
        pts_seconds=tuple(float(start + t) for t in offsets),
        height=patch_factor,
        width=patch_factor,
        sampled_fps=frames / duration,
        temporal_patch_size=2,
        patch_factor=patch_factor,
    )


def _features(inner: Any, window: Window, embeddings: Any) -> VisualFeatures:
    from videoqa.model._qwen import QwenWindowFeatures

    fields = {
        "embeddings": embeddings,
        "grid_thw": window.grid_thw,
        "second_per_grid": float(window.second_per_grid),
        "fingerprint": inner.fingerprint(),
    }
    layers = getattr(inner.model.config.vision_config, "deepstack_visual_indexes", None)
    if inner.temporal.kind == "timestamp_text":
        from videoqa.model._qwen3 import Qwen3WindowFeatures

        data: Any = Qwen3WindowFeatures(**fields, deepstack=tuple(embeddings * 0.5 for _ in layers or ()))
    else:
        data = QwenWindowFeatures(**fields)
    return VisualFeatures(window=window, pts_seconds=np.asarray(window.pts_seconds), data=data)


def self_check_requests(inner: Any) -> list[GenerationRequest]:
    """The self-check's two requests for the transformers runner ``inner`` (see the module docstring)."""
    import torch

    factor = inner.sampling.patch_factor
    uneven = inner.temporal.kind == "timestamp_text"
    hidden = int(inner.model.get_input_embeddings().weight.shape[1])
    generator = torch.Generator().manual_seed(0)
    a = _window(0, 3.25, 5.0, 12, patch_factor=factor, uneven=uneven)
    a_later = _window(0, 3.25, 6.6, 12, patch_factor=factor, uneven=uneven)
    b = _window(1, 8.25, 2.0, 4, patch_factor=factor, uneven=False)
    a_embeds = torch.randn(a.visual_tokens, hidden, generator=generator)
    b_embeds = torch.randn(b.visual_tokens, hidden, generator=generator)
    first = (_features(inner, a, a_embeds), _features(inner, b, b_embeds))
    # Equal content, other objects: vLLM hashes content; the transformers runner's prefix reuse keys
    # windows by object (one object is one window, hence one time, in a Session).
    second = (_features(inner, a_later, a_embeds.clone()), _features(inner, b, b_embeds.clone()))
    return [
        GenerationRequest(features=first, prompt="When?"),
        GenerationRequest(features=second, prompt="When?"),
    ]


def run_self_check(model: Any) -> None:
    """Refuse (ModelError) a vLLM whose prompts or positions differ from videoqa's on the check requests."""
    saved = model.check_positions
    model.check_positions = True
    try:
        model.generate(self_check_requests(model.inner), max_new_tokens=1)
    except ModelError as exc:
        raise ModelError(
            f"{model.model_id}: the vLLM engine failed videoqa's time self-check and is refused: {exc}"
        ) from exc
    finally:
        model.check_positions = saved
