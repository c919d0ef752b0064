"""One window read as several segments in parallel, each by its own single-thread reader.

A window's targets are cut only where a keyframe lies after one target and at or before the next.
The reader of the next segment starts with a seek to that keyframe: it skips the frames that one
reader would have skipped too (or decoded for nothing), so no frame is decoded twice, and every
segment decoder runs with one thread (no frame-threading overhead: no context copies, no pipeline
to refill after each seek). Each reader has its own container and its own swscale thread (which
also lets a core that finished its segment early convert for a slower one), so the segments share
nothing but the output array, where they fill disjoint rows.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from videoqa.video._pyav import Part, _Reader
    from videoqa.video._types import Clip, Window

__all__ = ["MIN_SEGMENT_TARGETS", "SegmentedReads", "Threading", "split_targets"]

Threading = Literal["auto", "frame", "segment"]
MIN_SEGMENT_TARGETS = 8  # fewer targets per segment: a second container and thread cost more than they save
_EPS = 1e-6


def split_targets(pts_seconds: Sequence[float], keyframes: Sequence[float], num_segments: int) -> list[range]:
    """Cut the target indices into at most ``num_segments`` runs of about equal length.

    Cuts fall only between two targets with a keyframe after the first and at or before the
    second, and every run keeps at least ``MIN_SEGMENT_TARGETS`` targets; with no such cut (few
    targets, one long GOP, unknown keyframes, unsorted targets) the window is one run.
    """
    n = len(pts_seconds)
    parts = min(num_segments, n // MIN_SEGMENT_TARGETS)
    if parts < 2 or len(keyframes) < 2 or any(b < a for a, b in itertools.pairwise(pts_seconds)):
        return [range(n)]
    cuts = []
    for k in range(MIN_SEGMENT_TARGETS, n - MIN_SEGMENT_TARGETS + 1):
        i = bisect.bisect_right(keyframes, pts_seconds[k] + _EPS)
        if i and keyframes[i - 1] > pts_seconds[k - 1] + _EPS:
            cuts.append(k)
    chosen: list[int] = []
    for j in range(1, parts):
        ideal = j * n / parts
        at = bisect.bisect_left(cuts, ideal)
        near = [
            c for c in cuts[max(at - 1, 0) : at + 1] if not chosen or c - chosen[-1] >= MIN_SEGMENT_TARGETS
        ]
        if near:
            chosen.append(min(near, key=lambda c: abs(c - ideal)))
    bounds = [0, *chosen, n]
    return [range(a, b) for a, b in itertools.pairwise(bounds) if b > a]


class SegmentedReads:
    """Reads each window with up to ``num_segments`` readers at once (opened on first need)."""

    def __init__(self, first: _Reader, open_reader: Callable[[], _Reader], num_segments: int):
        self.readers = [first]
        self.open_reader, self.num_segments = open_reader, num_segments
        self.pool: ThreadPoolExecutor | None = None
        self.num_split_windows = 0

    def read_window(self, window: Window) -> Clip:
        from videoqa.video._pyav import assemble_clip

        ranges = split_targets(window.pts_seconds, self.readers[0].known_keyframes(), self.num_segments)
        while len(self.readers) < len(ranges):
            self.readers.append(self.open_reader())
            self.readers[-1].keyframes = self.readers[0].keyframes  # the same file: the same index
        frames = np.empty((window.num_frames, window.height, window.width, 3), dtype=np.uint8)
        pts = np.empty(window.num_frames, dtype=np.float64)
        if len(ranges) == 1:
            return assemble_clip(
                window, frames, pts, [self.readers[0].read_targets(window, ranges[0], frames, pts)]
            )
        self.num_split_windows += 1
        if self.pool is None:
            self.pool = ThreadPoolExecutor(self.num_segments - 1, thread_name_prefix="videoqa-segment")
        pairs = zip(self.readers[1 : len(ranges)], ranges[1:], strict=True)
        futures = [self.pool.submit(r.read_targets, window, ks, frames, pts) for r, ks in pairs]
        try:
            parts: list[Part] = [self.readers[0].read_targets(window, ranges[0], frames, pts)]
        finally:
            wait(futures)  # no reader may still run when the caller closes the containers
        return assemble_clip(window, frames, pts, parts + [f.result() for f in futures])

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)
