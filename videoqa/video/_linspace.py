"""``torch.linspace(first, last, count).round()`` without torch: the frames qwen-vl-utils reads."""

from __future__ import annotations

import numpy as np

__all__ = ["torch_linspace_rounded"]


def torch_linspace_rounded(first: int, last: int, count: int) -> list[int]:
    """``torch.linspace(first, last, count).round().long()`` (float32, torch's two-sided formula).

    torch computes ``first + step * i`` for the first half and ``last - step * (count - 1 - i)``
    for the second, in float32 with ``step = (last - first) / (count - 1)``; rounding is half to
    even. Reproduced with numpy so the media layer needs no torch; tests compare with torch.
    """
    if count == 1:
        return [first]
    step = np.float32((last - first) / (count - 1))
    i = np.arange(count)
    halfway = count // 2
    values = np.where(
        i < halfway,
        np.float32(first) + step * i.astype(np.float32),
        np.float32(last) - step * (count - 1 - i).astype(np.float32),
    ).astype(np.float32)
    return [int(v) for v in np.rint(values)]
