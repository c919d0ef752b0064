"""The PyAV decoding backend: time-based frame selection with seek-or-continue per target.

Each reader keeps one container open across the windows of a plan (with ``num_threads`` > 1,
one reader per segment of a window, see ``_segments``). For each target instant a reader
either keeps decoding forward (dense targets: cheaper than a seek) or seeks (the keyframe at or
before the target lies beyond what is already decoded). PyAV seeks land on a keyframe at or
before the requested time, so the reader then decodes forward to the target's pts; if a seek
lands after the target (the index is in dts, B-frames shift pts), it seeks again further back.

Frames are converted to RGB at the window's size inside swscale (one ``VideoReformatter`` per
reader, one swscale thread), so no full-size frame ever reaches Python; rotation is applied to
the small frame.
"""

from __future__ import annotations

import bisect
import contextlib
import math
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np

from videoqa.errors import EmptyVideoError
from videoqa.video._container import media_errors, open_container, video_stream
from videoqa.video._segments import SegmentedReads, Threading
from videoqa.video._source import open_source
from videoqa.video._types import Clip, SamplingPlan, Window

__all__ = ["INTERPOLATION", "SeekPolicy", "decode_pyav"]

SeekPolicy = Literal["auto", "always", "never"]

_EPS = 1e-6  # seconds: float slack when comparing a pts with a target instant
_DEFAULT_SEEK_GAP = 5.0  # seconds to skip before seeking when keyframe positions are unknown
_MAX_RESEEKS = 8
_MAX_IN_FLIGHT = 4  # decoded full-size frames waiting for conversion
_SEEK_COST_FRAMES = 4  # a seek pays off when it skips more frames than this + decoder threads
INTERPOLATION = "BICUBIC"  # swscale filter; the Qwen processors resize with bicubic too


