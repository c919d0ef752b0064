"""vLLM plugin entry point (``vllm.general_plugins``): registers videoqa's exact-time model classes.

vLLM calls :func:`register` in every process it starts (tensor-parallel workers included). It acts
only when the videoqa vLLM worker set ``VIDEOQA_VLLM_EXACT_TIME=1``, so a vLLM that merely has
videoqa installed keeps its own classes. This module imports nothing heavy: the classes themselves
(:mod:`videoqa.model._vllm_exact`) are imported by vLLM when it builds the model.
"""

from __future__ import annotations

import os

__all__ = ["ENV_FLAG", "EXACT_ARCHITECTURES", "register"]

ENV_FLAG = "VIDEOQA_VLLM_EXACT_TIME"
EXACT_ARCHITECTURES = {"Qwen2_5_VLForConditionalGeneration": "videoqa.model._vllm_exact:ExactTimeQwen2_5_VL"}
"""vLLM architecture name -> the class registered over it. Qwen2-VL and Qwen3-VL keep vLLM's own:
their positions carry no time (Qwen3-VL's time is prompt text, checked token for token)."""


def register() -> None:
    """Register the exact-time classes over vLLM's own, when the videoqa worker asked for them."""
    if os.environ.get(ENV_FLAG) != "1":
        return
    from vllm import ModelRegistry

    for architecture, target in EXACT_ARCHITECTURES.items():
        ModelRegistry.register_model(architecture, target)
