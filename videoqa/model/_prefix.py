"""Prefill a video once for every question about it: which requests share which prompt prefix.

Questions about the same window(s) render to token sequences that agree up to the end of the video
block and usually a little beyond (system prompt, user turn start, ``<|vision_start|>``, the video
tokens, ``<|vision_end|>``, shared leading words). The runner prefills that prefix once, keeps its
key/value cache, and continues each request from a copy of it, feeding only the request's own
suffix. Position IDs are the request's own (the trained MRoPE layout), so a suffix continues exactly
where a full prefill would put it; greedy generation gives the same tokens (tested token for token).

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

__all__ = ["PrefixGroup", "common_prefix_length", "prefix_groups"]


@dataclass(frozen=True)
class PrefixGroup:
    """Requests (indices into a call) that share their first ``prefix_tokens`` tokens."""

    indices: tuple[int, ...]
    prefix_tokens: int


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
