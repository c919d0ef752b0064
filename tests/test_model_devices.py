"""Device, dtype, attention-kernel and device_map choices of the model layer (no model loaded)."""

from __future__ import annotations

import pytest

from videoqa.errors import ModelError
from videoqa.model import _devices

_GIB = 1024**3
_FLASH_OK = _devices.FlashAttnStatus(installed=True, importable=True)
_FLASH_MISSING = _devices.FlashAttnStatus(installed=False, importable=False)
_FLASH_BROKEN = _devices.FlashAttnStatus(
    installed=True, importable=False, error="ImportError: flash_attn_2_cuda.so: undefined symbol: _ZN3c10"
)
_NO_GPU = _devices.CudaFacts(available=False, torch_version="2.14.1", torch_cuda_version="13.0")


def _gpus(*free_gib: float, capability=(9, 0)) -> _devices.CudaFacts:
    return _devices.CudaFacts(
        available=True,
        free_bytes=tuple(int(f * _GIB) for f in free_gib),
        total_bytes=tuple(int(80 * _GIB) for _ in free_gib),
        capabilities=tuple(capability for _ in free_gib),
        names=tuple("NVIDIA H100" for _ in free_gib),
    )


def test_dtype_choices():
    choose = _devices.choose_dtype_name
    assert choose("auto", device_type="cuda").value == "bfloat16"
    assert choose("auto", device_type="cpu").value == "float32"
    # Pre-Ampere GPUs (T4, V100) do not compute in bf16; fp16 overflows in Qwen2/2.5-VL: fp32.
    assert choose("auto", device_type="cuda", bf16_supported=False).value == "float32"
    fp16 = choose("float16", device_type="cuda")
    assert (fp16.value, fp16.warning) == ("float16", True) and "overflow" in fp16.reason
    assert choose("bfloat16", device_type="cpu").warning is False
    with pytest.raises(ValueError, match="'fp8'"):
        choose("fp8", device_type="cpu")


@pytest.mark.parametrize(
    ("device_type", "dtype", "capability", "flash", "expected"),
    [
        ("cuda", "bfloat16", (8, 0), _FLASH_OK, "flash_attention_2"),  # A100
        ("cuda", "float16", (9, 0), _FLASH_OK, "flash_attention_2"),
        ("cuda", "bfloat16", (8, 0), _FLASH_MISSING, "sdpa"),
        ("cuda", "bfloat16", (8, 0), _FLASH_BROKEN, "sdpa"),  # a broken build never kills the load
        ("cpu", "float32", None, _FLASH_OK, "sdpa"),  # device='cpu' on a machine with flash-attn
        ("cpu", "bfloat16", None, _FLASH_OK, "sdpa"),
        ("cuda", "float32", (8, 0), _FLASH_OK, "sdpa"),  # flash-attn rejects fp32 at the first call
        ("cuda", "bfloat16", (7, 5), _FLASH_OK, "sdpa"),  # T4
        ("cuda", "float16", (7, 0), _FLASH_OK, "sdpa"),  # V100
    ],
)
def test_automatic_attention_choice(device_type, dtype, capability, flash, expected):
    choice = _devices.choose_attn_implementation(
        None, device_type=device_type, dtype_name=dtype, capability=capability, flash=flash
    )
    assert choice.value == expected
    assert choice.warning is (flash is _FLASH_BROKEN)


@pytest.mark.parametrize(
    ("device_type", "dtype", "capability", "flash", "message"),
    [
        ("cuda", "bfloat16", (8, 0), _FLASH_MISSING, "pip install flash-attn --no-build-isolation"),
        ("cuda", "bfloat16", (8, 0), _FLASH_BROKEN, "undefined symbol.*--force-reinstall"),
        ("cpu", "float32", None, _FLASH_OK, "needs a CUDA GPU"),
        ("cuda", "float32", (8, 0), _FLASH_OK, "bf16/fp16 only and the dtype is float32"),
        ("cuda", "bfloat16", (7, 0), _FLASH_OK, "compute capability >= 8.0.*has 7.0"),
    ],
)
def test_asking_for_flash_attention_where_it_cannot_run_names_the_fix(
    device_type, dtype, capability, flash, message
):
    with pytest.raises(ModelError, match=message):
        _devices.choose_attn_implementation(
            "flash_attention_2", device_type=device_type, dtype_name=dtype, capability=capability, flash=flash
        )
    eager = _devices.choose_attn_implementation(
        "eager", device_type=device_type, dtype_name=dtype, capability=capability, flash=flash
    )
    assert eager.value == "eager"
    with pytest.raises(ValueError, match="'flash'"):
        _devices.choose_attn_implementation(
            "flash", device_type="cuda", dtype_name="bfloat16", capability=(8, 0), flash=_FLASH_OK
        )


