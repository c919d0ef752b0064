"""Which model family a model string names, without loading it: for plans made away from the model.

The batch job plans and decodes on CPU workers that never load the model, so they learn the
family's sampling needs (:class:`~videoqa.model._protocol.SamplingProfile`) from the model string:
a ``builtin:`` name, a local checkpoint's ``config.json`` or, for a hub id, the ``config.json`` in
the Hugging Face cache (downloaded once if missing). A model whose family cannot be determined is
an error, never a silent guess.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from videoqa.errors import ModelError
from videoqa.model._grounder import GROUNDER_MODEL
from videoqa.model._protocol import QWEN2_SAMPLING, QWEN3_SAMPLING, SamplingProfile
from videoqa.model._tiny import TINY_KINDS

__all__ = ["FAMILY_OF_MODEL_TYPE", "family_profile", "hash_family", "model_family", "sampling_profile_for"]

FAMILY_OF_MODEL_TYPE = {
    "qwen2_vl": "qwen2-vl",
    "qwen2_5_vl": "qwen2.5-vl",
    "qwen3_vl": "qwen3-vl",
    "qwen3_vl_moe": "qwen3-vl",
}
"""``config.json`` ``model_type`` -> family name recorded with every answer."""
_BUILTIN_FAMILIES = {
    "builtin:scripted": "qwen2.5-vl",
    "builtin:scripted-qwen3-vl": "qwen3-vl",
    GROUNDER_MODEL: "qwen2.5-vl",
    # every tiny kind names its family (the MoE variant is a Qwen3-VL)
    **{f"builtin:tiny-{kind}": kind.removesuffix("-moe") for kind in TINY_KINDS},
}


def family_profile(family: str) -> SamplingProfile:
    """The sampling profile of a family name (Qwen3-VL's, or the 28-pixel uniform one of Qwen2/2.5-VL)."""
    if family == "qwen3-vl":
        return QWEN3_SAMPLING
    return SamplingProfile(
        family=family, patch_factor=QWEN2_SAMPLING.patch_factor, targets=QWEN2_SAMPLING.targets
    )


@functools.lru_cache(maxsize=64)
def model_family(model: str, *, revision: str | None = None) -> str | None:
    """Family of ``model`` (``"qwen3-vl"``, ``"qwen2.5-vl"``, ``"qwen2-vl"``); None for other built-ins.

    Raises :class:`~videoqa.errors.ModelError` when a checkpoint's config cannot be read or names a
    model type videoqa does not run.
    """
    if model.startswith("builtin:"):
        return _BUILTIN_FAMILIES.get(model)
    path = Path(os.path.expanduser(model))
    if path.is_dir():
        config_file = path / "config.json"
    else:
        try:
            from huggingface_hub import hf_hub_download

            config_file = Path(hf_hub_download(model, "config.json", revision=revision))
        except Exception as exc:  # network, missing repo, gated repo: say which and stop
            raise ModelError(
                f"{model}: cannot read its config.json to learn the model family ({exc}); give a local "
                "checkpoint directory or make the hub id reachable."
            ) from exc
    try:
        model_type = json.loads(config_file.read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError) as exc:
        raise ModelError(f"{config_file}: cannot read the model config ({exc}).") from exc
    if model_type not in FAMILY_OF_MODEL_TYPE:
        raise ModelError(
            f"{model}: model_type {model_type!r} is not supported; videoqa runs "
            f"{', '.join(sorted(FAMILY_OF_MODEL_TYPE))} checkpoints."
        )
    return FAMILY_OF_MODEL_TYPE[model_type]


def hash_family(model: str) -> str | None:
    """The family :func:`videoqa.config_hash` records for ``model``: read without network.

    A local checkpoint directory's path does not say which model it holds, so its family (from its
    ``config.json``) joins the hash; a hub id or ``builtin:`` name names its model, family included,
    so None. Every caller (Session, batch job, evaluation) uses this, so their hashes agree.
    """
    if model.startswith("builtin:") or not Path(os.path.expanduser(model)).is_dir():
        return None
    return model_family(model)


def sampling_profile_for(model: str) -> SamplingProfile:
    """The sampling profile a loaded ``model`` will state (``model.sampling``), from its string alone."""
    family = model_family(model)
    return QWEN2_SAMPLING if family is None else family_profile(family)
