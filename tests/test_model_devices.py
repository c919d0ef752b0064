"""Device, dtype, attention-kernel and device_map choices of the model layer (no model loaded)."""

from __future__ import annotations

import pytest

from videoqa.errors import MissingExtraError, ModelError
from videoqa.model import _devices


def test_dtype_and_attention_choices():
    assert _devices.choose_dtype_name("auto", device_type="cuda") == "bfloat16"
    assert _devices.choose_dtype_name("auto", device_type="cpu") == "float32"
    assert _devices.choose_dtype_name("float16", device_type="cpu") == "float16"
    with pytest.raises(ValueError, match="'fp8'"):
        _devices.choose_dtype_name("fp8", device_type="cpu")
    choose = _devices.choose_attn_implementation
    assert choose(None, cuda_available=True, flash_attn_available=True) == "flash_attention_2"
    assert choose(None, cuda_available=True, flash_attn_available=False) == "sdpa"
    assert choose(None, cuda_available=False, flash_attn_available=True) == "sdpa"
    assert choose("eager", cuda_available=False, flash_attn_available=False) == "eager"
    with pytest.raises(MissingExtraError, match="flash_attn"):
        choose("flash_attention_2", cuda_available=True, flash_attn_available=False)
    with pytest.raises(ModelError, match="needs a CUDA GPU"):
        choose("flash_attention_2", cuda_available=False, flash_attn_available=True)
    with pytest.raises(ValueError, match="'flash'"):
        choose("flash", cuda_available=True, flash_attn_available=True)


_GIB = 1024**3


@pytest.mark.parametrize(
    ("requested", "device_type", "free_per_device", "model_bytes", "expected"),
    [
        # A 7B in bf16 (~16.6 GB) fits one 80 GB GPU: no sharding even with 4 GPUs.
        (None, "cuda", [80 * _GIB] * 4, int(16.6e9), None),
        # A 72B in bf16 (~147 GB) does not fit one 80 GB GPU: shard over the visible GPUs.
        (None, "cuda", [80 * _GIB] * 4, int(147e9), "auto"),
        # One GPU: nothing to shard over, whatever the size.
        (None, "cuda", [24 * _GIB], int(147e9), None),
        (None, "cpu", [], 10, None),
        # Headroom: 70 GB of weights do not fit 80 GB free (x1.25 = 87.5 GB).
        (None, "cuda", [80 * 10**9] * 2, 70 * 10**9, "auto"),
        # Explicit requests are kept.
        ("auto", "cuda", [_GIB], 1, "auto"),
        ({"": 0}, "cuda", [_GIB] * 2, 1, {"": 0}),
    ],
)
def test_device_map_decision(requested, device_type, free_per_device, model_bytes, expected):
    decided = _devices.choose_device_map(
        requested,
        device_type=device_type,
        cuda_device_count=len(free_per_device),
        free_bytes_per_device=free_per_device,
        model_bytes=model_bytes,
    )
    assert decided == expected


def test_device_choice_without_a_gpu():
    with pytest.raises(ModelError, match="no CUDA GPU"):
        _devices.choose_device_map(
            "auto", device_type="cpu", cuda_device_count=0, free_bytes_per_device=[], model_bytes=1
        )
    with pytest.raises(ModelError, match="no CUDA GPU"):
        _devices.choose_device("cuda", cuda_available=False)
    assert _devices.choose_device(None, cuda_available=False) == "cpu"
    assert _devices.choose_device(None, cuda_available=True) == "cuda"


def test_parameter_estimate_of_qwen25_vl_7b_config():
    from transformers import Qwen2_5_VLConfig

    config = Qwen2_5_VLConfig(
        text_config={
            "hidden_size": 3584,
            "intermediate_size": 18944,
            "num_hidden_layers": 28,
            "num_attention_heads": 28,
            "num_key_value_heads": 4,
            "vocab_size": 152064,
        },
        vision_config={"depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "out_hidden_size": 3584},
    )
    # Qwen2.5-VL-7B-Instruct has 8,292,166,656 parameters (sum of its safetensors shapes).
    assert abs(_devices.estimate_parameter_count(config) / 8_292_166_656 - 1) < 0.01


# -- inputs and positions ---------------------------------------------------------------------------
