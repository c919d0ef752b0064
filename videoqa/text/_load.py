"""``load_cues``: the timed text of one video, from a sidecar file, a subtitle stream or speech.

Placement on the video's timeline (the frames' pts clock):

- a subtitle *stream* shares the container's clock with the video: a cue's pts is used as is;
- a *sidecar* file counts from the first frame, as players show it (time 0 of the file is the
  video's first frame): ``VideoInfo.start_seconds`` is added to its times;
- *speech* (``"asr"``) is timed from the audio frames' pts, the same clock: used as is;
- cues that start at or after the video's end are dropped (with a note), cues that run past it
  end with it; cues that end before the first frame are dropped, cues that start before it
  start with it. A cue is never moved to another time.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import replace
from typing import Any, Literal, get_args

from videoqa.errors import SubtitleError
from videoqa.text._asr import asr_model_of
from videoqa.text._parse import FORMATS, decode_bytes, parse_subtitles
from videoqa.text._sidecar import choose_sidecar, find_sidecars, read_bytes
from videoqa.text._streams import choose_stream, open_container, read_stream_cues, subtitle_streams
from videoqa.text._types import Cue, Transcript

__all__ = ["SUBTITLE_MODES", "SubtitleMode", "check_subtitles", "load_cues", "read_subtitle_file"]

SubtitleMode = Literal["auto", "sidecar", "stream"]
SUBTITLE_MODES: tuple[str, ...] = get_args(SubtitleMode)


def check_subtitles(value: str | os.PathLike[str] | None) -> str | None:
    """A valid ``subtitles`` argument (``"none"`` and ``""`` from a command line mean None), or ValueError."""
    if value is None:
        return None
    given = os.fspath(value)
    if given.strip().lower() in ("", "none"):
        return None
    if asr_model_of(given) is not None:
        return given
    if given not in SUBTITLE_MODES and os.path.splitext(given)[1].lower() not in FORMATS:
        raise ValueError(
            f"subtitles must be one of {SUBTITLE_MODES}, 'asr', 'asr:<Whisper model id or path>', None, "
            f"or a .srt/.vtt/.ass/.ssa file; got {given!r}"
        )
    return given


def load_cues(
    video: str | os.PathLike[str],
    *,
    subtitles: str | os.PathLike[str] | None = "auto",
    language: str | None = None,
    info: Any = None,
    storage_options: dict[str, Any] | None = None,
    encoding: str | None = None,
) -> Transcript:
    """The timed text of ``video`` on its own timeline.

    Args:
        subtitles: ``"auto"`` (a sidecar file next to the video, else a text subtitle stream inside
            it, else nothing), ``"sidecar"``, ``"stream"``, a path or URL of a
            ``.srt``/``.vtt``/``.ass``/``.ssa`` file, ``"asr"`` (speech recognition with
            Whisper large-v3-turbo) or ``"asr:<model id or path>"`` (any Whisper checkpoint),
            or None (no text).
        language: wanted language (``"en"``, ``"eng"``, ``"fr"``); None takes the first found.
        info: the video's :class:`~videoqa.VideoInfo` if already probed (else it is probed).
        encoding: text encoding of subtitle files without a byte-order mark (default UTF-8).

    Raises :class:`~videoqa.errors.SubtitleError` naming the file and line of unreadable input.
    """
    given = check_subtitles(subtitles)
    if given is None:
        return Transcript()
    video = os.fspath(video)
    if info is None:
        from videoqa.video import probe

        info = probe(video, storage_options=storage_options)
    asr_model = asr_model_of(given)
    if asr_model is not None:
        from videoqa.text._asr import transcribe

        spoken = transcribe(video, model=asr_model, language=language, storage_options=storage_options)
        return _on_timeline(spoken, info)
    if given not in SUBTITLE_MODES:
        return _on_timeline(
            read_subtitle_file(given, storage_options=storage_options, encoding=encoding), info
        )
    notes: list[str] = []
    if given in ("auto", "sidecar"):
        sidecar, why = choose_sidecar(
            find_sidecars(video, storage_options=storage_options), language=language
        )
        notes += why
        if sidecar is not None:
            found = read_subtitle_file(
                sidecar.path, storage_options=storage_options, encoding=encoding, language=sidecar.language
            )
            return _on_timeline(replace(found, notes=tuple(notes)), info)
    if given in ("auto", "stream"):
        found = _from_stream(video, language=language, storage_options=storage_options)
        return _on_timeline(replace(found, notes=tuple(notes) + found.notes), info)
    return Transcript(notes=tuple(notes) or ("no subtitle file next to the video",))


def read_subtitle_file(
    path: str,
    *,
    storage_options: dict[str, Any] | None = None,
    encoding: str | None = None,
    language: str | None = None,
) -> Transcript:
    """The cues of one subtitle file, times as written (seconds from the file's zero: ``kind="sidecar"``)."""
    fmt = FORMATS.get(os.path.splitext(path)[1].lower())
    if fmt is None:
        raise SubtitleError(path, "unknown subtitle format; videoqa reads .srt, .vtt, .ass and .ssa files")
    text = decode_bytes(read_bytes(path, storage_options=storage_options), name=path, encoding=encoding)
    source = f"sidecar:{posixpath.basename(path.replace(os.sep, '/'))}"
    cues = tuple(
        Cue(a, b, words, language, source) for a, b, words, _ in parse_subtitles(text, fmt=fmt, name=path)
    )
    return Transcript(cues=cues, kind="sidecar", source=path, language=language)


def _from_stream(video: str, *, language: str | None, storage_options: dict[str, Any] | None) -> Transcript:
    with open_container(video, storage_options=storage_options, what="subtitles") as container:
        choice, notes = choose_stream(subtitle_streams(container), language=language)
        if choice is None:
            return Transcript(notes=tuple(notes) or ("no subtitle file or text subtitle stream",))
        cues = read_stream_cues(container, choice, name=video)
    return Transcript(
        cues=tuple(cues), kind="stream", source=choice.name, language=choice.language, notes=tuple(notes)
    )


def _on_timeline(transcript: Transcript, info: Any) -> Transcript:
    """Cues moved onto the video's timeline (sidecars: + start_seconds) and cut to the video."""
    offset = info.start_seconds if transcript.kind == "sidecar" else 0.0
    first, last = info.start_seconds, info.end_seconds
    kept, late, early = [], 0, 0
    for cue in sorted(transcript.cues, key=lambda c: (c.start_seconds, c.end_seconds)):
        start, end = cue.start_seconds + offset, cue.end_seconds + offset
        if start >= last:
            late += 1
        elif end <= first and start < first:
            early += 1
        else:
            kept.append(replace(cue, start_seconds=max(start, first), end_seconds=min(max(end, first), last)))
    notes = list(transcript.notes)
    if late:
        notes.append(f"{late} cue(s) start at or after the end of the video ({last:.3f} s): dropped")
    if early:
        notes.append(f"{early} cue(s) end before the first frame ({first:.3f} s): dropped")
    return replace(transcript, cues=tuple(kept), notes=tuple(notes))