class _Converter:
    """Resizes and converts frames to RGB on one background thread while decoding goes on.

    swscale and the decoder both release the GIL, so the two overlap. One reformatter serves the
    whole file, keeping swscale's context and filters across frames (``frame.to_ndarray(width=...)``
    would build a new one per frame: 2-4x slower). At most ``_MAX_IN_FLIGHT`` full-size frames
    wait for conversion, so memory stays bounded.
    """

    def __init__(self) -> None:
        from av.video.reformatter import VideoReformatter

        self.reformatter = VideoReformatter()
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="videoqa-swscale")
        self.in_flight: deque[Future[None]] = deque()

    def submit(self, frame: Any, out: np.ndarray) -> None:
        """Convert ``frame`` into ``out`` (H, W, 3), turning it upright when it carries a rotation."""
        while len(self.in_flight) >= _MAX_IN_FLIGHT:
            self.in_flight.popleft().result()
        self.in_flight.append(self.pool.submit(self._convert, frame, out))

    def drain(self) -> None:
        while self.in_flight:
            self.in_flight.popleft().result()

    def close(self) -> None:
        self.in_flight.clear()
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _convert(self, frame: Any, out: np.ndarray) -> None:
        rotation = (-round(frame.rotation / 90) * 90) % 360  # PyAV: counter-clockwise degrees
        height, width = out.shape[:2]
        coded_w, coded_h = (height, width) if rotation in (90, 270) else (width, height)
        small = self.reformatter.reformat(
            frame, width=coded_w, height=coded_h, format="rgb24", interpolation=INTERPOLATION, threads=1
        )
        rgb = small.to_ndarray()
        out[:] = np.rot90(rgb, k=-(rotation // 90)) if rotation else rgb  # a player turns it clockwise


@dataclass
class Part:
    """What reading some targets of a window found; ``k`` values index the window's targets."""

    repeats: list[tuple[int, int]] = field(default_factory=list)
    """(k, earlier k showing the same decoded frame)."""
    past_end: list[int] = field(default_factory=list)
    """Targets after the stream's last frame ends."""
    end: tuple[float, float] | None = None
    """(pts, end) in seconds of the stream's last frame, when a target lies past it."""
    stale: list[int] = field(default_factory=list)
    """Targets whose due frame was lost (damage): an older one shows."""
    warnings: list[str] = field(default_factory=list)
    """Problems met while decoding these targets (corrupt packets, ...)."""


def assemble_clip(window: Window, frames: np.ndarray, pts: np.ndarray, parts: list[Part]) -> Clip:
    """The clip of a window read in ``parts`` (in target order), with one warning per kind."""
    warnings = [w for part in parts for w in part.warnings]
    stale = [k for part in parts for k in part.stale]
    past_end = [k for part in parts for k in part.past_end]
    if stale:
        first, last = window.pts_seconds[stale[0]], window.pts_seconds[stale[-1]]
        warnings.append(
            f"{len(stale)} target(s) from {first:.3f} s to {last:.3f} s show an older frame (pts "
            f"{pts[stale[0]]:.3f} s at {first:.3f} s): the frames due then could not be decoded"
        )
    if past_end:
        last_pts, end = next(part.end for part in reversed(parts) if part.end is not None)
        warnings.append(
            f"the stream ends at {end:.3f} s, before {len(past_end)} target(s) "
            f"from {window.pts_seconds[past_end[0]]:.3f} s; repeated its last frame "
            f"(pts {last_pts:.3f} s)"
        )
    far = tuple(sorted(stale + past_end))
    return Clip(window=window, frames=frames, pts_seconds=pts, warnings=warnings, stale_targets=far)


def keyframe_pts(stream: Any) -> list[float]:
    """Presentation times (seconds) of the keyframes the container's index knows, sorted.

    Matroska fills its index from the cues at the first seek; before that it may hold one entry.
    """
    tb = float(stream.time_base)
    keyframes = sorted(e.timestamp * tb for e in stream.index_entries if e.is_keyframe)
    # mp4 indexes hold dts; with B-frames a keyframe's pts comes a constant delay later.
    start = stream.start_time
    delay = start * tb - keyframes[0] if keyframes and start is not None else 0.0
    return [k + max(delay, 0.0) for k in keyframes]


@dataclass
class _Decoded:
    frame: Any
    pts_seconds: float
    end_seconds: float


def decode_pyav(
    source: str | os.PathLike[str],
    plan: SamplingPlan,
    *,
    num_threads: int,
    storage_options: dict[str, Any] | None,
    seek_policy: SeekPolicy = "auto",
    threading: Threading = "auto",
) -> Iterator[Clip]:
    """Generator behind :func:`videoqa.decode` for ``backend="pyav"``.

    ``num_threads`` cores per window: ``threading="segment"`` cuts each window into up to that
    many segments at keyframes and decodes them in parallel, one single-thread reader (and
    container) each; ``"frame"`` uses one reader with FFmpeg frame threading; ``"auto"`` takes
    segments when the container indexes its keyframes, else frame threads.
    ``seek_policy`` (tests and benchmarks): ``"auto"`` decides per target, ``"never"`` decodes
    straight through (seeking only to go backwards), ``"always"`` seeks for every target not on
    the frame already decoded.
    """
    if threading not in get_args(Threading):
        raise ValueError(f"Invalid threading ({threading!r}). Supported values are auto, frame, segment.")
    with contextlib.ExitStack() as stack:
        src = stack.enter_context(open_source(source, storage_options=storage_options))
        container = open_container(src)
        stack.callback(container.close)
        with media_errors(src.name, doing="decoding"):
            stream = video_stream(container, src.name, index=plan.stream_index)
            wants_segments = num_threads > 1 and threading != "frame"
            keyframes = _indexed_keyframes(container, stream) if wants_segments else []
            segments = wants_segments and (threading == "segment" or len(keyframes) >= 2)
            threads = 1 if segments else num_threads
            reader = _Reader(container, stream, src.name, threads, seek_policy)
            reader.keyframes = keyframes
            stack.callback(reader.close)
            reads: _Reader | SegmentedReads = reader
            if segments:
                reads = SegmentedReads(
                    reader,
                    lambda: _open_reader(stack, source, storage_options, seek_policy, stream.index),
                    num_threads,
                )
                stack.callback(reads.close)
            for window in plan.windows:
                yield reads.read_window(window)


def _indexed_keyframes(container: Any, stream: Any) -> list[float]:
    """The keyframes' pts from the container's index (Matroska reads its cues at the first seek)."""
    keyframes = keyframe_pts(stream)
    if len(keyframes) < 2:
        container.seek(0, backward=True, any_frame=False, stream=stream)
        keyframes = keyframe_pts(stream)
    return keyframes


def _open_reader(
    stack: contextlib.ExitStack,
    source: str | os.PathLike[str],
    storage_options: dict[str, Any] | None,
    seek_policy: SeekPolicy,
    stream_index: int,
) -> _Reader:
    """One more single-thread reader of stream ``stream_index`` of ``source`` (its own container),
    closed with ``stack``."""
    src = stack.enter_context(open_source(source, storage_options=storage_options))
    container = open_container(src)
    stack.callback(container.close)
    stream = video_stream(container, src.name, index=stream_index)
    reader = _Reader(container, stream, src.name, 1, seek_policy)
    stack.callback(reader.close)
    return reader


class _Reader:
    """Decoding state kept across windows: the frame on screen and the next decoded one."""

    def __init__(
        self,
        container: Any,
        stream: Any,
        name: str,
        num_threads: int,
        seek_policy: SeekPolicy,
    ):
        self.container, self.stream, self.name = container, stream, name
        self.seek_policy, self.num_threads = seek_policy, num_threads
        stream.thread_type = "FRAME"
        stream.codec_context.thread_count = num_threads
        self.time_base = stream.time_base
        self.converter = _Converter()
        self.keyframes: list[float] = []
        self._frames: Iterator[_Decoded] | None = None
        self._current: _Decoded | None = None  # the last frame with pts <= the last target
        self._next: _Decoded | None = None  # decoded but not yet on screen
        self._exhausted = False
        self._first_pts: float | None = None  # the stream's first frame, once seen
        self._from_start = True  # the demuxer is at the start of the stream
        self._frame_gap = 0.0
        # With B-frames, frames before a target that no other frame references are not decoded
        # (skip_frame NONREF) until a packet after the target is demuxed; see _start_skipping.
        self._skip_nonref = bool(stream.codec_context.has_b_frames)
        self._skip_until: float | None = None
        self._demuxed_until = -math.inf  # largest packet pts demuxed since the last seek
        self._pending: list[float] = []  # pts of demuxed packets whose frame has not come out yet
        self._lost: list[float] = []  # pts of packets that never became a frame (damage), sorted
        self.warnings: list[str] = []
        self.num_seeks = 0

    # ------------------------------------------------------------------------------------ windows

    def read_window(self, window: Window) -> Clip:
        frames = np.empty((window.num_frames, window.height, window.width, 3), dtype=np.uint8)
        pts = np.empty(window.num_frames, dtype=np.float64)
        part = self.read_targets(window, range(window.num_frames), frames, pts)
        return assemble_clip(window, frames, pts, [part])

    def read_targets(self, window: Window, ks: range, frames: np.ndarray, pts: np.ndarray) -> Part:
        """Fill ``frames[k]`` and ``pts[k]`` for the targets ``ks`` of ``window`` (in order)."""
        self.warnings = []
        part = Part()
        last: tuple[_Decoded | None, int] = (None, -1)
        for k in ks:
            t = window.pts_seconds[k]
            decoded = self.frame_at(t)
            if self._exhausted and self._next is None and t > decoded.end_seconds + _EPS:
                part.past_end.append(k)
                part.end = (decoded.pts_seconds, decoded.end_seconds)
            elif self._lost_between(decoded.pts_seconds, t):
                part.stale.append(k)
            if last[0] is decoded:
                part.repeats.append((k, last[1]))
            else:
                self.converter.submit(decoded.frame, frames[k])
                last = (decoded, k)
            pts[k] = decoded.pts_seconds
        self.converter.drain()
        for k, earlier in part.repeats:
            frames[k] = frames[earlier]
        part.warnings = self.warnings
        return part

    def close(self) -> None:
        self.converter.close()

    # ---------------------------------------------------------------------------- frame selection

    def frame_at(self, t: float) -> _Decoded:
        """The frame on screen at ``t`` (seconds)."""
        if self._needs_seek(t):
            self._seek(t)
        if self._skip_nonref and self._demuxed_until <= t + _EPS:
            self._start_skipping(t)
        while True:
            upcoming = self._peek()
            if upcoming is None:
                break
            if self._current is not None and upcoming.pts_seconds > t + _EPS:
                break
            self._current, self._next = upcoming, None
            if upcoming.pts_seconds > t + _EPS:
                break  # t precedes the first frame: the first frame is what shows
        if self._current is None:
            raise EmptyVideoError(
                self.name, "no frame of the video stream could be decoded; re-export the file"
            )
        return self._current

    def _start_skipping(self, t: float) -> None:
        """Skip non-reference frames until a packet with pts after ``t`` is demuxed.

        Only called while no packet after ``t`` has been demuxed. The frame on screen at ``t`` is
        then never skipped: if it is a non-reference B-frame, the reference frame after it in
        presentation order (pts > t) comes before it in decode order, so decoding is back to normal
        when it arrives. A skipped frame with pts <= t has a later reference frame with pts <= t
        (the one it was decoded after), so it is not the one on screen.
        """
        self._skip_until = t
        self.stream.codec_context.skip_frame = "NONREF"

    def _stop_skipping(self) -> None:
        self._skip_until = None
        self.stream.codec_context.skip_frame = "DEFAULT"

    def _lost_between(self, pts_seconds: float, t: float) -> bool:
        """Whether a frame due on screen at ``t``, after the one at ``pts_seconds``, was lost."""
        i = bisect.bisect_right(self._lost, pts_seconds + _EPS)
        return i < len(self._lost) and self._lost[i] <= t + _EPS

    def _settle(self, pts_seconds: float) -> None:
        """A frame at ``pts_seconds`` came out: packets before it that gave no frame are lost."""
        i = bisect.bisect_right(self._pending, pts_seconds + _EPS)
        for lost in self._pending[:i]:
            if lost < pts_seconds - _EPS:
                bisect.insort(self._lost, lost)
        del self._pending[:i]

    def _decoded_until(self) -> float | None:
        last = self._next or self._current
        return None if last is None else last.pts_seconds

    def _needs_seek(self, t: float) -> bool:
        current = self._current
        if current is not None and t < current.pts_seconds - _EPS:
            return current.pts_seconds != self._first_pts  # backwards, unless already at the start
        if current is not None and self._exhausted and self._next is None:
            return False  # decoded through to the end of the stream: nothing after the current frame
        if self._next is not None and t < self._next.pts_seconds - _EPS:
            return False  # the current frame is the one on screen
        if self.seek_policy == "never":
            return False
        position = self._decoded_until()
        if self.seek_policy == "always":
            return position is None or t > position + _EPS
        if position is None:
            position = self._first_pts if self._first_pts is not None else 0.0
        keyframe = self._keyframe_before(t)
        if keyframe is None:
            return t - position > _DEFAULT_SEEK_GAP
        # Seek only when it skips more frames than a seek costs (flush, refill the thread pipeline).
        frame_gap = self._frame_gap or 1 / 30
        return keyframe - position > (_SEEK_COST_FRAMES + self.num_threads) * frame_gap

    def known_keyframes(self) -> list[float]:
        """The keyframes' pts (seconds) from the container's index; fewer than 2 when unknown."""
        if len(self.keyframes) < 2:
            self._load_keyframes()
        return self.keyframes

    def _keyframe_before(self, t: float) -> float | None:
        if len(self.known_keyframes()) < 2:
            return None
        i = bisect.bisect_right(self.keyframes, t + _EPS)
        return self.keyframes[i - 1] if i else None

    def _load_keyframes(self) -> None:
        self.keyframes = keyframe_pts(self.stream)

    def _seek(self, t: float) -> None:
        backoff = max(self._frame_gap * 4, 0.5)
        target = t
        for _ in range(_MAX_RESEEKS):
            self._seek_raw(target)
            first = self._peek()
            if first is None and not self._from_start:
                # Nothing decodes from there to the end (a stream damaged to its end): look earlier
                # for the last good frame, which then stands for every later target (stale).
                target, backoff = t - backoff, backoff * 2
                continue
            lands_after = first is not None and first.pts_seconds > t + _EPS
            if not lands_after or (self._first_pts is not None and first.pts_seconds <= self._first_pts):
                return
            if self._from_start:
                return  # t precedes the first frame
            target, backoff = t - backoff, backoff * 2  # landed past t: try further back
        self._seek_raw(0.0)

    def _seek_raw(self, t: float) -> None:
        self.num_seeks += 1
        self._from_start = t <= 0 or (self._first_pts is not None and t <= self._first_pts)
        timestamp = 0 if self._from_start else int(t / self.time_base)
        self.container.seek(timestamp, backward=True, any_frame=False, stream=self.stream)
        self._frames, self._current, self._next, self._exhausted = None, None, None, False
        self._pending, self._demuxed_until = [], -math.inf
        if self._skip_until is not None:
            self._stop_skipping()

    # --------------------------------------------------------------------------------- decoding

    def _peek(self) -> _Decoded | None:
        if self._next is None and not self._exhausted:
            if self._frames is None:
                self._frames = self._decode_frames()
            self._next = next(self._frames, None)
            if self._next is None:
                self._exhausted = True
            elif self._first_pts is None and self._from_start:
                self._first_pts = self._next.pts_seconds
        return self._next

    def _decode_frames(self) -> Iterator[_Decoded]:
        import av

        # ts * num / den is one correctly rounded int division: bit-identical to float(ts * time_base).
        num, den = self.time_base.numerator, self.time_base.denominator
        previous: _Decoded | None = None
        for packet in self.container.demux(self.stream):
            packet_pts = None if packet.pts is None or not packet.size else packet.pts * num / den
            if packet_pts is not None:
                self._demuxed_until = max(self._demuxed_until, packet_pts)
            if (
                self._skip_until is not None
                and packet_pts is not None
                and packet_pts > self._skip_until + _EPS
            ):
                self._stop_skipping()
            if packet_pts is not None and self._skip_until is None:  # a skipped frame is not a lost one
                bisect.insort(self._pending, packet_pts)
            try:
                frames = packet.decode()
            except av.error.InvalidDataError as exc:
                where = f"{packet_pts:.3f} s" if packet_pts is not None else "unknown time"
                self.warnings.append(f"skipped a corrupt packet at {where} ({exc.strerror})")
                if packet_pts is not None and self._skip_until is not None:
                    bisect.insort(self._lost, packet_pts)
                continue
            for frame in frames:
                ts = frame.pts if frame.pts is not None else frame.dts
                if ts is None:
                    self.warnings.append("skipped a decoded frame without a timestamp")
                    continue
                pts = ts * num / den
                self._settle(pts)
                if previous is not None and pts <= previous.pts_seconds:
                    continue  # duplicate or out-of-order output after damage
                if previous is not None:
                    self._frame_gap = pts - previous.pts_seconds
                duration = frame.duration * num / den if frame.duration else self._frame_gap
                previous = _Decoded(frame, pts, pts + duration)
                yield previous
