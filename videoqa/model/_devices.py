"""Where and how a checkpoint runs: dtype, attention kernel, device and ``device_map``.

Each decision is a small pure function of the facts it needs (CUDA present, GPU count
and free memory, whether flash-attn is importable), so the GPU paths are unit-tested
on a CPU-only machine with fake facts.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any, Literal, get_args

from videoqa.errors import MissingExtraError, ModelError

__all__ = [
    "ATTN_IMPLEMENTATIONS",
    "DTYPE_NAMES",
    "GPU_HEADROOM",
    "AttnImplementation",
    "DtypeName",
    "choose_attn_implementation",
    "choose_device",
    "choose_device_map",
    "choose_dtype_name",
    "cuda_facts",
    "estimate_parameter_count",
    "flash_attn_installed",
    "require_accelerate",
]

DtypeName = Literal["auto", "float32", "bfloat16", "float16"]
AttnImplementation = Literal["flash_attention_2", "sdpa", "eager"]
DTYPE_NAMES: tuple[str, ...] = get_args(DtypeName)
ATTN_IMPLEMENTATIONS: tuple[str, ...] = get_args(AttnImplementation)

# Room left on a GPU for activations, the KV cache and the vision tower's peak.
GPU_HEADROOM = 1.25


def flash_attn_installed() -> bool:
    return importlib.util.find_spec("flash_attn") is not None


def choose_dtype_name(dtype: str, *, device_type: str) -> str:
    """``"auto"`` is bf16 on CUDA and fp32 elsewhere; other names pass through after validation."""
    if dtype not in DTYPE_NAMES:
        raise ValueError(f"dtype must be one of {DTYPE_NAMES}, got {dtype!r}")
    if dtype == "auto":
        return "bfloat16" if device_type == "cuda" else "float32"
    return dtype


def choose_attn_implementation(
    requested: str | None, *, cuda_available: bool, flash_attn_available: bool
) -> str:
    """flash_attention_2 when flash-attn is importable and CUDA is present, else sdpa; explicit wins."""
    if requested is None:
        return "flash_attention_2" if (cuda_available and flash_attn_available) else "sdpa"
    if requested not in ATTN_IMPLEMENTATIONS:
        raise ValueError(
            f"attn_implementation must be one of {ATTN_IMPLEMENTATIONS} or None, got {requested!r}"
        )
    if requested == "flash_attention_2":
        if not flash_attn_available:
            raise MissingExtraError(
                feature="attn_implementation='flash_attention_2'", extra="gpu", module="flash_attn"
            )
        if not cuda_available:
            raise ModelError(
                "attn_implementation='flash_attention_2' needs a CUDA GPU and none is visible; "
                "use attn_implementation='sdpa' on CPU."
            )
    return requested


def choose_device(device: str | None, *, cuda_available: bool) -> str:
    """``None`` means ``"cuda"`` when a GPU is visible, else ``"cpu"``."""
    if device is None:
        return "cuda" if cuda_available else "cpu"
    if device.startswith("cuda") and not cuda_available:
        raise ModelError(f"device={device!r} was asked for but no CUDA GPU is visible; use device='cpu'.")
    return device


def choose_device_map(
    requested: str | dict[str, Any] | None,
    *,
    device_type: str,
    cuda_device_count: int,
    free_bytes_per_device: Sequence[int],
    model_bytes: int,
) -> str | dict[str, Any] | None:
    """Decide whether to shard the model over GPUs.

    - an explicit ``requested`` value is kept (``"auto"`` needs at least one GPU);
    - otherwise shard (``"auto"``) only on CUDA with more than one GPU when the weights
      plus headroom do not fit the free memory of the first GPU;
    - ``None`` means: load whole, then move to the single device.
    """
    if requested is not None:
        if requested == "auto" and cuda_device_count == 0:
            raise ModelError("device_map='auto' spreads a model over GPUs, but no CUDA GPU is visible.")
        return requested
    if device_type != "cuda" or cuda_device_count <= 1:
        return None
    if not free_bytes_per_device:
        raise ValueError("free_bytes_per_device must list the free memory of each visible GPU")
    if model_bytes * GPU_HEADROOM <= free_bytes_per_device[0]:
        return None
    return "auto"


def estimate_parameter_count(config: Any) -> int:
    """Parameters of a Qwen2-VL / Qwen2.5-VL checkpoint from its config (no weights needed)."""
    text = config.text_config
    vision = config.vision_config
    hidden, inter, layers = text.hidden_size, text.intermediate_size, text.num_hidden_layers
    head_dim = hidden // text.num_attention_heads
    kv = (text.num_key_value_heads or text.num_attention_heads) * head_dim
    per_layer = hidden * hidden * 2 + hidden * kv * 2 + 3 * hidden * inter
    embeddings = text.vocab_size * hidden * (1 if config.tie_word_embeddings else 2)
    v_hidden = getattr(vision, "embed_dim", None) or vision.hidden_size
    v_inter = getattr(vision, "intermediate_size", None) or v_hidden * getattr(vision, "mlp_ratio", 4)
    v_layer = 4 * v_hidden * v_hidden + 3 * v_hidden * v_inter
    merger = (v_hidden * 4) ** 2 + v_hidden * 4 * text.hidden_size
    return int(layers * per_layer + embeddings + vision.depth * v_layer + merger)


def cuda_facts() -> tuple[bool, int, list[int]]:
    """(CUDA available, GPU count, free bytes per GPU) as torch sees them now."""
    import torch

    if not torch.cuda.is_available():
        return False, 0, []
    count = torch.cuda.device_count()
    free = [torch.cuda.mem_get_info(i)[0] for i in range(count)]
    return True, count, free


def require_accelerate() -> None:
    if importlib.util.find_spec("accelerate") is None:
        raise MissingExtraError(
            feature="device_map (sharding a model over GPUs)", extra="gpu", module="accelerate"
        )
