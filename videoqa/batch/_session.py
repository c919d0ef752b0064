"""Build the :class:`videoqa.Session` a model actor holds, from a :class:`JobConfig`."""

from __future__ import annotations

from typing import Any

from videoqa.batch._config import JobConfig

__all__ = ["build_session"]


def build_session(config: JobConfig, *, num_gpus: float | None = None) -> Any:
    """One Session per model actor. With more than one GPU the model is sharded with ``device_map="auto"``.

    ``num_gpus`` is what the actor holds (Ray sets CUDA_VISIBLE_DEVICES accordingly); None reads it
    from the Ray runtime context of the current actor.
    """
    from videoqa import Session
    from videoqa.model.families import load_options

    if num_gpus is None:
        num_gpus = _assigned_gpus()
    model_options: dict[str, Any] = {"prefix_reuse": config.prefix_reuse}
    if config.max_batch_tokens is not None:
        model_options["max_batch_tokens"] = config.max_batch_tokens
    if config.engine == "vllm":
        model_options["engine"] = "vllm"
        # vLLM shards the language model itself over the replica's GPUs; the vision side stays on the first
        model_options["tensor_parallel_size"] = max(1, int(num_gpus))
    elif num_gpus > 1:
        model_options["device_map"] = "auto"
    if num_gpus == 0:
        model_options["device"] = "cpu"
    takes = load_options(config.model)  # the family declares them (a scripted stand-in takes none)
    model_options = {k: v for k, v in model_options.items() if k in takes}
    return Session(
        config.model,
        config.settings,
        cache_dir=config.cache_dir,
        storage_options=config.storage_options,
        model_options=model_options or None,
    )


def _assigned_gpus() -> float:
    """GPUs Ray assigned to this worker (none in a driver); 0 when Ray is not running in this process."""
    import ray

    if not ray.is_initialized():
        return 0.0
    return float(len(ray.get_runtime_context().get_accelerator_ids().get("GPU", [])))