def test_flash_attn_status_imports_the_package(tmp_path, monkeypatch):
    assert _devices.flash_attn_status() == _devices.FlashAttnStatus(installed=False, importable=False)
    # A flash_attn whose import fails (as with an ABI mismatch) is installed but not importable.
    (tmp_path / "flash_attn").mkdir()
    (tmp_path / "flash_attn" / "__init__.py").write_text(
        "raise ImportError('flash_attn_2_cuda.so: undefined symbol: _ZN3c10')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    status = _devices.flash_attn_status()
    assert (status.installed, status.importable) == (True, False)
    assert status.error == "ImportError: flash_attn_2_cuda.so: undefined symbol: _ZN3c10"


@pytest.mark.parametrize(
    ("requested", "device", "free_gib", "model_gib", "expected", "max_memory_gib"),
    [
        # A 7B in bf16 (~15.5 GiB) fits one 80 GB GPU: straight onto GPU 0 even with 4 GPUs.
        (None, "cuda", [80] * 4, 15.5, {"": "cuda:0"}, None),
        (None, "cuda:2", [80] * 4, 15.5, {"": "cuda:2"}, None),
        # A 72B in bf16 (~137 GiB) does not fit one 80 GB GPU: shard over all four, bounded per GPU.
        (None, "cuda", [80] * 4, 137, "auto", [64] * 4),
        # The first GPU being busy does not hide the free memory of the others.
        (None, "cuda", [20, 80, 80], 137, "auto", [16, 64, 64]),
        (None, "cpu", [], 15.5, None, None),
        # Explicit requests are kept; "auto" still gets GPU-only max_memory (no silent offload).
        ("auto", "cuda", [40, 40], 1, "auto", [32, 32]),
        ({"": 0}, "cuda", [1, 1], 1, {"": 0}, None),
    ],
)
def test_device_map_decision(requested, device, free_gib, model_gib, expected, max_memory_gib):
    choice, max_memory = _devices.choose_device_map(
        requested,
        device=device,
        free_bytes_per_device=[int(f * _GIB) for f in free_gib],
        model_bytes=int(model_gib * _GIB),
    )
    assert choice.value == expected
    expected_memory = (
        None if max_memory_gib is None else {i: int(g * _GIB) for i, g in enumerate(max_memory_gib)}
    )
    assert max_memory == expected_memory


def test_a_model_that_does_not_fit_says_how_many_gpus_it_needs():
    # 72B in bf16 (137 GiB x 1.25 = 171 GiB) on one 80 GB GPU: 3 GPUs of 80 GB are needed.
    with pytest.raises(ModelError, match=r"at least 3 GPUs with 80\.0 GiB free.*--gpus-per-replica"):
        _devices.choose_device_map(
            None, device="cuda", free_bytes_per_device=[80 * _GIB], model_bytes=137 * _GIB
        )
    # A named GPU is never sharded over the others.
    with pytest.raises(ModelError, match="does not fit"):
        _devices.choose_device_map(
            None, device="cuda:0", free_bytes_per_device=[80 * _GIB] * 4, model_bytes=137 * _GIB
        )
    with pytest.raises(ModelError, match="only 2 CUDA GPU"):
        _devices.choose_device_map(None, device="cuda:3", free_bytes_per_device=[_GIB] * 2, model_bytes=1)
    assert _devices.gpus_needed(137 * _GIB, free_bytes_per_gpu=80 * _GIB) == 3
    assert _devices.gpus_needed(15 * _GIB, free_bytes_per_gpu=80 * _GIB) == 1


def test_offload_to_cpu_or_disk_is_refused_unless_an_explicit_map_asked():
    mixed = {"model.visual": "cuda:0", "model.language_model.layers.0": 0, "lm_head": "cpu"}
    with pytest.raises(ModelError, match=r"1 modules were placed on cpu.*'lm_head'"):
        _devices.check_no_offload(mixed, requested=None)
    with pytest.raises(ModelError, match="placed on disk"):
        _devices.check_no_offload({"a": 0, "b": "disk"}, requested="auto")
    _devices.check_no_offload(mixed, requested={"": "cpu"})  # asked for: allowed
    _devices.check_no_offload({"": "cuda:0"}, requested=None)
    _devices.check_no_offload(None, requested=None)


def test_device_choice_without_a_usable_gpu():
    with pytest.raises(ModelError, match="no CUDA GPU"):
        _devices.choose_device_map("auto", device="cpu", free_bytes_per_device=[], model_bytes=1)
    with pytest.raises(ModelError, match=r"no CUDA GPU is usable; torch 2\.14\.1 built for CUDA 13\.0"):
        _devices.choose_device("cuda", facts=_NO_GPU)
    assert _devices.choose_device(None, facts=_NO_GPU).value == "cpu"
    assert _devices.choose_device(None, facts=_gpus(80)).value == "cuda"
    assert _devices.choose_device("cpu", facts=_gpus(80)).value == "cpu"


def test_assigned_gpus_that_torch_cannot_use_fail_loudly():
    # Ray sets CUDA_VISIBLE_DEVICES for a GPU actor; a driver too old for torch's CUDA leaves
    # torch without CUDA. Running on the CPU instead would be silent and 100x slower.
    broken = _devices.CudaFacts(
        available=False,
        visible_devices="0",
        torch_version="2.14.1",
        torch_cuda_version="13.0",
        error="The NVIDIA driver on your system is too old (found version 12020).",
    )
    with pytest.raises(ModelError) as raised:
        _devices.choose_device(None, facts=broken)
    message = str(raised.value)
    assert "CUDA_VISIBLE_DEVICES='0'" in message and "CUDA 13.0" in message
    assert "driver on your system is too old" in message and "device='cpu'" in message
    assert _devices.choose_device("cpu", facts=broken).value == "cpu"  # deliberate CPU runs stay possible
    for unassigned in (None, "", "-1", "NoDevFiles"):
        facts = _devices.CudaFacts(available=False, visible_devices=unassigned)
        assert _devices.choose_device(None, facts=facts).value == "cpu"


def test_cuda_facts_on_this_machine_are_read_at_call_time(monkeypatch):
    import torch

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    facts = _devices.cuda_facts()
    assert facts.visible_devices == "3" and facts.torch_version == torch.__version__
    assert facts.available is torch.cuda.is_available()
    if not facts.available:
        assert facts.count == 0 and facts.assigned


def _qwen25_7b_config():
    from transformers import Qwen2_5_VLConfig

    return Qwen2_5_VLConfig(
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


def _place_7b(*, device=None, facts, flash):
    """Placement of Qwen2.5-VL-7B with every choice left to ``auto``."""
    return _devices.placement(
        _qwen25_7b_config(),
        device=device,
        dtype="auto",
        attn_implementation=None,
        device_map=None,
        facts=facts,
        flash=flash,
    )


def test_placement_of_7b_states_its_choices():
    where = _place_7b(facts=_gpus(79, 79), flash=_FLASH_BROKEN)
    assert (where.device, where.dtype, where.attn_implementation) == ("cuda", "bfloat16", "sdpa")
    assert where.device_map == {"": "cuda:0"} and where.max_memory is None
    # 8.29e9 parameters x 2 bytes = 15.4 GiB; x 1.25 = 19.3 GiB.
    assert "15.4 GiB of weights (x1.25 headroom = 19.3 GiB) fit GPU 0 (79.0 GiB free)" in where.describe()
    assert len(where.warnings) == 2
    assert "does not import" in where.warnings[0] and "one replica per GPU" in where.warnings[1]


def test_placement_on_cpu_with_flash_attn_installed_is_fp32_sdpa():
    where = _place_7b(device="cpu", facts=_gpus(80), flash=_FLASH_OK)
    assert (where.device, where.dtype, where.attn_implementation, where.device_map) == (
        "cpu",
        "float32",
        "sdpa",
        None,
    )
    assert where.warnings == ()


def test_placement_on_a_t4_is_fp32_sdpa():
    where = _place_7b(facts=_gpus(79, capability=(7, 5)), flash=_FLASH_OK)
    assert (where.dtype, where.attn_implementation) == ("float32", "sdpa")


def test_parameter_estimate_of_qwen25_vl_7b_config():
    config = _qwen25_7b_config()
    # Qwen2.5-VL-7B-Instruct has 8,292,166,656 parameters (sum of its safetensors shapes).
    assert abs(_devices.estimate_parameter_count(config) / 8_292_166_656 - 1) < 0.01


# -- inputs and positions ---------------------------------------------------------------------------
