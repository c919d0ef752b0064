"""Temporal MRoPE IDs: our prediction equals what transformers computes inside the model.

Also pins the parts of transformers' ``get_rope_index`` (5.23) the model code relies on, and the
places where it departs from Qwen's original position layout.

Peers written against (tests/peers.py): transformers 5.25.0 (get_rope_index; first pinned on 5.23).
"""

from __future__ import annotations

import numpy as np
import pytest

from videoqa.model import temporal_ids
from videoqa.synthetic import planned_info
from videoqa.video import VideoInfo, Window, plan_sampling

TEXT_BEFORE = 5
TEXT_AFTER = 3
VIDEO_TOKEN = 60


def _info(seconds: float, fps: float = 30.0, width: int = 112, height: int = 56) -> VideoInfo:
    return planned_info(
        duration_seconds=seconds, fps=fps, width=width, height=height, source="memory://timing.mp4"
    )


def _window(num_frames: int, seconds: float, start: float = 0.0) -> Window:
    return Window(
        index=0,
        start_seconds=start,
        end_seconds=start + seconds,
        pts_seconds=tuple(start + k * seconds / num_frames for k in range(num_frames)),
        height=56,
        width=112,
        sampled_fps=num_frames / seconds,
    )


# Small frames (2x4 merged tokens per temporal patch) keep the token sequences short.
SMALL = dict(min_pixels=4 * 28 * 28, max_pixels=8 * 28 * 28)


def _window_at(target_fps: float, seconds: float = 64.0) -> Window:
    (window,) = plan_sampling(_info(seconds), fps=target_fps, max_frames=1024, **SMALL).windows
    return window


# ---------------------------------------------------------------------------------------- the rule itself


@pytest.mark.parametrize(
    ("target_fps", "step"),
    [(0.25, 16), (0.5, 8), (1.0, 4), (2.0, 2), (4.0, 1)],
)
def test_absolute_time_ids_are_half_seconds_of_patch_start(target_fps, step):
    window = _window_at(target_fps)
    assert window.sampled_fps == target_fps
    ids = temporal_ids(window, tokens_per_second=2)
    assert ids.dtype == np.int64
    assert ids.shape == (window.num_frames // 2,)
    np.testing.assert_array_equal(ids, np.arange(window.num_frames // 2) * step)


def test_ids_follow_true_time_at_an_uneven_rate():
    # 14 frames over 7.5 s: a temporal patch every 2 / (14/7.5) = 1.0714 s -> floor(2 * g * 1.0714).
    (window,) = plan_sampling(_info(7.5), **SMALL).windows
    assert window.num_frames == 14
    np.testing.assert_array_equal(temporal_ids(window, tokens_per_second=2), [0, 2, 4, 6, 8, 10, 12])
    # 20 frames over 10 s at 4 ticks per second: 4 ticks per patch.
    (window,) = plan_sampling(_info(10.0), **SMALL).windows
    np.testing.assert_array_equal(temporal_ids(window, tokens_per_second=4), np.arange(10) * 4)


def test_ids_are_relative_to_the_window_start():
    plan = plan_sampling(_info(100.0), window_seconds=30.0, **SMALL)
    ids = [temporal_ids(w, tokens_per_second=2) for w in plan.windows]
    np.testing.assert_array_equal(ids[1], np.arange(30) * 2)
    np.testing.assert_array_equal(ids[3], np.arange(10) * 2)


def test_patch_index_for_qwen2_vl():
    window = _window_at(0.25)
    np.testing.assert_array_equal(temporal_ids(window, tokens_per_second=2, kind="patch_index"), np.arange(8))


def test_exact_and_transformers_arithmetic_differ_where_float32_falls_short():
    # 66 frames over 39 s: patch 11 starts at 11 * 2 * 39/66 = 13.0 s exactly -> tick 26. transformers
    # stores second_per_grid (1.1818...) as float32, and 11 * 2 * float32(1.1818...) = 25.999998 -> 25.
    window = _window(66, 39.0)
    exact = temporal_ids(window, tokens_per_second=2, arithmetic="exact")
    ours = temporal_ids(window, tokens_per_second=2)
    assert (exact[11], ours[11]) == (26, 25)
    assert np.flatnonzero(exact != ours).tolist() == [11, 22]
    # Where exact float64 would fall short instead (2/3 s per patch), float32 rounding lands on the tick.
    window = _window(12, 4.0)
    np.testing.assert_array_equal(temporal_ids(window, tokens_per_second=2), [0, 1, 2, 4, 5, 6])
    np.testing.assert_array_equal(
        temporal_ids(window, tokens_per_second=2, arithmetic="exact"), [0, 1, 2, 4, 5, 6]
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (dict(tokens_per_second=0), ValueError, "tokens_per_second must be a finite number > 0"),
        (dict(tokens_per_second=None), ValueError, "tokens_per_second must be a finite number > 0"),
        (dict(tokens_per_second=2, kind="time"), ValueError, "kind must be one of"),
        (dict(tokens_per_second=2, arithmetic="fast"), ValueError, "arithmetic must be one of"),
        (
            dict(tokens_per_second=2, temporal_patch_size=3),
            ValueError,
            "holds 16 frames, not a positive multiple",
        ),
        (
            dict(tokens_per_second=2, temporal_patch_size=2.0),
            ValueError,
            "temporal_patch_size must be a positive",
        ),
    ],
)
def test_bad_arguments_are_named(kwargs, error, message):
    with pytest.raises(error, match=message):
        temporal_ids(_window_at(0.25), **kwargs)
    with pytest.raises(TypeError, match=r"window must be a videoqa\.Window"):
        temporal_ids("window", tokens_per_second=2)


# ------------------------------------------------------------------------------------ against transformers


def _tiny_model(kind: str):
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2VLConfig
    from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLModel
    from transformers.models.qwen2_vl.modeling_qwen2_vl import Qwen2VLModel

    text = dict(
        vocab_size=64,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        bos_token_id=None,
        eos_token_id=None,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 1, 1]},
    )
    ids = dict(
        video_token_id=VIDEO_TOKEN, image_token_id=61, vision_start_token_id=62, vision_end_token_id=63
    )
    torch.manual_seed(0)
    if kind == "qwen2.5-vl":
        # tokens_per_second=2 as in the released Qwen2.5-VL checkpoints (the class default is 4).
        vision = dict(depth=1, hidden_size=16, intermediate_size=32, num_heads=2, out_hidden_size=16)
        config = Qwen2_5_VLConfig(text_config=text, vision_config={**vision, "tokens_per_second": 2}, **ids)
        return Qwen2_5_VLModel(config).eval()
    vision = dict(depth=1, embed_dim=16, hidden_size=16, num_heads=2, mlp_ratio=2)
    return Qwen2VLModel(Qwen2VLConfig(text_config=text, vision_config=vision, **ids)).eval()


