"""Model inputs for Qwen2-VL / Qwen2.5-VL from prompts and cached visual features.

Pure functions over token ids, grids and seconds, so they are tested without a model.

MRoPE position IDs follow the layout the Qwen checkpoints were trained with (the
reference ``get_rope_index`` of transformers 4.49-5.2, vLLM and Qwen's own code):

- text tokens get the same id on all three axes, counting up by one;
- the tokens of a video with merged grid (t, h, w) starting at position ``s`` get
  ``(s + T_k, s + i, s + j)`` where ``T_k`` is :func:`videoqa.temporal_ids` of the window:
  ``floor(k * tokens_per_second * second_per_grid)`` (Qwen2.5-VL, ``"absolute_time"``,
  in transformers' float32 arithmetic) or ``k`` (Qwen2-VL, ``"patch_index"``);
- the text after a video resumes at ``max(all ids of the video) + 1``.

transformers >= 5.3 (including 5.23, installed here) resumes the text after a video at
``s + max(h, w)`` instead, ignoring the temporal ids; whenever the last temporal id is
above ``max(h, w) - 1`` (every video longer than a few seconds) the prompt text after the
video then shares positions with the video's later frames, a layout the checkpoints never
saw. The video tokens' own ids are the same in both; see ``tests/test_model_runner.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["batch_positions", "chat_text", "expand_video_placeholders", "left_pad", "mrope_positions"]


def chat_text(processor: Any, prompt: str, *, num_videos: int, system: str | None = None) -> str:
    """The checkpoint's own chat template around ``num_videos`` video parts and the prompt.

    ``system`` adds a system message first (None: the template's default, if it has one).
    """
    content: list[dict[str, str]] = [{"type": "video"} for _ in range(num_videos)]
    content.append({"type": "text", "text": prompt})
    messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    return processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def expand_video_placeholders(text: str, *, video_token: str, token_counts: Sequence[int]) -> str:
    """Repeat the i-th ``video_token`` of ``text`` ``token_counts[i]`` times."""
    pieces = text.split(video_token)
    if len(pieces) - 1 != len(token_counts):
        raise ValueError(
            f"the chat text holds {len(pieces) - 1} {video_token} placeholders for {len(token_counts)} videos"
        )
    out = [pieces[0]]
    for count, piece in zip(token_counts, pieces[1:], strict=True):
        out.append(video_token * count)
        out.append(piece)
    return "".join(out)


def left_pad(rows: Sequence[Sequence[int]], *, pad_token_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(input_ids, attention_mask), int64 (batch, longest), padded on the left."""
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad_token_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for b, row in enumerate(rows):
        if row:
            ids[b, width - len(row) :] = row
            mask[b, width - len(row) :] = 1
    return ids, mask


def mrope_positions(
    input_ids: Sequence[int],
    *,
    video_token_id: int,
    grids_thw: Sequence[tuple[int, int, int]],
    temporal_ids: Sequence[np.ndarray],
    spatial_merge_size: int = 2,
) -> np.ndarray:
    """int64 (3, len(input_ids)) MRoPE ids of one unpadded sequence (see the module docstring).

    ``temporal_ids[v]`` holds the temporal id of each temporal patch of video ``v`` relative
    to its first position, i.e. :func:`videoqa.temporal_ids` of its window.
    """
    ids = np.asarray(input_ids, dtype=np.int64)
    out = np.zeros((3, len(ids)), dtype=np.int64)
    is_video = ids == video_token_id
    pos, i, video = 0, 0, 0
    while i < len(ids):
        if not is_video[i]:
            out[:, i] = pos
            pos += 1
            i += 1
            continue
        if video >= len(grids_thw):
            raise ValueError(f"more video token runs than the {len(grids_thw)} video grids given")
        t, h, w = grids_thw[video]
        gh, gw = h // spatial_merge_size, w // spatial_merge_size
        n = t * gh * gw
        if not is_video[i : i + n].all() or (i + n < len(ids) and is_video[i + n]):
            raise ValueError(f"video {video} needs exactly {n} consecutive video tokens at index {i}")
        tt = np.asarray(temporal_ids[video], dtype=np.int64)
        if tt.shape != (t,):
            raise ValueError(f"video {video} has {t} temporal patches but {tt.shape} temporal ids")
        out[0, i : i + n] = np.repeat(tt, gh * gw) + pos
        out[1, i : i + n] = np.tile(np.repeat(np.arange(gh), gw), t) + pos
        out[2, i : i + n] = np.tile(np.arange(gw), t * gh) + pos
        pos = int(out[:, i : i + n].max()) + 1
        i += n
        video += 1
    if video != len(grids_thw):
        raise ValueError(f"{len(grids_thw)} video grids given but {video} video token runs found")
    return out


def batch_positions(attention_mask: np.ndarray, per_row: Sequence[np.ndarray]) -> np.ndarray:
    """int64 (4, batch, width): row 0 the plain text positions, rows 1-3 MRoPE; padding gets 0.

    This is the layout transformers' Qwen ``generate`` builds itself (text positions
    first, used for the attention mask), so ``generate`` extends it by one per new token.
    """
    batch, width = attention_mask.shape
    out = np.zeros((4, batch, width), dtype=np.int64)
    text = np.cumsum(attention_mask, axis=-1) - 1
    out[0] = np.where(attention_mask == 0, 0, text)
    for b, rows in enumerate(per_row):
        out[1:, b, width - rows.shape[1] :] = rows
    return out
