"""The model layer: load a vision-language model behind the :class:`VideoLanguageModel` seam.

``load_model`` takes a Hugging Face hub id or a local checkpoint directory (Qwen3-VL,
Qwen2.5-VL or Qwen2-VL; the class is picked from the config), or a built-in name:

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

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from videoqa.errors import ModelError
from videoqa.model._devices import AttnImplementation, DtypeName
from videoqa.model._grounder import GROUNDER_MODEL, grounder_dir
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
    TINY_KINDS,
    build_tiny_model,
    shrink_official_config,
)

if TYPE_CHECKING:
    from videoqa.model._qwen import QwenModel

__all__ = [
    "BUILTIN_MODELS",
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
(:mod:`videoqa.model._vllm`; README "Engines")."""

_TINY_BUILTINS = {f"builtin:tiny-{kind}": kind for kind in TINY_KINDS}
BUILTIN_MODELS = (*_TINY_BUILTINS, GROUNDER_MODEL, "builtin:scripted", "builtin:scripted-qwen3-vl")


def __getattr__(name: str) -> Any:
    if name == "QwenModel":
        from videoqa.model._qwen import QwenModel

        return QwenModel
    raise AttributeError(f"module 'videoqa.model' has no attribute {name!r}")


def default_models_dir() -> Path:
    """Where built-in checkpoints live; the environment is read at call time.

    ``$VIDEOQA_CACHE_DIR/models``, else ``$XDG_CACHE_HOME/videoqa/models``, else ``~/.cache/videoqa/models``.
    """
    if root := os.environ.get("VIDEOQA_CACHE_DIR"):
        return Path(root).expanduser() / "models"
    if xdg := os.environ.get("XDG_CACHE_HOME"):
        return Path(xdg).expanduser() / "videoqa" / "models"
    return Path.home() / ".cache" / "videoqa" / "models"


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
            videoqa's vision side, prompts and times (checked at load; README "Engines").
        tensor_parallel_size: with ``engine="vllm"``, GPUs the language model is sharded over.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if engine != "vllm" and tensor_parallel_size != 1:
        raise ValueError(
            "tensor_parallel_size applies to engine='vllm' only; use device_map with transformers"
        )
    if not isinstance(model, str) or not model:
        raise ValueError(f"model must be a hub id, a local path or one of {BUILTIN_MODELS}, got {model!r}")
    if model.startswith("builtin:scripted") and engine != "transformers":
        raise ValueError(
            f"{model} is a stand-in without a language model; it runs with engine='transformers' only"
        )
    if model == "builtin:scripted":
        from videoqa.model._scripted import ScriptedModel

        return ScriptedModel()
    if model == "builtin:scripted-qwen3-vl":
        from videoqa.model._scripted import ScriptedModel

        return ScriptedModel(family="qwen3-vl")
    source, hub_cache, hub_revision = model, cache_dir, revision
    if model == GROUNDER_MODEL:
        source, hub_cache, hub_revision = str(grounder_dir()), None, None
        if not (grounder_dir() / "model.safetensors").is_file():
            raise ModelError(
                f"{model}: its checkpoint is missing from {grounder_dir()}; reinstall videoqa, or "
                "rebuild it with training/train_tiny_grounder.py (see its docstring)."
            )
    elif model.startswith("builtin:"):
        kind = _TINY_BUILTINS.get(model)
        if kind is None:
            raise ValueError(f"unknown built-in model {model!r}; choose one of {BUILTIN_MODELS}")
        root = Path(cache_dir).expanduser() if cache_dir is not None else default_models_dir()
        source = str(
            build_tiny_model(root / f"{model.removeprefix('builtin:')}-v{TINY_BUILD_VERSION}", kind=kind)
        )
        hub_cache, hub_revision = None, None
    from videoqa.model._qwen import load_qwen

    loader: Any = load_qwen
    if engine == "vllm":
        from videoqa.model._vllm import load_vllm

        loader = functools.partial(load_vllm, tensor_parallel_size=tensor_parallel_size)
    return loader(
        model,
        source,
        cache_dir=hub_cache,
        revision=hub_revision,
        device=device,
        dtype=dtype,
        attn_implementation=attn_implementation,
        device_map=device_map,
        requests_per_batch=requests_per_batch,
        max_batch_tokens=max_batch_tokens,
        prefix_reuse=prefix_reuse,
    )
