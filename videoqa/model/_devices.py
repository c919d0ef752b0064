"""Where and how a checkpoint runs: device, dtype, attention kernel and ``device_map``.

Each decision is a small pure function of the facts it needs (:class:`CudaFacts`: what torch
sees, what the environment assigned; :class:`FlashAttnStatus`: whether flash-attn imports),
so every GPU path is unit-tested on a CPU-only machine with made-up facts. Each decision
returns the value *and the reason*, which :func:`placement` collects so that a run states at
start what it chose and why (weights arithmetic included).

Rules, each from a failure seen or reproduced on CPU:

- GPUs assigned (``CUDA_VISIBLE_DEVICES`` names devices, as Ray sets it for a GPU actor) but
  torch cannot use CUDA: fail with torch's and the driver's facts instead of running on the CPU.
- ``dtype="auto"``: bf16 on GPUs that compute in bf16 (compute capability >= 8.0), fp32 on older
  GPUs and the CPU. fp16 is never chosen: Qwen2/2.5-VL overflow in fp16 (transformers#33294,
  vllm#14126); asking for it explicitly runs it with a warning.
- flash-attention 2 only on CUDA, in bf16/fp16, on compute capability >= 8.0, and only when
  ``import flash_attn`` succeeds (a broken build raises at import, e.g. an ABI mismatch with the
  installed torch); otherwise sdpa, with the reason logged. Asking for it where it cannot run
  raises :class:`~videoqa.errors.ModelError` naming the fix.
- CUDA loads always go straight to the GPU (``device_map={"": "cuda:0"}``) instead of loading
  the weights in host RAM first; a model that does not fit one GPU is sharded with per-GPU
  ``max_memory`` over *all* visible GPUs' free memory; a model that does not fit them all is
  refused with the number of GPUs it needs, never offloaded silently to CPU or disk.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from videoqa.errors import MissingExtraError, ModelError

__all__ = [
    "ATTN_IMPLEMENTATIONS",
    "DTYPE_NAMES",
    "FLASH_ATTN_INSTALL",
    "GPU_HEADROOM",
    "AttnImplementation",
    "Choice",
    "CudaFacts",
    "DtypeName",
    "FlashAttnStatus",
    "Placement",
    "check_no_offload",
    "choose_attn_implementation",
    "choose_device",
    "choose_device_map",
    "choose_dtype_name",
    "cuda_facts",
    "estimate_parameter_count",
    "flash_attn_status",
    "gpus_needed",
    "is_fatal_device_error",
    "is_out_of_memory",
    "placement",
    "release_cached_memory",
    "require_accelerate",
]

DtypeName = Literal["auto", "float32", "bfloat16", "float16"]
AttnImplementation = Literal["flash_attention_2", "sdpa", "eager"]
DTYPE_NAMES: tuple[str, ...] = get_args(DtypeName)
ATTN_IMPLEMENTATIONS: tuple[str, ...] = get_args(AttnImplementation)

# Room left on a GPU for activations, the KV cache and the vision tower's peak.
GPU_HEADROOM = 1.25
# flash-attn builds against the installed torch and needs nvcc: it is not a pip extra.
FLASH_ATTN_INSTALL = "pip install flash-attn --no-build-isolation"
_GIB = 1024**3


@dataclass(frozen=True)
class Choice:
    """A decided value and why it was chosen (logged at load time)."""

    value: Any
    reason: str
    warning: bool = False  # logged as a warning: a risky request, or a degraded choice


@dataclass(frozen=True)
class CudaFacts:
    """What torch and the environment say about GPUs, read once per load by :func:`cuda_facts`."""

    available: bool
    free_bytes: tuple[int, ...] = ()
    total_bytes: tuple[int, ...] = ()
    capabilities: tuple[tuple[int, int], ...] = ()
    names: tuple[str, ...] = ()
    visible_devices: str | None = None  # CUDA_VISIBLE_DEVICES as set (by Ray for a GPU actor)
    torch_version: str = ""
    torch_cuda_version: str | None = None
    error: str | None = None  # why torch cannot use CUDA, when it says

    @property
    def count(self) -> int:
        return len(self.free_bytes)

    @property
    def assigned(self) -> bool:
        """Whether the environment hands this process GPUs (``CUDA_VISIBLE_DEVICES`` names any)."""
        value = (self.visible_devices or "").strip()
        return bool(value) and value not in {"-1", "NoDevFiles"}


@dataclass(frozen=True)
class FlashAttnStatus:
    installed: bool
    importable: bool
    error: str | None = None


@dataclass(frozen=True)
class Placement:
    """Everything :func:`placement` decided for one load, with the reasons."""

    device: str
    dtype: str
    attn_implementation: str
    device_map: Any
    max_memory: dict[Any, int] | None
    reasons: tuple[str, ...] = field(default=())
    warnings: tuple[str, ...] = field(default=())

    def describe(self) -> str:
        return "; ".join(self.reasons)


def cuda_facts() -> CudaFacts:
    """Read the GPU facts now (torch is imported here, never at module import)."""
    import torch

    common = {
        "visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "torch_version": torch.__version__,
        "torch_cuda_version": torch.version.cuda,
    }
    try:
        available = torch.cuda.is_available()
        if available:
            count = torch.cuda.device_count()
            info = [torch.cuda.mem_get_info(i) for i in range(count)]
            return CudaFacts(
                available=True,
                free_bytes=tuple(free for free, _ in info),
                total_bytes=tuple(total for _, total in info),
                capabilities=tuple(torch.cuda.get_device_capability(i) for i in range(count)),
                names=tuple(torch.cuda.get_device_name(i) for i in range(count)),
                **common,
            )
        error = None
        if torch.version.cuda is not None:
            try:
                torch.cuda.init()
            except Exception as exc:  # torch's own words on why (driver too old, no device...)
                error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return CudaFacts(available=False, error=error, **common)
    except RuntimeError as exc:  # a broken driver can raise from the queries themselves
        return CudaFacts(available=False, error=str(exc), **common)


def flash_attn_status() -> FlashAttnStatus:
    """Whether flash-attn is installed *and imports* (a package can be present but broken)."""
    if importlib.util.find_spec("flash_attn") is None:
        return FlashAttnStatus(installed=False, importable=False)
    try:
        importlib.import_module("flash_attn")
    except Exception as exc:  # ImportError, OSError (undefined symbol), RuntimeError...
        return FlashAttnStatus(installed=True, importable=False, error=f"{type(exc).__name__}: {exc}")
    return FlashAttnStatus(installed=True, importable=True)


def choose_device(device: str | None, *, facts: CudaFacts) -> Choice:
    """``None`` means ``"cuda"`` when a GPU is usable, else ``"cpu"`` unless GPUs were assigned."""
    if device is None:
        if facts.available:
            return Choice("cuda", "a CUDA GPU is visible")
        if facts.assigned:
            raise ModelError(_unusable_gpus_message(facts))
        return Choice("cpu", "no CUDA GPU is visible")
    if device.startswith("cuda") and not facts.available:
        raise ModelError(
            f"device={device!r} was asked for but no CUDA GPU is usable; "
            f"{_torch_facts(facts)}. Use device='cpu' to run on the CPU."
        )
    return Choice(device, "asked for")


def _torch_facts(facts: CudaFacts) -> str:
    cuda = facts.torch_cuda_version or "none (a CPU-only build)"
    said = f"; torch says: {facts.error}" if facts.error else ""
    return f"torch {facts.torch_version} built for CUDA {cuda}{said}"


def _unusable_gpus_message(facts: CudaFacts) -> str:
    return (
        f"GPUs were assigned to this process (CUDA_VISIBLE_DEVICES={facts.visible_devices!r}) but torch "
        f"cannot use them: {_torch_facts(facts)}. Check that the NVIDIA driver supports that CUDA "
        "version (`nvidia-smi` shows the highest it supports) or install a torch build that matches the "
        "driver; refusing to run on the CPU instead. Pass device='cpu' to run on the CPU deliberately."
    )


def choose_dtype_name(dtype: str, *, device_type: str, bf16_supported: bool = True) -> Choice:
    """``"auto"`` is bf16 on bf16-capable GPUs and fp32 elsewhere; fp16 is never chosen for you."""
    if dtype not in DTYPE_NAMES:
        raise ValueError(f"dtype must be one of {DTYPE_NAMES}, got {dtype!r}")
    if dtype == "float16":
        return Choice(
            "float16",
            "asked for; Qwen2-VL/Qwen2.5-VL are known to overflow in fp16 (transformers#33294), "
            "prefer bfloat16 or float32",
            warning=True,
        )
    if dtype != "auto":
        return Choice(dtype, "asked for")
    if device_type != "cuda":
        return Choice("float32", f"auto on {device_type}")
    if bf16_supported:
        return Choice("bfloat16", "auto on a bf16-capable GPU")
    return Choice("float32", "auto on a GPU without bf16 (compute capability < 8.0); fp16 would overflow")


def choose_attn_implementation(
    requested: str | None,
    *,
    device_type: str,
    dtype_name: str,
    capability: tuple[int, int] | None,
    flash: FlashAttnStatus,
) -> Choice:
    """flash_attention_2 only where it can run (see the module notes), else sdpa; explicit wins."""
    if requested is not None and requested not in ATTN_IMPLEMENTATIONS:
        raise ValueError(
            f"attn_implementation must be one of {ATTN_IMPLEMENTATIONS} or None, got {requested!r}"
        )
    obstacle = _flash_obstacle(
        device_type=device_type, dtype_name=dtype_name, capability=capability, flash=flash
    )
    if requested == "flash_attention_2":
        if obstacle is not None:
            raise ModelError(f"attn_implementation='flash_attention_2' cannot run here: {obstacle}.")
        return Choice(requested, "asked for")
    if requested is not None:
        return Choice(requested, "asked for")
    if obstacle is None:
        return Choice("flash_attention_2", "flash-attn imports and the GPU and dtype support it")
    return Choice(
        "sdpa", f"not flash_attention_2: {obstacle}", warning=flash.installed and not flash.importable
    )


def _flash_obstacle(
    *, device_type: str, dtype_name: str, capability: tuple[int, int] | None, flash: FlashAttnStatus
) -> str | None:
    """Why flash-attention 2 cannot run in this setting, or None when it can."""
    if not flash.installed:
        return f"flash-attn is not installed (on a CUDA machine: {FLASH_ATTN_INSTALL})"
    if not flash.importable:
        return (
            f"flash-attn is installed but does not import ({flash.error}); rebuild it for the installed "
            f"torch with `{FLASH_ATTN_INSTALL} --force-reinstall` or uninstall it"
        )
    if device_type != "cuda":
        return f"it needs a CUDA GPU and the model runs on {device_type!r}"
    if dtype_name not in ("bfloat16", "float16"):
        return f"it computes in bf16/fp16 only and the dtype is {dtype_name}"
    if capability is not None and capability < (8, 0):
        major, minor = capability
        return f"it needs compute capability >= 8.0 (Ampere or newer) and this GPU has {major}.{minor}"
    return None


def gpus_needed(model_bytes: int, *, free_bytes_per_gpu: int) -> int:
    """GPUs of ``free_bytes_per_gpu`` free memory that hold the weights plus headroom."""
    if free_bytes_per_gpu <= 0:
        raise ValueError(f"free_bytes_per_gpu must be > 0, got {free_bytes_per_gpu}")
    return max(1, math.ceil(model_bytes * GPU_HEADROOM / free_bytes_per_gpu))


def choose_device_map(
    requested: str | dict[str, Any] | None,
    *,
    device: str,
    free_bytes_per_device: Sequence[int],
    model_bytes: int,
) -> tuple[Choice, dict[Any, int] | None]:
    """Decide where the weights go: ``(device_map choice, max_memory or None)``.

    - an explicit ``requested`` value is kept (``"auto"`` needs at least one GPU; it gets the same
      per-GPU ``max_memory`` as an automatic shard, so it cannot offload silently);
    - on the CPU: ``None`` (load whole on the CPU);
    - on one named GPU (``"cuda:1"``): ``{"": "cuda:1"}`` when the weights plus headroom fit it;
    - on ``"cuda"``: GPU 0 when they fit it, else ``"auto"`` over all visible GPUs with
      ``max_memory[i] = free_i / GPU_HEADROOM`` when they fit together, else an error that says
      how many GPUs of this size the model needs.
    """
    device_type = device.split(":")[0]
    count = len(free_bytes_per_device)
    need = model_bytes * GPU_HEADROOM
    if requested is not None:
        if requested == "auto":
            if device_type != "cuda" or count == 0:
                raise ModelError("device_map='auto' spreads a model over GPUs, but no CUDA GPU is visible.")
            return Choice("auto", "asked for"), _max_memory(free_bytes_per_device)
        return Choice(requested, "asked for"), None
    if device_type != "cuda":
        return Choice(None, f"whole model on {device}"), None
    if count == 0:
        raise ValueError("free_bytes_per_device must list the free memory of each visible GPU")
    index = int(device.split(":")[1]) if ":" in device else 0
    if index >= count:
        raise ModelError(f"device={device!r} but only {count} CUDA GPU(s) are visible.")
    weights = f"{model_bytes / _GIB:.1f} GiB of weights (x{GPU_HEADROOM} headroom = {need / _GIB:.1f} GiB)"
    if need <= free_bytes_per_device[index]:
        free = free_bytes_per_device[index] / _GIB
        return Choice({"": f"cuda:{index}"}, f"{weights} fit GPU {index} ({free:.1f} GiB free)"), None
    total_free = sum(free_bytes_per_device)
    if ":" not in device and count > 1 and need <= total_free:
        reason = (
            f"{weights} do not fit one GPU: sharded over {count} ({total_free / _GIB:.1f} GiB free in all)"
        )
        return Choice("auto", reason), _max_memory(free_bytes_per_device)
    per_gpu = min(free_bytes_per_device)
    raise ModelError(
        f"the model does not fit: {weights}, and the {count} visible GPU(s) have "
        f"{total_free / _GIB:.1f} GiB free in all. It needs at least "
        f"{gpus_needed(model_bytes, free_bytes_per_gpu=per_gpu)} GPUs with {per_gpu / _GIB:.1f} GiB free "
        "(in a batch job: --gpus-per-replica); or use a smaller checkpoint; or pass an explicit "
        "device_map that places layers on 'cpu' to offload deliberately."
    )


def _max_memory(free_bytes_per_device: Sequence[int]) -> dict[Any, int]:
    # GPUs only: with no "cpu" key accelerate cannot put layers on the CPU, and a leftover
    # layer would land on "disk", which check_no_offload refuses.
    return {i: int(free / GPU_HEADROOM) for i, free in enumerate(free_bytes_per_device)}


def check_no_offload(hf_device_map: Mapping[str, Any] | None, *, requested: Any) -> None:
    """Refuse weights on the CPU or disk of a GPU load unless an explicit map asked for them."""
    if not hf_device_map or isinstance(requested, dict):
        return
    offloaded = sorted({str(where) for where in hf_device_map.values() if str(where) in ("cpu", "disk")})
    if offloaded:
        modules = [name for name, where in hf_device_map.items() if str(where) in offloaded]
        raise ModelError(
            f"the model did not fit the GPUs: {len(modules)} modules were placed on {', '.join(offloaded)} "
            f"(first: {modules[0]!r}), which would run very slowly. Give the replica more GPUs "
            "(--gpus-per-replica), use a smaller checkpoint, or pass an explicit device_map to offload "
            "deliberately."
        )


def placement(
    config: Any,
    *,
    device: str | None,
    dtype: str,
    attn_implementation: str | None,
    device_map: Any,
    facts: CudaFacts,
    flash: FlashAttnStatus,
) -> Placement:
    """All load-time decisions for ``config`` on a machine described by ``facts`` and ``flash``."""
    device_choice = choose_device(device, facts=facts)
    device_name = device_choice.value
    device_type = device_name.split(":")[0]
    index = int(device_name.split(":")[1]) if ":" in device_name else 0
    capability = (
        facts.capabilities[index] if device_type == "cuda" and index < len(facts.capabilities) else None
    )
    dtype_choice = choose_dtype_name(
        dtype, device_type=device_type, bf16_supported=capability is None or capability >= (8, 0)
    )
    attn_choice = choose_attn_implementation(
        attn_implementation,
        device_type=device_type,
        dtype_name=dtype_choice.value,
        capability=capability,
        flash=flash,
    )
    bytes_per_parameter = 4 if dtype_choice.value == "float32" else 2
    map_choice, max_memory = choose_device_map(
        device_map,
        device=device_name,
        free_bytes_per_device=facts.free_bytes if device_type == "cuda" else (),
        model_bytes=estimate_parameter_count(config) * bytes_per_parameter,
    )
    choices = {
        "device": device_choice,
        "dtype": dtype_choice,
        "attention": attn_choice,
        "device_map": map_choice,
    }
    reasons = [f"{name} {choice.value} ({choice.reason})" for name, choice in choices.items()]
    warnings = [
        f"{name} {choice.value}: {choice.reason}" for name, choice in choices.items() if choice.warning
    ]
    if device_type == "cuda" and device is None and facts.count > 1 and map_choice.value != "auto":
        warnings.append(
            f"the model fits one GPU and {facts.count} are visible, so only GPU 0 is used: one replica "
            "per GPU uses them all (in a batch job: --gpus-per-replica 1 and --replicas N)"
        )
    return Placement(
        device=device_name,
        dtype=dtype_choice.value,
        attn_implementation=attn_choice.value,
        device_map=map_choice.value,
        max_memory=max_memory,
        reasons=tuple(reasons),
        warnings=tuple(warnings),
    )


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


# Messages of CUDA errors after which the context is unusable (every later kernel fails).
_FATAL_CUDA_ERRORS = (
    "device-side assert triggered",
    "illegal memory access",
    "unspecified launch failure",
    "misaligned address",
    "an illegal instruction was encountered",
)


def is_out_of_memory(error: BaseException) -> bool:
    """torch's out-of-memory error (CUDA or CPU allocator), by type, not by message."""
    import torch

    oom = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
    return isinstance(error, oom)


def is_fatal_device_error(error: BaseException) -> bool:
    """Whether ``error`` left the CUDA context unusable (the process must be replaced)."""
    if not isinstance(error, RuntimeError) or is_out_of_memory(error):
        return False
    text = str(error)
    return "CUDA" in text and any(marker in text for marker in _FATAL_CUDA_ERRORS)


def release_cached_memory() -> None:
    """Return the caching allocator's free blocks to the device after an out-of-memory error."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def require_accelerate(feature: str) -> None:
    if importlib.util.find_spec("accelerate") is None:
        raise MissingExtraError(feature=feature, extra="gpu", module="accelerate")
