"""The Qwen runner on tiny random-weight checkpoints loaded by path, like real ones.

Peers written against (tests/peers.py): transformers 5.25.0 (get_rope_index).
"""

from __future__ import annotations

import dataclasses
import io
import pickle

import numpy as np
import pytest
import torch

from tests.model_util import (
    PROMPT,
    capture_positions,
    make_clip,
)
from videoqa.errors import ModelError
from videoqa.model import GenerationRequest, VideoLanguageModel, _devices, _inputs, load_model
from videoqa.model._timing import temporal_ids
from videoqa.video._types import Clip

# -- loading -----------------------------------------------------------------------------------------


def test_load_qwen25_by_path(tiny_qwen25, tiny_qwen25_path):
    from transformers import Qwen2_5_VLForConditionalGeneration

    m = tiny_qwen25
    assert isinstance(m, VideoLanguageModel)
    assert type(m.model) is Qwen2_5_VLForConditionalGeneration
    assert m.model_id == str(tiny_qwen25_path)
    assert (m.temporal.kind, m.temporal.tokens_per_second, m.temporal.temporal_patch_size) == (
        "absolute_time",
        2.0,
        2,
    )
    assert m.model.dtype == torch.float32
    assert m.model.config._attn_implementation == "sdpa"
    assert m.load_options.device == "cpu" and m.model.device.type == "cpu"
    tok = m.processor.tokenizer
    for special in (
        "<|vision_start|>",
        "<|vision_end|>",
        "<|video_pad|>",
        "<|image_pad|>",
        "<|im_start|>",
        "<|im_end|>",
    ):
        assert tok.tokenize(special) == [special]
    assert tok.convert_tokens_to_ids("<|video_pad|>") == m.model.config.video_token_id


def test_load_qwen2_by_path(tiny_qwen2):
    from transformers import Qwen2VLForConditionalGeneration

    assert type(tiny_qwen2.model) is Qwen2VLForConditionalGeneration
    assert tiny_qwen2.temporal.kind == "patch_index"
    assert tiny_qwen2.model.dtype == torch.float32
    assert tiny_qwen2.model.config._attn_implementation == "sdpa"


def test_loads_a_hub_style_flat_config(tiny_qwen25, tiny_qwen25_path, tmp_path):
    """Released Qwen2.5-VL config.json files are flat (text fields at the top, ``rope_scaling`` with
    ``type: mrope``, ``torch_dtype: bfloat16``) with ``tokens_per_second`` inside ``vision_config``."""
    import json
    import shutil

    copy = tmp_path / "flat"
    shutil.copytree(tiny_qwen25_path, copy)
    nested = json.loads((copy / "config.json").read_text())
    text, vision = nested.pop("text_config"), nested.pop("vision_config")
    rope = text.pop("rope_parameters")
    for key in ("model_type", "layer_types", "dtype"):
        text.pop(key, None)
    vision.pop("model_type")
    vision.pop("rope_parameters")
    flat = {**nested, **text, "torch_dtype": "bfloat16", "rope_theta": rope["rope_theta"]}
    flat["rope_scaling"] = {"type": "mrope", "mrope_section": rope["mrope_section"]}
    flat["vision_config"] = {**vision, "in_chans": 3, "spatial_patch_size": 14}
    flat.pop("dtype", None)
    (copy / "config.json").write_text(json.dumps(flat))
    m = load_model(str(copy), device="cpu")
    assert m.temporal.tokens_per_second == 2.0 and m.temporal.kind == "absolute_time"
    assert m.model.dtype == torch.float32  # dtype="auto" on CPU, whatever the checkpoint was saved in
    clip = make_clip(4, 1.0, seed=9)
    ours = m.generate([GenerationRequest(features=(m.encode(clip),), prompt=PROMPT)], max_new_tokens=6)
    nested_out = tiny_qwen25.generate(
        [GenerationRequest(features=(tiny_qwen25.encode(clip),), prompt=PROMPT)], max_new_tokens=6
    )
    assert ours == nested_out


