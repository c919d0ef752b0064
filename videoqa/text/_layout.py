"""How timed text is written into a prompt, within a token budget.

Two layouts, declared per model family (``videoqa.model``):

- ``"block"`` (Qwen2.5-VL, Qwen2-VL; the Video-MME "with subtitles" protocol, with times): one
  block after the video and before the question, a line per cue;
- ``"interleaved"`` (Qwen3-VL, which reads time as ``<t seconds>`` text): each cue's line right after
  the temporal patch on screen when it starts, so words sit next to the frames they go with.

A cue line is ``[4.3 - 8.4 seconds] words``: times relative to the request's origin (the start of
its first window, the instant every answer is mapped back from), one decimal like Qwen3-VL's own
timestamps. Over the budget, cues are kept evenly over the request (0, n/2, n/4, 3n/4, ...) so no
stretch of the video loses all its text, and the kept ones stay in time order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from videoqa.text._types import Cue

__all__ = [
    "BLOCK_HEADER",
    "TextLayout",
    "cue_block",
    "cue_line",
    "fit_cues",
    "interleave_cues",
    "spread_order",
]

TextLayout = Literal["block", "interleaved"]
BLOCK_HEADER = "Subtitles of the video, with their times in seconds:\n"
CountTokens = Callable[[str], int]


def cue_line(cue: Cue, *, origin_seconds: float) -> str:
    """``[start - end seconds] text`` with times relative to ``origin_seconds``, and a newline."""
    start = max(0.0, cue.start_seconds - origin_seconds)
    end = max(start, cue.end_seconds - origin_seconds)
    return f"[{start:.1f} - {end:.1f} seconds] {cue.text}\n"


def spread_order(n: int) -> list[int]:
    """0..n-1 coarse to fine: 0, then the middle, then the quarters, ... (each index once)."""
    order: list[int] = []
    seen: set[int] = set()
    step = 1 << max(n - 1, 0).bit_length()
    while step >= 1:
        for i in range(0, n, step):
            if i not in seen:
                seen.add(i)
                order.append(i)
        step //= 2
    return order


def fit_cues(lines: Sequence[str], *, max_tokens: int, count_tokens: CountTokens) -> list[int]:
    """Indices of the ``lines`` kept within ``max_tokens`` (all when they fit), in time order."""
    costs = [count_tokens(line) for line in lines]
    if sum(costs) <= max_tokens:
        return list(range(len(lines)))
    kept, used = [], 0
    for i in spread_order(len(lines)):
        if used + costs[i] <= max_tokens:
            kept.append(i)
            used += costs[i]
    return sorted(kept)


def cue_block(
    cues: Sequence[Cue], *, origin_seconds: float, max_tokens: int, count_tokens: CountTokens
) -> str:
    """The ``"block"`` layout: header and one line per kept cue, or "" when none fits or none is given."""
    if not cues:
        return ""
    budget = max_tokens - count_tokens(BLOCK_HEADER)
    lines = [cue_line(c, origin_seconds=origin_seconds) for c in cues]
    kept = fit_cues(lines, max_tokens=budget, count_tokens=count_tokens) if budget > 0 else []
    return BLOCK_HEADER + "".join(lines[i] for i in kept) if kept else ""


def interleave_cues(
    cues: Sequence[Cue],
    *,
    patch_starts_seconds: Sequence[float],
    origin_seconds: float,
    max_tokens: int,
    count_tokens: CountTokens,
) -> list[str]:
    """The ``"interleaved"`` layout: the text to write after each temporal patch ("" for most).

    ``patch_starts_seconds`` are the pts of each temporal patch's first frame (relative to
    ``origin_seconds``), over all windows of the request in order; a cue goes after the last patch
    that starts at or before the cue (the first patch for a cue that starts earlier).
    """
    after = [""] * len(patch_starts_seconds)
    if not cues or not patch_starts_seconds:
        return after
    lines = [cue_line(c, origin_seconds=origin_seconds) for c in cues]
    for i in fit_cues(lines, max_tokens=max_tokens, count_tokens=count_tokens):
        start = cues[i].start_seconds - origin_seconds
        patch = max((k for k, t in enumerate(patch_starts_seconds) if t <= start + 1e-9), default=0)
        after[patch] += lines[i]
    return after
