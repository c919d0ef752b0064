"""Subtitle streams inside the container, read with PyAV: Matroska SubRip/ASS, MP4 mov_text, WebM WebVTT.

Each packet's pts is on the container's timeline, the clock of the video frames' pts, so a cue's
start is ``pts * time_base`` as is; its end is ``start + duration``, or the next cue's start when the
packet states no duration. Only the chosen stream is demuxed (other streams are discarded).
Bitmap subtitles (DVD, PGS) hold pictures, not text: they are listed in the notes and not read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from videoqa.errors import SubtitleError
from videoqa.text._languages import language_matches
from videoqa.text._parse import clean_text
from videoqa.text._types import Cue

__all__ = [
    "TEXT_CODECS",
    "StreamChoice",
    "choose_stream",
    "open_container",
    "read_stream_cues",
    "subtitle_streams",
]

TEXT_CODECS = frozenset({"subrip", "srt", "ass", "ssa", "mov_text", "webvtt", "text"})
"""Subtitle codecs that carry text (FFmpeg decoder names)."""


@contextmanager
def open_container(video: str, *, storage_options: dict[str, Any] | None, what: str) -> Iterator[Any]:
    """The PyAV container of ``video`` (local or in a bucket); unreadable: a SubtitleError naming it."""
    import av

    from videoqa.video._source import open_source

    with open_source(video, storage_options=storage_options) as opened:
        try:
            container = av.open(opened.target)
        except av.FFmpegError as exc:
            raise SubtitleError(video, f"cannot open the container to read {what} ({exc})") from exc
        with container:
            yield container


@dataclass(frozen=True)
class StreamChoice:
    """One subtitle stream of a container."""

    index: int
    """The stream's index in the container (``ffprobe``'s stream number)."""
    codec: str
    language: str | None

    @property
    def name(self) -> str:
        return f"stream:{self.index} ({self.codec}{', ' + self.language if self.language else ''})"


def subtitle_streams(container: Any) -> list[StreamChoice]:
    """Every subtitle stream of an open PyAV container, text or not."""
    out = []
    for stream in container.streams.subtitles:
        language = (stream.metadata or {}).get("language")
        codec = stream.codec_context.name if stream.codec_context is not None else "unknown"
        out.append(
            StreamChoice(
                index=stream.index, codec=codec, language=None if language in (None, "und") else language
            )
        )
    return out


def choose_stream(
    streams: list[StreamChoice], *, language: str | None
) -> tuple[StreamChoice | None, list[str]]:
    """The first text stream in ``language`` (any language when None), and notes on what was passed over."""
    notes = [f"{s.name}: bitmap subtitles are not read" for s in streams if s.codec not in TEXT_CODECS]
    text = [s for s in streams if s.codec in TEXT_CODECS]
    if language is not None:
        matching = [s for s in text if language_matches(s.language, language)]
        if text and not matching:
            said = ", ".join(s.name for s in text)
            notes.append(f"no subtitle stream in language {language!r} (found {said})")
        text = matching
    return (text[0] if text else None), notes


def read_stream_cues(container: Any, choice: StreamChoice, *, name: str) -> list[Cue]:
    """The non-empty cues of stream ``choice.index``, in time order, on the container's timeline."""
    stream = container.streams[choice.index]
    raw: list[tuple[float, float | None, str]] = []
    try:
        for packet in container.demux(stream):
            if packet.pts is None or packet.size == 0:
                continue
            start = float(packet.pts * packet.time_base)
            # the end in the time base's exact arithmetic: 0.21 s + 4.05 s is 4.26 s, not 4.2600000001
            end = float((packet.pts + packet.duration) * packet.time_base) if packet.duration else None
            words = " ".join(_text_of(sub) for sub in packet.decode())
            raw.append((start, end, clean_text(words)))
    except Exception as exc:  # FFmpeg errors of a damaged stream: name it, never guess the times
        raise SubtitleError(name, f"{choice.name} cannot be read ({type(exc).__name__}: {exc})") from exc
    raw.sort(key=lambda r: r[0])
    source = f"stream:{choice.index}"
    cues = []
    for k, (start, stated_end, words) in enumerate(raw):
        if not words:
            continue  # mov_text writes empty samples for the gaps between cues
        end = stated_end if stated_end is not None else (raw[k + 1][0] if k + 1 < len(raw) else start)
        cues.append(Cue(start, max(start, end), words, choice.language, source))
    return cues


def _text_of(subtitle: Any) -> str:
    dialogue = getattr(subtitle, "dialogue", None)
    value = dialogue if dialogue is not None else getattr(subtitle, "text", b"") or b""
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)
