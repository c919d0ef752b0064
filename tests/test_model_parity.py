"""Parity with the reference stack: qwen-vl-utils ``process_vision_info`` + the transformers processor.

For the same test video and settings, our path (``probe`` -> ``plan_sampling`` -> ``decode`` ->
runner) must build the same ``input_ids``, ``video_grid_thw`` and ``second_per_grid_ts``, and the
same pixels up to resampling: qwen-vl-utils resizes decord's RGB frames with torch bicubic
(antialiased), we resize inside swscale while converting from YUV.

Peers written against (tests/peers.py): transformers 5.25.0, qwen-vl-utils 0.0.14.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import videoqa
from tests.peers import recipe_inputs
from videoqa.model import GenerationRequest
from videoqa.video._types import SamplingPlan, Window

PROMPT = "When does the red square appear?"
SETTINGS = {"min_pixels": 4 * 28 * 28, "max_pixels": 8 * 28 * 28}


def reference_inputs(model, path, fps):
    """What the official recipe feeds the model: qwen-vl-utils reads and resizes, the processor tokenises."""
    video_part = {"type": "video", "video": str(path), "fps": fps, **SETTINGS}
    return recipe_inputs(model, video_part, PROMPT, cap_pixels_per_frame=False)


@pytest.mark.parametrize(("fps", "frames", "second_per_grid"), [(2.0, 20, 1.0), (0.5, 4, 5.0)])
def test_ids_grid_and_seconds_per_grid_match_the_reference(
    tiny_qwen25, h264_mp4, fps, frames, second_per_grid
):
    m = tiny_qwen25
    ref, meta = reference_inputs(m, h264_mp4, fps)
    plan = videoqa.plan_sampling(videoqa.probe(h264_mp4), fps=fps, **SETTINGS)
    (window,) = plan.windows
    (clip,) = list(videoqa.decode(h264_mp4, plan))
    built = m.build_inputs([GenerationRequest(features=(m.encode(clip),), prompt=PROMPT)])

    # 10 s at 10 fps, 160x90: `frames` frames at 56x84: a 4x6 patch grid, 2x3 tokens per 2 frames.
    assert len(meta["frames_indices"]) == window.num_frames == frames
    assert tuple(ref["video_grid_thw"][0].tolist()) == window.grid_thw == (frames // 2, 4, 6)
    assert ref["second_per_grid_ts"].tolist() == [second_per_grid]
    assert window.second_per_grid == second_per_grid
    np.testing.assert_array_equal(built["input_ids"], ref["input_ids"].numpy())
    assert int((ref["input_ids"] == m.video_token_id).sum()) == window.visual_tokens == frames // 2 * 6
    # The positions the model derives from the reference inputs equal ours on the video tokens.
    theirs, _ = m.model.model.get_rope_index(
        ref["input_ids"],
        mm_token_type_ids=ref["mm_token_type_ids"],
        video_grid_thw=ref["video_grid_thw"],
        second_per_grid_ts=ref["second_per_grid_ts"],
    )
    video = ref["input_ids"][0] == m.video_token_id
    np.testing.assert_array_equal(theirs[:, 0, video].numpy(), built["position_ids"][1:, 0, video.numpy()])


def test_pixels_match_the_reference_within_resampling_error(tiny_qwen25, h264_mp4):
    m = tiny_qwen25
    ref, meta = reference_inputs(m, h264_mp4, 2.0)
    # Decode exactly the source frames qwen-vl-utils picked (linspace indices), 20% into each frame,
    # so only the resize differs.
    source_fps = meta["fps"]
    pts = tuple((i + 0.2) / source_fps for i in meta["frames_indices"])
    t, h, w = ref["video_grid_thw"][0].tolist()
    window = Window(
        index=0,
        start_seconds=0.0,
        end_seconds=10.0,
        pts_seconds=pts,
        height=h * 14,
        width=w * 14,
        sampled_fps=2.0,
    )
    plan = SamplingPlan(source=str(h264_mp4), windows=(window,), target_fps=2.0, total_pixels=1e9, **SETTINGS)
    (clip,) = list(videoqa.decode(h264_mp4, plan))
    np.testing.assert_allclose(clip.pts_seconds, np.array(meta["frames_indices"]) / source_fps, atol=1e-3)
    ours, grid = m.preprocess(clip.frames)
    assert grid == (t, h, w)
    # Back to 8-bit levels: undo the per-channel normalisation of the patchified values.
    std = torch.tensor(m.processor.video_processor.image_std).view(1, 3, 1) * 255
    diff = ((ours - ref["pixel_values_videos"]).view(ours.shape[0], 3, -1) * std).abs()
    max_diff, mean_diff = float(diff.max()), float(diff.mean())
    p99 = float(torch.quantile(diff.flatten()[::7], 0.99))
    far = float((diff > 16).float().mean())
    print(f"pixel parity (8-bit levels): max {max_diff:.1f} mean {mean_diff:.2f} p99 {p99:.1f} >16 {far:.2%}")
    # Measured: max 84, mean 1.20, p99 3.0, 0.10% of values more than 16 levels apart. Two bicubic
    # resamplers (swscale on YUV vs torch antialiased on decord's RGB) downscaling 160x90 -> 84x56
    # agree on flat areas and differ only at the synthetic frames' hard edges. Decoding the
    # neighbouring frame instead gives mean 25, p99 223, 12% > 16 levels, so the bounds below
    # separate "same frame, other resampler" from "wrong frame" by an order of magnitude.
    assert mean_diff < 3.0
    assert p99 < 10.0
    assert far < 0.01
    assert max_diff < 128.0
