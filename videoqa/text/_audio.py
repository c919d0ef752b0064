"""The audio of a video as 16 kHz mono chunks on the container's clock, decoded with PyAV in bounded memory.

The audio stream is decoded frame by frame and resampled (``av.AudioResampler``: float, mono,
16 kHz); at most one chunk plus one decoded frame is held. Each :class:`AudioChunk` carries the
absolute time of its first sample: the pts of the first decoded audio frame (the container's clock,
the one the video frames' pts are on, start offsets included) plus the samples before it. A gap in
the audio's pts (a stream that pauses) is filled with silence, so later samples keep their time.

Chunks are ``chunk_seconds`` long and start every ``hop_seconds`` (they overlap by the difference),
so a word cut by one chunk's edge is whole in the next: :func:`owned_interval` says which part of
each chunk is its own, and a recognised cue is kept by the one chunk owning its middle.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from videoqa.text._languages import language_matches

__all__ = ["SAMPLE_RATE", "AudioChunk", "audio_chunks", "choose_audio_stream", "owned_interval"]

SAMPLE_RATE = 16000
_GAP_SECONDS = 0.05
"""A jump in the audio pts larger than this is filled with silence (smaller: resampler jitter)."""


@dataclass(frozen=True)
class AudioChunk:
    """``samples`` (float32, mono, 16 kHz) starting at ``start_seconds`` on the video's timeline."""

    index: int
    start_seconds: float
    samples: np.ndarray
    last: bool

    @property
    def end_seconds(self) -> float:
        return self.start_seconds + len(self.samples) / SAMPLE_RATE


def owned_interval(chunk: AudioChunk, *, chunk_seconds: float, hop_seconds: float) -> tuple[float, float]:
    """The part of ``chunk`` whose cues it keeps: from the middle of the overlap with the previous
    chunk to the middle of the overlap with the next (the first and last chunk: to the ends)."""
    half = (chunk_seconds - hop_seconds) / 2
    low = -math.inf if chunk.index == 0 else chunk.start_seconds + half
    high = math.inf if chunk.last else chunk.start_seconds + hop_seconds + half
    return low, high


def choose_audio_stream(container: Any, *, language: str | None) -> tuple[Any | None, list[str]]:
    """The audio stream to transcribe (the first in ``language`` when given, else the first), and notes."""
    streams = list(container.streams.audio)
    if not streams:
        return None, ["no audio stream: nothing to recognise"]
    notes = []
    if language is not None:
        matching = [s for s in streams if language_matches((s.metadata or {}).get("language"), language)]
        if matching:
            streams = matching
        elif len(streams) > 1:
            notes.append(f"no audio stream tagged {language!r}: the first audio stream is used")
    if len(container.streams.audio) > 1:
        notes.append(f"audio stream {streams[0].index} of {len(container.streams.audio)} is transcribed")
    return streams[0], notes


def audio_chunks(
    container: Any, stream: Any, *, chunk_seconds: float = 30.0, hop_seconds: float = 25.0
) -> Iterator[AudioChunk]:
    """Overlapping chunks of ``stream``'s audio, in order; the final one is marked ``last``."""
    if not 0 < hop_seconds <= chunk_seconds:
        raise ValueError(f"hop_seconds must be in (0, chunk_seconds]; got {hop_seconds}")
    size, hop = round(chunk_seconds * SAMPLE_RATE), round(hop_seconds * SAMPLE_RATE)
    buffer = np.zeros(0, dtype=np.float32)
    blocks: list[np.ndarray] = []  # decoded after ``buffer``: joined once a chunk's worth is there
    held = 0
    base: float | None = None  # absolute time of buffer[0]
    pending: AudioChunk | None = None
    index = 0
    for first_time, block in _blocks(container, stream):
        if base is None:
            base = first_time
        blocks.append(block)
        held += len(block)
        if len(buffer) + held < size:
            continue
        buffer, blocks, held = np.concatenate([buffer, *blocks]), [], 0
        while len(buffer) >= size:
            if pending is not None:
                yield pending
            pending = AudioChunk(index, base, buffer[:size].copy(), last=False)
            index += 1
            buffer, base = buffer[hop:], base + hop / SAMPLE_RATE
    buffer = np.concatenate([buffer, *blocks])
    if base is not None and (pending is None or len(buffer) > size - hop):
        if pending is not None:
            yield pending
        pending = AudioChunk(index, base, buffer.copy(), last=False)
    if pending is not None:
        yield AudioChunk(pending.index, pending.start_seconds, pending.samples, last=True)


def _blocks(container: Any, stream: Any) -> Iterator[tuple[float, np.ndarray]]:
    """(absolute time of the first sample, float32 mono 16 kHz samples) per decoded frame, gaps filled."""
    import av

    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    start: float | None = None
    emitted = 0
    for frame in _frames(container, stream):
        if frame is not None and frame.time is not None:
            if start is None:
                start = float(frame.time)
            gap = round((float(frame.time) - start) * SAMPLE_RATE) - emitted
            if gap > _GAP_SECONDS * SAMPLE_RATE:
                yield start, np.zeros(gap, dtype=np.float32)
                emitted += gap
        for out in resampler.resample(frame):
            samples = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
            if start is None:
                start = 0.0
            yield start, samples
            emitted += len(samples)


def _frames(container: Any, stream: Any) -> Iterator[Any]:
    """The decoded frames of ``stream`` (only its packets are demuxed), then None to flush the resampler."""
    for packet in container.demux(stream):
        yield from packet.decode()
    yield None