@pytest.fixture(scope="module")
def qwen25_model():
    return _tiny_model("qwen2.5-vl")


@pytest.fixture(scope="module")
def qwen2_model():
    return _tiny_model("qwen2-vl")


def _rope_index(model, window: Window, *, pass_seconds: bool = True):
    """transformers' position IDs for [5 text][video tokens][3 text], inputs built as the processor does."""
    import torch
    from transformers import BatchFeature

    n_video = window.visual_tokens
    types = [0] * TEXT_BEFORE + [2] * n_video + [0] * TEXT_AFTER
    input_ids = torch.tensor([[1] * TEXT_BEFORE + [VIDEO_TOKEN] * n_video + [2] * TEXT_AFTER])
    kwargs = dict(
        mm_token_type_ids=torch.tensor([types], dtype=torch.int32),
        video_grid_thw=torch.tensor([window.grid_thw]),
    )
    if pass_seconds:
        # The processor builds a list of Python floats; BatchFeature turns it into a float32 tensor.
        feature = BatchFeature({"second_per_grid_ts": [2 / window.sampled_fps]}, tensor_type="pt")
        kwargs["second_per_grid_ts"] = feature["second_per_grid_ts"]
    with torch.no_grad():
        positions, deltas = model.get_rope_index(input_ids, **kwargs)
    return positions[:, 0].numpy(), int(deltas[0, 0])


