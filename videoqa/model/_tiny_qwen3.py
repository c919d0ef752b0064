"""A tiny random-weight Qwen3-VL checkpoint, built on the spot (``build_tiny_model(kind="qwen3-vl")``).

Same recipe as the Qwen2.5-VL one (:mod:`videoqa.model._tiny`): a byte-level BPE trained here with
Qwen's special tokens, the real transformers classes (``Qwen3VLConfig``,
``Qwen3VLForConditionalGeneration``, ``Qwen3VLProcessor`` with ``Qwen3VLVideoProcessor``), only the
sizes shrunk. What is Qwen3-VL's own and kept: 16-pixel patches merged 2x2, 2 frames per temporal
patch, interleaved MRoPE (``mrope_section`` [24, 20, 20] of the 64 rotary frequencies of a 128-dim
head, scaled to [3, 3, 2] of 8), DeepStack (two vision layers feed the first two text layers),
learned vision position embeddings (2304 = 48 x 48) and the image/video mean and std of 0.5.

The chat template is written for videoqa in the Qwen3-VL style (no default system prompt, a video
part rendered ``<|vision_start|><|video_pad|><|vision_end|>``, generation prompt
``<|im_start|>assistant\\n``); the released chat_template.json was not found to vendor (see
tests/data/official/README.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["build_tiny_qwen3"]


def _chat_template() -> str:
    """The tiny models' ChatML template without its default system prompt (Qwen3-VL has none)."""
    from videoqa.model._tiny_common import CHAT_TEMPLATE

    default_system, body = CHAT_TEMPLATE.split("{% endif %}", 1)
    if "You are a helpful assistant." not in default_system:
        raise RuntimeError("the tiny chat template no longer starts with its default system prompt")
    return body


def _config(tokenizer: Any, *, moe: bool = False) -> Any:
    from transformers import Qwen3VLConfig, Qwen3VLMoeConfig

    from videoqa.model._tiny_common import special_token_ids

    text_ids, vision_ids = special_token_ids(tokenizer)
    text = {
        "vocab_size": -(-len(tokenizer) // 64) * 64,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "max_position_embeddings": 262144,
        "rms_norm_eps": 1e-6,
        "initializer_range": 0.1,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 5000000.0,
            "mrope_section": [3, 3, 2],
            "mrope_interleaved": True,
        },
        **text_ids,
    }
    if moe:  # Qwen3-VL-30B-A3B's layout, shrunk: every layer sparse, 4 experts, 2 per token
        text.update(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, decoder_sparse_step=1)
    vision = {
        "depth": 3,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_heads": 2,
        "out_hidden_size": 64,
        "patch_size": 16,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "num_position_embeddings": 2304,
        "deepstack_visual_indexes": [1, 2],
        "initializer_range": 0.1,
    }
    return (Qwen3VLMoeConfig if moe else Qwen3VLConfig)(
        text_config=text,
        vision_config=vision,
        **vision_ids,
    )


def _processor(tokenizer: Any) -> Any:
    from transformers import Qwen2VLImageProcessor, Qwen3VLProcessor, Qwen3VLVideoProcessor

    half = [0.5, 0.5, 0.5]
    return Qwen3VLProcessor(
        image_processor=Qwen2VLImageProcessor(patch_size=16, merge_size=2, image_mean=half, image_std=half),
        tokenizer=tokenizer,
        video_processor=Qwen3VLVideoProcessor(image_mean=half, image_std=half),
        chat_template=_chat_template(),
    )


def build_tiny_qwen3(staging: Path, *, seed: int, moe: bool = False) -> None:
    """Write a tiny Qwen3-VL checkpoint (weights, config, tokenizer, processor) into ``staging``.

    ``moe=True`` builds the mixture-of-experts variant (``qwen3_vl_moe``, as Qwen3-VL-30B-A3B).
    """
    import torch
    from transformers import Qwen3VLForConditionalGeneration, Qwen3VLMoeForConditionalGeneration

    from videoqa.model._tiny_common import save_greedy as _save_greedy
    from videoqa.model._tiny_common import train_tokenizer as _train_tokenizer

    tokenizer = _train_tokenizer()
    tokenizer.chat_template = _chat_template()
    config = _config(tokenizer, moe=moe)
    model_class = Qwen3VLMoeForConditionalGeneration if moe else Qwen3VLForConditionalGeneration
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_class(config).eval()
    _save_greedy(staging, model, _processor(tokenizer))