def test_config_without_tokens_per_second_warns(tiny_qwen25_path, tmp_path, caplog):
    """transformers falls back to its class default 4 (released checkpoints set 2): say so, loudly."""
    import json
    import logging
    import shutil

    from videoqa.model._qwen import warn_if_default_tokens_per_second

    config = json.loads((tiny_qwen25_path / "config.json").read_text())
    with caplog.at_level(logging.WARNING, logger="videoqa.model._qwen"):
        assert warn_if_default_tokens_per_second("ok", config, default=4) is False
    assert caplog.records == []
    copy = tmp_path / "no-tps"
    shutil.copytree(tiny_qwen25_path, copy)
    del config["vision_config"]["tokens_per_second"]
    (copy / "config.json").write_text(json.dumps(config))
    with caplog.at_level(logging.WARNING, logger="videoqa.model._qwen"):
        m = load_model(str(copy), device="cpu")
    assert m.temporal.tokens_per_second == 4.0
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith(f"{copy}: config.json sets no vision_config.tokens_per_second")
    assert "class default 4 is used" in record.getMessage()


def test_builtin_tiny_is_built_once_into_cache_dir(tmp_path):
    m = load_model("builtin:tiny-qwen2-vl", cache_dir=tmp_path, device="cpu")
    from videoqa.model import TINY_BUILD_VERSION

    config = tmp_path / f"tiny-qwen2-vl-v{TINY_BUILD_VERSION}" / "config.json"
    assert config.is_file() and m.model_id == "builtin:tiny-qwen2-vl"
    stamp = config.stat().st_mtime_ns
    again = load_model("builtin:tiny-qwen2-vl", cache_dir=tmp_path, device="cpu")
    assert config.stat().st_mtime_ns == stamp
    assert again.fingerprint() == m.fingerprint()


def test_fingerprint_names_the_weights_not_the_path(tiny_qwen25, tmp_path):
    from videoqa.model import build_tiny_model

    same = load_model(str(build_tiny_model(tmp_path / "elsewhere", kind="qwen2.5-vl")), device="cpu")
    assert same.fingerprint() == tiny_qwen25.fingerprint()
    other = load_model(str(build_tiny_model(tmp_path / "seed1", kind="qwen2.5-vl", seed=1)), device="cpu")
    assert other.fingerprint() != tiny_qwen25.fingerprint()
    assert load_model(str(tmp_path / "elsewhere"), dtype="bfloat16").fingerprint() != same.fingerprint()


