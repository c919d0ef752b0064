"""Prefill a video once for every question about it: which requests share which prompt prefix.

Questions about the same window(s) render to token sequences that agree up to the end of the video
block and usually a little beyond (system prompt, user turn start, ``<|vision_start|>``, the video
tokens, ``<|vision_end|>``, shared leading words). The runner prefills that prefix once, keeps its
key/value cache, and continues each request from a copy of it, feeding only the request's own
suffix. Position IDs are the request's own (the trained MRoPE layout), so a suffix continues exactly
where a full prefill would put it; greedy generation gives the same tokens (tested token for token).

Reuse does not always pay: each request then gets a copy of the prefix's cache and a ``generate``
call of its own instead of sharing batched calls, which on short prompts (the tiny grounder: 114
shared tokens) costs more than the prefill it saves; :func:`reuse_pays` decides per call.

A prefix is shared only when it covers every video token of the requests (text that comes before
the video makes the prefix too short to be worth it: those requests are prefilled in full), and it
always leaves at least one token of each request to prefill (the first new token's logits come
from it). Memory: the shared cache plus one working copy, at most, per replica at a time:
``2 x layers x 2 x kv_heads x head_dim x prefix_tokens x bytes``; Qwen2.5-VL-7B in bf16 at a default
106,000-token window: 28 x 2 x 4 x 128 x 106,000 x 2 B = 5.7 GiB per copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["REUSE_COST", "PrefixGroup", "ReuseCost", "common_prefix_length", "prefix_groups", "reuse_pays"]


@dataclass(frozen=True)
class PrefixGroup:
    """Requests (indices into a call) that share their first ``prefix_tokens`` tokens."""

    indices: tuple[int, ...]
    prefix_tokens: int


@dataclass(frozen=True)
class ReuseCost:
    """What prefix reuse costs beyond the prefill it saves, in prefilled-token equivalents.

    Reuse prefills the shared prefix once instead of once per request, but copies the prefix's
    key/value cache for every request and generates each request on its own (its own decoding loop)
    instead of in the batched calls a plain prefill uses. From the CPU measurements of
    ``benchmarks/prefix.py`` (benchmarks/README.md): on the widened tiny Qwen2.5-VL, four questions
    on 4,096 shared tokens took 3.17 s per question plain and 1.00 s with reuse, so an extra call's
    16 decoding steps cost about what 290 prefilled tokens cost (18 per step); on the tiny grounder,
    200 questions on 114 shared tokens took 3.2 s plain and 5.9 s with reuse, which any step cost
    above 7 tokens predicts. 30 sits between (a 7B decoding step on a GPU, memory bound, costs
    more prefilled tokens still, so there reuse pays even more readily than modelled).
    """

    copy_per_token: float = 0.05
    """Copying one cached token's key/values, relative to prefilling that token."""
    step_tokens: float = 30.0
    """One decoding step of one extra ``generate`` call, in tokens prefilled in the same time."""


REUSE_COST = ReuseCost()


def reuse_pays(
    *,
    shared_tokens: int,
    unshared_tokens: Sequence[int],
    batched_calls: int,
    max_new_tokens: int,
    cost: ReuseCost = REUSE_COST,
) -> bool:
    """Whether one prefill of ``shared_tokens`` plus a call per request beats plain batched prefills.

    Without reuse the requests (``shared_tokens + unshared_tokens[i]`` each) go in ``batched_calls``
    padded calls; with it the prefix is prefilled once, copied per request, and each request's own
    tokens are prefilled and decoded in a call of its own (``len(unshared_tokens) - batched_calls``
    more decoding loops of up to ``max_new_tokens`` steps).

    >>> reuse_pays(shared_tokens=4096, unshared_tokens=[12, 9, 15, 11], batched_calls=1, max_new_tokens=16)
    True
    >>> reuse_pays(shared_tokens=150, unshared_tokens=[12] * 200, batched_calls=25, max_new_tokens=24)
    False
    """
    n = len(unshared_tokens)
    if n < 2 or shared_tokens < 1:
        return False
    plain = n * (shared_tokens + max(unshared_tokens))  # padded to the longest row
    reuse = (
        shared_tokens
        + sum(unshared_tokens)
        + n * shared_tokens * cost.copy_per_token
        + max(0, n - batched_calls) * max_new_tokens * cost.step_tokens
    )
    return reuse < plain


def common_prefix_length(rows: Sequence[Sequence[int]]) -> int:
    """Length of the longest token prefix all ``rows`` share."""
    if not rows:
        return 0
    shortest = min(len(row) for row in rows)
    for position in range(shortest):
        token = rows[0][position]
        if any(row[position] != token for row in rows[1:]):
            return position
    return shortest


def prefix_groups(
    token_rows: Sequence[Sequence[int]],
    window_keys: Sequence[object],
    *,
    video_token_id: int,
) -> list[PrefixGroup]:
    """Groups of two or more requests on the same windows whose shared prefix covers their video.

    ``window_keys[i]`` identifies the encoded windows of request ``i`` (requests with equal keys
    carry the same video embeddings). Requests in no group are prefilled in full.
    """
    by_key: dict[object, list[int]] = {}
    for index, key in enumerate(window_keys):
        by_key.setdefault(key, []).append(index)
    groups = []
    for indices in by_key.values():
        if len(indices) < 2:
            continue
        rows = [token_rows[i] for i in indices]
        prefix = min(common_prefix_length(rows), min(len(row) for row in rows) - 1)
        last_video = max(_last_index(row, video_token_id) for row in rows)
        if prefix > last_video:
            groups.append(PrefixGroup(indices=tuple(indices), prefix_tokens=prefix))
    return groups


def _last_index(row: Sequence[int], token: int) -> int:
    for position in range(len(row) - 1, -1, -1):
        if row[position] == token:
            return position
    return -1