def _video_temporal_row(positions: np.ndarray, window: Window) -> np.ndarray:
    """The temporal ID of each temporal patch, read from transformers' per-token positions."""
    t, h, w = window.grid_thw
    per_patch = (h // 2) * (w // 2)
    temporal = positions[0, TEXT_BEFORE : TEXT_BEFORE + window.visual_tokens].reshape(t, per_patch)
    assert (temporal == temporal[:, :1]).all()  # every token of a temporal patch shares its ID
    return temporal[:, 0]


WINDOWS = {
    "fps0.25": lambda: _window_at(0.25),
    "fps0.5": lambda: _window_at(0.5),
    "fps1": lambda: _window_at(1.0),
    "fps2": lambda: _window_at(2.0),
    "fps4": lambda: _window_at(4.0),
    "fps3": lambda: _window(12, 4.0),
    "short_2s": lambda: plan_sampling(_info(2.0), **SMALL).windows[0],
    "14_frames_in_7.5s": lambda: plan_sampling(_info(7.5), **SMALL).windows[0],
    "29.97fps_windows": lambda: plan_sampling(
        _info(95.3, fps=30000 / 1001), window_seconds=40, **SMALL
    ).windows[2],
    "float32_short": lambda: _window(66, 39.0),
    "hour_768_frames": lambda: plan_sampling(_info(3600.0, fps=1.0), **SMALL).windows[0],
}


@pytest.mark.parametrize("name", list(WINDOWS))
def test_qwen25_vl_temporal_ids_equal_transformers_get_rope_index(name, qwen25_model):
    window = WINDOWS[name]()
    positions, _ = _rope_index(qwen25_model, window)
    expected = temporal_ids(window, tokens_per_second=2) + TEXT_BEFORE
    np.testing.assert_array_equal(_video_temporal_row(positions, window), expected)


@pytest.mark.parametrize("name", ["fps0.25", "fps2", "fps4", "hour_768_frames"])
def test_qwen2_vl_patch_index_equals_transformers_get_rope_index(name, qwen2_model):
    window = WINDOWS[name]()
    positions, _ = _rope_index(qwen2_model, window, pass_seconds=False)
    expected = temporal_ids(window, tokens_per_second=2, kind="patch_index") + TEXT_BEFORE
    np.testing.assert_array_equal(_video_temporal_row(positions, window), expected)


def test_transformers_keeps_the_fractional_step(qwen25_model):
    """No int truncation of second_per_grid_ts (lmms-eval#1393): at 4 fps (0.5 s per patch) IDs step by 1."""
    window = _window_at(4.0)
    positions, _ = _rope_index(qwen25_model, window)
    row = _video_temporal_row(positions, window) - TEXT_BEFORE
    np.testing.assert_array_equal(row, np.arange(window.num_frames // 2))


def test_transformers_without_second_per_grid_ts_assumes_one_second_per_patch(qwen25_model):
    """Pinned hazard: forgetting second_per_grid_ts silently means 1 s per patch (i.e. 2 fps)."""
    window = _window_at(0.25)
    positions, _ = _rope_index(qwen25_model, window, pass_seconds=False)
    row = _video_temporal_row(positions, window) - TEXT_BEFORE
    np.testing.assert_array_equal(row, np.arange(8) * 2)  # truth is np.arange(8) * 16
    assert not np.array_equal(row, temporal_ids(window, tokens_per_second=2))


def test_transformers_text_after_video_offset(qwen25_model):
    """Pinned 5.23 behaviour: text after a video resumes at start + max(h, w) / 2, ignoring time.

    Qwen's original layout (transformers <= 5.2) resumes at max(all video IDs) + 1. With a window
    whose last temporal ID exceeds its spatial extent the two differ, and the prefill positions of
    the text that follows overlap the video's time range. The returned rope delta still uses the
    maximum ID, so tokens generated afterwards jump back to max + 1 + (offset).
    """
    window = _window_at(0.25)  # 8 patches: temporal IDs 0..112; 2x4 merged tokens per patch
    positions, delta = _rope_index(qwen25_model, window)
    _, h, w = window.grid_thw
    after = positions[:, TEXT_BEFORE + window.visual_tokens :]
    spatial_extent = max(h, w) // 2
    np.testing.assert_array_equal(
        after, np.tile(TEXT_BEFORE + spatial_extent + np.arange(TEXT_AFTER), (3, 1))
    )
    qwen_original_start = TEXT_BEFORE + int(temporal_ids(window, tokens_per_second=2)[-1]) + 1
    assert qwen_original_start == 118 and after[0, 0] == 9
    # Generation continues from the overall maximum: next position = sequence length + delta.
    sequence_length = TEXT_BEFORE + window.visual_tokens + TEXT_AFTER
    assert sequence_length + delta == positions.max() + 1 == qwen_original_start