def test_default_models_dir_reads_env_at_call_time(monkeypatch, tmp_path):
    from videoqa.model import default_models_dir

    monkeypatch.setenv("VIDEOQA_CACHE_DIR", str(tmp_path / "c"))
    assert default_models_dir() == tmp_path / "c" / "models"
    monkeypatch.delenv("VIDEOQA_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_models_dir() == tmp_path / "x" / "videoqa" / "models"


def test_unknown_builtin_and_unsupported_model_type(tmp_path):
    with pytest.raises(ValueError, match=r"builtin:tiny-qwen2\.5-vl"):
        load_model("builtin:nope")
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(ModelError, match="'llama' is not supported"):
        load_model(str(tmp_path))
    with pytest.raises(ModelError, match="cannot read a model config"):
        load_model(str(tmp_path / "missing"))


def test_flash_attention_where_it_cannot_run_names_the_fix(tiny_qwen25_path, monkeypatch):
    h100 = _devices.CudaFacts(available=True, free_bytes=(80 * 1024**3,), capabilities=((9, 0),))
    missing = _devices.FlashAttnStatus(installed=False, importable=False)
    with monkeypatch.context() as patch:
        patch.setattr(_devices, "cuda_facts", lambda: h100)
        patch.setattr(_devices, "flash_attn_status", lambda: missing)
        with pytest.raises(ModelError, match="pip install flash-attn --no-build-isolation"):
            load_model(str(tiny_qwen25_path), attn_implementation="flash_attention_2")
    # On the CPU an installed flash-attn is never picked: sdpa, fp32 (the test fixtures run so).
    installed = _devices.FlashAttnStatus(installed=True, importable=True)
    monkeypatch.setattr(_devices, "flash_attn_status", lambda: installed)
    with pytest.raises(ModelError, match="needs a CUDA GPU"):
        load_model(str(tiny_qwen25_path), device="cpu", attn_implementation="flash_attention_2")
    model = load_model(str(tiny_qwen25_path), device="cpu")
    assert (model.load_options.attn_implementation, model.load_options.dtype) == ("sdpa", "float32")


def test_gpus_assigned_but_unusable_refuse_to_run_on_the_cpu(tiny_qwen25_path, monkeypatch):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine's torch can use its GPU")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    with pytest.raises(ModelError, match=r"CUDA_VISIBLE_DEVICES='0'.*refusing to run on the CPU"):
        load_model(str(tiny_qwen25_path))
    assert load_model(str(tiny_qwen25_path), device="cpu").load_options.device == "cpu"


def test_scripted_builtin_dispatches_to_the_stand_in():
    from videoqa.model._scripted import ScriptedModel

    assert type(load_model("builtin:scripted")) is ScriptedModel


# -- device decisions (pure, CPU-tested) -----------------------------------------------------------


def test_mrope_positions_reference_layout():
    v = 9
    ids = [1, 2, v, v, v, v, v, v, v, v, 3, 4]  # 2 text, a (t=2, 4x4 -> 2x2) video = 8 tokens, 2 text
    pos = _inputs.mrope_positions(
        ids, video_token_id=v, grids_thw=[(2, 4, 4)], temporal_ids=[np.array([0, 5])]
    )
    assert pos.tolist() == [
        [0, 1, 2, 2, 2, 2, 7, 7, 7, 7, 8, 9],
        [0, 1, 2, 2, 3, 3, 2, 2, 3, 3, 8, 9],
        [0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 8, 9],
    ]
    with pytest.raises(ValueError, match="exactly 8 consecutive"):
        _inputs.mrope_positions(
            [*ids[:-3], 3], video_token_id=v, grids_thw=[(2, 4, 4)], temporal_ids=[[0, 5]]
        )
    with pytest.raises(ValueError, match="2 video grids given but 1"):
        _inputs.mrope_positions(ids, video_token_id=v, grids_thw=[(2, 4, 4)] * 2, temporal_ids=[[0, 5]] * 2)


def test_left_pad_and_batch_positions():
    ids, mask = _inputs.left_pad([[5, 6, 7], [8]], pad_token_id=0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    rows = [np.array([[0, 1, 2]] * 3), np.array([[0]] * 3)]
    pos = _inputs.batch_positions(mask, rows)
    assert pos[:, 1].tolist() == [[0, 0, 0]] * 4
    assert pos[:, 0].tolist() == [[0, 1, 2]] * 4


@pytest.mark.parametrize("fps", [0.5, 1.0, 2.0, 4.0])
def test_model_uses_temporal_ids_of_the_window(tiny_qwen25, fps):
    m = tiny_qwen25
    clip = make_clip(8, fps, start=100.0)  # 4 temporal patches, 2x2 merged tokens each
    feats = m.encode(clip)
    request = GenerationRequest(features=(feats,), prompt=PROMPT)
    used = capture_positions(m, [request])  # (4, 1, L): text positions, then t/h/w
    assert used.shape[0] == 4
    ids = torch.from_numpy(m.build_inputs([request])["input_ids"])
    video = (ids[0] == m.video_token_id).nonzero()[:, 0]
    offset = int(video[0])  # no video before: the text before the video ends at offset - 1
    expected_t = temporal_ids(clip.window, tokens_per_second=2.0, temporal_patch_size=2) + offset
    assert used[1, 0, video].reshape(4, 4).tolist() == [[t] * 4 for t in expected_t.tolist()]
    # floor(2 * t_seconds) with t_seconds = k * 2 / fps, all exact here
    assert expected_t.tolist() == [offset + round(k * 2 * (2 / fps)) for k in range(4)]
    assert used[2, 0, video].tolist() == [offset + i for i in (0, 0, 1, 1)] * 4
    assert used[3, 0, video].tolist() == [offset + j for j in (0, 1, 0, 1)] * 4
    # The model's own get_rope_index gives the same ids to the video tokens (second_per_grid_ts as
    # the processor makes it: a float32 tensor of temporal_patch_size / sampled_fps).
    theirs, _ = m.model.model.get_rope_index(
        ids,
        mm_token_type_ids=(ids == m.video_token_id).int() * 2,
        video_grid_thw=torch.tensor([[4, 4, 4]]),
        second_per_grid_ts=torch.tensor([2 / fps], dtype=torch.float32),
    )
    assert torch.equal(theirs[:, 0, video], used[1:, 0, video])
    # Text after the video resumes after the video's largest id (the reference layout).
    after = int(video[-1]) + 1
    assert used[1:, 0, after].tolist() == [int(used[1:, 0, video].max()) + 1] * 3


def test_qwen2_vl_uses_patch_indices(tiny_qwen2):
    clip = make_clip(8, 4.0, start=30.0)
    request = GenerationRequest(features=(tiny_qwen2.encode(clip),), prompt=PROMPT)
    used = capture_positions(tiny_qwen2, [request])
    ids = torch.from_numpy(tiny_qwen2.build_inputs([request])["input_ids"])
    video = (ids[0] == tiny_qwen2.video_token_id).nonzero()[:, 0]
    offset = int(video[0])
    assert used[1, 0, video].reshape(4, 4)[:, 0].tolist() == [offset + k for k in range(4)]


def test_two_windows_in_one_request(tiny_qwen25):
    m = tiny_qwen25
    a, b = make_clip(4, 2.0, start=0.0, seed=1), make_clip(4, 1.0, start=10.0, seed=2)
    request = GenerationRequest(features=(m.encode(a), m.encode(b)), prompt=PROMPT)
    built = m.build_inputs([request])
    ids = built["input_ids"][0]
    runs = np.flatnonzero(ids == m.video_token_id)
    # two blocks of 2x2x2 tokens with <|vision_end|><|vision_start|> between them
    assert len(runs) == 16 and runs[7] + 3 == runs[8]
    pos = built["position_ids"][1:, 0]
    first_t = pos[0, runs[:8]].reshape(2, 4)[:, 0] - runs[0]
    second_t = pos[0, runs[8:]].reshape(2, 4)[:, 0] - pos[1, runs[8]]
    # The second video starts right after the first one's largest id (2) + the two tokens between.
    assert pos[1, runs[8]] == runs[0] + 2 + 1 + 2
    assert first_t.tolist() == [0, 2] and second_t.tolist() == [0, 4]  # 1 s and 2 s per patch
    out = m.generate([request], max_new_tokens=4)
    assert out[0].input_tokens == len(ids) and 1 <= out[0].output_tokens <= 4


# -- encode -----------------------------------------------------------------------------------------


def test_encode_keeps_frames_and_checks_the_grid(tiny_qwen25):
    m = tiny_qwen25
    clip = make_clip(6, 2.0, height=56, width=84)
    feats = m.encode(clip)
    assert feats.data.grid_thw == clip.window.grid_thw == (3, 4, 6)
    assert tuple(feats.data.embeddings.shape) == (clip.window.visual_tokens, 64) == (18, 64)
    assert feats.data.embeddings.device.type == "cpu"
    assert feats.data.second_per_grid == 1.0
    np.testing.assert_array_equal(feats.pts_seconds, clip.pts_seconds)
    bad = Clip(window=clip.window, frames=clip.frames[:, :28], pts_seconds=clip.pts_seconds)
    with pytest.raises(ModelError, match="frames are 84x28 but the window is 84x56"):
        m.encode(bad)
    odd = make_clip(5, 2.0)
    with pytest.raises(ModelError, match=r"grid \(3, 4, 4\)"):
        m.encode(odd)


def test_features_survive_torch_save_and_pickle(tiny_qwen25):
    m = tiny_qwen25
    feats = m.encode(make_clip(4, 2.0))
    buffer = io.BytesIO()
    torch.save(dataclasses.asdict(feats.data), buffer)  # tensors and plain values only
    buffer.seek(0)
    data = type(feats.data)(**torch.load(buffer, weights_only=True))
    restored = pickle.loads(pickle.dumps(feats))
    restored.data = data
    a = m.generate([GenerationRequest(features=(feats,), prompt=PROMPT)], max_new_tokens=6)
    b = m.generate([GenerationRequest(features=(restored,), prompt=PROMPT)], max_new_tokens=6)
    assert a == b


def test_features_of_another_model_are_refused(tiny_qwen25, tiny_qwen2):
    feats = tiny_qwen2.encode(make_clip(4, 2.0))
    with pytest.raises(ModelError, match="encoded by another model"):
        tiny_qwen25.generate([GenerationRequest(features=(feats,), prompt=PROMPT)], max_new_tokens=2)
