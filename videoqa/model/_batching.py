"""How many requests go into one ``generate`` call: a budget in tokens, not in requests.

One default Qwen2.5-VL window of a long video is about 106,000 visual tokens, so a batch of
four such requests is more than an 80 GB GPU holds, while forty short clips fit easily. The
runner therefore caps the *padded* tokens of a call (rows x longest row), groups requests of
similar length (a left-padded batch costs as much as its longest row, and without
flash-attention sdpa materialises a ``(batch, 1, length, length)`` mask), and returns the
results in the order the requests came.

Memory per token, for the budget derived from free GPU memory (bf16, per token of a prefill):

- key/value cache: ``layers x 2 x kv_heads x head_dim x bytes`` (Qwen2.5-VL-7B: 28 x 2 x 4 x 128 x 2
  = 57,344 bytes);
- the transient activations of one decoder layer: about ``(4 x hidden + 2 x intermediate) x bytes``
  (7B: (4 x 3,584 + 2 x 18,944) x 2 = 104,448 bytes).

So 7B needs about 158 KiB per prompt token: a 106,000-token window takes about 16 GiB beyond the
weights, and an 80 GB H100 holding the 15.4 GiB of weights has room for about three such windows
per call. These are estimates (not measured on a GPU here); ``max_batch_tokens`` overrides them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = [
    "GENERATE_MEMORY_FRACTION",
    "MAX_PAD_RATIO",
    "bytes_per_prompt_token",
    "plan_batches",
    "token_budget",
]

# Share of the free memory (after the weights are loaded) a generate call may plan to use.
GENERATE_MEMORY_FRACTION = 0.8
# A request joins a batch only if the batch's longest row is at most this much longer than it.
MAX_PAD_RATIO = 1.25


def bytes_per_prompt_token(config: Any, *, dtype_bytes: int) -> int:
    """Estimated memory per prompt token of a prefill (KV cache + one layer's activations)."""
    text = config.text_config
    heads = text.num_attention_heads
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // heads
    kv_heads = text.num_key_value_heads or heads
    kv = text.num_hidden_layers * 2 * kv_heads * head_dim * dtype_bytes
    activations = (4 * text.hidden_size + 2 * text.intermediate_size) * dtype_bytes
    return int(kv + activations)


def token_budget(free_bytes: int, *, per_token_bytes: int) -> int:
    """Padded prompt tokens one call may hold in ``free_bytes`` of free device memory."""
    if per_token_bytes <= 0:
        raise ValueError(f"per_token_bytes must be > 0, got {per_token_bytes}")
    return max(1, int(free_bytes * GENERATE_MEMORY_FRACTION) // per_token_bytes)


def plan_batches(
    lengths: Sequence[int], *, max_requests: int, max_padded_tokens: int | None
) -> list[list[int]]:
    """Group request indices into calls: shortest first, each call within both limits.

    A call holds at most ``max_requests`` requests and ``rows x longest row <= max_padded_tokens``
    (``None``: no token limit), and its longest row is at most ``MAX_PAD_RATIO`` times its shortest.
    A request longer than the budget on its own still gets a call of its own (the runner's
    out-of-memory handling reports it if it does not fit).

    >>> plan_batches([100, 10, 12, 105], max_requests=8, max_padded_tokens=250)
    [[1, 2], [0, 3]]
    """
    if max_requests < 1:
        raise ValueError(f"max_requests must be >= 1, got {max_requests}")
    if max_padded_tokens is not None and max_padded_tokens < 1:
        raise ValueError(f"max_padded_tokens must be >= 1 or None, got {max_padded_tokens}")
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batches: list[list[int]] = []
    for index in order:
        length = lengths[index]
        if batches and _fits(batches[-1], length, lengths, max_requests, max_padded_tokens):
            batches[-1].append(index)
        else:
            batches.append([index])
    return batches


def _fits(
    batch: list[int], length: int, lengths: Sequence[int], max_requests: int, max_padded_tokens: int | None
) -> bool:
    # Requests arrive shortest first, so ``length`` is the new longest row.
    if len(batch) + 1 > max_requests:
        return False
    if length > math.floor(lengths[batch[0]] * MAX_PAD_RATIO):
        return False
    return max_padded_tokens is None or (len(batch) + 1) * length <= max_padded_tokens
