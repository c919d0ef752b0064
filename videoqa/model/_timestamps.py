"""Qwen3-VL's timestamp text: what it says, computed from true pts, and read back.

Pure functions (no torch), shared by the Qwen3-VL runner (:mod:`videoqa.model._qwen3`) and the
scripted stand-in's Qwen3-VL mode, which answers from the numbers in this text, never from the pts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

__all__ = ["expand_video_timestamps", "patch_timestamps", "read_timestamps", "timestamp_text"]

_TIMESTAMP_RE = re.compile(r"<(-?\d+(?:\.\d+)?) seconds>")


def patch_timestamps(
    pts_seconds: Sequence[float], *, origin_seconds: float, temporal_patch_size: int = 2
) -> np.ndarray:
    """Seconds of each temporal patch: mean of its first and last frame's pts, minus ``origin_seconds``.

    An odd frame count is padded with the last frame, as the processor pads the frames themselves.
    """
    pts = [float(t) for t in pts_seconds]
    if not pts:
        raise ValueError("a window needs at least one frame to be timestamped")
    pts += [pts[-1]] * (-len(pts) % temporal_patch_size)
    patches = np.asarray(pts, dtype=np.float64).reshape(-1, temporal_patch_size)
    # The processor's arithmetic: (t_first + t_last) / 2, each t a float64.
    return (patches[:, 0] - origin_seconds + (patches[:, -1] - origin_seconds)) / 2


def timestamp_text(seconds: float) -> str:
    """The text Qwen3-VL reads before a temporal patch: ``<{seconds:.1f} seconds>``."""
    return f"<{seconds:.1f} seconds>"


def expand_video_timestamps(
    text: str,
    *,
    video_token: str,
    vision_start: str,
    vision_end: str,
    videos: Sequence[tuple[Sequence[float], int]],
    after_patches: Sequence[Sequence[str]] | None = None,
) -> str:
    """Replace video i's placeholder in ``text`` by its timestamped patches (Qwen3-VL's reference layout).

    ``videos[i]`` is (patch seconds, tokens per patch). Each patch becomes
    ``<t seconds>`` + ``vision_start`` + ``video_token`` x tokens + ``vision_end``, followed by
    ``after_patches[i][k]`` (timed text, see ``videoqa.text``) when given.

    The chat template writes a video as ``vision_start + video_token + vision_end``; the reference
    layout replaces that whole wrapper, so no extra start/end pair encloses all the patches (the
    Qwen3-VL processor as released, transformers 4.57.0 ``processing_qwen3_vl.py``, kept through
    5.9.0 and restored in 5.25.0; 5.10.1-5.24.0 kept the outer pair, a regression). A bare
    ``video_token`` (no wrapper around it) is replaced alone, as the processor does.
    """
    wrapper = vision_start + video_token + vision_end
    pieces = re.split(f"(?:{re.escape(wrapper)}|{re.escape(video_token)})", text)
    if len(pieces) - 1 != len(videos):
        raise ValueError(
            f"the chat text holds {len(pieces) - 1} {video_token} placeholders for {len(videos)} videos"
        )
    out = [pieces[0]]
    for v, ((seconds, tokens), piece) in enumerate(zip(videos, pieces[1:], strict=True)):
        block = vision_start + video_token * tokens + vision_end
        after = after_patches[v] if after_patches is not None else [""] * len(seconds)
        out.extend(timestamp_text(t) + block + text for t, text in zip(seconds, after, strict=True))
        out.append(piece)
    return "".join(out)


def read_timestamps(text: str) -> list[float]:
    """The seconds of every ``<t seconds>`` in ``text``, in order (what Qwen3-VL reads)."""
    return [float(m.group(1)) for m in _TIMESTAMP_RE.finditer(text)]
