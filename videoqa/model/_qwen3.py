"""Qwen3-VL through transformers, with each temporal patch's time taken from the frames' true pts.

How time reaches Qwen3-VL (the processor as released, transformers 4.57.0
``processing_qwen3_vl.py``): MRoPE carries no time. The processor replaces a video's
``<|video_pad|>`` by, for each temporal patch (2 frames),
``<{t:.1f} seconds>`` + ``<|vision_start|>`` + ``<|video_pad|>`` x (h x w / 4) + ``<|vision_end|>``,
with ``t`` the mean of ``index / fps`` over the patch's first and last frame (``_calculate_timestamps``):
one fps for the whole video and a first frame at index 0, so on variable-frame-rate video, on a
video whose first frame is not at 0 and on any window that does not start the video, ``t`` is not
when the frames were shown. Without metadata it assumes 24 fps.

Here ``t`` is the mean of the *true pts* of the patch's two decoded frames, minus the start of the
request's first window (the instant the session adds back to every answer): on constant-rate
video starting at 0, read at qwen-vl-utils' frames (``plan_sampling(targets="source_frames")``),
it is the processor's number, so the text and token ids are the processor's (tested token for
token); elsewhere it is the time the frames were on screen.

The rest is the processor's and the model's own layout: the chat template's
``<|vision_start|><|video_pad|><|vision_end|>`` is replaced whole by the patches, so no outer pair
encloses them (the reference layout; transformers 5.10.1-5.24.0 kept the outer pair, a regression
fixed in 5.25.0: see :func:`videoqa.model._timestamps.expand_video_timestamps`); position ids
(``get_rope_index``) place each temporal patch like an image, ``(s, s + i, s + j)`` from the
position ``s`` where its tokens start, and the text after it resumes at ``s + max(h, w) / 2``;
DeepStack features of the vision tower's intermediate layers are kept with the window (cacheable)
and handed to the language model through ``mm_encoder_outputs``, which adds them to the visual
positions of its first layers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from videoqa.errors import ModelError
from videoqa.model._protocol import GenerationRequest
from videoqa.model._qwen import QwenModel, QwenWindowFeatures
from videoqa.model._timestamps import expand_video_timestamps, patch_timestamps
from videoqa.text._layout import interleave_cues

__all__ = ["Qwen3Model", "Qwen3WindowFeatures", "qwen3_positions"]


def qwen3_positions(
    input_ids: Sequence[int],
    *,
    video_token_id: int,
    patch_grids_hw: Sequence[tuple[int, int]],
    spatial_merge_size: int = 2,
) -> np.ndarray:
    """int64 (3, len(input_ids)) MRoPE ids in Qwen3-VL's layout (``get_rope_index`` of transformers).

    Text counts up by one on all three axes. Each run of video tokens is one temporal patch with
    unmerged grid (h, w) from ``patch_grids_hw`` in order; starting at position ``s`` its tokens get
    ``(s, s + i, s + j)`` over the merged grid, and the next text starts at ``s + max(h, w) / merge``.
    """
    ids = np.asarray(input_ids, dtype=np.int64)
    out = np.zeros((3, len(ids)), dtype=np.int64)
    is_video = ids == video_token_id
    pos, i, patch = 0, 0, 0
    while i < len(ids):
        if not is_video[i]:
            out[:, i] = pos
            pos, i = pos + 1, i + 1
            continue
        if patch >= len(patch_grids_hw):
            raise ValueError(f"more video token runs than the {len(patch_grids_hw)} temporal patches given")
        h, w = patch_grids_hw[patch]
        gh, gw = h // spatial_merge_size, w // spatial_merge_size
        n = gh * gw
        if not is_video[i : i + n].all() or (i + n < len(ids) and is_video[i + n]):
            raise ValueError(
                f"temporal patch {patch} needs exactly {n} consecutive video tokens at index {i}"
            )
        out[0, i : i + n] = pos
        out[1, i : i + n] = np.repeat(np.arange(gh), gw) + pos
        out[2, i : i + n] = np.tile(np.arange(gw), gh) + pos
        pos += max(gh, gw)
        i += n
        patch += 1
    if patch != len(patch_grids_hw):
        raise ValueError(f"{len(patch_grids_hw)} temporal patches given but {patch} video token runs found")
    return out


@dataclass(frozen=True)
class Qwen3WindowFeatures(QwenWindowFeatures):
    """A Qwen3-VL window: the merged embeddings plus the DeepStack features of the same tokens."""

    deepstack: tuple[Any, ...] = ()
    """One CPU tensor (visual_tokens, hidden size) per DeepStack layer of the vision tower."""


class Qwen3Model(QwenModel):
    """A loaded Qwen3-VL (dense or MoE) checkpoint; see the module docstring for how time is written."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.vision_start = self.processor.vision_start_token
        self.vision_end = self.processor.vision_end_token
        self.temporal_patch_size = int(self.model.config.vision_config.temporal_patch_size)

    def _window_payload(self, out: Any, embeddings: Any, grid: tuple[int, int, int], window: Any) -> Any:
        deepstack = tuple(torch_cat_cpu(layer) for layer in (getattr(out, "deepstack_features", None) or ()))
        return Qwen3WindowFeatures(
            embeddings=embeddings,
            grid_thw=grid,
            second_per_grid=float(window.second_per_grid),
            fingerprint=self.fingerprint(),
            deepstack=deepstack,
        )

    def patch_seconds(self, request: GenerationRequest) -> list[np.ndarray]:
        """Each window's patch timestamps, relative to the request's first window start."""
        origin = request.features[0].window.start_seconds
        return [
            patch_timestamps(
                f.pts_seconds, origin_seconds=origin, temporal_patch_size=self.temporal_patch_size
            )
            for f in request.features
        ]

    def _expand_videos(self, text: str, request: GenerationRequest, datas: Sequence[Any]) -> str:
        videos = []
        for seconds, data in zip(self.patch_seconds(request), datas, strict=True):
            t, h, w = data.grid_thw
            if len(seconds) != t:
                raise ModelError(f"{len(seconds)} timestamps for a window of {t} temporal patches")
            videos.append((seconds, h * w // self.spatial_merge_size**2))
        return expand_video_timestamps(
            text,
            video_token=self.video_token,
            vision_start=self.vision_start,
            vision_end=self.vision_end,
            videos=videos,
            after_patches=self._cues_after_patches(request, [len(s) for s, _ in videos]),
        )

    def _cues_after_patches(
        self, request: GenerationRequest, patches: Sequence[int]
    ) -> list[list[str]] | None:
        """Per window, the timed text written after each of its temporal patches (None: no text)."""
        timed = request.timed_text
        if timed is None or not timed.cues or self.text_layout != "interleaved":
            return None
        origin = request.features[0].window.start_seconds
        starts = [
            float(t) - origin for f in request.features for t in f.pts_seconds[:: self.temporal_patch_size]
        ]
        after = interleave_cues(
            timed.cues,
            patch_starts_seconds=starts,
            origin_seconds=origin,
            max_tokens=timed.max_tokens,
            count_tokens=self.count_text_tokens,
        )
        out, k = [], 0
        for n in patches:
            out.append(after[k : k + n])
            k += n
        return out

    def _positions(self, ids: Sequence[int], request: GenerationRequest, datas: Sequence[Any]) -> np.ndarray:
        grids = [(d.grid_thw[1], d.grid_thw[2]) for d in datas for _ in range(d.grid_thw[0])]
        return qwen3_positions(
            ids,
            video_token_id=self.video_token_id,
            patch_grids_hw=grids,
            spatial_merge_size=self.spatial_merge_size,
        )

    def _row_features(self, datas: Sequence[Any]) -> list[Any]:
        return list(datas)  # embeddings and DeepStack features travel together

    def embed(self, input_ids: Any, features: Sequence[Sequence[Any]]) -> Any:
        """Plain token embeddings: the model writes the video embeddings itself (``visual_inputs``)."""
        return self.model.get_input_embeddings()(input_ids)

    def visual_inputs(self, features: Sequence[Sequence[Any]]) -> dict[str, Any]:
        """``mm_encoder_outputs`` of the rows' windows, in the order their video tokens appear."""
        from transformers.models.qwen3_vl.modeling_qwen3_vl import BaseModelOutputWithDeepstackFeatures

        device = self.model.get_input_embeddings().weight.device
        datas = [d for row in features for d in row]
        layers = {len(d.deepstack) for d in datas}
        if len(layers) != 1:
            raise ModelError(f"windows carry different numbers of DeepStack layers: {sorted(layers)}")
        video = BaseModelOutputWithDeepstackFeatures(
            pooler_output=tuple(d.embeddings.to(device) for d in datas),
            deepstack_features=[tuple(d.deepstack[k].to(device) for d in datas) for k in range(layers.pop())],
        )
        return {"mm_encoder_outputs": {"video": video}}


def torch_cat_cpu(parts: Any) -> Any:
    """One contiguous CPU tensor from a tensor or a tuple of per-video tensors."""
    import torch

    if isinstance(parts, (tuple, list)):
        parts = torch.cat(list(parts), dim=0)
    return parts.to("cpu").contiguous()
