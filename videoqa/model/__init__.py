"""The model layer: load a vision-language model behind the :class:`VideoLanguageModel` seam.

``load_model`` takes a Hugging Face hub id or a local checkpoint directory (Qwen3-VL,
Qwen2.5-VL or Qwen2-VL; the family, hence the class and runner, is picked from the config's
``model_type``), or a built-in name (each declared by its family in :mod:`videoqa.model.families`):

- ``"builtin:tiny-qwen2.5-vl"``, ``"builtin:tiny-qwen2-vl"``, ``"builtin:tiny-qwen3-vl"``: tiny random-weight
  checkpoints built on first use into ``<cache>/models/<name>`` and then loaded by path
  through exactly the code a real checkpoint takes;
- ``"builtin:tiny-grounder"``: a tiny Qwen2.5-VL trained here to ground coloured squares in
  synthetic videos (:mod:`videoqa.model._grounder`), shipped in the package and loaded by path;
- ``"builtin:scripted"``: the scripted stand-in that answers from the frames it sees;
  ``"builtin:scripted-qwen3-vl"`` reads time from Qwen3-VL's timestamp text instead.

torch and transformers are imported only when a model is loaded.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Literal, get_args

from videoqa.model._devices import AttnImplementation, DtypeName
from videoqa.model._protocol import (
    Generation,
    GenerationOptions,
    GenerationRequest,
    TemporalConfig,
    TemporalKind,
    VideoLanguageModel,
    VisualFeatures,
)
from videoqa.model._timing import temporal_ids
from videoqa.model._tiny import (
    OFFICIAL_FILES,
    TINY_BUILD_VERSION,
    build_tiny_model,
    default_models_dir,
    shrink_official_config,
)
from videoqa.model.families import DEFAULT_MODEL, builtin_model, builtin_models, family_of

if TYPE_CHECKING:
    from videoqa.model._qwen import QwenModel

__all__ = [
    "BUILTIN_MODELS",
    "DEFAULT_MODEL",
    "ENGINES",
    "OFFICIAL_FILES",
    "TINY_BUILD_VERSION",
    "Generation",
    "GenerationOptions",
    "GenerationRequest",
    "QwenModel",
    "TemporalConfig",
    "TemporalKind",
    "VideoLanguageModel",
    "VisualFeatures",
    "build_tiny_model",
    "default_models_dir",
    "load_model",
    "shrink_official_config",
    "temporal_ids",
]

Engine = Literal["transformers", "vllm"]
ENGINES: tuple[str, ...] = get_args(Engine)
"""``transformers``: videoqa's own runner (every device). ``vllm``: vLLM runs the language side
(:mod:`videoqa.model._vllm`; README "Engines"); a family lists the engines it runs on."""


def __getattr__(name: str) -> Any:
    if name == "BUILTIN_MODELS":  # every family's built-in names (families may be registered late)
        return tuple(builtin_models())
    if name == "QwenModel":
        from videoqa.model._qwen import QwenModel

        return QwenModel
    raise AttributeError(f"module 'videoqa.model' has no attribute {name!r}")


def load_model(
    model: str,
    *,
    device: str | None = None,
    dtype: DtypeName = "auto",
    attn_implementation: AttnImplementation | None = None,
    device_map: str | dict[str, Any] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    revision: str | None = None,
    requests_per_batch: int = 8,
    max_batch_tokens: int | None = None,
    prefix_reuse: bool = True,
    engine: Engine = "transformers",
    tensor_parallel_size: int = 1,
) -> VideoLanguageModel:
    """Load ``model`` (hub id, local directory or ``builtin:`` name) as a :class:`VideoLanguageModel`.

    Args:
        device: ``"cuda"``, ``"cuda:1"``, ``"cpu"``...; ``None`` picks CUDA when visible.
        dtype: ``"auto"`` (bf16 on CUDA, fp32 on CPU), ``"float32"``, ``"bfloat16"`` or ``"float16"``.
        attn_implementation: ``None`` picks flash_attention_2 when flash-attn is installed and
            CUDA is present, else sdpa; ``"flash_attention_2"``, ``"sdpa"`` or ``"eager"`` force one.
        device_map: ``"auto"`` (or an accelerate map) shards the model over the visible GPUs;
            ``None`` shards only when there are several GPUs and the model does not fit the first.
        cache_dir: for hub ids, the Hugging Face download cache; for ``builtin:tiny-*``, the
            directory holding the built checkpoints (default :func:`default_models_dir`).
        requests_per_batch: at most this many requests per forward batch of :meth:`generate`
            (memory vs speed; answers' settings are :class:`videoqa.Settings`, passed per call).
        max_batch_tokens: at most this many padded prompt tokens (rows x longest row) per forward
            batch; ``None`` derives the limit from free GPU memory (no limit on the CPU). See
            :mod:`videoqa.model._batching` for the arithmetic.
        prefix_reuse: prefill once the prompt prefix (system prompt, video block, shared words) of
            requests on the same windows in one :meth:`generate` call, and continue each request
            from a copy of its key/value cache (same tokens as a full prefill; see
            :mod:`videoqa.model._prefix`). ``False`` prefills every request in full.
        engine: ``"transformers"`` (default) or ``"vllm"``: vLLM runs the language side, with
            videoqa's vision side, prompts and times (checked at load; README "Engines"). The
            model's family must list the engine (``ModelFamily.engines``).
        tensor_parallel_size: with ``engine="vllm"``, GPUs the language model is sharded over.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if engine != "vllm" and tensor_parallel_size != 1:
        raise ValueError(
            "tensor_parallel_size applies to engine='vllm' only; use device_map with transformers"
        )
    if not isinstance(model, str) or not model:
        raise ValueError(
            f"model must be a hub id, a local path or one of {tuple(builtin_models())}, got {model!r}"
        )
    options = {
        "device": device,
        "dtype": dtype,
        "attn_implementation": attn_implementation,
        "device_map": device_map,
        "cache_dir": cache_dir,
        "revision": revision,
        "requests_per_batch": requests_per_batch,
        "max_batch_tokens": max_batch_tokens,
        "prefix_reuse": prefix_reuse,
    }
    found = builtin_model(model)
    if engine != "transformers":
        check_engine(model, engine, found)
    if found is not None:
        family, builtin = found
        runner = builtin.load(family, **options)
    else:
        from videoqa.model._qwen import load_qwen

        runner = load_qwen(model, model, **options)
    if engine == "vllm":
        from videoqa.model._vllm import attach_vllm

        return attach_vllm(runner, tensor_parallel_size=tensor_parallel_size)
    return runner


def check_engine(model: str, engine: str, found: Any) -> None:
    """Refuse an engine the model's family does not declare, or a stand-in without a language model."""
    family = found[0] if found is not None else family_of(model)
    if found is not None and not found[1].load_options:
        raise ValueError(f"{model} is a stand-in without a language model; it runs on no engine but its own")
    if engine not in family.engines:
        raise ValueError(f"{model}: the {family.name} family runs on {family.engines}, not on {engine!r}")
