"""Value types of the text channel: one timed cue, and the cues of one video with where they came from.

Every time is seconds on the video's own presentation timeline, the clock of the frames' pts
(``VideoInfo.start_seconds`` included): a cue at 12.0 s is on screen with the frame whose pts is 12.0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Cue", "CueSource", "TimedText", "Transcript"]

CueSource = Literal["sidecar", "stream", "asr"]
"""Where a cue came from: a file next to the video, a subtitle stream inside it, or speech recognition."""


@dataclass(frozen=True)
class Cue:
    """One piece of timed text: shown (or said) from ``start_seconds`` to ``end_seconds``."""

    start_seconds: float
    """Absolute start on the video's timeline (the frames' pts clock)."""
    end_seconds: float
    """Absolute end (exclusive); never before ``start_seconds``."""
    text: str
    """The words, markup removed, lines joined by a space."""
    language: str | None = None
    """Language tag as the source states it (``"eng"``, ``"en"``), None when unknown."""
    source: str = ""
    """Which file or stream: ``"sidecar:talk.en.srt"``, ``"stream:2"``, ``"asr:<model>"``."""


@dataclass(frozen=True)
class Transcript:
    """The cues of one video, sorted by start, and what was chosen (see :func:`videoqa.text.load_cues`)."""

    cues: tuple[Cue, ...] = ()
    kind: CueSource | None = None
    """Which kind of source the cues came from; None when there are none."""
    source: str | None = None
    """The file or stream read (``"talk.en.srt"``, ``"stream:2 (mov_text, eng)"``), None when none."""
    language: str | None = None
    notes: tuple[str, ...] = ()
    """What was found and not used, cues dropped past the end of the video, no audio stream, ..."""

    def between(self, start_seconds: float, end_seconds: float) -> tuple[Cue, ...]:
        """The cues overlapping ``[start_seconds, end_seconds)`` (a window), in time order."""
        return tuple(
            c
            for c in self.cues
            if c.start_seconds < end_seconds
            and (c.end_seconds > start_seconds or c.start_seconds >= start_seconds)
        )


@dataclass(frozen=True)
class TimedText:
    """The cues a prompt carries (those inside its windows) and its budget of text tokens."""

    cues: tuple[Cue, ...]
    max_tokens: int
    """Most tokens of timed text in one prompt; over it, cues are dropped evenly over the windows."""
